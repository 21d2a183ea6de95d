#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include "readings.hpp"

using netd::netctl::reading_generator;

TEST_CASE("netctl readings: each is one JSON object with the caller's seq and plausible values") {
    reading_generator gen("netctl-test-1", 42);
    for (std::uint64_t seq = 1; seq <= 10000; ++seq) {
        auto text = gen.next(seq);
        REQUIRE(text.find('\n') == std::string::npos);
        auto j = nlohmann::json::parse(text);
        REQUIRE(j["sensor"] == "netctl-test-1");
        REQUIRE(j["seq"] == seq);
        double t = j["temperature"], h = j["humidity"], p = j["pressure"];
        REQUIRE((t > -40 && t < 60));
        REQUIRE((h >= 0 && h <= 100));
        REQUIRE((p > 870 && p < 1090));
    }
}

TEST_CASE("netctl readings: the same seed gives the same run; another seed another run") {
    reading_generator a("s", 7), b("s", 7), c("s", 8);
    std::string ra, rb, rc;
    for (int i = 1; i <= 20; ++i) {
        ra += a.next(i);
        rb += b.next(i);
        rc += c.next(i);
    }
    CHECK(ra == rb);
    CHECK(ra != rc);
}

TEST_CASE("netctl readings: the default sensor id names host and process") {
    auto id = netd::netctl::default_sensor_id();
    CHECK(id.starts_with("netctl-"));
    CHECK(id.ends_with("-" + std::to_string(::getpid())));
}
