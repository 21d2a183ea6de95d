#include "http_reply.hpp"
#include "proto/append.hpp"

#include <charconv>
#include <ctime>

#include "proto/http_date.hpp"

namespace netd::http_reply {

using proto::append_uint;

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 416:
            return "Range Not Satisfiable";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

namespace {

// "Date: ...\r\n", formatted again only when the second changes.
std::string_view date_header() {
    thread_local std::time_t cached_second = -1;
    thread_local std::string cached;
    std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        cached.assign("Date: ");
        proto::http::append_http_date(cached, now);
        cached.append("\r\n");
        cached_second = now;
    }
    return cached;
}

}  // namespace

void begin(std::string& out, int status) {
    out.append("HTTP/1.1 ");
    append_uint(out, static_cast<std::uint64_t>(status));
    out.push_back(' ');
    out.append(reason_phrase(status));
    out.append("\r\nServer: netd/" NETD_VERSION "\r\n");
    out.append(date_header());
}

void header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

void header(std::string& out, std::string_view name, std::uint64_t value) {
    out.append(name);
    out.append(": ");
    append_uint(out, value);
    out.append("\r\n");
}

void end(std::string& out, bool keep_alive, int version_minor) {
    if (!keep_alive)
        out.append("Connection: close\r\n");
    else if (version_minor == 0)
        out.append("Connection: keep-alive\r\n");
    out.append("\r\n");
}

std::size_t append_simple(std::string& out, int status, bool head_only, bool keep_alive,
                          int version_minor, std::string_view extra) {
    begin(out, status);
    out.append("Content-Type: text/plain; charset=utf-8\r\n");
    auto reason = reason_phrase(status);
    std::size_t body_bytes = 3 + 1 + reason.size() + 1;  // "404 Not Found\n"
    header(out, "Content-Length", body_bytes);
    out.append(extra);
    end(out, keep_alive, version_minor);
    if (head_only) return 0;
    append_uint(out, static_cast<std::uint64_t>(status));
    out.push_back(' ');
    out.append(reason);
    out.push_back('\n');
    return body_bytes;
}

}  // namespace netd::http_reply
