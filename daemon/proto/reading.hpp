#pragma once
// The sensor service's readings: one message is classified as a JSON object, InfluxDB line
// protocol, key=value pairs or raw text, converted to JSON, and stored as one JSON line.
//
// Classification, on the message with leading/trailing spaces, tabs, CR and LF trimmed:
//   1. starts with '{': a JSON object (RFC 8259, valid UTF-8, at most max_json_depth levels of
//      nesting, numbers within double range), else raw. It is stored with its insignificant
//      whitespace removed; strings and numbers keep their exact text.
//   2. InfluxDB line protocol, `measurement[,tag=value...] field=value[,field=value...] [ts]`.
//      A measurement containing '=' is not line protocol (so `temp=21.5 hum=40` is key=value).
//   3. key=value pairs separated by commas, spaces or tabs; every token must be a pair with a
//      non-empty key. A value in double quotes may hold separators (`\"` and `\\` escape in it)
//      and is always a string; an unquoted value is a number if it is a JSON number (exact text
//      kept, so `007` stays the string "007"), a boolean if `true`/`false`, else a string.
//   4. anything else is raw, stored untrimmed as a JSON string; an empty message is raw "".
// Repeated keys (JSON names, kv keys, influx tag or field keys) are stored as sent: every JSON
// reader we know of keeps the last one, and client_seq follows the same rule. Removing them would
// cost a per-reading key set for a case well-behaved clients never produce.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netd::proto {

/// Deepest nesting of objects and arrays in a JSON reading; a deeper one is stored as raw text.
constexpr int max_json_depth = 32;

enum class reading_format { json, influx, kv, raw };

/// "json" | "influx" | "kv" | "raw".
std::string_view format_name(reading_format f);

/// One reading, classified and converted to JSON text.
struct parsed_reading {
    reading_format format = reading_format::raw;
    /// json/influx/kv: a compact JSON object text; raw: a quoted, escaped JSON string.
    std::string data;
    /// An integer "seq" the client put in the reading (JSON: top-level; influx: tag or field;
    /// kv: unquoted value), if any. The last one wins, as for any repeated key.
    std::optional<std::int64_t> client_seq;
};

/// Classifies and converts one reading (one line, without its newline). Never fails:
/// what is not a JSON object, InfluxDB line protocol or key=value pairs is raw text.
/// Reuses out's buffers, so a caller that keeps one parsed_reading does not allocate per reading
/// once warm. Linear time; no recursion.
void parse_reading(std::string_view message, parsed_reading& out);

/// Appends the stored record with its "\n":
/// {"ts":"2026-11-21T23:40:01.123456Z","peer":"127.0.0.1:5000","seq":7,"format":"influx",
///  "data":{...}}, or for raw: ...,"format":"raw","raw":"the text"}
void append_record(std::string& out, const parsed_reading& r, std::int64_t ts_us,
                   std::string_view peer, std::uint64_t seq);

}  // namespace netd::proto
