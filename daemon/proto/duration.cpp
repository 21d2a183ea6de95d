#include "duration.hpp"

#include <charconv>
#include <cmath>

namespace netd::proto {
namespace {

constexpr double max_seconds = 100.0 * 365 * 24 * 3600;  // a century: plenty, and no overflow

struct unit {
    std::string_view suffix;
    double micros;
};
constexpr unit units[] = {{"us", 1.0}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}};

result<usec> parse_number_unit(std::string_view text, bool unit_optional) {
    const std::string example =
        "expected a number with a unit, e.g. \"250ms\", \"5s\", \"2m\", \"1h\"";
    if (text.empty()) return result<usec>::fail("empty duration: " + example);
    double number = 0;
    auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), number, std::chars_format::fixed);
    if (ec != std::errc{} || !std::isfinite(number))
        return result<usec>::fail("bad duration '" + std::string(text) + "': " + example);
    std::string_view suffix(end, text.data() + text.size() - end);
    double micros_per_unit = 0;
    if (suffix.empty() && unit_optional) micros_per_unit = 1e6;
    for (const auto& u : units)
        if (suffix == u.suffix) micros_per_unit = u.micros;
    if (micros_per_unit == 0)
        return result<usec>::fail("bad duration '" + std::string(text) + "': " + example);
    if (number < 0)
        return result<usec>::fail("bad duration '" + std::string(text) + "': must not be negative");
    if (number * micros_per_unit > max_seconds * 1e6)
        return result<usec>::fail("bad duration '" + std::string(text) + "': too long");
    return {usec(std::llround(number * micros_per_unit)), {}};
}

}  // namespace

result<usec> parse_duration(std::string_view text) {
    return parse_number_unit(text, false);
}

result<usec> parse_interval(std::string_view text) {
    return parse_number_unit(text, true);
}

std::string format_duration(usec d) {
    auto n = d.count();
    if (n != 0 && n % 3'600'000'000 == 0) return std::to_string(n / 3'600'000'000) + "h";
    if (n != 0 && n % 60'000'000 == 0) return std::to_string(n / 60'000'000) + "m";
    if (n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "s";
    if (n % 1000 == 0) return std::to_string(n / 1000) + "ms";
    return std::to_string(n) + "us";
}

}  // namespace netd::proto
