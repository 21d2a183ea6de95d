#include "http_range.hpp"

#include <charconv>
#include <system_error>

namespace netd::proto::http {
namespace {

using kind = range_result::kind;

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

// 1*DIGIT, the whole of `s`; no sign, no spaces, no overflow.
bool whole_number(std::string_view s, std::uint64_t& out) {
    if (s.empty() || s[0] < '0' || s[0] > '9') return false;
    auto end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc{} && p == end;
}

struct spec {
    bool suffix = false;
    bool has_last = false;
    std::uint64_t first = 0, last = 0;  // for a suffix, `last` is its length
};

// int-range "a-b" / "a-" or suffix-range "-n" (RFC 9110 14.1.1).
bool parse_spec(std::string_view s, spec& out) {
    auto dash = s.find('-');
    if (dash == std::string_view::npos) return false;
    auto a = s.substr(0, dash), b = s.substr(dash + 1);
    if (a.empty()) {
        out.suffix = true;
        return whole_number(b, out.last);
    }
    if (!whole_number(a, out.first)) return false;
    if (b.empty()) return true;
    out.has_last = true;
    // RFC 9110 14.1.1: a last below the first makes the range-spec invalid, not unsatisfiable.
    return whole_number(b, out.last) && out.last >= out.first;
}

}  // namespace

range_result parse_range(std::string_view header, std::uint64_t size) {
    const range_result whole{};
    header = trim_ows(header);
    constexpr std::string_view unit = "bytes=";
    if (header.size() < unit.size()) return whole;
    for (std::size_t i = 0; i < unit.size(); ++i) {
        char c = header[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
        if (c != unit[i]) return whole;
    }

    // range-set = 1#range-spec: empty list elements are skipped (RFC 9110 5.6.1.2). Anything
    // but exactly one valid spec is answered with the whole file: several ranges would need
    // multipart/byteranges, which browsers and download tools do not rely on.
    auto set = header.substr(unit.size());
    spec only;
    int specs = 0;
    while (!set.empty()) {
        auto comma = set.find(',');
        auto element = trim_ows(set.substr(0, comma));
        if (!element.empty()) {
            if (++specs > 1 || !parse_spec(element, only)) return whole;
        }
        if (comma == std::string_view::npos) break;
        set.remove_prefix(comma + 1);
    }
    if (specs == 0) return whole;

    if (size == 0) return {kind::unsatisfiable, 0, 0};
    if (only.suffix) {
        if (only.last == 0) return {kind::unsatisfiable, 0, 0};
        auto length = only.last < size ? only.last : size;
        return {kind::partial, size - length, size - 1};
    }
    if (only.first >= size) return {kind::unsatisfiable, 0, 0};
    auto last = only.has_last && only.last < size ? only.last : size - 1;
    return {kind::partial, only.first, last};
}

}  // namespace netd::proto::http
