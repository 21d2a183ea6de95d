#pragma once
// HTTP dates (RFC 9110 5.6.7) and the validators netd uses for conditional requests. Pure.
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace netd::proto::http {

/// Appends "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, always 29 bytes).
void append_http_date(std::string& out, std::time_t t);

/// Parses IMF-fixdate, the obsolete RFC 850 form and asctime(); nullopt when invalid.
std::optional<std::time_t> parse_http_date(std::string_view text);

/// A strong entity tag from the file's identity: "\"<hex size>-<hex mtime ns>\"" (with quotes).
std::string make_etag(std::uint64_t size, std::int64_t mtime_ns);

/// If-None-Match: true if `header` is "*" or lists `etag` (weak comparison: W/ prefixes ignored).
bool etag_list_matches(std::string_view header, std::string_view etag);

}  // namespace netd::proto::http
