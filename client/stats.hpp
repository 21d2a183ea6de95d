#pragma once
// Round-trip statistics for `netctl ping`: pure arithmetic over microsecond samples, no I/O.
#include <cstdint>
#include <vector>

namespace netd::netctl {

/// What the ping summary prints. RTT fields are meaningful only when received > 0.
struct rtt_summary {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    double loss_pct = 0;  ///< 100 * (sent - received) / sent; 0 when nothing was sent
    std::int64_t min_us = 0;
    double avg_us = 0;
    std::int64_t max_us = 0;
    double mdev_us = 0;  ///< as ping(8): sqrt(mean(x^2) - mean(x)^2), the population std deviation
    std::int64_t p50_us = 0, p95_us = 0, p99_us = 0;  ///< nearest-rank percentiles
    double jitter_us = 0;  ///< mean |x[i] - x[i-1]| over consecutive replies; 0 with fewer than 2
};

/// Collects probes and their RTTs in the order the replies arrived.
class rtt_stats {
  public:
    /// Counts one probe put on the wire.
    void add_sent() { ++sent_; }
    /// Records the RTT of one answered probe.
    void add_reply(std::int64_t rtt_us) { rtts_.push_back(rtt_us); }

    std::uint64_t sent() const { return sent_; }
    std::uint64_t received() const { return rtts_.size(); }

    /// Computes the summary; O(n log n) for the percentiles, called once at the end.
    rtt_summary summary() const;

  private:
    std::uint64_t sent_ = 0;
    std::vector<std::int64_t> rtts_;  // arrival order matters for jitter
};

/// The nearest-rank percentile (1..100) of samples sorted ascending; 0 when there are none.
std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, int percent);

}  // namespace netd::netctl
