#pragma once
// JSON string escaping for log lines that carry bytes a peer chose.
#include <cstddef>
#include <string>
#include <string_view>

namespace netd::proto {

/// Appends `text` as a quoted JSON string. Control characters, quotes and backslashes are
/// escaped; bytes that are not valid UTF-8 become \u00XX, so the line is always valid JSON.
/// Input past `max_bytes` is cut and marked with a trailing "...".
void append_json_string(std::string& out, std::string_view text,
                        std::size_t max_bytes = std::string_view::npos);

}  // namespace netd::proto
