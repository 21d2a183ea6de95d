#include <doctest/doctest.h>

#include <ctime>
#include <string>

#include "proto/http_date.hpp"

using namespace netd::proto::http;

namespace {

std::string http_date(std::time_t t) {
    std::string s;
    append_http_date(s, t);
    return s;
}

constexpr std::time_t rfc_example = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

}  // namespace

TEST_CASE("date: IMF-fixdate is written as RFC 9110's example shows") {
    CHECK(http_date(rfc_example) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(http_date(2147483648) == "Tue, 19 Jan 2038 03:14:08 GMT");
    CHECK(http_date(-1) == "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST_CASE("date: the text is always 29 bytes, even for absurd times") {
    for (std::time_t t :
         {std::time_t{0}, rfc_example, std::time_t{253402300799}, std::time_t{253402300800},
          std::time_t{-62167219201}, std::time_t{INT64_MAX}, std::time_t{INT64_MIN}}) {
        CAPTURE(t);
        CHECK(http_date(t).size() == 29);
    }
    CHECK(http_date(INT64_MAX) == "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST_CASE("date: append_http_date appends, it does not replace") {
    std::string s = "Date: ";
    append_http_date(s, 0);
    CHECK(s == "Date: Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST_CASE("date: all three formats RFC 9110 names parse to the same time") {
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == rfc_example);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == rfc_example);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == rfc_example);
    CHECK(parse_http_date("Sun Nov 16 08:49:37 1994") == rfc_example + 10 * 86400);
}

TEST_CASE("date: what append_http_date writes parses back to the same second") {
    for (std::time_t t = -86400LL * 800; t < 86400LL * 366 * 80; t += 86400 * 37 + 3607) {
        auto text = http_date(t);
        CAPTURE(text);
        CHECK(parse_http_date(text) == t);
    }
}

TEST_CASE("date: RFC 850 two-digit years pivot at 70") {
    CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0);
    CHECK(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT") == 946684800);
    CHECK(parse_http_date("Tuesday, 31-Dec-69 00:00:00 GMT") == 3155673600);
}

TEST_CASE("date: anything off the exact shape is rejected") {
    for (const char* bad : {"",
                            "Sun",
                            "Sun, 06 Nov 1994 08:49:37 UTC",
                            "Sun, 06 Nov 1994 08:49:37 gmt",
                            "Sun, 6 Nov 1994 08:49:37 GMT",
                            "Sun, 06 nov 1994 08:49:37 GMT",
                            "sun, 06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nov 94 08:49:37 GMT",
                            "Sun, 06 Nov 1994 8:49:37 GMT",
                            "Sun, 06 Nov 1994 08:49:37 GMT ",
                            " Sun, 06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nov 1994 08:49:37 GMT; length=12",
                            "Sun,06 Nov 1994 08:49:37 GMT",
                            "Xyz, 06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nox 1994 08:49:37 GMT",
                            "Sun Nov 6 08:49:37 1994",
                            "Sun Nov  6 08:49:37 94",
                            "Sunday, 06-Nov-1994 08:49:37 GMT",
                            "1994-11-06T08:49:37Z",
                            "784111777"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_http_date(bad).has_value());
    }
}

TEST_CASE("date: impossible calendar values are rejected") {
    for (const char* bad : {"Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
                            "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 30 Feb 2000 08:49:37 GMT",
                            "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
                            "Sun, 06 Nov 1994 08:49:61 GMT"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_http_date(bad).has_value());
    }
    CHECK(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == 951782400);
    // The grammar allows a leap second; it counts as the next second.
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT") == rfc_example + 23);
}

TEST_CASE("etag: strong tag from size and mtime in hex, quoted") {
    CHECK(make_etag(0x1f, 0x2a) == "\"1f-2a\"");
    CHECK(make_etag(0, 0) == "\"0-0\"");
    CHECK(make_etag(UINT64_MAX, INT64_MAX) == "\"ffffffffffffffff-7fffffffffffffff\"");
    CHECK(make_etag(1, -1) == "\"1-ffffffffffffffff\"");
}

TEST_CASE("etag: If-None-Match matches '*' or any listed tag, weakly") {
    const std::string tag = make_etag(0x1f, 0x2a);
    CHECK(etag_list_matches("*", tag));
    CHECK(etag_list_matches(" * ", tag));
    CHECK(etag_list_matches("\"1f-2a\"", tag));
    CHECK(etag_list_matches("W/\"1f-2a\"", tag));
    CHECK(etag_list_matches("\"x\", \"1f-2a\"", tag));
    CHECK(etag_list_matches("\"x\",W/\"1f-2a\" , \"y\"", tag));
    CHECK(etag_list_matches("\"1f-2a\"", "W/\"1f-2a\""));
    CHECK(etag_list_matches("junk, \"1f-2a\"", tag));
    CHECK(etag_list_matches("\"a,b\", \"1f-2a\"", tag));  // a comma inside a tag is not a split
}

TEST_CASE("etag: If-None-Match without our tag does not match") {
    const std::string tag = make_etag(0x1f, 0x2a);
    CHECK_FALSE(etag_list_matches("", tag));
    CHECK_FALSE(etag_list_matches("\"1f-2b\"", tag));
    CHECK_FALSE(etag_list_matches("1f-2a", tag));      // unquoted
    CHECK_FALSE(etag_list_matches("\"1f-2a", tag));    // unterminated
    CHECK_FALSE(etag_list_matches("\"1F-2A\"", tag));  // opaque tags compare exactly
    CHECK_FALSE(etag_list_matches("*, \"x\"", tag));
    CHECK_FALSE(etag_list_matches("\"a,\"1f-2a\"\"", tag));
}
