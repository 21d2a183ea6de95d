#include "ack.hpp"
#include "append.hpp"

#include <charconv>

namespace netd::proto {
namespace {}  // namespace

result<ack_template> ack_template::parse(std::string_view text) {
    using r = result<ack_template>;
    // Checked first: a newline inside a would-be placeholder must not reach the error message,
    // which is one line.
    if (text.find_first_of("\r\n") != std::string_view::npos)
        return r::fail("a reply is one line: no newline in the template");
    ack_template t;
    std::string literal;
    auto flush = [&] {
        if (!literal.empty()) t.parts_.push_back({field::literal, std::move(literal)});
        literal.clear();
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
            literal += c;
            ++i;
            continue;
        }
        if (c == '}')
            return r::fail("'}' without '{' at offset " + std::to_string(i) +
                           " (write '}}' for a brace)");
        if (c != '{') {
            literal += c;
            continue;
        }
        auto close = text.find('}', i);
        if (close == std::string_view::npos)
            return r::fail("'{' without '}' at offset " + std::to_string(i) +
                           " (write '{{' for a brace)");
        auto name = text.substr(i + 1, close - i - 1);
        field f;
        if (name == "seq")
            f = field::seq;
        else if (name == "bytes")
            f = field::bytes;
        else if (name == "message")
            f = field::message;
        else
            return r::fail("unknown placeholder '{" + std::string(name) +
                           "}': use {seq}, {bytes} or {message}");
        flush();
        t.parts_.push_back({f, {}});
        i = close;
    }
    flush();
    return {std::move(t), {}};
}

void ack_template::append(std::string& out, std::uint64_t seq, std::string_view message) const {
    for (const auto& p : parts_) {
        switch (p.what) {
            case field::literal:
                out += p.text;
                break;
            case field::seq:
                append_uint(out, seq);
                break;
            case field::bytes:
                append_uint(out, message.size());
                break;
            case field::message:
                for (char c : message)
                    out += (c == '\n' || c == '\r') ? ' ' : c;
                break;
        }
    }
    out += '\n';
}

}  // namespace netd::proto
