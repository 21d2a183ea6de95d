// libFuzzer target: the HTTP request head parser on arbitrary bytes. Invariants: a complete
// head lies inside the buffer and within max_head_bytes, every view points into it, the same
// head alone gives the same request and each of its prefixes is incomplete; an error is final
// (more bytes never change it); an incomplete buffer never exceeds max_head_bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http_request.hpp"

namespace {

using namespace netd::proto::http;

bool inside(std::string_view v, std::string_view buf) {
    return v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size();
}

bool clean(std::string_view v) {
    for (char c : v) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
    }
    return true;
}

bool same(const request& a, const request& b) {
    return a.verb == b.verb && a.method_text == b.method_text && a.target == b.target &&
           a.version_major == b.version_major && a.version_minor == b.version_minor &&
           a.keep_alive == b.keep_alive && a.has_host == b.has_host && a.has_body == b.has_body &&
           a.content_length == b.content_length && a.host == b.host &&
           a.user_agent == b.user_agent && a.range == b.range && a.if_range == b.if_range &&
           a.if_none_match == b.if_none_match && a.if_modified_since == b.if_modified_since;
}

void check_complete(std::string_view buf, const limits& lim, const parse_result& r,
                    const request& req) {
    if (r.head_bytes == 0 || r.head_bytes > buf.size() || r.head_bytes > lim.max_head_bytes)
        std::abort();
    if (r.error_status != 0 || !r.error_reason.empty()) std::abort();
    const auto head = buf.substr(0, r.head_bytes);
    if (head.back() != '\n') std::abort();
    for (auto v : {req.method_text, req.host, req.user_agent, req.range, req.if_range,
                   req.if_none_match, req.if_modified_since})
        if (!v.empty() && !inside(v, head)) std::abort();
    // absolute-form "http://host" becomes the static "/".
    if (!inside(req.target, head) && req.target != "/") std::abort();
    if (req.target.empty() || (req.target[0] != '/' && req.target != "*")) std::abort();
    if (req.verb == method::unknown || method_name(req.verb) != req.method_text) std::abort();
    if (req.version_major != 1 || req.version_minor < 0 || req.version_minor > 1) std::abort();
    if (req.version_minor == 1 && !req.has_host) std::abort();
    if (req.content_length > 0 && !req.has_body) std::abort();
    for (auto v : {req.host, req.user_agent, req.range, req.if_range, req.if_none_match,
                   req.if_modified_since})
        if (!clean(v) || (!v.empty() && (v.front() == ' ' || v.back() == ' '))) std::abort();

    request again;
    auto r2 = parse_request(head, lim, again);
    if (r2.status != parse_status::complete || r2.head_bytes != r.head_bytes || !same(again, req))
        std::abort();
    // Every prefix of a valid head waits for more (a stride on long heads keeps this cheap).
    const std::size_t step = head.size() <= 256 ? 1 : head.size() / 64;
    for (std::size_t k = 0; k < head.size(); k += step) {
        request part;
        if (parse_request(head.substr(0, k), lim, part).status != parse_status::incomplete)
            std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    limits lim;
    if (data[0] & 1) {  // small limits, so short inputs reach 414 and 431
        lim.max_request_line_bytes = 4 + data[0] % 64;
        lim.max_head_bytes = 8 + data[1] % 128;
        lim.max_headers = data[0] >> 5;
    }
    // A valid start, so random tails (the replay's) reach the header parser too.
    constexpr std::string_view starts[] = {
        "", "GET / HTTP/1.1\r\n", "GET /a HTTP/1.1\r\nHost: x\r\n", "HEAD http://h/ HTTP/1.0\r\n"};
    std::string buf(starts[data[1] % 4]);
    buf.append(reinterpret_cast<const char*>(data) + 2, size - 2);
    if (data[1] & 4) buf.append("\r\n\r\n");

    request req;
    auto r = parse_request(buf, lim, req);
    switch (r.status) {
        case parse_status::complete:
            check_complete(buf, lim, r, req);
            break;
        case parse_status::error: {
            const int s = r.error_status;
            if (s != 400 && s != 414 && s != 431 && s != 501 && s != 505) std::abort();
            if (r.error_reason.empty()) std::abort();
            request more;
            auto r2 = parse_request(buf + "\r\n\r\nGET / HTTP/1.0\r\n\r\n", lim, more);
            if (r2.status != parse_status::error || r2.error_status != s) std::abort();
            break;
        }
        case parse_status::incomplete:
            if (buf.size() > lim.max_head_bytes) std::abort();  // must have decided by now
            break;
    }
    return 0;
}
