#pragma once
// JSON string escaping for log lines that carry bytes a peer chose.
#include <cstddef>
#include <string>
#include <string_view>

namespace netd::proto {

/// Length of the valid UTF-8 sequence (1 < n <= 4 bytes) starting at s[i] (a byte >= 0x80), or
/// 0 if it is not one: overlong forms, surrogates and code points past U+10FFFF are invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

/// Appends `text` as a quoted JSON string. Control characters, quotes and backslashes are
/// escaped; bytes that are not valid UTF-8 become \u00XX, so the line is always valid JSON.
/// Input past `max_bytes` is cut and marked with a trailing "...".
void append_json_string(std::string& out, std::string_view text,
                        std::size_t max_bytes = std::string_view::npos);

}  // namespace netd::proto
