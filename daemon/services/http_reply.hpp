#pragma once
// Building HTTP/1.1 response heads: the status line, the headers every response carries, and
// the small complete responses for errors and redirects.
#include <cstdint>
#include <string>
#include <string_view>

namespace netd::http_reply {

/// "Not Found" for 404; "Unknown" for a status netd never sends.
std::string_view reason_phrase(int status);

/// Appends "HTTP/1.1 <status> <reason>\r\n" and the Server and Date headers (Date is formatted
/// once per second per thread).
void begin(std::string& out, int status);

/// Appends "Name: value\r\n".
void header(std::string& out, std::string_view name, std::string_view value);
void header(std::string& out, std::string_view name, std::uint64_t value);

/// Appends the Connection header the response needs (none for the usual 1.1 keep-alive) and the
/// blank line that ends the head.
void end(std::string& out, bool keep_alive, int version_minor);

/// Appends a whole response with a short text body ("404 Not Found\n"); `extra` is more header
/// lines, each ending in "\r\n". Returns the body's size (0 for HEAD).
std::size_t append_simple(std::string& out, int status, bool head_only, bool keep_alive,
                          int version_minor, std::string_view extra = {});

}  // namespace netd::http_reply
