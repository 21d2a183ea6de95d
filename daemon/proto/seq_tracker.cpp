#include "seq_tracker.hpp"

namespace netd::proto {

void seq_tracker::observe(std::int64_t seq) {
    if (!any()) {
        first_ = max_ = seq;
        seen_.set(0);
        return;
    }
    if (seq > max_) {
        // Overflow-safe: a huge jump just means "everything in the window is new".
        std::uint64_t jump = static_cast<std::uint64_t>(seq) - static_cast<std::uint64_t>(max_);
        gaps_ += jump - 1;
        if (jump >= static_cast<std::uint64_t>(window))
            seen_.reset();
        else
            seen_ <<= jump;
        seen_.set(0);
        max_ = seq;
        return;
    }
    std::uint64_t back = static_cast<std::uint64_t>(max_) - static_cast<std::uint64_t>(seq);
    if (back < static_cast<std::uint64_t>(window) && seen_.test(back)) {
        ++duplicates_;
        return;
    }
    ++out_of_order_;
    if (back < static_cast<std::uint64_t>(window)) seen_.set(back);
    // A late number fills a gap, unless it is below where counting began. (Beyond the window
    // a repeat cannot be told from a late number: both fill one.)
    if (seq > first_ && gaps_ > 0) --gaps_;
}

}  // namespace netd::proto
