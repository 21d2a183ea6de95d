#include "deadlines.hpp"

namespace netd {

void deadline_queue::hook::unlink() {
    if (!in_) return;
    (prev_ ? prev_->next_ : in_->head) = next_;
    (next_ ? next_->prev_ : in_->tail) = prev_;
    prev_ = next_ = nullptr;
    in_ = nullptr;
}

deadline_queue::~deadline_queue() {
    for (auto* l : lanes_) {
        for (auto* h = l->head; h;) {
            auto* next = h->next_;
            h->prev_ = h->next_ = nullptr;
            h->in_ = nullptr;
            h = next;
        }
        delete l;
    }
}

deadline_queue::lane& deadline_queue::lane_for(clock::duration d) {
    lane* spare = nullptr;
    for (auto* l : lanes_) {
        if (l->d == d) return *l;
        if (!spare && !l->head) spare = l;
    }
    // A reload may bring new durations: an empty lane of an old one is taken over, so the
    // number of lanes stays at the number of durations in use at once.
    if (spare) {
        spare->d = d;
        return *spare;
    }
    lanes_.push_back(new lane{d});
    return *lanes_.back();
}

void deadline_queue::set(hook& h, clock::duration d, clock::time_point now) {
    h.unlink();
    auto& l = lane_for(d);
    h.at_ = now + d;
    h.in_ = &l;
    h.prev_ = l.tail;
    (l.tail ? l.tail->next_ : l.head) = &h;
    l.tail = &h;
    // Most deadlines land behind the one armed (lanes only grow at the tail): no timer work.
    if (h.at_ < armed_) {
        armed_ = h.at_;
        if (rearm) rearm(rearm_owner, armed_);
    }
}

deadline_queue::clock::time_point deadline_queue::expire(clock::time_point now) {
    while (auto* h = pop_expired(now))
        if (h->on_expire) h->on_expire(h->owner);
    armed_ = earliest();
    return armed_;
}

deadline_queue::clock::time_point deadline_queue::earliest() const {
    auto best = clock::time_point::max();
    for (const auto* l : lanes_)
        if (l->head && l->head->at_ < best) best = l->head->at_;
    return best;
}

deadline_queue::hook* deadline_queue::pop_expired(clock::time_point now) {
    for (auto* l : lanes_)
        if (l->head && l->head->at_ <= now) {
            auto* h = l->head;
            h->unlink();
            return h;
        }
    return nullptr;
}

}  // namespace netd
