#include "line_io.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstring>

#include "line_service.hpp"
#include "net/session.hpp"
#include "proto/timefmt.hpp"

namespace netd {
namespace {

using asio::experimental::as_tuple;
using status = proto::line_framer::status;

constexpr std::size_t initial_buffer_bytes = 4096;

}  // namespace

line_io::line_io(session& s, const line_settings& settings)
    : s_(s),
      idle_timeout_(settings.idle_timeout),
      framer_(settings.framing, settings.max_line_bytes),
      // The buffer starts small and grows to max_line only for connections that send long
      // lines, so ten thousand idle connections do not each hold 64 KiB.
      buf_(std::min(initial_buffer_bytes, framer_.buffer_bytes()), '\0') {}

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
    // A classic client's message is one read: the buffer must hold the longest allowed.
    if (classic()) buf_.resize(std::max(buf_.size(), framer_.buffer_bytes()));
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
    if (have_ == buf_.size()) buf_.resize(std::min(buf_.size() * 2, framer_.buffer_bytes()));

    s_.expires_after(idle_timeout_, "idle timeout");
    s_.set_idle(have_ == 0);
    auto [ec, n] = co_await s_.socket.async_read_some(
        asio::buffer(buf_.data() + have_, buf_.size() - have_), as_tuple(asio::use_awaitable));
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
