#pragma once
// Time as netd writes it: RFC 3339 UTC with microseconds, and microseconds since the epoch.
#include <chrono>
#include <cstdint>
#include <string>

namespace netd::proto {

/// Microseconds since the Unix epoch, from the system (wall) clock.
inline std::int64_t unix_micros(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
inline std::int64_t unix_micros_now() {
    return unix_micros(std::chrono::system_clock::now());
}

/// Appends e.g. "2026-11-21T23:40:01.123456Z" (27 bytes) without allocating beyond `out`.
void append_rfc3339(std::string& out, std::int64_t unix_us);

inline std::string rfc3339(std::int64_t unix_us) {
    std::string s;
    append_rfc3339(s, unix_us);
    return s;
}

}  // namespace netd::proto
