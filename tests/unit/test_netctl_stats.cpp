// netctl ping's summary arithmetic: exact values for known RTTs, no replies, and loss.
#include <doctest/doctest.h>

#include <cmath>

#include "stats.hpp"

using netd::netctl::nearest_rank;
using netd::netctl::rtt_stats;

namespace {

rtt_stats sent_and_answered(std::initializer_list<std::int64_t> rtts) {
    rtt_stats s;
    for (auto rtt : rtts) {
        s.add_sent();
        s.add_reply(rtt);
    }
    return s;
}

}  // namespace

TEST_CASE("stats: min/avg/max/mdev of known RTTs match ping(8)'s formulas") {
    auto s = sent_and_answered({10, 30, 20, 50, 40}).summary();
    CHECK(s.sent == 5);
    CHECK(s.received == 5);
    CHECK(s.loss_pct == 0.0);
    CHECK(s.min_us == 10);
    CHECK(s.max_us == 50);
    CHECK(s.avg_us == doctest::Approx(30.0));
    // sqrt(mean(x^2) - mean(x)^2) = sqrt(1100 - 900)
    CHECK(s.mdev_us == doctest::Approx(std::sqrt(200.0)));
}

TEST_CASE("stats: identical RTTs have zero mdev and zero jitter") {
    auto s = sent_and_answered({70, 70, 70, 70}).summary();
    CHECK(s.mdev_us == 0.0);
    CHECK(s.jitter_us == 0.0);
    CHECK(s.p50_us == 70);
    CHECK(s.p99_us == 70);
}

TEST_CASE("stats: jitter is the mean absolute step between consecutive replies, in order") {
    // steps 20, 10, 30, 10 -> 17.5; the same samples sorted would give 10
    CHECK(sent_and_answered({10, 30, 20, 50, 40}).summary().jitter_us == doctest::Approx(17.5));
    CHECK(sent_and_answered({10, 20, 30, 40, 50}).summary().jitter_us == doctest::Approx(10.0));
}

TEST_CASE("stats: a single reply has zero jitter and zero mdev, and is every percentile") {
    auto s = sent_and_answered({84}).summary();
    CHECK(s.jitter_us == 0.0);
    CHECK(s.mdev_us == 0.0);
    CHECK(s.min_us == 84);
    CHECK(s.max_us == 84);
    CHECK(s.p50_us == 84);
    CHECK(s.p95_us == 84);
    CHECK(s.p99_us == 84);
}

TEST_CASE("stats: percentiles are nearest-rank over 1..100 and over five samples") {
    rtt_stats hundred;
    for (std::int64_t rtt = 100; rtt >= 1; --rtt) {  // reverse order: percentiles must sort
        hundred.add_sent();
        hundred.add_reply(rtt);
    }
    auto s = hundred.summary();
    CHECK(s.p50_us == 50);
    CHECK(s.p95_us == 95);
    CHECK(s.p99_us == 99);

    // ceil(0.5 * 5) = rank 3, ceil(0.95 * 5) = rank 5, ceil(0.99 * 5) = rank 5
    auto five = sent_and_answered({51, 80, 60, 59, 62}).summary();
    CHECK(five.p50_us == 60);
    CHECK(five.p95_us == 80);
    CHECK(five.p99_us == 80);
}

TEST_CASE("stats: nearest rank of 20 samples at p95 is the 19th, not interpolated") {
    std::vector<std::int64_t> sorted;
    for (std::int64_t i = 1; i <= 20; ++i)
        sorted.push_back(i * 10);
    CHECK(nearest_rank(sorted, 95) == 190);
    CHECK(nearest_rank(sorted, 50) == 100);
    CHECK(nearest_rank(sorted, 100) == 200);
    CHECK(nearest_rank(sorted, 1) == 10);
    CHECK(nearest_rank({}, 50) == 0);
}

TEST_CASE("stats: nothing sent is no loss and no RTTs") {
    auto s = rtt_stats{}.summary();
    CHECK(s.sent == 0);
    CHECK(s.received == 0);
    CHECK(s.loss_pct == 0.0);
    CHECK(s.min_us == 0);
    CHECK(s.avg_us == 0.0);
    CHECK(s.max_us == 0);
    CHECK(s.mdev_us == 0.0);
    CHECK(s.p50_us == 0);
    CHECK(s.jitter_us == 0.0);
}

TEST_CASE("stats: probes sent and never answered are 100% loss with no RTTs") {
    rtt_stats st;
    for (int i = 0; i < 4; ++i)
        st.add_sent();
    auto s = st.summary();
    CHECK(s.sent == 4);
    CHECK(s.received == 0);
    CHECK(s.loss_pct == 100.0);
    CHECK(s.p99_us == 0);
}

TEST_CASE("stats: loss percentage counts unanswered probes against all sent") {
    rtt_stats st;
    for (int i = 0; i < 3; ++i)
        st.add_sent();
    st.add_reply(100);
    st.add_reply(300);
    auto s = st.summary();
    CHECK(s.received == 2);
    CHECK(s.loss_pct == doctest::Approx(100.0 / 3));
    CHECK(s.avg_us == doctest::Approx(200.0));
    CHECK(s.mdev_us == doctest::Approx(100.0));
    CHECK(s.jitter_us == doctest::Approx(200.0));

    rtt_stats quarter;
    for (int i = 0; i < 4; ++i)
        quarter.add_sent();
    for (int i = 0; i < 3; ++i)
        quarter.add_reply(50);
    CHECK(quarter.summary().loss_pct == 25.0);
}
