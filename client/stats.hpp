#pragma once
// Round-trip statistics for `netctl ping`: pure arithmetic over microsecond samples, no I/O.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
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

/// The two RTT lines of a ping-style summary, without a final newline:
/// "<label> min/avg/max/mdev = 51/62/80/9 us\n<label> p50/p95/p99 = 60/78/80 us, jitter 7 us".
std::string rtt_lines(const rtt_summary& s, std::string_view label);

/// Adds min_us .. jitter_us to a --json summary: whole microseconds, or null without replies.
void add_rtt_fields(nlohmann::ordered_json& j, const rtt_summary& s, bool any_reply);

/// The nearest-rank percentile (1..100) of samples sorted ascending; 0 when there are none.
std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, int percent);

}  // namespace netd::netctl
