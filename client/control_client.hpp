#pragma once
// The client side of netd's control socket ([daemon] control): one JSON request per line, one
// JSON reply per line. `netctl status`, `netctl reload` and `netctl selftest` share it.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "cli.hpp"

namespace netd::netctl {

/// How long connecting, sending and reading the reply may take together. A reload reads and
/// checks the whole config and binds new listeners before it answers, so this is generous.
constexpr std::chrono::seconds control_timeout{10};

/// The outcome of one request on the control socket.
struct control_exchange {
    std::string error;     ///< empty when a reply came; else why not, as one line
    bool reached = false;  ///< true once connected: an error after that is netd's (exit 1)
    bool denied = false;   ///< the socket exists but this user may not connect to it
    std::string raw;       ///< the reply line as netd sent it, without the newline
    nlohmann::json reply;  ///< the reply, a JSON object (when error is empty)
};

/// Sends {"cmd": CMD} to the control socket at `path` and reads the reply, before the deadline.
asio::awaitable<control_exchange> control_request(std::string path, std::string cmd,
                                                  std::chrono::steady_clock::time_point deadline);

/// The control socket a command talks to: -s SOCKET as given, else [daemon] control of -c FILE
/// (default /etc/netd/netd.toml). An error is one line, for exit status 2.
proto::result<std::string> control_socket_of(const parsed_args& args);

/// The options status and reload share.
inline constexpr option_spec control_options[] = {
    {"-c", true}, {"-s", true}, {"--json"}, {"-h"}, {"--help"}};

}  // namespace netd::netctl
