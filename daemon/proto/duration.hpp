#pragma once
// Durations in config and on the command line: "250ms", "5s", "2m", "1h", "1.5s".
#include <chrono>
#include <string>
#include <string_view>

#include "result.hpp"

namespace netd::proto {

using usec = std::chrono::microseconds;

/// Parses a number followed by a unit (us, ms, s, m, h). A bare number is an error.
result<usec> parse_duration(std::string_view text);

/// Parses a netctl interval: a duration with a unit, or bare seconds as ping(8) takes them ("0.2").
result<usec> parse_interval(std::string_view text);

/// Formats a duration the way the config spells it ("5s", "250ms", "1500us").
std::string format_duration(usec d);

}  // namespace netd::proto
