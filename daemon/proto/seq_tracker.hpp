#pragma once
// Client sequence numbers in a stream of readings: how many are missing, repeated, or late.
#include <bitset>
#include <cstdint>

namespace netd::proto {

class seq_tracker {
  public:
    /// Records one client sequence number.
    void observe(std::int64_t seq);

    bool any() const { return seen_.test(0); }  // the highest number is always seen
    /// Numbers skipped and not (yet) seen late: between the first number seen and the highest.
    std::uint64_t gaps() const { return gaps_; }
    /// Numbers seen twice (within the last `window` numbers; older repeats count as late).
    std::uint64_t duplicates() const { return duplicates_; }
    /// Numbers that arrived after a higher one.
    std::uint64_t out_of_order() const { return out_of_order_; }

    static constexpr std::int64_t window = 256;  ///< bits kept in every sensor connection

  private:
    std::int64_t first_ = 0;  ///< numbers below it were never counted as gaps
    std::int64_t max_ = 0;
    std::bitset<window> seen_;  ///< bit d: max_ - d was seen
    std::uint64_t gaps_ = 0, duplicates_ = 0, out_of_order_ = 0;
};

}  // namespace netd::proto
