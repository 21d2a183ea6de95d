#include <doctest/doctest.h>

#include <string>

#include "proto/ping.hpp"
#include "proto/timefmt.hpp"

using namespace netd::proto;

namespace {
std::string reply(std::string_view message, std::int64_t t2 = 1, std::int64_t t3 = 2) {
    std::string out;
    append_ping_reply(out, message, t2, t3);
    return out;
}
}  // namespace

TEST_CASE("ping: ping, get_time, stamp and anything else") {
    CHECK(reply("ping") == "pong\n");
    CHECK(reply("get_time", 0, 1'795'305'631'024'942) == "2026-11-22T00:00:31.024942Z\n");
    CHECK(reply("stamp abc", 100, 200) == "stamp abc 100 200\n");
    CHECK(reply("PING") == "Unknown command\n");  // case-sensitive
    CHECK(reply("") == "Unknown command\n");
    CHECK(reply("pingpong") == "Unknown command\n");
}

TEST_CASE("ping: surrounding whitespace is ignored") {
    CHECK(reply("  ping\t") == "pong\n");
    CHECK(reply(" stamp  tok ", 5, 6) == "stamp tok 5 6\n");
}

TEST_CASE("ping: stamp needs exactly one bounded token") {
    CHECK(reply("stamp") == "Unknown command\n");
    CHECK(reply("stamp ") == "Unknown command\n");
    CHECK(reply("stamp a b") == "Unknown command\n");
    CHECK(reply("stamp " + std::string(max_stamp_token_bytes, 'x')) != "Unknown command\n");
    CHECK(reply("stamp " + std::string(max_stamp_token_bytes + 1, 'x')) == "Unknown command\n");
}

TEST_CASE("ping: a stamp reply parses back into its times") {
    stamp_reply r;
    REQUIRE(parse_stamp_reply("stamp 7 1700000000000001 1700000000000009", r));
    CHECK(r.token == "7");
    CHECK(r.t2_us == 1700000000000001);
    CHECK(r.t3_us == 1700000000000009);
    CHECK_FALSE(parse_stamp_reply("stamp 7 12x 13", r));
    CHECK_FALSE(parse_stamp_reply("pong", r));
    CHECK_FALSE(parse_stamp_reply("stamp 7 12", r));
}

TEST_CASE("time: RFC 3339 UTC with six fraction digits, before and after the epoch") {
    CHECK(rfc3339(0) == "1970-01-01T00:00:00.000000Z");
    CHECK(rfc3339(1'700'000'000'123'456) == "2023-11-14T22:13:20.123456Z");
    CHECK(rfc3339(-1) == "1969-12-31T23:59:59.999999Z");
    CHECK(rfc3339(951'782'400'000'001) == "2000-02-29T00:00:00.000001Z");  // leap day
}
