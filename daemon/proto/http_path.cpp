#include "http_path.hpp"

#include <utility>

namespace netd::proto::http {
namespace {

constexpr auto npos = std::string_view::npos;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

// Decodes one segment (up to the next raw '/') onto the end of `out`. False for a bad escape
// or a byte no file name under the root may hold.
bool decode_segment(std::string_view path, std::size_t& i, std::string& out) {
    while (i < path.size() && path[i] != '/') {
        char c = path[i];
        if (c == '%') {
            if (path.size() - i < 3) return false;
            int hi = hex_value(path[i + 1]), lo = hex_value(path[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = static_cast<char>(hi * 16 + lo);
            // An encoded '/' would be a separator that the segment logic never saw.
            if (c == '/') return false;
            i += 3;
        } else {
            ++i;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == '\\') return false;
        out.push_back(c);
    }
    return true;
}

safe_path bad_request(safe_path& r) {
    r.relative.clear();
    r.what = safe_path::verdict::bad_request;
    return std::move(r);
}

}  // namespace

safe_path resolve_target(std::string_view target, bool allow_dotfiles) {
    safe_path r;
    auto q = target.find('?');
    if (q != npos) r.query = target.substr(q + 1);
    auto path = target.substr(0, q);
    if (path.empty() || path[0] != '/') return r;

    // Segment by segment, decoded onto the end of `out`, then kept, dropped or popped: RFC 3986
    // remove_dot_segments, except that a ".." that would climb above the root is an error
    // rather than silently clamped. Dot segments are recognised after decoding, so "%2e%2e"
    // is "..", as nginx does.
    std::string& out = r.relative;
    out.reserve(path.size());
    bool directory = false;
    std::size_t i = 1;
    for (;;) {
        const std::size_t before = out.size();
        if (!out.empty()) out.push_back('/');
        const std::size_t from = out.size();
        if (!decode_segment(path, i, out)) return bad_request(r);
        const std::string_view segment(out.data() + from, out.size() - from);
        if (segment.empty() || segment == ".") {
            out.resize(before);
            directory = true;
        } else if (segment == "..") {
            if (before == 0) return bad_request(r);
            auto slash = std::string_view(out.data(), before).rfind('/');
            out.resize(slash == npos ? 0 : slash);
            directory = true;
        } else {
            directory = false;
        }
        if (i == path.size()) break;
        ++i;  // the '/'
    }
    r.trailing_slash = directory;
    if (!allow_dotfiles && (out.starts_with('.') || out.find("/.") != npos)) {
        r.what = safe_path::verdict::not_found;
        return r;
    }
    r.what = safe_path::verdict::ok;
    return r;
}

void append_url_path(std::string& out, std::string_view path) {
    constexpr char hex[] = "0123456789ABCDEF";
    for (char c : path) {
        if (unreserved(c) || c == '/') {
            out.push_back(c);
        } else {
            auto u = static_cast<unsigned char>(c);
            const char escaped[3] = {'%', hex[u >> 4], hex[u & 15]};
            out.append(escaped, 3);
        }
    }
}

void append_html_escaped(std::string& out, std::string_view text) {
    std::size_t from = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        std::string_view entity;
        switch (text[i]) {
            case '&':
                entity = "&amp;";
                break;
            case '<':
                entity = "&lt;";
                break;
            case '>':
                entity = "&gt;";
                break;
            case '"':
                entity = "&quot;";
                break;
            case '\'':
                entity = "&#39;";
                break;
            default:
                continue;
        }
        out.append(text.substr(from, i - from));
        out.append(entity);
        from = i + 1;
    }
    out.append(text.substr(from));
}

}  // namespace netd::proto::http
