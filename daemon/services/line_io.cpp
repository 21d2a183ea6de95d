#include "line_io.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstring>
#include <vector>

#include "line_service.hpp"
#include "net/session.hpp"
#include "proto/timefmt.hpp"

namespace netd {
namespace {

using asio::experimental::as_tuple;
using status = proto::line_framer::status;

constexpr std::size_t initial_buffer_bytes = 4096;
// Buffers of connections gone idle wait here for the next connection on the thread that has
// data to read, so an idle connection holds no buffer and a busy one allocates none.
constexpr std::size_t max_pooled_buffers = 256;
thread_local std::vector<std::string> buffer_pool;

}  // namespace

line_io::line_io(session& s, const line_settings& settings)
    : s_(s),
      idle_timeout_(settings.idle_timeout),
      framer_(settings.framing, settings.max_line_bytes) {
    // Reads are tried after the socket reports data, so they must never block.
    std::error_code ignored;
    s_.socket.non_blocking(true, ignored);
}

line_io::~line_io() {
    release_buffer();
}

void line_io::acquire_buffer() {
    // Small to start; a classic client's message is one read, so its buffer holds the longest.
    auto want =
        classic() ? framer_.buffer_bytes() : std::min(initial_buffer_bytes, framer_.buffer_bytes());
    if (buf_.size() >= want) return;
    if (buf_.empty() && want == initial_buffer_bytes && !buffer_pool.empty()) {
        buf_ = std::move(buffer_pool.back());
        buffer_pool.pop_back();
        return;
    }
    buf_.resize(want);
}

void line_io::release_buffer() {
    if (buf_.size() == initial_buffer_bytes && buffer_pool.size() < max_pooled_buffers)
        buffer_pool.push_back(std::move(buf_));
    std::string().swap(buf_);  // long-line buffers go back to the heap
    have_ = used_ = 0;
}

proto::line_framer::step line_io::next() {
    auto step = framer_.next(pending(), quiet_);
    // At end of input an unterminated rest is one last message ("printf ping | nc -N").
    if (step.what == status::need_more && eof_) step = framer_.finish(pending());
    if (step.what == status::message) used_ += step.consumed;
    return step;
}

void line_io::compact() {
    if (used_ > 0) {
        std::memmove(buf_.data(), buf_.data() + used_, have_ - used_);
        have_ -= used_;
        used_ = 0;
    }
}

asio::awaitable<bool> line_io::write(std::string& out) {
    if (out.empty()) co_return true;
    s_.expires_after(idle_timeout_, "write timeout");
    auto [ec, n] =
        co_await asio::async_write(s_.socket, asio::buffer(out), as_tuple(asio::use_awaitable));
    s_.bytes_out += n;
    out.clear();
    if (ec) s_.set_reason(ec);
    co_return !ec;
}

asio::awaitable<bool> line_io::read() {
    if (eof_) co_return false;
    compact();
    // Stopping: done once no request is half-received (the grace period bounds the wait).
    std::error_code aec;
    if (s_.stopping() && have_ == 0 && s_.socket.available(aec) == 0) {
        s_.set_reason("shutdown");
        co_return false;
    }
    s_.expires_after(idle_timeout_, "idle timeout");
    // Nothing half-received: the connection is idle and gives its buffer back while it waits.
    if (have_ == 0) release_buffer();
    s_.set_idle(have_ == 0);
    std::error_code ec;
    std::size_t n = 0;
    for (;;) {
        auto [wec] = co_await s_.socket.async_wait(asio::ip::tcp::socket::wait_read,
                                                   as_tuple(asio::use_awaitable));
        if (wec) {
            ec = wec;
            break;
        }
        acquire_buffer();
        if (have_ == buf_.size()) buf_.resize(std::min(buf_.size() * 2, framer_.buffer_bytes()));
        n = s_.socket.read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_), ec);
        if (ec != asio::error::would_block && ec != asio::error::try_again) break;
    }
    s_.set_idle(false);
    if (ec == asio::error::eof) {
        eof_ = true;  // answer what is left, then close
        co_return true;
    }
    if (ec) {
        s_.set_reason(ec);
        co_return false;
    }
    have_ += n;
    s_.bytes_in += n;
    received_us_ = proto::unix_micros_now();
    // The classic-client test costs a FIONREAD, so only the first message pays it.
    if (framer_.current() == proto::line_framer::mode::unknown)
        quiet_ = have_ < buf_.size() && s_.socket.available(aec) == 0 && !aec;
    co_return true;
}

}  // namespace netd
