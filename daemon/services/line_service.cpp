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

asio::awaitable<void> line_service::serve(session& s) {
    line_io io(s, settings_);
    std::string out;
    session_state state;
    do {
        // Answer every complete message buffered so far; pipelined replies go out in one write.
        bool too_long = false;
        for (auto step = io.next(); step.what != status::need_more; step = io.next()) {
            if (step.what == status::too_long) {
                too_long = true;
                break;
            }
            on_message(state, step.message, io.received_us(), out);
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
    } while (co_await io.read());
}

}  // namespace netd
