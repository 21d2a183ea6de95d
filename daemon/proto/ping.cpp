#include "ping.hpp"

#include <charconv>

#include "timefmt.hpp"

namespace netd::proto {
namespace {

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool valid_token(std::string_view token) {
    if (token.empty() || token.size() > max_stamp_token_bytes) return false;
    for (char c : token)
        if (is_space(c) || static_cast<unsigned char>(c) < 0x20) return false;
    return true;
}

}  // namespace

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

void append_ping_reply(std::string& out, std::string_view message, std::int64_t received_us,
                       std::int64_t now_us) {
    message = trim(message);
    if (message == "ping") {
        out += "pong\n";
    } else if (message == "get_time") {
        append_rfc3339(out, now_us);
        out += '\n';
    } else if (message.starts_with("stamp ") && valid_token(trim(message.substr(6)))) {
        out += "stamp ";
        out += trim(message.substr(6));
        out += ' ';
        append_int(out, received_us);
        out += ' ';
        append_int(out, now_us);
        out += '\n';
    } else {
        out += "Unknown command\n";
    }
}

bool parse_stamp_reply(std::string_view line, stamp_reply& out) {
    line = trim(line);
    if (!line.starts_with("stamp ")) return false;
    line.remove_prefix(6);
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return false;
    auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return false;
    auto parse = [](std::string_view s, std::int64_t& v) {
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        return ec == std::errc{} && end == s.data() + s.size();
    };
    out.token = std::string(line.substr(0, sp1));
    return parse(line.substr(sp1 + 1, sp2 - sp1 - 1), out.t2_us) &&
           parse(line.substr(sp2 + 1), out.t3_us);
}

}  // namespace netd::proto
