#pragma once
// One accepted connection: its socket, counters, deadline and the reason it ended. Everything
// here runs on its worker's thread, so nothing needs a lock.
//
// A connection waiting for its next request holds no coroutine: the service parks it (park())
// and returns, the worker waits for input with a small read into wake_buffer, and calls the
// service again with those bytes (take_woken()). What the service keeps meanwhile is in `state`.
#include <array>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "net/deadlines.hpp"

namespace netd {

namespace log {
class line;
}

class service;
enum class wake;

/// A session's two deadlines, in a plain struct so that a hook leads back to its session.
struct session_hooks {
    deadline_queue::hook deadline, alive;
};

class session : private session_hooks {
  public:
    using clock = std::chrono::steady_clock;
    /// Bound to its worker's io_context, not to a type-erased executor: 48 bytes less in every
    /// connection and in every operation on it.
    using socket_type = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

    /// What a service keeps for a parked connection.
    struct conn_state {
        virtual ~conn_state() = default;
        /// Appends the service's own counters to conn_alive and conn_close.
        virtual void describe(log::line&) const {}
    };

    session(socket_type socket, std::uint64_t id, std::string_view service_name,
            std::shared_ptr<service> impl, deadline_queue& deadlines,
            std::chrono::microseconds alive_interval);
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session();

    /// The worker's deadline_queue::on_expire: ends the connection whose deadline passed, or
    /// logs conn_alive and sets the next one `alive_interval` from now.
    static void expired(deadline_queue::hook& h, std::chrono::microseconds alive_interval);

    socket_type socket;
    const std::uint64_t id;
    const std::string_view service_name;  ///< points at a registry name: static storage
    const std::shared_ptr<service> impl;
    std::unique_ptr<conn_state> state;  ///< the service's, kept while the connection is parked
    std::string peer;
    std::uint64_t messages = 0, bytes_in = 0, bytes_out = 0;
    const clock::time_point started = clock::now();

    /// Arms the deadline; if it passes first, the connection ends with `reason`, after a
    /// best-effort send of `farewell` (static storage, small: "HTTP/1.1 408 ...").
    void expires_after(std::chrono::microseconds d, std::string_view reason,
                       std::string_view farewell = {});
    /// Marks the connection as waiting for a new request: a graceful stop may end it now.
    void set_idle(bool idle) { idle_ = idle; }
    bool idle() const { return idle_; }

    /// Called by a service that returns from serve() to wait for the next request: the worker
    /// calls serve() again once input arrives (the first bytes: take_woken()).
    void park() { parked_ = true; }
    /// True once if the service parked the connection.
    bool take_park() {
        bool parked = parked_;
        parked_ = false;
        return parked;
    }
    /// Called by a service that returns from serve() while work for the connection runs
    /// elsewhere, as with wake::hold: it calls proceed() once that work is done.
    void hold() { held_ = true; }
    /// True once if the service held the connection.
    bool take_hold() {
        bool held = held_;
        held_ = false;
        return held;
    }
    /// Continues a connection the service held (wake::hold) once its work is done: park it
    /// again, or run serve(). A connection closed meanwhile (a forced stop) ends instead.
    void proceed(wake next);
    /// Set by the worker that owns the session (the owner of its deadline_queue): where
    /// proceed() goes.
    void set_self(std::list<session>::iterator self) { self_ = self; }
    /// Where the worker reads a parked connection's first bytes.
    static constexpr std::size_t wake_bytes = 64;
    std::array<char, wake_bytes>& wake_buffer() { return wake_; }
    void set_woken(std::size_t n) { woken_ = static_cast<std::uint8_t>(n); }
    /// Memory for the parked read operation: the session's own room if it is free and big
    /// enough, else the heap.
    void* park_room(std::size_t bytes);
    void park_room_free(void* p, std::size_t bytes);
    /// The bytes that woke a parked connection (empty if none); they are the service's now.
    std::string_view take_woken() { return {wake_.data(), std::exchange(woken_, 0)}; }
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
    /// Reads the kernel's RTT and closes the socket; call once the service returned for good.
    void close();
    /// Appends the conn_close / conn_alive fields.
    void describe(log::line& line);

  private:
    void capture_rtt();
    enum hook_tag : std::uint8_t { deadline_tag, alive_tag };

    // Every byte here is in every connection (<= 1 KiB each while idle): the worker is
    // deadlines_.owner, the RTT fits 32 bits, the flags are bits, so that wake_ and park_room_
    // need no padding before them.
    deadline_queue& deadlines_;
    std::list<session>::iterator self_;
    std::string_view deadline_reason_, deadline_farewell_;
    std::string reason_;
    std::int32_t rtt_us_ = -1;
    std::uint8_t woken_ = 0;
    bool idle_ : 1 = false, stopping_ : 1 = false, parked_ : 1 = false;
    bool park_room_used_ : 1 = false, held_ : 1 = false;
    std::array<char, wake_bytes> wake_;
    static constexpr std::size_t park_room_bytes = 128;  ///< Asio 1.22's read op here: 128
    alignas(std::max_align_t) std::array<std::byte, park_room_bytes> park_room_;
};

}  // namespace netd
