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
#include <vector>

namespace netd {

class deadline_queue {
  public:
    using clock = std::chrono::steady_clock;
    struct lane;

    /// One deadline, embedded in what it belongs to. Unlinked when destroyed.
    struct hook {
        hook() = default;
        hook(const hook&) = delete;
        hook& operator=(const hook&) = delete;
        ~hook() { unlink(); }

        /// What happens when the deadline passes (the hook is unlinked first).
        void (*on_expire)(void* owner) = nullptr;
        void* owner = nullptr;

        bool armed() const { return in_ != nullptr; }
        clock::time_point at() const { return at_; }
        void unlink();

      private:
        friend class deadline_queue;
        hook *prev_ = nullptr, *next_ = nullptr;
        lane* in_ = nullptr;
        clock::time_point at_{};
    };

    struct lane {
        clock::duration d;
        hook *head = nullptr, *tail = nullptr;
    };

    deadline_queue() = default;
    deadline_queue(const deadline_queue&) = delete;
    deadline_queue& operator=(const deadline_queue&) = delete;
    ~deadline_queue();

    /// Called with the new earliest deadline when set() moves it before the one the timer was
    /// last armed for.
    void (*rearm)(void* owner, clock::time_point at) = nullptr;
    void* rearm_owner = nullptr;

    /// Moves `h` to now + d.
    void set(hook& h, clock::duration d, clock::time_point now = clock::now());
    /// Runs on_expire of every hook due at `now` and returns the next deadline to arm the timer
    /// for (time_point::max() if none).
    clock::time_point expire(clock::time_point now = clock::now());
    /// The earliest deadline, or time_point::max() if none.
    clock::time_point earliest() const;

  private:
    lane& lane_for(clock::duration d);
    hook* pop_expired(clock::time_point now);

    clock::time_point armed_ = clock::time_point::max();

    // Few distinct durations exist; lanes are never freed while hooks may point at them, so
    // they live in stable storage (a vector of pointers) and empty ones are reused by duration.
    std::vector<lane*> lanes_;
};

}  // namespace netd
