#pragma once
// Appending numbers to an output buffer without a temporary string: shared by every writer of
// replies and lines.
#include <charconv>
#include <cstdint>
#include <string>

namespace netd::proto {

/// Appends `v` in decimal.
inline void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

}  // namespace netd::proto
