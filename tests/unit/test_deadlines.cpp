#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "net/deadlines.hpp"

using netd::deadline_queue;
using namespace std::chrono_literals;

namespace {

using clock_type = deadline_queue::clock;
const auto t0 = clock_type::time_point(std::chrono::seconds(1000));

// Records which hooks expired (by tag) and every re-arm request.
struct recorder {
    std::vector<int> expired;
    std::vector<clock_type::time_point> rearmed;

    void attach(deadline_queue& q) {
        q.owner = this;
        q.on_expire = [](void* self, deadline_queue::hook& h) {
            static_cast<recorder*>(self)->expired.push_back(h.tag);
        };
        q.rearm = [](void* self, clock_type::time_point at) {
            static_cast<recorder*>(self)->rearmed.push_back(at);
        };
    }
};

deadline_queue::hook tagged(int tag) {
    deadline_queue::hook h;
    h.tag = static_cast<std::uint8_t>(tag);
    return h;
}

}  // namespace

TEST_CASE("deadlines: hooks of different durations expire in deadline order") {
    deadline_queue q;
    recorder r;
    r.attach(q);
    auto a = tagged(1), b = tagged(2), c = tagged(3);
    q.set(a, 5s, t0);       // t0+5
    q.set(b, 1s, t0 + 1s);  // t0+2
    q.set(c, 5s, t0 + 2s);  // t0+7
    CHECK(q.earliest() == t0 + 2s);
    CHECK(q.expire(t0 + 1s) == t0 + 2s);  // nothing due yet
    CHECK(r.expired.empty());
    CHECK(q.expire(t0 + 6s) == t0 + 7s);
    CHECK(r.expired == std::vector<int>{2, 1});
    CHECK_FALSE(a.armed());
    CHECK(c.armed());
    CHECK(q.expire(t0 + 7s) == clock_type::time_point::max());
    CHECK(r.expired == std::vector<int>{2, 1, 3});
    CHECK(q.empty());
}

TEST_CASE("deadlines: moving a deadline takes it out of its old place") {
    deadline_queue q;
    recorder r;
    r.attach(q);
    auto a = tagged(1), b = tagged(2);
    q.set(a, 3s, t0);
    q.set(b, 3s, t0 + 1s);
    q.set(a, 3s, t0 + 2s);  // a request arrived: a's idle deadline moves behind b's
    q.expire(t0 + 4s);
    CHECK(r.expired == std::vector<int>{2});
    q.unlink(a);
    CHECK_FALSE(a.armed());
    CHECK(q.expire(t0 + 10s) == clock_type::time_point::max());
    CHECK(r.expired == std::vector<int>{2});
    q.unlink(a);  // twice is harmless
}

TEST_CASE("deadlines: the timer is re-armed only for an earlier deadline") {
    deadline_queue q;
    recorder r;
    r.attach(q);
    auto a = tagged(1), b = tagged(2), c = tagged(3);
    q.set(a, 10s, t0);
    CHECK(r.rearmed == std::vector{t0 + 10s});
    q.set(b, 20s, t0);  // later: the armed timer covers it
    CHECK(r.rearmed.size() == 1);
    q.set(c, 1s, t0);  // earlier: bring the timer forward
    CHECK(r.rearmed == std::vector{t0 + 10s, t0 + 1s});
    CHECK(q.expire(t0 + 1s) == t0 + 10s);
    q.set(c, 1s, t0 + 2s);  // after expire() the armed time is the next deadline again
    CHECK(r.rearmed.back() == t0 + 3s);
}

TEST_CASE("deadlines: an expiring hook may set itself again") {
    deadline_queue q;
    int fired = 0;
    q.owner = &q;
    static deadline_queue::hook* self_setting = nullptr;
    static int* count = nullptr;
    count = &fired;
    q.on_expire = [](void* owner, deadline_queue::hook& h) {
        ++*count;
        if (&h == self_setting)
            static_cast<deadline_queue*>(owner)->set(h, 5s, t0 + 5s);  // the next conn_alive
    };
    auto alive = tagged(1);
    self_setting = &alive;
    q.set(alive, 5s, t0);
    CHECK(q.expire(t0 + 5s) == t0 + 10s);
    CHECK(fired == 1);
    CHECK(alive.armed());
}

TEST_CASE("deadlines: a lane left empty is reused for a new duration") {
    deadline_queue q;
    auto a = tagged(1), b = tagged(2);
    // More distinct durations over time than could ever be lanes at once (a reload each).
    for (int i = 1; i <= 1000; ++i) {
        q.set(a, std::chrono::milliseconds(i), t0);
        q.set(b, std::chrono::milliseconds(i), t0);
        q.unlink(a);
    }
    CHECK(q.earliest() == t0 + 1000ms);
    q.unlink(b);
    CHECK(q.empty());
}
