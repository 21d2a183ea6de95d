#include "stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace netd::netctl {

std::int64_t nearest_rank(const std::vector<std::int64_t>& sorted, int percent) {
    if (sorted.empty()) return 0;
    // Nearest rank: the smallest sample with at least `percent`% of samples at or below it,
    // rank = ceil(p/100 * n). Integer arithmetic so that p95 of 20 samples is exactly rank 19.
    auto n = sorted.size();
    auto rank = (static_cast<std::size_t>(percent) * n + 99) / 100;
    return sorted[std::clamp<std::size_t>(rank, 1, n) - 1];
}

rtt_summary rtt_stats::summary() const {
    rtt_summary s;
    s.sent = sent_;
    s.received = rtts_.size();
    if (s.sent > 0)
        s.loss_pct = 100.0 * static_cast<double>(s.sent - std::min(s.sent, s.received)) /
                     static_cast<double>(s.sent);
    if (rtts_.empty()) return s;

    const auto n = static_cast<double>(rtts_.size());
    double sum = 0;
    for (auto x : rtts_)
        sum += static_cast<double>(x);
    s.avg_us = sum / n;
    // Same quantity as ping(8)'s sqrt(mean(x^2) - mean(x)^2), computed in two passes so that
    // large RTTs do not lose their spread to cancellation.
    double squares = 0;
    for (auto x : rtts_)
        squares += (static_cast<double>(x) - s.avg_us) * (static_cast<double>(x) - s.avg_us);
    s.mdev_us = std::sqrt(squares / n);

    double steps = 0;
    for (std::size_t i = 1; i < rtts_.size(); ++i)
        steps += static_cast<double>(std::llabs(rtts_[i] - rtts_[i - 1]));
    if (rtts_.size() > 1) s.jitter_us = steps / static_cast<double>(rtts_.size() - 1);

    auto sorted = rtts_;
    std::sort(sorted.begin(), sorted.end());
    s.min_us = sorted.front();
    s.max_us = sorted.back();
    s.p50_us = nearest_rank(sorted, 50);
    s.p95_us = nearest_rank(sorted, 95);
    s.p99_us = nearest_rank(sorted, 99);
    return s;
}

std::string rtt_lines(const rtt_summary& s, std::string_view label) {
    return fmt::format(
        "{} min/avg/max/mdev = {}/{}/{}/{} us\n{} p50/p95/p99 = {}/{}/{} us, jitter {} us", label,
        s.min_us, std::llround(s.avg_us), s.max_us, std::llround(s.mdev_us), label, s.p50_us,
        s.p95_us, s.p99_us, std::llround(s.jitter_us));
}

void add_rtt_fields(nlohmann::ordered_json& j, const rtt_summary& s, bool any_reply) {
    auto rtt = [&](const char* key, double v) {
        j[key] =
            any_reply ? nlohmann::ordered_json(std::llround(v)) : nlohmann::ordered_json(nullptr);
    };
    rtt("min_us", static_cast<double>(s.min_us));
    rtt("avg_us", s.avg_us);
    rtt("max_us", static_cast<double>(s.max_us));
    rtt("mdev_us", s.mdev_us);
    rtt("p50_us", static_cast<double>(s.p50_us));
    rtt("p95_us", static_cast<double>(s.p95_us));
    rtt("p99_us", static_cast<double>(s.p99_us));
    rtt("jitter_us", s.jitter_us);
}

}  // namespace netd::netctl
