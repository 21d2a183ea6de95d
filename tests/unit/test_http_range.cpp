#include <doctest/doctest.h>

#include <cstdint>

#include "proto/http_range.hpp"

// Cases re-expressed from nginx-tests' range.t (a 1000-byte file) and RFC 9110 14.1.3's
// examples (a 10000-byte representation). Where nginx answers 416 to a malformed header, we
// follow RFC 9110 14.2 instead: an invalid Range is ignored and the whole file is served.

using namespace netd::proto::http;
using kind = range_result::kind;

namespace {

bool partial(std::string_view header, std::uint64_t size, std::uint64_t first, std::uint64_t last) {
    auto r = parse_range(header, size);
    return r.what == kind::partial && r.first == first && r.last == last;
}

kind kind_of(std::string_view header, std::uint64_t size) {
    return parse_range(header, size).what;
}

}  // namespace

TEST_CASE("range: first-last, first-, and -suffix on a 1000-byte file") {
    CHECK(partial("bytes=0-8", 1000, 0, 8));
    CHECK(partial("bytes=-10", 1000, 990, 999));
    CHECK(partial("bytes=990-", 1000, 990, 999));
    CHECK(partial("bytes=0-0", 1000, 0, 0));
    CHECK(partial("bytes=999-999", 1000, 999, 999));
    CHECK(partial("bytes=0-", 1000, 0, 999));
}

TEST_CASE("range: RFC 9110's examples on a 10000-byte representation") {
    CHECK(partial("bytes=0-499", 10000, 0, 499));
    CHECK(partial("bytes=500-999", 10000, 500, 999));
    CHECK(partial("bytes=-500", 10000, 9500, 9999));
    CHECK(partial("bytes=9500-", 10000, 9500, 9999));
}

TEST_CASE("range: a last byte past the end is clipped to the end") {
    CHECK(partial("bytes=990-1990", 1000, 990, 999));
    CHECK(partial("bytes=0-10001", 1000, 0, 999));
    CHECK(partial("bytes=0-18446744073709551615", 1000, 0, 999));
}

TEST_CASE("range: suffix longer than file serves whole file as a 206") {
    CHECK(partial("bytes=-1000", 1000, 0, 999));
    CHECK(partial("bytes=-5000", 1000, 0, 999));
    CHECK(partial("bytes=-1", 1, 0, 0));
}

TEST_CASE("range: a first byte at or past the end is unsatisfiable") {
    CHECK(kind_of("bytes=100000-", 1000) == kind::unsatisfiable);
    CHECK(kind_of("bytes=1000-", 1000) == kind::unsatisfiable);
    CHECK(kind_of("bytes=1000-2000", 1000) == kind::unsatisfiable);
    CHECK(kind_of("bytes=100-", 100) == kind::unsatisfiable);
}

TEST_CASE("range: a suffix of zero is unsatisfiable") {
    CHECK(kind_of("bytes=-0", 1000) == kind::unsatisfiable);
    CHECK(kind_of("bytes=-000", 1000) == kind::unsatisfiable);
}

TEST_CASE("range: on an empty file every valid range is unsatisfiable") {
    for (const char* h : {"bytes=0-", "bytes=0-0", "bytes=-1", "bytes=-0", "bytes=5-10"}) {
        CAPTURE(h);
        CHECK(kind_of(h, 0) == kind::unsatisfiable);
    }
    CHECK(kind_of("bytes=5-3", 0) == kind::whole);  // still invalid, not unsatisfiable
    CHECK(kind_of("", 0) == kind::whole);
}

TEST_CASE("range: last before first is invalid, so the whole file is served") {
    CHECK(kind_of("bytes=5-3", 1000) == kind::whole);
    CHECK(kind_of("bytes=1-0", 1000) == kind::whole);
}

TEST_CASE("range: malformed headers are ignored: whole file") {
    for (const char* h : {"",
                          "bytes",
                          "bytes=",
                          "bytes=,",
                          "bytes=alpha",
                          "bytes=10-alpha",
                          "bytes=10",
                          "bytes=10-11 12-",
                          "bytes=-",
                          "bytes=--5",
                          "bytes=-5-",
                          "bytes=+5-",
                          "bytes=5-+9",
                          "bytes=0x10-",
                          "bytes=1.5-2",
                          "bytes = 0-1",
                          "bytes =0-1",
                          "byte=0-1",
                          "bytesx=0-1",
                          "items=0-1",
                          "bytes=0 - 1",
                          "0-1",
                          "=0-1"}) {
        CAPTURE(h);
        CHECK(kind_of(h, 1000) == kind::whole);
    }
}

TEST_CASE("range: numbers that overflow 64 bits are malformed, not clipped") {
    CHECK(kind_of("bytes=18446744073709551616-", 1000) == kind::whole);
    CHECK(kind_of("bytes=0-18446744073709551616", 1000) == kind::whole);
    CHECK(kind_of("bytes=-99999999999999999999999", 1000) == kind::whole);
}

TEST_CASE("range: several ranges, even overlapping or partly bad, give the whole file") {
    for (const char* h : {"bytes=0-9, -10, 10-19", "bytes=0-9, -10, 100000-, 10-19",
                          "bytes=0-10001, 0-0", "bytes=0-0,0-0", "bytes=0-9,-10", "bytes=0-1,x"}) {
        CAPTURE(h);
        CHECK(kind_of(h, 1000) == kind::whole);
    }
}

TEST_CASE("range: the unit is case-insensitive, spaces around the set are allowed") {
    CHECK(partial("Bytes=0-1", 1000, 0, 1));
    CHECK(partial("BYTES=0-1", 1000, 0, 1));
    CHECK(partial("bytes= 0-1", 1000, 0, 1));
    CHECK(partial(" bytes=0-1 \t", 1000, 0, 1));
    CHECK(partial("bytes=\t-10 ", 1000, 990, 999));
}

TEST_CASE("range: empty list elements around one range are skipped") {
    CHECK(partial("bytes=0-1,", 1000, 0, 1));
    CHECK(partial("bytes=, 0-1", 1000, 0, 1));
    CHECK(partial("bytes=,,5-", 1000, 5, 999));
}

TEST_CASE("range: a huge file keeps exact 64-bit offsets") {
    const std::uint64_t size = 1ull << 40;
    CHECK(partial("bytes=1099511627775-", size, size - 1, size - 1));
    CHECK(partial("bytes=-1099511627776", size, 0, size - 1));
    CHECK(partial("bytes=0-", UINT64_MAX, 0, UINT64_MAX - 1));
}
