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
constexpr std::size_t max_pooled_buffers = 16;
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

bool line_io::try_write(std::string& out) {
    if (out.empty()) return true;
    std::error_code ec;
    auto sent = s_.socket.write_some(asio::buffer(out), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        s_.set_reason(ec);
        return false;
    }
    s_.bytes_out += sent;
    out.erase(0, sent);
    return true;
}

bool line_io::settle_idle() {
    compact();
    if (eof_ || have_ > 0 || s_.stopping()) return false;
    release_buffer();
    s_.expires_after(idle_timeout_, "idle timeout");
    return true;
}

asio::awaitable<bool> line_io::write(std::string& out) {
    // Most replies fit in the socket buffer: send them now, without a trip through the reactor.
    if (!try_write(out)) co_return false;
    if (out.empty()) co_return true;
    // The rest waits in this frame: `out` may be the thread's reply_buffer(), which other
    // connections use while this one waits.
    std::string rest(out);
    out.clear();
    s_.expires_after(idle_timeout_, "write timeout");
    auto [wec, n] =
        co_await asio::async_write(s_.socket, asio::buffer(rest), as_tuple(asio::use_awaitable));
    s_.bytes_out += n;
    if (wec) s_.set_reason(wec);
    co_return !wec;
}

std::string& line_io::reply_buffer() {
    thread_local std::string buffer;
    if (buffer.capacity() > 256 * 1024)
        std::string().swap(buffer);  // after a burst of pipelined replies
    else
        buffer.clear();
    return buffer;
}

void line_io::received(std::size_t n) {
    have_ += n;
    s_.bytes_in += n;
    received_us_ = proto::unix_micros_now();
    // The classic-client test costs a FIONREAD, so only the first message pays it.
    std::error_code aec;
    if (framer_.current() == proto::line_framer::mode::unknown)
        quiet_ = have_ < buf_.size() && s_.socket.available(aec) == 0 && !aec;
}

void line_io::feed(std::string_view bytes) {
    if (bytes.empty()) return;
    acquire_buffer();
    // A tiny max_line can make the line buffer smaller than the wake buffer.
    if (buf_.size() < have_ + bytes.size()) buf_.resize(have_ + bytes.size());
    std::memcpy(buf_.data() + have_, bytes.data(), bytes.size());
    auto n = bytes.size();
    // A full wake buffer may have left more behind: take it now, as one read (a classic
    // client's message is whatever one read returns).
    if (n == session::wake_bytes && have_ + n < buf_.size()) {
        std::error_code ec;
        n +=
            s_.socket.read_some(asio::buffer(buf_.data() + have_ + n, buf_.size() - have_ - n), ec);
        // would_block: nothing more yet. eof: answer what came, then close; an error is the
        // reason the connection ends (the next read sees only the end of input).
        if (ec == asio::error::eof)
            eof_ = true;
        else if (ec && ec != asio::error::would_block && ec != asio::error::try_again)
            s_.set_reason(ec);
    }
    received(n);
}

asio::awaitable<line_io::input> line_io::read() {
    if (eof_) co_return input::end;
    compact();
    // Stopping: done once no request is half-received (the grace period bounds the wait).
    std::error_code aec;
    if (s_.stopping() && have_ == 0 && s_.socket.available(aec) == 0) {
        s_.set_reason("shutdown");
        co_return input::end;
    }
    s_.expires_after(idle_timeout_, "idle timeout");
    // Nothing half-received: the connection is idle. It gives its buffer back and the worker
    // waits for its next bytes without this coroutine.
    if (have_ == 0) {
        release_buffer();
        co_return input::park;
    }
    acquire_buffer();
    if (have_ == buf_.size())
        buf_.resize(std::max(buf_.size() + 1, std::min(buf_.size() * 2, framer_.buffer_bytes())));
    auto [ec, n] = co_await s_.socket.async_read_some(
        asio::buffer(buf_.data() + have_, buf_.size() - have_), as_tuple(asio::use_awaitable));
    if (ec == asio::error::eof) {
        eof_ = true;  // answer what is left, then close
        co_return input::more;
    }
    if (ec) {
        s_.set_reason(ec);
        co_return input::end;
    }
    received(n);
    co_return input::more;
}

}  // namespace netd
