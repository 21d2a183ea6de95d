#include "session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <type_traits>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"

namespace netd {

session::session(socket_type sock, std::uint64_t conn_id, std::string_view name,
                 std::shared_ptr<service> service_impl, deadline_queue& deadlines,
                 std::chrono::microseconds alive_interval)
    : socket(std::move(sock)),
      id(conn_id),
      service_name(name),
      impl(std::move(service_impl)),
      deadlines_(deadlines) {
    deadline.tag = deadline_tag;
    alive.tag = alive_tag;
    deadlines_.set(alive, alive_interval, started);
}

session::~session() {
    deadlines_.unlink(deadline);
    deadlines_.unlink(alive);
}

void session::expires_after(std::chrono::microseconds d, std::string_view reason,
                            std::string_view farewell) {
    deadline_reason_ = reason;
    deadline_farewell_ = farewell;
    deadlines_.set(deadline, d);
}

static_assert(std::is_standard_layout_v<session_hooks>, "session::expired uses offsetof");
#if defined(__x86_64__) && defined(__GLIBCXX__)
// With its std::list node (16 bytes) and malloc's header a session is one 528-byte chunk; a
// member more (or padding) makes it 544 in every connection.
static_assert(sizeof(session) <= 496, "a parked connection's memory budget");
#endif

void session::expired(deadline_queue::hook& h, std::chrono::microseconds alive_interval) {
    auto offset =
        h.tag == alive_tag ? offsetof(session_hooks, alive) : offsetof(session_hooks, deadline);
    auto& hooks = *reinterpret_cast<session_hooks*>(reinterpret_cast<char*>(&h) - offset);
    auto& s = static_cast<session&>(hooks);
    if (!s.socket.is_open()) return;
    if (h.tag == alive_tag) {
        {
            log::line line(log::level::info, "conn_alive");
            s.describe(line);
        }
        // From now, not from when it was due, so that the lane stays in order.
        s.deadlines_.set(s.alive, alive_interval);
        return;
    }
    if (!s.deadline_farewell_.empty()) {
        // Never blocks: a farewell that does not fit in the send buffer is dropped.
        auto n = ::send(s.socket.native_handle(), s.deadline_farewell_.data(),
                        s.deadline_farewell_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) s.bytes_out += static_cast<std::uint64_t>(n);
    }
    s.abort(s.deadline_reason_);
}

void* session::park_room(std::size_t bytes) {
    if (!park_room_used_ && bytes <= park_room_.size()) {
        park_room_used_ = true;
        return park_room_.data();
    }
    return ::operator new(bytes);
}

void session::park_room_free(void* p, std::size_t) {
    if (p == park_room_.data())
        park_room_used_ = false;
    else
        ::operator delete(p);
}

void session::set_reason(std::string_view reason) {
    if (reason_.empty()) reason_ = reason;
}

void session::set_reason(const std::error_code& ec) {
    if (ec == asio::error::eof)
        set_reason("eof");
    else if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        set_reason("reset");
    else if (ec == asio::error::operation_aborted)
        set_reason(stopping_ ? "shutdown" : "aborted");
    else
        set_reason(ec.message());
}

void session::request_stop() {
    stopping_ = true;
    // Bytes already in the socket buffer are a request under way, not an idle connection.
    std::error_code ec;
    if (idle_ && socket.available(ec) == 0) {
        set_reason("shutdown");
        std::error_code ignored;
        socket.cancel(ignored);
    }
}

void session::abort(std::string_view reason) {
    set_reason(reason);
    capture_rtt();
    std::error_code ignored;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}

asio::awaitable<void> session::linger() {
    using asio::experimental::as_tuple;
    constexpr std::size_t max_discard_bytes = 256 * 1024;
    std::error_code ignored;
    socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    expires_after(std::chrono::seconds(1), reason());
    char sink[4096];
    for (std::size_t discarded = 0; discarded < max_discard_bytes;) {
        auto [ec, n] =
            co_await socket.async_read_some(asio::buffer(sink), as_tuple(asio::use_awaitable));
        if (ec) break;
        discarded += n;
        bytes_in += n;
    }
}

void session::capture_rtt() {
    if (!socket.is_open()) return;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0)
        rtt_us_ = static_cast<std::int32_t>(
            std::min<std::uint32_t>(info.tcpi_rtt, std::numeric_limits<std::int32_t>::max()));
}

void session::close() {
    capture_rtt();
    std::error_code ignored;
    socket.close(ignored);
    deadlines_.unlink(deadline);
    deadlines_.unlink(alive);
}

void session::describe(log::line& line) {
    capture_rtt();
    auto duration = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
    line.str("service", service_name)
        .unum("conn", id)
        .str("peer", peer)
        .num("duration_us", duration.count())
        .unum("messages", messages)
        .unum("bytes_in", bytes_in)
        .unum("bytes_out", bytes_out)
        .num("rtt_us", rtt_us_);
    if (state) state->describe(line);
}

}  // namespace netd
