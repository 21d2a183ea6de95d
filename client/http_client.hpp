#pragma once
// The pure HTTP/1.1 client side of `netctl get`: URLs, the request, the response head, chunked
// bodies, Content-Range and the file name a URL saves to. Bytes in, values out: no Asio, no
// I/O, no logging, so the unit tests (and a fuzzer) call it without a socket.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "result.hpp"

namespace netd::netctl::http {

/// An http:// URL split into what a request needs.
struct url {
    std::string host;  ///< a name or an IP literal, IPv6 without brackets
    std::uint16_t port = 0;
    std::string target = "/";  ///< path and query as sent on the request line, never empty

    /// "http://127.0.0.1:8080/a%20b", "http://[::1]:8080/": the URL as netctl reports it.
    std::string text() const;
};

/// Parses "http://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]"; the fragment is dropped, an empty
/// host is 127.0.0.1 and a missing port is default_port. "https://" and other schemes, user
/// info and bad ports are errors that say why. Bytes a request line cannot carry (space,
/// controls, non-ASCII) are percent-encoded.
proto::result<url> parse_url(std::string_view text, std::uint16_t default_port);

/// The classic form "HOST PORT PATH"; a PATH without its leading '/' gets one.
proto::result<url> make_url(std::string_view host, std::string_view port, std::string_view path);

/// Resolves a Location header against the URL that answered it: absolute ("http://h:p/x", a
/// missing port there is 80 as RFC 9110 says), network-path ("//h/x"), absolute-path ("/x")
/// or relative ("x", "?q").
proto::result<url> resolve_location(const url& base, std::string_view location);

/// Whether two URLs name the same server: host (ASCII case-insensitive) and port.
bool same_origin(const url& a, const url& b);

/// The file a URL saves to: the last path segment, percent-decoded, with '/', NUL and control
/// bytes replaced by '_'; "index.html" for an empty segment (a path ending in '/'), "." or "..".
std::string file_name_for(std::string_view target);

/// The GET request head. range_from > 0 asks for "Range: bytes=N-".
std::string build_request(const url& u, std::string_view user_agent, std::uint64_t range_from);

/// Limits on what a server may send in a response head.
struct limits {
    std::size_t max_head_bytes = 64 * 1024;
    std::size_t max_headers = 100;
};

/// How the body of a response is delimited (RFC 9112 section 6.3).
enum class body_framing { none, content_length, chunked, until_close };

/// A response head. Header values are copies, trimmed of spaces and tabs.
struct response {
    int version_minor = 1;
    int status = 0;
    std::string reason;
    std::optional<std::uint64_t> content_length;
    bool chunked = false;  ///< Transfer-Encoding ends in "chunked"
    std::string location;
    std::string content_range;
    std::string content_type;

    /// The body's framing for a response to GET.
    body_framing framing() const;
};

enum class parse_status { incomplete, complete, error };

struct head_result {
    parse_status status = parse_status::incomplete;
    std::size_t head_bytes = 0;  ///< up to and including the blank line, when complete
    std::string error;           ///< one line, when status is error
};

/// Parses the response head at the start of buf. Lines may end in CRLF or a bare LF. Errors:
/// not "HTTP/1.x NNN", a head over limits, obs-fold, a header without a name or colon, bad or
/// conflicting Content-Length, a Transfer-Encoding other than chunked.
head_result parse_response_head(std::string_view buf, response& out, const limits& lim = {});

/// Decodes a chunked body (RFC 9112 section 7.1) piece by piece, without copying: each call
/// takes the bytes not consumed so far and returns the next piece of body data as a view into
/// them. Chunk extensions and trailers are read and dropped.
class chunked_decoder {
  public:
    static constexpr std::size_t max_line_bytes = 4096;      ///< a size or trailer line
    static constexpr std::size_t max_trailer_bytes = 65536;  ///< all trailer lines together

    struct step {
        parse_status status = parse_status::incomplete;  ///< complete: the last chunk and
                                                         ///< trailers are read
        std::size_t consumed = 0;  ///< drop this many bytes of the input before the next call
        std::string_view data;     ///< body bytes, a view into the input (may be empty)
        std::string_view error;    ///< static text, when status is error
    };

    /// Consumes what it can of `in`. incomplete with nothing consumed means: read more.
    step next(std::string_view in);

    bool done() const { return state_ == state::done; }

  private:
    enum class state { size_line, data, data_end, trailer, done };
    state state_ = state::size_line;
    std::uint64_t remaining_ = 0;
    std::size_t trailer_bytes_ = 0;
};

/// What a resumed download does with the response to its "Range: bytes=N-".
enum class resume_action {
    overwrite,         ///< 200: the server sent the whole file; start again from byte 0
    append,            ///< 206 starting at N: append to the N bytes there are
    already_complete,  ///< 416 "bytes */N": the local N bytes are the whole file
    fail,              ///< anything else; `error` says why
};

struct resume_verdict {
    resume_action action = resume_action::fail;
    std::string error;
};

/// Decides what to do with a 2xx or 416 response to a request for "bytes=have-".
resume_verdict decide_resume(const response& r, std::uint64_t have);

/// A Content-Range value: "bytes 100-199/1000", "bytes 100-199/*" or "bytes */1000".
struct content_range {
    bool unsatisfied = false;  ///< the "*/N" form of a 416
    std::uint64_t first = 0, last = 0;
    std::optional<std::uint64_t> complete_length;
};

/// Parses a Content-Range header value; nullopt if it is not one.
std::optional<content_range> parse_content_range(std::string_view value);

/// "12.3 MB/s", "512 B/s", "1.05 GB/s": decimal units, as network rates are quoted.
std::string format_rate(double bytes_per_s);

/// "3.1 MB", "512 B": decimal units.
std::string format_size(std::uint64_t bytes);

/// One progress line (no '\r' or newline), e.g.
/// " 45% [#############                 ] 1.4 MB / 3.1 MB  12.3 MB/s".
std::string progress_text(std::uint64_t done, std::uint64_t total, double bytes_per_s);

}  // namespace netd::netctl::http
