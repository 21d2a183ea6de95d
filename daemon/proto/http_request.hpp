#pragma once
// An HTTP/1.x request head parser (RFC 9112), pure: bytes in, a verdict out. The parsed request
// holds views into the caller's buffer. It never allocates and never reads past `limits`.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace netd::proto::http {

enum class method { get, head, post, put, del, options, patch, trace, connect, unknown };

struct limits {
    std::size_t max_request_line_bytes = 8192;  ///< longer: 414
    std::size_t max_head_bytes = 32768;         ///< request line plus headers; longer: 431
    std::size_t max_headers = 100;              ///< more: 431
};

struct request {
    method verb = method::unknown;
    std::string_view method_text;  ///< as sent
    std::string_view target;       ///< as sent: "/a%20b?x=1"; absolute-form reduced to its path
    int version_major = 1, version_minor = 1;  ///< 1.2 and up are read as 1.1
    bool keep_alive = true;                    ///< from the version and any Connection header
    bool has_host = false;
    bool has_body = false;  ///< Content-Length > 0 or any Transfer-Encoding
    std::uint64_t content_length = 0;
    // The headers netd acts on, empty when absent (values trimmed of spaces and tabs).
    std::string_view host, user_agent, range, if_range, if_none_match, if_modified_since;
};

enum class parse_status {
    incomplete,  ///< a valid prefix: read more (check `limits` again after the read)
    complete,    ///< a whole head; `head_bytes` of the buffer were used
    error,       ///< invalid: answer `error_status` and close
};

struct parse_result {
    parse_status status = parse_status::incomplete;
    std::size_t head_bytes = 0;     ///< up to and including the blank line, when complete
    int error_status = 0;           ///< 400, 414, 431, 501, 505 when status is error
    std::string_view error_reason;  ///< short, static text for the log: "bare CR", ...
};

/// Parses the request head at the start of `buf`. Leading empty lines (RFC 9112 2.2) are skipped.
/// Rejected with 400: obs-fold, bare CR, whitespace before a colon, invalid header names or
/// values, duplicate or invalid Content-Length, Content-Length with Transfer-Encoding, a 1.1
/// request without Host or with several, an invalid Host. 414 for a request line over the limit,
/// 431 for too many or too large headers (both decided as soon as the limit is passed, before
/// the line or head ends), 505 for a major version other than 1 (HTTP/1.2 and up are served as
/// 1.1, RFC 9110 2.5), 501 for a method token netd does not know. A method netd knows but does
/// not serve (POST, ...) parses fine: the caller answers 405. Targets: origin-form, "*" for
/// OPTIONS, and absolute-form "http://host/p" (target becomes "/p", host the authority).
/// `out` is only meaningful when complete.
parse_result parse_request(std::string_view buf, const limits& lim, request& out);

/// The method's token, for an `Allow` list or a log: "GET".
std::string_view method_name(method m);

}  // namespace netd::proto::http
