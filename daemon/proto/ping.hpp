#pragma once
// The ping service's protocol: ping -> pong, get_time -> RFC 3339 time, stamp TOKEN -> T2 T3.
#include <cstdint>
#include <string>
#include <string_view>

namespace netd::proto {

/// Bytes of a `stamp` token netd echoes back; longer tokens are an unknown command.
constexpr std::size_t max_stamp_token_bytes = 128;

/// Appends the reply (with its "\n") to one ping-service message. received_us is when the
/// message arrived (T2), now_us is the time the reply goes out (T3); both in unix microseconds.
void append_ping_reply(std::string& out, std::string_view message, std::int64_t received_us,
                       std::int64_t now_us);

/// A parsed `stamp TOKEN T2 T3` reply, as netctl reads it.
struct stamp_reply {
    std::string token;
    std::int64_t t2_us = 0, t3_us = 0;
};
bool parse_stamp_reply(std::string_view line, stamp_reply& out);

/// Drops leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

}  // namespace netd::proto
