#include "http_request.hpp"

#include <algorithm>
#include <array>
#include <cstring>

// One pass over the head, one table lookup per byte, views into the caller's buffer. Every call
// starts from the first byte: a head is small and bounded, and a parser with no state between
// reads cannot be confused by where a read happened to end.

namespace netd::proto::http {
namespace {

enum : std::uint8_t {
    tchar = 1,  // token (RFC 9110 5.6.2): methods and header names
    fchar = 2,  // field value: VCHAR, obs-text, SP, HTAB (RFC 9110 5.5)
    uchar = 4,  // request-target: VCHAR and obs-text (raw UTF-8 is taken, as nginx does)
    hchar = 8,  // host name in practice: ALPHA DIGIT - . _ ~
    digit = 16,
};

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    constexpr std::string_view token_marks = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; ++c) {
        const bool is_digit = c >= '0' && c <= '9';
        const bool alnum = is_digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool visible = (c >= 0x21 && c <= 0x7e) || c >= 0x80;
        std::uint8_t k = 0;
        if (alnum || token_marks.find(static_cast<char>(c)) != std::string_view::npos) k |= tchar;
        if (visible || c == ' ' || c == '\t') k |= fchar;
        if (visible) k |= uchar;
        if (alnum || c == '-' || c == '.' || c == '_' || c == '~') k |= hchar;
        if (is_digit) k |= digit;
        t[static_cast<std::size_t>(c)] = k;
    }
    return t;
}
constexpr auto classes = make_classes();

bool is(char c, std::uint8_t k) {
    return (classes[static_cast<unsigned char>(c)] & k) != 0;
}
bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

// `name` is a token and `lower` a lowercase literal of letters and '-': for token bytes, OR-ing
// 0x20 maps only 'A'-'Z' onto 'a'-'z' and '-' onto itself, so this is an exact ASCII
// case-insensitive compare.
bool name_is(std::string_view name, std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if ((name[i] | 0x20) != lower[i]) return false;
    return true;
}

// Case-insensitive for any bytes (scheme names, Connection options).
bool iequals(std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
        if (c != lower[i]) return false;
    }
    return true;
}

// Skips 8 bytes at a time while none is below `floor` or is DEL; the byte loop after it judges
// what is left. Field values and targets are the long runs of a head, and nearly all their
// bytes are plain. ("hasless" from Bit Twiddling Hacks: exact for floor <= 128.)
std::size_t skip_plain(std::string_view b, std::size_t p, std::size_t end, std::uint64_t floor) {
    constexpr std::uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
    const std::uint64_t below = ones * floor, del = ones * 0x7f;
    while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, b.data() + p, 8);
        const std::uint64_t x = w ^ del;
        if ((((w - below) & ~w) | ((x - ones) & ~x)) & highs) break;
        p += 8;
    }
    return p;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

method method_from(std::string_view m) {
    switch (m.size()) {
        case 3:
            if (m == "GET") return method::get;
            if (m == "PUT") return method::put;
            break;
        case 4:
            if (m == "HEAD") return method::head;
            if (m == "POST") return method::post;
            break;
        case 5:
            if (m == "PATCH") return method::patch;
            if (m == "TRACE") return method::trace;
            break;
        case 6:
            if (m == "DELETE") return method::del;
            break;
        case 7:
            if (m == "OPTIONS") return method::options;
            if (m == "CONNECT") return method::connect;
            break;
        default:
            break;
    }
    return method::unknown;
}

// uri-host [":" port] (RFC 9110 7.2), with the host a DNS name or an IP literal. Stricter than
// reg-name (no sub-delims or escapes): no real client sends them, and what we accept may reach a
// Location header or a log.
bool valid_host(std::string_view h) {
    if (h.empty())
        return true;  // RFC 9112 3.2: an empty Host is what a client sends when the
                      // target has no authority
    std::size_t i = 0;
    if (h[0] == '[') {
        auto close = h.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        for (i = 1; i < close; ++i) {
            char c = h[i];
            if (!(is(c, digit) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                  c == '.'))
                return false;
        }
        i = close + 1;
    } else {
        while (i < h.size() && is(h[i], hchar))
            ++i;
        auto name = h.substr(0, i);
        if (name.empty() || name[0] == '.' || name[0] == '-' ||
            name.find("..") != std::string_view::npos)
            return false;
    }
    if (i == h.size()) return true;
    if (h[i] != ':' || h.size() - i - 1 > 5) return false;
    for (++i; i < h.size(); ++i)
        if (!is(h[i], digit)) return false;
    return true;
}

// Content-Length = 1*DIGIT; a list ("5, 5"), a sign or an overflow is invalid.
bool parse_length(std::string_view v, std::uint64_t& out) {
    if (v.empty()) return false;
    std::uint64_t n = 0;
    for (char c : v) {
        if (!is(c, digit)) return false;
        auto d = static_cast<std::uint64_t>(c - '0');
        if (n > (UINT64_MAX - d) / 10) return false;
        n = n * 10 + d;
    }
    out = n;
    return true;
}

class head_parser {
  public:
    head_parser(std::string_view buf, const limits& lim, request& out)
        : b_(buf), lim_(lim), out_(out) {}

    parse_result run() {
        std::size_t i = 0;
        // RFC 9112 2.2: empty lines before the request line are ignored (a client may send a
        // stray CRLF after a body). They count against max_head_bytes like any other byte.
        for (;;) {
            if (i == b_.size()) return need_more();
            if (b_[i] == '\n') {
                ++i;
            } else if (b_[i] == '\r') {
                if (i + 1 == b_.size()) return need_more();
                if (b_[i + 1] != '\n') return fail(400, "bare CR");
                i += 2;
            } else {
                break;
            }
        }
        std::size_t end = 0;
        if (auto r = request_line(i, end); r.status != parse_status::complete) return r;
        return headers(end);
    }

  private:
    static parse_result need_more() { return {}; }
    // A step (a line, a header) that went through; the head as a whole is not complete yet.
    static parse_result done() { return {parse_status::complete, 0, 0, {}}; }
    static parse_result fail(int status, std::string_view why) {
        return {parse_status::error, 0, status, why};
    }

    // At the end of a line's content: "\r\n" or "\n" (RFC 9112 2.2 allows a bare LF). On
    // success `next` is the offset after it.
    parse_result line_end(std::size_t at, std::size_t& next, std::string_view bad) const {
        if (at == b_.size()) return need_more();
        if (b_[at] == '\n') {
            next = at + 1;
            return done();
        }
        if (b_[at] != '\r') return fail(400, bad);
        if (at + 1 == b_.size()) return need_more();
        if (b_[at + 1] != '\n') return fail(400, "bare CR");
        next = at + 2;
        return done();
    }

    // method SP request-target SP HTTP-version CRLF. 414 as soon as the line must be longer
    // than the limit, even before its end arrives, so an endless line is cut early.
    parse_result request_line(std::size_t start, std::size_t& next) {
        const std::size_t room = b_.size() - start;
        const bool capped = lim_.max_request_line_bytes <= room;
        const std::size_t stop = start + std::min(lim_.max_request_line_bytes, room);
        auto ran_out = [&] { return capped ? fail(414, "request line too long") : need_more(); };

        std::size_t j = start;
        while (j < stop && is(b_[j], tchar))
            ++j;
        if (j == stop) return ran_out();
        if (j == start || b_[j] != ' ') return fail(400, "invalid method");
        out_.method_text = b_.substr(start, j - start);

        const std::size_t t = ++j;
        j = skip_plain(b_, j, stop, 0x21);  // uchar is exactly: not below '!', not DEL
        while (j < stop && is(b_[j], uchar))
            ++j;
        if (j == stop) return ran_out();
        if (j == t) return fail(400, "empty request target");
        if (b_[j] != ' ')
            return fail(
                400, b_[j] == '\r' || b_[j] == '\n' ? "no HTTP version" : "invalid request target");
        out_.target = b_.substr(t, j - t);

        // "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3).
        ++j;
        constexpr std::string_view shape = "HTTP/0.0";
        if (j - start + shape.size() > lim_.max_request_line_bytes)
            return fail(414, "request line too long");
        for (std::size_t k = 0; k < shape.size(); ++k) {
            if (j + k == b_.size()) return need_more();
            char c = b_[j + k];
            if (shape[k] == '0' ? !is(c, digit) : c != shape[k])
                return fail(400, "malformed HTTP version");
        }
        if (auto r = line_end(j + shape.size(), next, "malformed HTTP version");
            r.status != parse_status::complete)
            return r;

        const int major = b_[j + 5] - '0', minor = b_[j + 7] - '0';
        if (major != 1) return fail(505, "HTTP version not supported");
        // RFC 9110 2.5: a higher minor version of a major version we implement is processed
        // as the highest minor version we know.
        out_.version_major = 1;
        out_.version_minor = std::min(minor, 1);

        out_.verb = method_from(out_.method_text);
        if (out_.verb == method::unknown) return fail(501, "unknown method");
        return target_form();
    }

    // origin-form "/p?q"; "*" for OPTIONS; absolute-form "http://host/p?q" (RFC 9112 3.2.2: a
    // server MUST accept it), reduced to its origin-form with the host from the authority.
    // authority-form (CONNECT) is not served.
    parse_result target_form() {
        auto t = out_.target;
        if (t[0] == '/') return done();
        if (t == "*") {
            if (out_.verb != method::options) return fail(400, "'*' target without OPTIONS");
            return done();
        }
        auto colon = t.find("://");
        if (colon == std::string_view::npos ||
            !(iequals(t.substr(0, colon), "http") || iequals(t.substr(0, colon), "https")))
            return fail(400, "invalid request target");
        auto rest = t.substr(colon + 3);
        auto path = rest.find_first_of("/?");
        auto authority = rest.substr(0, path);
        if (authority.empty() || !valid_host(authority))
            return fail(400, "invalid authority in target");
        if (path == std::string_view::npos) {
            out_.target = "/";  // "http://host" asks for the root (RFC 9112 3.2.1)
        } else if (rest[path] == '/') {
            out_.target = rest.substr(path);
        } else {
            return fail(400, "absolute target without a path");
        }
        absolute_host_ = authority;
        return done();
    }

    parse_result headers(std::size_t p) {
        std::size_t count = 0;
        for (;;) {
            if (p == b_.size()) return need_more();
            if (b_[p] == '\r' || b_[p] == '\n') {
                std::size_t end = 0;
                if (auto r = line_end(p, end, {}); r.status != parse_status::complete) return r;
                return finish(end);
            }
            // RFC 9112 5.2: obs-fold is rejected; so is whitespace before the first field.
            if (is_ows(b_[p])) return fail(400, "obs-fold");

            const std::size_t ns = p;
            while (p < b_.size() && is(b_[p], tchar))
                ++p;
            if (p == b_.size()) return need_more();
            if (b_[p] != ':') {
                return fail(400, is_ows(b_[p]) ? "whitespace before colon" : "invalid header name");
            }
            if (p == ns) return fail(400, "empty header name");
            if (++count > lim_.max_headers) return fail(431, "too many headers");
            const auto name = b_.substr(ns, p - ns);

            ++p;
            while (p < b_.size() && is_ows(b_[p]))
                ++p;
            const std::size_t vs = p;
            p = skip_plain(b_, p, b_.size(), 0x20);  // stops at HTAB too; the loop takes it
            while (p < b_.size() && is(b_[p], fchar))
                ++p;
            std::size_t ve = p;
            if (auto r = line_end(p, p, "invalid header value"); r.status != parse_status::complete)
                return r;
            while (ve > vs && is_ows(b_[ve - 1]))
                --ve;
            if (auto r = header(name, b_.substr(vs, ve - vs)); r.status == parse_status::error)
                return r;
        }
    }

    // Only the headers netd acts on; the length switch keeps the common case to one compare.
    // A repeated singleton header other than Host and Content-Length: the last one counts.
    parse_result header(std::string_view name, std::string_view value) {
        switch (name.size()) {
            case 4:
                if (name_is(name, "host")) {
                    if (out_.has_host) return fail(400, "duplicate Host");
                    if (!valid_host(value)) return fail(400, "invalid Host");
                    out_.has_host = true;
                    out_.host = value;
                }
                break;
            case 5:
                if (name_is(name, "range")) out_.range = value;
                break;
            case 8:
                if (name_is(name, "if-range")) out_.if_range = value;
                break;
            case 10:
                if (name_is(name, "user-agent")) {
                    out_.user_agent = value;
                } else if (name_is(name, "connection")) {
                    connection(value);
                }
                break;
            case 13:
                if (name_is(name, "if-none-match")) out_.if_none_match = value;
                break;
            case 14:
                if (name_is(name, "content-length")) {
                    if (seen_length_) return fail(400, "duplicate Content-Length");
                    seen_length_ = true;
                    if (!parse_length(value, out_.content_length))
                        return fail(400, "invalid Content-Length");
                }
                break;
            case 17:
                if (name_is(name, "if-modified-since")) {
                    out_.if_modified_since = value;
                } else if (name_is(name, "transfer-encoding")) {
                    seen_transfer_encoding_ = true;
                    // The codings of several lines join up in order: the last line's last one
                    // is the final coding.
                    auto comma = value.rfind(',');
                    final_coding_ =
                        trim_ows(comma == std::string_view::npos ? value : value.substr(comma + 1));
                }
                break;
            default:
                break;
        }
        return done();
    }

    // Connection = #connection-option; unknown options ("Upgrade", "TE") are ignored.
    void connection(std::string_view value) {
        while (!value.empty()) {
            auto comma = value.find(',');
            auto option = trim_ows(value.substr(0, comma));
            if (iequals(option, "close")) close_ = true;
            if (iequals(option, "keep-alive")) keep_alive_ = true;
            if (comma == std::string_view::npos) break;
            value.remove_prefix(comma + 1);
        }
    }

    parse_result finish(std::size_t head_bytes) {
        // RFC 9112 6.1: both framings at once is how requests are smuggled.
        if (seen_length_ && seen_transfer_encoding_)
            return fail(400, "Content-Length with Transfer-Encoding");
        // RFC 9112 6.3: a request body whose length cannot be known; the connection is unusable.
        if (seen_transfer_encoding_ && !iequals(final_coding_, "chunked"))
            return fail(400, "Transfer-Encoding not ending in chunked");
        if (out_.version_minor == 1 && !out_.has_host) return fail(400, "missing Host");
        if (!absolute_host_.empty()) out_.host = absolute_host_;  // RFC 9112 3.2.2
        out_.has_body = out_.content_length > 0 || seen_transfer_encoding_;
        out_.keep_alive = !close_ && (out_.version_minor == 1 || keep_alive_);
        return {parse_status::complete, head_bytes, 0, {}};
    }

    std::string_view b_;
    const limits& lim_;
    request& out_;
    std::string_view absolute_host_, final_coding_;
    bool seen_length_ = false, seen_transfer_encoding_ = false;
    bool close_ = false, keep_alive_ = false;
};

}  // namespace

parse_result parse_request(std::string_view buf, const limits& lim, request& out) {
    out = request{};
    // Nothing past max_head_bytes can belong to an acceptable head: parse only that window, and
    // a window that is still incomplete while more bytes wait behind it is over the limit.
    const auto window = buf.substr(0, lim.max_head_bytes);
    auto r = head_parser(window, lim, out).run();
    if (r.status == parse_status::incomplete && buf.size() > window.size())
        return {parse_status::error, 0, 431, "request head too large"};
    return r;
}

std::string_view method_name(method m) {
    switch (m) {
        case method::get:
            return "GET";
        case method::head:
            return "HEAD";
        case method::post:
            return "POST";
        case method::put:
            return "PUT";
        case method::del:
            return "DELETE";
        case method::options:
            return "OPTIONS";
        case method::patch:
            return "PATCH";
        case method::trace:
            return "TRACE";
        case method::connect:
            return "CONNECT";
        case method::unknown:
            break;
    }
    return {};
}

}  // namespace netd::proto::http
