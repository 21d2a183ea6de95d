#include "deadlines.hpp"

namespace netd {

void deadline_queue::unlink(hook& h) {
    if (!h.armed()) return;
    auto& l = lanes_[h.lane];
    (h.prev ? h.prev->next : l.head) = h.next;
    (h.next ? h.next->prev : l.tail) = h.prev;
    h.prev = h.next = nullptr;
    h.lane = no_lane;
}

std::uint8_t deadline_queue::lane_for(clock::duration d) {
    std::size_t spare = lanes_.size();
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        if (lanes_[i].d == d) return static_cast<std::uint8_t>(i);
        if (spare == lanes_.size() && !lanes_[i].head) spare = i;
    }
    if (spare < lanes_.size()) {
        lanes_[spare].d = d;
        return static_cast<std::uint8_t>(spare);
    }
    if (lanes_.size() >= no_lane) {
        // Only endless reloads with ever new timeouts get here: share the closest lane (a
        // deadline behind a later one in its lane fires late, but it fires).
        std::size_t best = 0;
        auto gap = [d](clock::duration x) { return x > d ? x - d : d - x; };
        for (std::size_t i = 1; i < lanes_.size(); ++i)
            if (gap(lanes_[i].d) < gap(lanes_[best].d)) best = i;
        return static_cast<std::uint8_t>(best);
    }
    lanes_.push_back({d});
    return static_cast<std::uint8_t>(lanes_.size() - 1);
}

void deadline_queue::set(hook& h, clock::duration d, clock::time_point now) {
    unlink(h);
    auto i = lane_for(d);
    auto& l = lanes_[i];
    h.at = now + d;
    h.lane = i;
    h.prev = l.tail;
    (l.tail ? l.tail->next : l.head) = &h;
    l.tail = &h;
    // Most deadlines land behind the one armed (lanes only grow at the tail): no timer work.
    if (h.at < armed_) {
        armed_ = h.at;
        if (rearm) rearm(owner, armed_);
    }
}

deadline_queue::clock::time_point deadline_queue::expire(clock::time_point now) {
    // Earliest first; on_expire may set hooks again (conn_alive) or add lanes, so each round
    // looks at the lane heads afresh.
    for (;;) {
        hook* due = nullptr;
        for (auto& l : lanes_)
            if (l.head && l.head->at <= now && (!due || l.head->at < due->at)) due = l.head;
        if (!due) break;
        unlink(*due);
        if (on_expire) on_expire(owner, *due);
    }
    armed_ = earliest();
    return armed_;
}

deadline_queue::clock::time_point deadline_queue::earliest() const {
    auto best = clock::time_point::max();
    for (const auto& l : lanes_)
        if (l.head && l.head->at < best) best = l.head->at;
    return best;
}

bool deadline_queue::empty() const {
    for (const auto& l : lanes_)
        if (l.head) return false;
    return true;
}

}  // namespace netd
