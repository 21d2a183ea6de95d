#include <doctest/doctest.h>

#include "proto/duration.hpp"

using netd::proto::parse_duration;
using netd::proto::parse_interval;
using netd::proto::usec;

TEST_CASE("duration: every unit converts to microseconds") {
    CHECK(parse_duration("250ms").value == usec(250'000));
    CHECK(parse_duration("5s").value == usec(5'000'000));
    CHECK(parse_duration("2m").value == usec(120'000'000));
    CHECK(parse_duration("1h").value == usec(3'600'000'000));
    CHECK(parse_duration("750us").value == usec(750));
    CHECK(parse_duration("1.5s").value == usec(1'500'000));
    CHECK(parse_duration("0s").value == usec(0));
}

TEST_CASE("duration: a number without a unit is an error that shows the expected form") {
    auto r = parse_duration("5");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error ==
          "bad duration '5': expected a number with a unit, e.g. \"250ms\", \"5s\", "
          "\"2m\", \"1h\"");
}

TEST_CASE("duration: unknown units, garbage, negatives and overflow are errors") {
    for (auto bad : {"5 s", "5sec", "s", "", "-1s", "1e3s", "five", "1000000000h", "nan"})
        CHECK_MESSAGE(!parse_duration(bad).ok(), bad);
}

TEST_CASE("interval: bare seconds as ping(8) takes them, or a duration with a unit") {
    CHECK(parse_interval("0.2").value == usec(200'000));
    CHECK(parse_interval("1").value == usec(1'000'000));
    CHECK(parse_interval("200ms").value == usec(200'000));
    CHECK_FALSE(parse_interval("0.2x").ok());
}

TEST_CASE("duration: format_duration picks the largest exact unit") {
    using netd::proto::format_duration;
    CHECK(format_duration(usec(5'000'000)) == "5s");
    CHECK(format_duration(usec(120'000'000)) == "2m");
    CHECK(format_duration(usec(250'000)) == "250ms");
    CHECK(format_duration(usec(1'500)) == "1500us");
}
