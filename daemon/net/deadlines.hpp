#pragma once
// The deadlines of one worker's connections, so that a connection needs no timer of its own.
//
// A deadline is always "now + d" for one of a few durations d (idle_timeout, header_timeout,
// send_timeout, the alive interval, ...). Each distinct d has its own FIFO lane: appending at
// the tail keeps a lane sorted, because now only grows. Setting or moving a deadline is an O(1)
// unlink and append, and the earliest deadline is the earliest lane head. The worker arms one
// timer for it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace netd {

class deadline_queue {
  public:
    using clock = std::chrono::steady_clock;

    /// One deadline, embedded in what it belongs to (32 bytes: ten thousand connections have
    /// two each). The fields are the queue's; only `tag` is the owner's, to tell its hooks
    /// apart in on_expire. A plain struct, so an owner can find itself from its hook.
    struct hook {
        hook* prev = nullptr;
        hook* next = nullptr;
        clock::time_point at{};
        std::uint8_t lane = no_lane;
        std::uint8_t tag = 0;

        bool armed() const { return lane != no_lane; }
    };
    static constexpr std::uint8_t no_lane = 0xff;

    deadline_queue() = default;
    deadline_queue(const deadline_queue&) = delete;
    deadline_queue& operator=(const deadline_queue&) = delete;

    /// Runs for each hook whose deadline passed (unlinked first).
    void (*on_expire)(void* owner, hook& h) = nullptr;
    /// Runs with the new earliest deadline when set() moves it before the one the timer was
    /// last armed for.
    void (*rearm)(void* owner, clock::time_point at) = nullptr;
    void* owner = nullptr;

    /// Moves `h` to now + d.
    void set(hook& h, clock::duration d, clock::time_point now = clock::now());
    /// Takes `h` out of the queue (nothing if it is not in).
    void unlink(hook& h);
    /// Runs on_expire for every hook due at `now` and returns the next deadline to arm the
    /// timer for (time_point::max() if none).
    clock::time_point expire(clock::time_point now = clock::now());
    /// The earliest deadline, or time_point::max() if none.
    clock::time_point earliest() const;
    bool empty() const;

  private:
    struct lane {
        clock::duration d;
        hook *head = nullptr, *tail = nullptr;
    };

    std::uint8_t lane_for(clock::duration d);

    // Few distinct durations exist at once; an empty lane is taken over by a new duration (a
    // reload), so there are never more lanes than durations in use.
    std::vector<lane> lanes_;
    clock::time_point armed_ = clock::time_point::max();
};

}  // namespace netd
