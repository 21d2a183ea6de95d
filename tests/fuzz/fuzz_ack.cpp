// libFuzzer target: the ack service's reply template. Input: the template, a NUL, 8 bytes of the
// first seq (little-endian), then the bytes a client sends. Invariants: the parser agrees with a
// plain reference expansion (same templates accepted, same replies); a rejected template has a
// one-line reason; one message (a framed line, or a classic client's whole send() with newlines
// in it) gives exactly one reply line, with no '\r' anywhere.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "ack.hpp"
#include "framing.hpp"

namespace {

using netd::proto::ack_template;

void check(bool ok) {
    if (!ok) std::abort();
}

// The README's rules, written the obvious way: "{{" and "}}" are braces, three placeholders,
// any other brace or a newline makes the template invalid.
std::optional<std::string> reference(std::string_view t, std::uint64_t seq,
                                     std::string_view message) {
    std::string out;
    for (std::size_t i = 0; i < t.size();) {
        auto rest = t.substr(i);
        if (rest.starts_with("{{") || rest.starts_with("}}")) {
            out += t[i];
            i += 2;
        } else if (rest.starts_with("{seq}")) {
            out += std::to_string(seq);
            i += 5;
        } else if (rest.starts_with("{bytes}")) {
            out += std::to_string(message.size());
            i += 7;
        } else if (rest.starts_with("{message}")) {
            for (char c : message)
                out += c == '\n' || c == '\r' ? ' ' : c;
            i += 9;
        } else if (t[i] == '{' || t[i] == '}' || t[i] == '\n' || t[i] == '\r') {
            return std::nullopt;
        } else {
            out += t[i++];
        }
    }
    return out + '\n';
}

// One reply: exactly one line, and what the reference expansion says.
void check_reply(const ack_template& t, std::string_view text, std::uint64_t seq,
                 std::string_view message) {
    std::string out = "previous\n";  // append() must only append
    t.append(out, seq, message);
    check(std::string_view(out).starts_with("previous\n"));
    std::string_view reply = std::string_view(out).substr(9);
    check(!reply.empty() && reply.back() == '\n');
    check(std::count(reply.begin(), reply.end(), '\n') == 1);
    check(reply.find('\r') == std::string_view::npos);
    check(reference(text, seq, message) == reply);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nul = input.find('\0');
    const std::string_view text = input.substr(0, nul);
    std::string_view rest = nul == std::string_view::npos ? "" : input.substr(nul + 1);
    std::uint64_t seq = 1;
    if (rest.size() >= 8) {
        std::memcpy(&seq, rest.data(), 8);
        rest.remove_prefix(8);
    }

    auto parsed = ack_template::parse(text);
    check(parsed.ok() == reference(text, 0, "").has_value());
    if (!parsed.ok()) {
        check(parsed.error.find('\n') == std::string::npos);
        return 0;
    }

    // A classic client's bare send(): the whole read is one message, newlines and all.
    check_reply(parsed.value, text, seq, rest);

    // A line client: every framed message (and an over-long line's error) is one reply line.
    netd::proto::line_framer framer(netd::proto::framing::line, 1024);
    std::string_view pending = rest;
    std::string out;
    std::size_t messages = 0;
    for (;;) {
        auto step = framer.next(pending, true);
        if (step.what != netd::proto::line_framer::status::message) break;
        check_reply(parsed.value, text, seq + messages, step.message);
        parsed.value.append(out, seq + messages, step.message);
        ++messages;
        pending.remove_prefix(step.consumed);
    }
    check(static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n')) == messages);
    return 0;
}
