#include <doctest/doctest.h>

#include "proto/seq_tracker.hpp"

using netd::proto::seq_tracker;

namespace {
seq_tracker feed(std::initializer_list<std::int64_t> seqs) {
    seq_tracker t;
    for (auto s : seqs)
        t.observe(s);
    return t;
}
}  // namespace

TEST_CASE("seq tracker: an unbroken run has no gaps, duplicates or late numbers") {
    auto t = feed({5, 6, 7, 8});
    CHECK(t.any());
    CHECK(t.gaps() == 0);
    CHECK(t.duplicates() == 0);
    CHECK(t.out_of_order() == 0);
    CHECK_FALSE(feed({}).any());
}

TEST_CASE("seq tracker: skipped numbers are gaps until they arrive late") {
    auto t = feed({1, 2, 5});
    CHECK(t.gaps() == 2);
    t.observe(3);
    CHECK(t.gaps() == 1);
    CHECK(t.out_of_order() == 1);
}

TEST_CASE("seq tracker: a late number below the first one seen fills no gap") {
    auto t = feed({10, 12, 3});  // 11 is still missing; 3 was never counted as one
    CHECK(t.gaps() == 1);
    CHECK(t.out_of_order() == 1);
    t.observe(11);
    CHECK(t.gaps() == 0);
}

TEST_CASE("seq tracker: a repeat is a duplicate, whether latest or older") {
    auto t = feed({1, 2, 2, 3, 1});
    CHECK(t.duplicates() == 2);
    CHECK(t.out_of_order() == 0);
    CHECK(t.gaps() == 0);
}

TEST_CASE("seq tracker: a resend after a reconnect shows as duplicates") {
    auto t = feed({1, 2, 3, 4, 3, 4, 5});
    CHECK(t.duplicates() == 2);
    CHECK(t.gaps() == 0);
}

TEST_CASE("seq tracker: huge jumps and numbers older than the window do not overflow") {
    auto t = feed({0, INT64_MAX});
    CHECK(t.gaps() == static_cast<std::uint64_t>(INT64_MAX) - 1);
    t.observe(0);  // far behind the window: counted as late, not a duplicate
    CHECK(t.out_of_order() == 1);
    auto n = feed({-5, -4, -6});
    CHECK(n.out_of_order() == 1);
}
