#pragma once
// The connect/measure helper every netctl subcommand shares: connect with a deadline, read
// lines with a deadline, write with a deadline. Errors come back as values (Asio's as_tuple),
// so a timeout or a reset is an ordinary outcome, never an exception.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

#include <asio.hpp>

#include "address.hpp"

namespace netd::netctl {

using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

/// How long resolving plus connecting may take before netctl gives up.
constexpr std::chrono::seconds connect_timeout{5};

/// "127.0.0.1:7000", "[::1]:7000", "localhost:7000": the target as a user reads it.
std::string target_text(const proto::host_port& target);

/// "127.0.0.1:7000" or "[::1]:7000" for an endpoint.
std::string endpoint_text(const tcp::endpoint& endpoint);

/// The address a connected socket reached (a name like "localhost" does not say which).
std::string peer_text(const tcp::socket& socket, const proto::host_port& target);

/// Resolves the target and connects to the first address that answers before the deadline,
/// with TCP_NODELAY (every netctl message is one small line that must leave at once).
asio::awaitable<std::error_code> connect(tcp::socket& socket, const proto::host_port& target,
                                         steady::time_point deadline);

/// The one-line error for a failed connect: "cannot connect to 127.0.0.1:7000: Connection refused".
std::string connect_error_text(const proto::host_port& target, std::error_code ec);

/// Writes all of `data` before the deadline; asio::error::timed_out if it could not. Tries a
/// non-blocking send first, so a probe leaves the moment its send time is taken.
asio::awaitable<std::error_code> write_all(tcp::socket& socket, std::string_view data,
                                           steady::time_point deadline);

/// Buffers what a socket receives and hands it out one line at a time.
class line_reader {
  public:
    /// A reply longer than this is not one netd would send; give up instead of buffering it.
    static constexpr std::size_t max_line_bytes = 65536;

    explicit line_reader(tcp::socket& socket) : socket_(socket) {}

    /// Completes once a whole line is buffered, or with the read error (eof, reset, cancel).
    /// Cancelling it loses no bytes, so it can race a timer with `||`.
    asio::awaitable<std::error_code> wait_line();

    /// Takes the next whole buffered line without its "\n" or "\r"; false if there is none yet.
    bool take_line(std::string& line);

    /// wait_line() plus take_line() with a deadline; asio::error::timed_out when it passes.
    asio::awaitable<std::error_code> read_line(std::string& line, steady::time_point deadline);

    /// When the bytes that completed the oldest buffered line arrived: taken as the read
    /// returns, before any coroutine resumes, so an RTT does not include netctl's own overhead.
    steady::time_point arrived_steady() const { return arrived_steady_; }
    /// The same moment as wall-clock microseconds since the epoch (NTP's T4).
    std::int64_t arrived_unix_us() const { return arrived_unix_us_; }

  private:
    tcp::socket& socket_;
    std::string buffer_;
    std::array<char, 4096> chunk_{};
    steady::time_point arrived_steady_{};
    std::int64_t arrived_unix_us_ = 0;
};

/// Runs a subcommand's coroutine on its own io_context and returns its exit status.
int run_command(std::function<asio::awaitable<int>()> command);

}  // namespace netd::netctl
