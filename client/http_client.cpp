#include "http_client.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "address.hpp"

namespace netd::netctl::http {
namespace {

using std::string_view;

constexpr std::uint16_t location_default_port = 80;  // a server's Location: RFC 9110's http

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(string_view a, string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

bool istarts_with(string_view text, string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

string_view trim(string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 9110 tchar: what a header name may be made of.
bool is_tchar(char c) {
    return is_digit(c) || is_alpha(c) ||
           string_view("!#$%&'*+-.^_`|~").find(c) != string_view::npos;
}

int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool parse_u64(string_view text, std::uint64_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size() &&
           is_digit(text.front());
}

bool parse_port(string_view text, std::uint16_t& port) {
    std::uint64_t v = 0;
    if (!parse_u64(text, v) || v == 0 || v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
    return true;
}

// A request target carries no space, control or non-ASCII byte, nor the few ASCII characters
// RFC 3986 leaves out; those are percent-encoded. '%' is taken as already encoding something.
std::string encode_target(string_view raw) {
    std::string out;
    for (char ch : raw) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || string_view("\"<>\\^`{|}").find(ch) != string_view::npos)
            out += fmt::format("%{:02X}", c);
        else
            out += ch;
    }
    return out;
}

// A host as a URL may spell it: a name of letters, digits, '-', '.', '_' (no IDN here).
bool valid_host_name(string_view host) {
    return std::all_of(host.begin(), host.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
    });
}

proto::result<url> fail(std::string why) {
    return proto::result<url>::fail(std::move(why));
}

// The authority "host[:port]" / "[v6][:port]" of a URL.
proto::result<url> parse_authority(string_view authority, std::uint16_t default_port,
                                   string_view whole) {
    const std::string quoted = "'" + std::string(whole) + "'";
    if (authority.find('@') != string_view::npos)
        return fail("user info in URL " + quoted + " is not supported");
    url u;
    u.port = default_port;
    string_view host = authority, port_text;
    bool has_port = false;
    if (authority.starts_with('[')) {
        auto close = authority.find(']');
        if (close == string_view::npos) return fail("unclosed '[' in URL " + quoted);
        host = authority.substr(1, close - 1);
        auto rest = authority.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            return fail("unexpected text after ']' in URL " + quoted);
        has_port = !rest.empty();
        if (has_port) port_text = rest.substr(1);
        proto::ip_bytes ip;
        if (!proto::parse_ip(host, ip) || host.find(':') == string_view::npos)
            return fail("bad IPv6 address in URL " + quoted);
    } else {
        auto colon = authority.rfind(':');
        if (colon != string_view::npos) {
            host = authority.substr(0, colon);
            port_text = authority.substr(colon + 1);
            has_port = true;
        }
        if (!valid_host_name(host))
            return fail("bad host in URL " + quoted + " (an IPv6 address goes in brackets)");
    }
    // "http://h:/" is allowed by RFC 3986 and means the default port.
    if (has_port && !port_text.empty() && !parse_port(port_text, u.port))
        return fail("bad port in URL " + quoted + ": expected 1..65535");
    u.host = host.empty() ? "127.0.0.1" : std::string(host);
    return {std::move(u), {}};
}

// Path (or query) and fragment of a URL or a reference: the fragment is the client's own.
string_view without_fragment(string_view s) {
    return s.substr(0, s.find('#'));
}

// "http:", "HTTPS:", "ftp:": the scheme of a reference that has one ("x/y:z" has none).
bool has_scheme(string_view s, string_view& scheme) {
    auto colon = s.find(':');
    if (colon == string_view::npos || colon == 0 || !is_alpha(s.front())) return false;
    auto name = s.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), [](char c) {
            return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
        }))
        return false;
    scheme = name;
    return true;
}

}  // namespace

std::string url::text() const {
    if (host.find(':') != std::string::npos)
        return fmt::format("http://[{}]:{}{}", host, port, target);
    return fmt::format("http://{}:{}{}", host, port, target);
}

proto::result<url> parse_url(string_view text, std::uint16_t default_port) {
    const std::string quoted = "'" + std::string(text) + "'";
    string_view scheme;
    if (!has_scheme(text, scheme) || !text.substr(scheme.size()).starts_with("://")) {
        return fail("bad URL " + quoted + ": expected http://HOST[:PORT]/PATH");
    }
    if (iequals(scheme, "https"))
        return fail("https is not supported (" + quoted + "): netctl get speaks plain HTTP only");
    if (!iequals(scheme, "http"))
        return fail("unsupported scheme '" + std::string(scheme) + "' in " + quoted +
                    ": expected http://");
    auto rest = without_fragment(text.substr(scheme.size() + 3));
    auto end = rest.find_first_of("/?");
    auto parsed = parse_authority(rest.substr(0, end), default_port, text);
    if (!parsed.ok()) return parsed;
    auto path = end == string_view::npos ? string_view{} : rest.substr(end);
    parsed.value.target = path.starts_with('/') ? encode_target(path) : "/" + encode_target(path);
    return parsed;
}

proto::result<url> make_url(string_view host, string_view port, string_view path) {
    url u;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    proto::ip_bytes ip;
    if (host.empty() || (!valid_host_name(host) && !proto::parse_ip(host, ip)))
        return fail("bad host '" + std::string(host) + "'");
    if (!parse_port(port, u.port))
        return fail("bad port '" + std::string(port) + "': expected 1..65535");
    u.host = std::string(host);
    // Taken as the request target the way a classic client sends it, so '#' is data here.
    auto encoded = encode_target(path);
    std::string hash_encoded;
    for (char c : encoded)
        hash_encoded += c == '#' ? std::string("%23") : std::string(1, c);
    u.target = hash_encoded.starts_with('/') ? hash_encoded : "/" + hash_encoded;
    return {std::move(u), {}};
}

proto::result<url> resolve_location(const url& base, string_view location) {
    location = trim(location);
    if (location.empty()) return fail("empty Location");
    string_view scheme;
    if (location.starts_with("//"))
        return parse_url("http:" + std::string(location), location_default_port);
    if (has_scheme(location, scheme)) return parse_url(location, location_default_port);
    auto ref = without_fragment(location);
    url u = base;
    const string_view base_path = string_view(base.target).substr(0, base.target.find('?'));
    if (ref.starts_with('/')) {
        u.target = encode_target(ref);
    } else if (ref.starts_with('?')) {
        u.target = std::string(base_path) + encode_target(ref);
    } else if (ref.empty()) {
        u.target = base.target;
    } else {
        // RFC 3986 5.2.3 merge; dot segments are left for the server to resolve or refuse.
        u.target = std::string(base_path.substr(0, base_path.rfind('/') + 1)) + encode_target(ref);
    }
    return {std::move(u), {}};
}

bool same_origin(const url& a, const url& b) {
    return a.port == b.port && iequals(a.host, b.host);
}

std::string file_name_for(string_view target) {
    auto path = target.substr(0, target.find('?'));
    auto segment = path.substr(path.rfind('/') + 1);
    std::string name;
    for (std::size_t i = 0; i < segment.size(); ++i) {
        char c = segment[i];
        if (c == '%' && i + 2 < segment.size() && hex_value(segment[i + 1]) >= 0 &&
            hex_value(segment[i + 2]) >= 0) {
            c = static_cast<char>(hex_value(segment[i + 1]) * 16 + hex_value(segment[i + 2]));
            i += 2;
        }
        auto u = static_cast<unsigned char>(c);
        name += (c == '/' || u < 0x20 || u == 0x7f) ? '_' : c;
    }
    if (name.empty() || name == "." || name == "..") return "index.html";
    return name;
}

std::string build_request(const url& u, string_view user_agent, std::uint64_t range_from) {
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != 80) host += fmt::format(":{}", u.port);
    std::string out = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\n"
        // The body is saved as it comes, so ask for it as it is.
        "Accept-Encoding: identity\r\n",
        u.target, host, user_agent);
    if (range_from > 0) out += fmt::format("Range: bytes={}-\r\n", range_from);
    // One request per connection: a redirect is a new connection, and the end of the body
    // is always found by its framing first, so nothing waits for the server's close.
    out += "Connection: close\r\n\r\n";
    return out;
}

body_framing response::framing() const {
    if ((status >= 100 && status < 200) || status == 204 || status == 304)
        return body_framing::none;
    if (chunked) return body_framing::chunked;
    if (content_length) return body_framing::content_length;
    return body_framing::until_close;
}

namespace {

head_result head_error(std::string why) {
    return {parse_status::error, 0, std::move(why)};
}

bool parse_status_line(string_view line, response& out) {
    // "HTTP/1.1 200 OK"; the reason phrase may be empty or missing altogether.
    if (line.size() < 12 || !line.starts_with("HTTP/1.") || !is_digit(line[7]) || line[8] != ' ')
        return false;
    auto code = line.substr(9, 3);
    if (!std::all_of(code.begin(), code.end(), is_digit) || code[0] < '1' || code[0] > '5')
        return false;
    if (line.size() > 12 && line[12] != ' ') return false;
    out.version_minor = line[7] - '0';
    out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    out.reason = std::string(trim(line.size() > 12 ? line.substr(13) : string_view{}));
    return true;
}

// Content-Length, also as a list of identical values ("5, 5"), RFC 9110 8.6.
bool parse_content_length(string_view value, std::uint64_t& out) {
    bool any = false;
    while (true) {
        auto comma = value.find(',');
        std::uint64_t v = 0;
        if (!parse_u64(trim(value.substr(0, comma)), v) || (any && v != out)) return false;
        out = v;
        any = true;
        if (comma == string_view::npos) return true;
        value.remove_prefix(comma + 1);
    }
}

}  // namespace

head_result parse_response_head(string_view buf, response& out, const limits& lim) {
    constexpr string_view http_prefix = "HTTP/";
    // Say early that a peer is not an HTTP server, instead of waiting for a head that never
    // comes (netd's line services answer "Unknown command\n" and keep the connection open).
    auto start = buf.substr(0, http_prefix.size());
    if (!http_prefix.starts_with(start)) return head_error("not an HTTP/1.x response");
    out = response{};
    std::size_t pos = 0, headers = 0;
    bool status_line = true;
    std::string transfer_encoding;
    for (;;) {
        // The limit counts the head up to and including its blank line's '\n'.
        auto nl = buf.substr(0, lim.max_head_bytes).find('\n', pos);
        if (nl == string_view::npos) {
            if (buf.size() >= lim.max_head_bytes)
                return head_error(
                    fmt::format("response head longer than {} bytes", lim.max_head_bytes));
            return {};
        }
        auto line = buf.substr(pos, nl - pos);
        if (line.ends_with('\r')) line.remove_suffix(1);
        pos = nl + 1;
        if (status_line) {
            if (!parse_status_line(line, out)) return head_error("not an HTTP/1.x response");
            status_line = false;
            continue;
        }
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t')
            return head_error("obsolete line folding in the response head");
        if (++headers > lim.max_headers)
            return head_error(fmt::format("more than {} response headers", lim.max_headers));
        auto colon = line.find(':');
        if (colon == string_view::npos || colon == 0)
            return head_error("a response header line without a name and a colon");
        auto name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_tchar))
            return head_error("a bad response header name");
        auto value = trim(line.substr(colon + 1));
        if (iequals(name, "Content-Length")) {
            std::uint64_t n = 0;
            if (!parse_content_length(value, n) || (out.content_length && *out.content_length != n))
                return head_error("a bad or conflicting Content-Length");
            out.content_length = n;
        } else if (iequals(name, "Transfer-Encoding")) {
            if (!transfer_encoding.empty()) transfer_encoding += ',';
            transfer_encoding += value;
        } else if (iequals(name, "Location")) {
            out.location = std::string(value);
        } else if (iequals(name, "Content-Range")) {
            out.content_range = std::string(value);
        } else if (iequals(name, "Content-Type")) {
            out.content_type = std::string(value);
        }
    }
    if (!transfer_encoding.empty()) {
        // Only chunked: any other coding (gzip, ...) would be saved still encoded.
        if (!iequals(trim(transfer_encoding), "chunked"))
            return head_error(fmt::format("unsupported Transfer-Encoding '{}'",
                                          trim(transfer_encoding).substr(0, 40)));
        out.chunked = true;
        out.content_length.reset();  // RFC 9112 6.3: Transfer-Encoding overrides it
    }
    return {parse_status::complete, pos, {}};
}

chunked_decoder::step chunked_decoder::next(string_view in) {
    step s;
    auto error = [&](string_view why) {
        s.status = parse_status::error;
        s.error = why;
        return s;
    };
    // A whole line at the start of `in`, or nothing yet; an over-long one is an error.
    auto take_line = [&](string_view& line) -> bool {
        auto nl = in.substr(0, max_line_bytes).find('\n');
        if (nl == string_view::npos) return false;
        line = in.substr(0, nl);
        if (line.ends_with('\r')) line.remove_suffix(1);
        s.consumed = nl + 1;
        return true;
    };
    switch (state_) {
        case state::size_line: {
            string_view line;
            if (!take_line(line)) {
                if (in.size() >= max_line_bytes) return error("chunk size line too long");
                return s;
            }
            std::size_t i = 0;
            std::uint64_t size = 0;
            for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
                if (size > (std::numeric_limits<std::uint64_t>::max() >> 4))
                    return error("chunk size too large");
                size = size * 16 + static_cast<std::uint64_t>(hex_value(line[i]));
            }
            auto rest = trim(line.substr(i));
            if (i == 0 || (!rest.empty() && rest.front() != ';')) return error("bad chunk size");
            remaining_ = size;
            state_ = size == 0 ? state::trailer : state::data;
            return s;
        }
        case state::data: {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
            s.data = in.substr(0, n);
            s.consumed = n;
            remaining_ -= n;
            if (remaining_ == 0) state_ = state::data_end;
            return s;
        }
        case state::data_end: {
            if (in.empty() || (in.front() == '\r' && in.size() < 2)) return s;
            if (in.starts_with("\r\n"))
                s.consumed = 2;
            else if (in.starts_with('\n'))
                s.consumed = 1;
            else
                return error("chunk data not followed by CRLF");
            state_ = state::size_line;
            return s;
        }
        case state::trailer: {
            string_view line;
            if (!take_line(line)) {
                if (in.size() >= max_line_bytes) return error("trailer line too long");
                return s;
            }
            if (line.empty()) {
                state_ = state::done;
                s.status = parse_status::complete;
                return s;
            }
            trailer_bytes_ += s.consumed;
            if (trailer_bytes_ > max_trailer_bytes) return error("trailers too long");
            return s;
        }
        case state::done:
            s.status = parse_status::complete;
            return s;
    }
    return s;
}

std::optional<content_range> parse_content_range(string_view value) {
    value = trim(value);
    if (!istarts_with(value, "bytes ")) return std::nullopt;
    value = trim(value.substr(6));
    auto slash = value.find('/');
    if (slash == string_view::npos) return std::nullopt;
    auto range = value.substr(0, slash), length = value.substr(slash + 1);
    content_range cr;
    if (length != "*") {
        std::uint64_t n = 0;
        if (!parse_u64(length, n)) return std::nullopt;
        cr.complete_length = n;
    }
    if (range == "*") {
        if (!cr.complete_length) return std::nullopt;
        cr.unsatisfied = true;
        return cr;
    }
    auto dash = range.find('-');
    if (dash == string_view::npos || !parse_u64(range.substr(0, dash), cr.first) ||
        !parse_u64(range.substr(dash + 1), cr.last) || cr.last < cr.first ||
        (cr.complete_length && cr.last >= *cr.complete_length))
        return std::nullopt;
    return cr;
}

resume_verdict decide_resume(const response& r, std::uint64_t have) {
    if (r.status == 206) {
        auto cr = parse_content_range(r.content_range);
        if (!cr || cr->unsatisfied)
            return {resume_action::fail,
                    "206 Partial Content without a valid Content-Range: not resumed"};
        if (cr->first != have)
            return {resume_action::fail,
                    fmt::format("server resumed at byte {}, not at {} as asked", cr->first, have)};
        return {resume_action::append, {}};
    }
    if (r.status == 416) {
        auto cr = parse_content_range(r.content_range);
        if (cr && cr->unsatisfied && cr->complete_length == have)
            return {resume_action::already_complete, {}};
        if (cr && cr->complete_length)
            return {resume_action::fail,
                    fmt::format("416 Range Not Satisfiable: the local file has {} bytes, the "
                                "server's has {}",
                                have, *cr->complete_length)};
        return {resume_action::fail, fmt::format("416 Range Not Satisfiable for bytes={}-", have)};
    }
    if (r.status >= 200 && r.status < 300) return {resume_action::overwrite, {}};
    return {resume_action::fail, fmt::format("status {} is not an answer to a range", r.status)};
}

std::string format_size(std::uint64_t bytes) {
    auto b = static_cast<double>(bytes);
    if (bytes < 1000) return fmt::format("{} B", bytes);
    if (bytes < 1000 * 1000) return fmt::format("{:.1f} kB", b / 1e3);
    if (bytes < 1000 * 1000 * 1000) return fmt::format("{:.1f} MB", b / 1e6);
    return fmt::format("{:.2f} GB", b / 1e9);
}

std::string format_rate(double bytes_per_s) {
    if (bytes_per_s < 1000) return fmt::format("{:.0f} B/s", bytes_per_s);
    if (bytes_per_s < 1e6) return fmt::format("{:.1f} kB/s", bytes_per_s / 1e3);
    if (bytes_per_s < 1e9) return fmt::format("{:.1f} MB/s", bytes_per_s / 1e6);
    return fmt::format("{:.2f} GB/s", bytes_per_s / 1e9);
}

std::string progress_text(std::uint64_t done, std::uint64_t total, double bytes_per_s) {
    constexpr std::size_t width = 30;
    done = std::min(done, total);
    // In double: done * width would overflow near 2^64 bytes.
    const double part = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const auto filled = static_cast<std::size_t>(part * width);
    const auto pct = static_cast<unsigned>(part * 100);
    return fmt::format("{:3}% [{}{}] {} / {}  {}", pct, std::string(filled, '#'),
                       std::string(width - filled, ' '), format_size(done), format_size(total),
                       format_rate(bytes_per_s));
}

}  // namespace netd::netctl::http
