#include "line_service.hpp"

#include "config_reader.hpp"
#include "line_io.hpp"
#include "net/session.hpp"

namespace netd {
namespace {

using status = proto::line_framer::status;

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

// What a line connection keeps while parked, and what on_wake() leaves for serve().
struct line_conn final : session::conn_state {
    line_conn(session& s, const line_settings& settings) : io(s, settings) {}
    line_io io;
    line_service::session_state state;
    std::string unsent;     ///< replies on_wake() could not send without waiting
    bool too_long = false;  ///< on_wake() answered an over-long line: close after the reply
    bool failed = false;    ///< on_wake() found the connection broken
};

line_conn& line_service::conn_of(session& s) const {
    if (!s.state) s.state = std::make_unique<line_conn>(s, settings_);
    return static_cast<line_conn&>(*s.state);
}

bool line_service::answer(line_conn& conn, session& s, std::string& out) {
    // Every complete message buffered so far; pipelined replies go out in one write.
    auto& io = conn.io;
    for (auto step = io.next(); step.what != status::need_more; step = io.next()) {
        if (step.what == status::too_long) {
            out += "ERR line too long\n";
            s.set_reason("line too long");
            return false;
        }
        on_message(conn.state, step.message, io.received_us(), out);
        ++s.messages;
    }
    return true;
}

wake line_service::on_wake(session& s) {
    auto& conn = conn_of(s);
    auto& io = conn.io;
    io.feed(s.take_woken());
    auto& out = line_io::reply_buffer();
    conn.too_long = !answer(conn, s, out);
    if (!io.try_write(out)) {
        conn.failed = true;
        return wake::serve;
    }
    if (!out.empty()) {
        conn.unsent = out;  // serve() waits until the socket takes it
        return wake::serve;
    }
    return !conn.too_long && io.settle_idle() ? wake::park : wake::serve;
}

asio::awaitable<void> line_service::serve(session& s) {
    auto& conn = conn_of(s);
    auto& io = conn.io;
    if (conn.failed) co_return;
    // What on_wake() began: the rest of its replies, the close after an over-long line.
    if (!conn.unsent.empty()) {
        auto unsent = std::move(conn.unsent);
        conn.unsent = {};
        if (!co_await io.write(unsent)) co_return;
    }
    for (bool too_long = conn.too_long;;) {
        if (too_long) {
            co_await s.linger();
            co_return;
        }
        auto got = co_await io.read();
        if (got == line_io::input::park) s.park();
        if (got != line_io::input::more) co_return;
        auto& out = line_io::reply_buffer();
        too_long = !answer(conn, s, out);
        if (!co_await io.write(out)) co_return;
    }
}

}  // namespace netd
