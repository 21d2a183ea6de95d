#pragma once
// One accepted connection: its socket, counters, deadline and the reason it ended. The service's
// coroutine and the watchdog share it on one thread, so nothing here needs a lock.
#include <array>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace netd {

namespace log {
class line;
}

class session {
  public:
    using clock = std::chrono::steady_clock;

    session(asio::ip::tcp::socket socket, std::uint64_t id, std::string_view service_name);

    asio::ip::tcp::socket socket;
    const std::uint64_t id;
    const std::string_view service_name;  ///< points at a registry name: static storage
    std::string peer, local;
    std::uint64_t messages = 0, bytes_in = 0, bytes_out = 0;
    const clock::time_point started = clock::now();

    /// Arms the deadline; if it passes first, the connection ends with `reason`, after a
    /// best-effort send of `farewell` (static storage, small: "HTTP/1.1 408 ...").
    void expires_after(std::chrono::microseconds d, std::string_view reason,
                       std::string_view farewell = {});
    /// Marks the connection as waiting for a new request: a graceful stop may end it now.
    void set_idle(bool idle) { idle_ = idle; }
    /// True once the daemon is stopping: finish the current request, then return.
    bool stopping() const { return stopping_; }
    /// Records why the connection ended; the first reason given wins.
    void set_reason(std::string_view reason);
    std::string_view reason() const {
        return reason_.empty() ? std::string_view("eof") : std::string_view(reason_);
    }
    /// Records an I/O error as the reason (eof and reset get short names).
    void set_reason(const std::error_code& ec);

    /// Graceful stop: ends the connection now if it is idle, else after its current request.
    void request_stop();
    /// Closes after an error reply: stops sending, then reads and discards what the peer still
    /// sends (bounded in bytes and time), so the reply is not lost to a reset on a real network.
    asio::awaitable<void> linger();
    /// Ends the connection now (deadline passed, forced stop).
    void abort(std::string_view reason);
    /// Runs beside the service: enforces the deadline and logs conn_alive every alive_interval.
    asio::awaitable<void> watchdog(std::chrono::microseconds alive_interval);
    /// Reads the kernel's RTT and closes the socket; call once the service returned.
    void close();
    /// Appends the conn_close / conn_alive fields.
    void describe(log::line& line);
    /// A service's own counter, logged with the others (name: static storage). At most
    /// max_counters per connection.
    std::int64_t& counter(std::string_view name);
    static constexpr std::size_t max_counters = 8;

  private:
    void capture_rtt();

    asio::steady_timer timer_;
    clock::time_point deadline_ = clock::time_point::max();
    std::string_view deadline_reason_, deadline_farewell_;
    std::string reason_;
    std::int64_t rtt_us_ = -1;
    std::array<std::pair<std::string_view, std::int64_t>, max_counters> counters_{};
    std::size_t counter_count_ = 0;
    bool idle_ = false, stopping_ = false;
};

}  // namespace netd
