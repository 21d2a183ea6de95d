#include "session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <stdexcept>

#include "log.hpp"

namespace netd {

session::session(asio::ip::tcp::socket sock, std::uint64_t conn_id, std::string_view name)
    : socket(std::move(sock)), id(conn_id), service_name(name), timer_(socket.get_executor()) {}

void session::expires_after(std::chrono::microseconds d, std::string_view reason,
                            std::string_view farewell) {
    auto when = clock::now() + d;
    deadline_reason_ = reason;
    deadline_farewell_ = farewell;
    deadline_ = when;
    // The watchdog sleeps until the timer's expiry and then looks at deadline_ again: only a
    // deadline before that moment needs to wake it (a cancel costs a handler run).
    if (when < timer_.expiry()) timer_.cancel();
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

asio::awaitable<void> session::watchdog(std::chrono::microseconds alive_interval) {
    using asio::experimental::as_tuple;
    auto next_alive = started + alive_interval;
    for (;;) {
        // Once the socket is closed there is nothing to watch; wait for the || to cancel us, so
        // that the service (which may be waiting on something other than the socket) ends first.
        timer_.expires_at(socket.is_open() ? std::min(deadline_, next_alive)
                                           : clock::time_point::max());
        co_await timer_.async_wait(as_tuple(asio::use_awaitable));
        // The service finished (the || around us cancels): stop watching. A plain
        // timer_.cancel() only means the deadline moved.
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) co_return;
        if (!socket.is_open()) continue;
        auto now = clock::now();
        if (now >= deadline_) {
            if (!deadline_farewell_.empty()) {
                // Never blocks: a farewell that does not fit in the send buffer is dropped.
                auto n = ::send(socket.native_handle(), deadline_farewell_.data(),
                                deadline_farewell_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) bytes_out += static_cast<std::uint64_t>(n);
            }
            abort(deadline_reason_);
            deadline_ = clock::time_point::max();
        }
        if (now >= next_alive) {
            log::line line(log::level::info, "conn_alive");
            describe(line);
            next_alive += alive_interval;
        }
    }
}

void session::capture_rtt() {
    if (!socket.is_open()) return;
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0)
        rtt_us_ = info.tcpi_rtt;
}

void session::close() {
    capture_rtt();
    std::error_code ignored;
    socket.close(ignored);
    timer_.cancel();
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
    for (std::size_t i = 0; i < counter_count_; ++i)
        line.num(counters_[i].first, counters_[i].second);
}

std::int64_t& session::counter(std::string_view name) {
    for (std::size_t i = 0; i < counter_count_; ++i)
        if (counters_[i].first == name) return counters_[i].second;
    if (counter_count_ == max_counters) throw std::logic_error("session: too many counters");
    counters_[counter_count_] = {name, 0};
    return counters_[counter_count_++].second;
}

}  // namespace netd
