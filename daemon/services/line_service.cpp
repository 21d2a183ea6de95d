#include "line_service.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstring>

#include "config_reader.hpp"
#include "net/session.hpp"
#include "proto/timefmt.hpp"

namespace netd {
namespace {

using asio::experimental::as_tuple;
using status = proto::line_framer::status;

constexpr std::size_t initial_buffer_bytes = 4096;
constexpr std::int64_t max_line_limit = 16 * 1024 * 1024;

}  // namespace

line_settings read_line_settings(table_reader& table) {
    line_settings s;
    table.get_duration("idle_timeout", s.idle_timeout, std::chrono::milliseconds(1));
    std::int64_t max_line = static_cast<std::int64_t>(s.max_line_bytes);
    if (table.get("max_line", max_line, 1, max_line_limit))
        s.max_line_bytes = static_cast<std::size_t>(max_line);
    std::string framing;
    if (table.get_one_of("framing", framing, {"auto", "line"}))
        s.framing = framing == "line" ? proto::framing::line : proto::framing::auto_detect;
    return s;
}

asio::awaitable<void> line_service::serve(session& s) {
    proto::line_framer framer(settings_.framing, settings_.max_line_bytes);
    // The buffer starts small and grows to max_line only for connections that send long lines,
    // so ten thousand idle connections do not each hold 64 KiB.
    std::string in(std::min(initial_buffer_bytes, framer.buffer_bytes()), '\0');
    std::size_t have = 0;
    std::string out;
    bool quiet = false, eof = false;
    std::int64_t received_us = 0;
    session_state state;

    for (;;) {
        // Answer every complete message buffered so far; pipelined replies go out in one write.
        std::size_t used = 0;
        bool too_long = false;
        for (;;) {
            std::string_view pending(in.data() + used, have - used);
            auto step = framer.next(pending, quiet);
            // At end of input an unterminated rest is one last message ("printf ping | nc -N").
            if (step.what == status::need_more && eof) step = framer.finish(pending);
            if (step.what == status::too_long) {
                too_long = true;
                break;
            }
            if (step.what == status::need_more) break;
            on_message(state, step.message, received_us, out);
            ++s.messages;
            used += step.consumed;
        }
        if (used > 0) {
            std::memmove(in.data(), in.data() + used, have - used);
            have -= used;
        }
        // A classic client's message is one read: the buffer must hold the longest allowed.
        if (framer.current() == proto::line_framer::mode::classic)
            in.resize(std::max(in.size(), framer.buffer_bytes()));
        if (too_long) {
            out += "ERR line too long\n";
            s.set_reason("line too long");
        }
        if (!out.empty()) {
            s.expires_after(settings_.idle_timeout, "write timeout");
            auto [ec, n] = co_await asio::async_write(s.socket, asio::buffer(out),
                                                      as_tuple(asio::use_awaitable));
            s.bytes_out += n;
            out.clear();
            if (ec) {
                s.set_reason(ec);
                co_return;
            }
        }
        if (too_long) co_await s.linger();
        if (too_long || eof) co_return;
        // Stopping: done once no request is half-received (the grace period bounds the wait).
        std::error_code aec;
        if (s.stopping() && have == 0 && s.socket.available(aec) == 0) {
            s.set_reason("shutdown");
            co_return;
        }
        if (have == in.size()) in.resize(std::min(in.size() * 2, framer.buffer_bytes()));

        s.expires_after(settings_.idle_timeout, "idle timeout");
        s.set_idle(have == 0);
        auto [ec, n] = co_await s.socket.async_read_some(
            asio::buffer(in.data() + have, in.size() - have), as_tuple(asio::use_awaitable));
        s.set_idle(false);
        if (ec == asio::error::eof) {
            eof = true;  // answer what is left, then close
            continue;
        }
        if (ec) {
            s.set_reason(ec);
            co_return;
        }
        have += n;
        s.bytes_in += n;
        received_us = proto::unix_micros_now();
        // The classic-client test costs a FIONREAD, so only the first message pays it.
        if (framer.current() == proto::line_framer::mode::unknown) {
            std::error_code aec;
            quiet = have < in.size() && s.socket.available(aec) == 0 && !aec;
        }
    }
}

}  // namespace netd
