#pragma once
// The control socket: a Unix stream socket where local tools (netctl status, netctl reload) send
// one JSON request per line and get one JSON reply per line. Access is the file's: mode 0660,
// so only netd's user and group can connect.
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace netd {

class control_server {
  public:
    /// Answers one request ({"cmd":"status"}); runs on the control thread.
    using handler = std::function<asio::awaitable<nlohmann::json>(const nlohmann::json& request)>;

    control_server(asio::io_context& io, handler h);
    ~control_server();

    /// Binds `path` (a stale socket left by a crash is replaced; one a live netd answers on is
    /// an error) and starts accepting. On failure returns the reason.
    bool open(const std::string& path, std::string& error);
    /// Stops accepting and removes the socket file.
    void close();
    const std::string& path() const { return path_; }

  private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);

    asio::io_context& io_;
    handler handler_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::string path_;
    unsigned clients_ = 0;
};

}  // namespace netd
