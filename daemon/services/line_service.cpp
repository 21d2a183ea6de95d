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

namespace {

// What a line connection keeps while parked.
struct line_conn final : session::conn_state {
    line_conn(session& s, const line_settings& settings) : io(s, settings) {}
    line_io io;
    line_service::session_state state;
};

}  // namespace

asio::awaitable<void> line_service::serve(session& s) {
    if (!s.state) s.state = std::make_unique<line_conn>(s, settings_);
    auto& conn = static_cast<line_conn&>(*s.state);
    auto& io = conn.io;
    io.feed(s.take_woken());
    for (;;) {
        auto& out = line_io::reply_buffer();
        // Answer every complete message buffered so far; pipelined replies go out in one write.
        bool too_long = false;
        for (auto step = io.next(); step.what != status::need_more; step = io.next()) {
            if (step.what == status::too_long) {
                too_long = true;
                break;
            }
            on_message(conn.state, step.message, io.received_us(), out);
            ++s.messages;
        }
        if (too_long) {
            out += "ERR line too long\n";
            s.set_reason("line too long");
        }
        if (!co_await io.write(out)) co_return;
        if (too_long) {
            co_await s.linger();
            co_return;
        }
        auto got = co_await io.read();
        if (got == line_io::input::park) s.park();
        if (got != line_io::input::more) co_return;
    }
}

}  // namespace netd
