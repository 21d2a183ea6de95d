#include "sensor_session.hpp"

#include <fmt/core.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "cli.hpp"
#include "ping.hpp"

namespace netd::netctl {
namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using json = nlohmann::ordered_json;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

constexpr proto::usec first_backoff = 100ms;
constexpr proto::usec max_backoff = 5s;
// Readings kept for a resend. Past this netctl waits for acks instead of taking more, so a
// server that never answers cannot make it grow without bound.
constexpr std::size_t max_unacked = 10000;

std::int64_t micros(steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

bool parse_sensor_reply(std::string_view line, sensor_reply& out) {
    line = proto::trim(line);
    if (line.starts_with("ack "))
        out.ok = true, line.remove_prefix(4);
    else if (line.starts_with("nack "))
        out.ok = false, line.remove_prefix(5);
    else
        return false;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), out.seq);
    if (ec != std::errc{} || end == line.data()) return false;
    std::string_view rest(end, static_cast<std::size_t>(line.data() + line.size() - end));
    if (out.ok) return rest.empty();
    if (!rest.empty() && rest.front() != ' ') return false;
    out.reason = proto::trim(rest);
    return true;
}

sensor_session::sensor_session(tcp::socket socket, sensor_options options,
                               std::unique_ptr<line_input> input)
    : socket_(std::move(socket)),
      options_(std::move(options)),
      input_(std::move(input)),
      peer_(peer_text(socket_, options_.target)),
      wake_(socket_.get_executor()),
      signals_(socket_.get_executor(), SIGINT, SIGTERM),
      backoff_(first_backoff) {
    reader_.emplace(socket_);
    if (!input_) generator_.emplace(default_sensor_id(), std::random_device{}());
}

std::string sensor_session::label(std::uint64_t id) const {
    return fmt::format("{}={}", input_ ? "line" : "seq", id);
}

void sensor_session::watch_signals() {
    signals_.async_wait([this](std::error_code ec, int) {
        if (ec) return;
        ++interrupts_;  // the first stops new readings, a second stops waiting for acks
        wake_.cancel();
        watch_signals();
    });
}

asio::awaitable<int> sensor_session::run() {
    const auto start = steady::now();
    next_send_ = start;
    watch_signals();
    std::string text;
    std::uint64_t id = 0;
    for (;;) {
        if (connected_) take_replies();
        expire(steady::now());
        if (finished()) break;
        if (!connected_) {
            co_await reconnect();
            continue;
        }
        bool want_input = false;
        if (more_readings() && unacked() < max_unacked && steady::now() >= next_send_) {
            auto got = take_reading(text, id);
            if (got == take::ready) {
                co_await send_new(std::move(text), id);
                continue;
            }
            if (got == take::none) continue;  // the end of input: finished() decides
            want_input = true;
        }
        if (more_readings() && unacked() >= max_unacked && !window_full_said_) {
            window_full_said_ = true;
            print_error(
                fmt::format("{} readings not acknowledged by {}; waiting for acks before "
                            "taking more",
                            max_unacked, peer_));
        }
        auto wake_at = next_deadline();
        if (more_readings() && !want_input && unacked() < max_unacked)
            wake_at = std::min(wake_at, next_send_);
        co_await wait_event(want_input, wake_at);
    }
    const auto elapsed = steady::now() - start;
    signals_.cancel();
    std::error_code ignored;
    socket_.close(ignored);
    report_summary(elapsed);
    const bool all_acked = acked_ == sent_;
    co_return all_acked && !failed_ && !gave_up_ && !input_failed_ ? exit_ok : exit_failure;
}

bool sensor_session::more_readings() const {
    return interrupts_ == 0 && !input_done_ && (options_.count == 0 || taken_ < options_.count);
}

bool sensor_session::finished() const {
    if (interrupts_ >= 2 || gave_up_ || failed_) return true;
    if (!connected_) return interrupts_ > 0 || (!more_readings() && to_resend_.empty());
    if (more_readings()) return false;
    for (const auto& r : in_flight_)
        if (!r.overdue) return false;  // still within its -W
    return true;
}

steady::time_point sensor_session::next_deadline() const {
    for (const auto& r : in_flight_)  // in send order, so the first in time expires first
        if (!r.overdue) return r.sent_at + options_.timeout;
    return steady::time_point::max();
}

sensor_session::take sensor_session::take_reading(std::string& text, std::uint64_t& id) {
    if (generator_) {
        id = taken_ + 1;
        text = generator_->next(id);
        return take::ready;
    }
    while (input_->take_line(text)) {
        auto trimmed = proto::trim(text);
        if (trimmed.empty()) continue;
        if (trimmed == "ping") {
            print_error(
                fmt::format("{}:{}: skipped 'ping': netd answers it with pong and does "
                            "not store it",
                            input_->name(), input_->line_number()));
            continue;
        }
        id = input_->line_number();
        return take::ready;
    }
    if (!input_->at_end()) return take::wait;
    input_done_ = true;
    return take::none;
}

asio::awaitable<void> sensor_session::send_new(std::string text, std::uint64_t id) {
    const auto now = steady::now();
    ++taken_;
    ++sent_;
    next_send_ += options_.interval;  // keep to the schedule, but no burst after a stall
    if (next_send_ < now) next_send_ = now + options_.interval;
    text += '\n';
    // A named local, not a temporary: g++ 12 destroys a non-trivial temporary in a co_await
    // expression twice.
    reading r{id, std::move(text), now};
    co_await transmit(std::move(r));
}

asio::awaitable<bool> sensor_session::transmit(reading r) {
    r.sent_at = steady::now();
    r.overdue = false;
    if (r.sends++ > 0) ++resent_;
    in_flight_.push_back(std::move(r));
    const auto& wire = in_flight_.back().wire;
    if (auto ec = co_await write_all(socket_, wire, steady::now() + options_.timeout)) {
        lose_connection(ec == asio::error::timed_out
                            ? fmt::format("{} did not take a reading within {}", peer_,
                                          proto::format_duration(options_.timeout))
                            : fmt::format("connection to {} failed: {}", peer_, ec.message()));
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> sensor_session::wait_event(bool want_input, steady::time_point wake_at) {
    wake_.expires_at(wake_at);
    std::error_code socket_ec, input_ec;
    if (want_input) {
        auto got =
            co_await (reader_->wait_line() || wake_.async_wait(use_tuple) || input_->wait_line());
        if (got.index() == 0) socket_ec = std::get<0>(got);
        if (got.index() == 2) input_ec = std::get<2>(got);
    } else {
        auto got = co_await (reader_->wait_line() || wake_.async_wait(use_tuple));
        if (got.index() == 0) socket_ec = std::get<0>(got);
    }
    if (socket_ec)
        lose_connection(
            socket_ec == asio::error::eof
                ? fmt::format("{} closed the connection", peer_)
                : fmt::format("connection to {} failed: {}", peer_, socket_ec.message()));
    if (input_ec) {
        auto why = input_ec == asio::error::message_size
                       ? fmt::format("line longer than {} bytes", line_input::max_line_bytes)
                       : input_ec.message();
        print_error(fmt::format("{}:{}: {}; no more readings taken", input_->name(),
                                input_->line_number() + 1, why));
        input_done_ = input_failed_ = true;
    }
}

void sensor_session::take_replies() {
    std::string line;
    sensor_reply reply;
    while (connected_ && !failed_ && reader_->take_line(line)) {
        if (proto::trim(line) == "pong") continue;  // answers a "ping"; netctl sends none
        if (line.starts_with("ERR ")) {  // e.g. "ERR too many connections": try again later
            lose_connection(fmt::format("{} answered {}", peer_, quoted_peer_text(line)));
            return;
        }
        if (!parse_sensor_reply(line, reply) || reply.seq != server_seq_ + 1 ||
            in_flight_.empty()) {
            print_error(fmt::format("{} answered {} (is it netd's sensor service?)", peer_,
                                    quoted_peer_text(line)));
            failed_ = true;
            return;
        }
        ++server_seq_;
        on_reply(reply);
    }
}

void sensor_session::on_reply(const sensor_reply& reply) {
    auto r = std::move(in_flight_.front());
    in_flight_.pop_front();
    const auto rtt_us = micros(reader_->arrived_steady() - r.sent_at);
    // The connection works again: an outage ends with its first answer, not with its connect.
    outage_since_.reset();
    attempts_ = 0;
    backoff_ = first_backoff;
    const auto id_key = input_ ? "line" : "seq";
    if (r.reported_lost) ++late_;
    if (reply.ok) {
        ++acked_;
        ack_rtts_.add_reply(rtt_us);
        if (options_.json) {
            print_line(json_text({{"type", "ack"},
                                  {id_key, r.id},
                                  {"server_seq", reply.seq},
                                  {"rtt_us", rtt_us},
                                  {"resent", r.sends > 1},
                                  {"late", r.reported_lost}}));
            return;
        }
        std::string note = r.sends > 1 ? " (resent)" : "";
        if (r.reported_lost) note += " (late)";
        print_line(fmt::format("ack {} {} rtt={} us{}", reply.seq, label(r.id), rtt_us, note));
        return;
    }
    ++nacked_;  // final: netd said why it will not store this reading; resending would not help
    if (options_.json)
        print_line(json_text({{"type", "nack"},
                              {id_key, r.id},
                              {"server_seq", reply.seq},
                              {"rtt_us", rtt_us},
                              {"reason", reply.reason}}));
    else
        print_line(fmt::format("nack {} {} rtt={} us: {}", reply.seq, label(r.id), rtt_us,
                               printable_text(reply.reason)));
}

void sensor_session::expire(steady::time_point now) {
    for (auto& r : in_flight_) {
        if (r.overdue) continue;
        if (r.sent_at + options_.timeout > now) break;  // later readings were sent later still
        r.overdue = true;
        if (r.reported_lost) continue;
        r.reported_lost = true;
        if (options_.json)
            print_line(json_text({{"type", "timeout"}, {input_ ? "line" : "seq", r.id}}));
        else
            print_line(fmt::format("timeout for {}", label(r.id)));
    }
}

void sensor_session::lose_connection(const std::string& why) {
    connected_ = false;
    std::error_code ignored;
    socket_.close(ignored);
    // What was in flight goes out again first, ahead of anything still waiting from before.
    to_resend_.insert(to_resend_.begin(), std::make_move_iterator(in_flight_.begin()),
                      std::make_move_iterator(in_flight_.end()));
    in_flight_.clear();
    if (!outage_since_) outage_since_ = steady::now();
    if (options_.json)
        print_line(json_text({{"type", "disconnect"}, {"error", why}, {"unacked", unacked()}}));
    auto what = why;
    if (interrupts_ > 0 || options_.retry_for == proto::usec::zero()) {
        gave_up_ = interrupts_ == 0;  // --retry-for 0: a drop ends the run
        if (!to_resend_.empty())
            what += fmt::format("; {} not acknowledged", plural(unacked(), "reading", "readings"));
    } else {
        what += fmt::format("; reconnecting in {}", proto::format_duration(backoff_));
        if (!to_resend_.empty())
            what += fmt::format(" ({} to resend)", plural(unacked(), "reading", "readings"));
    }
    print_error(what);
}

asio::awaitable<void> sensor_session::reconnect() {
    const auto give_up_at = *outage_since_ + options_.retry_for;
    auto give_up = [&] {
        gave_up_ = true;
        print_error(fmt::format(
            "no working connection to {} for {}: giving up{}", peer_,
            proto::format_duration(options_.retry_for),
            to_resend_.empty() ? ""
                               : fmt::format("; {} not acknowledged",
                                             plural(to_resend_.size(), "reading", "readings"))));
    };
    if (steady::now() >= give_up_at) co_return give_up();
    wake_.expires_at(std::min(steady::now() + backoff_, give_up_at));
    co_await wake_.async_wait(use_tuple);
    if (interrupts_ > 0) co_return;
    if (steady::now() >= give_up_at) co_return give_up();

    ++attempts_;
    // Doubles whether or not this attempt connects: a server that accepts and then drops the
    // connection (ERR too many connections) must not be hammered either. An answer resets it.
    backoff_ = std::min(backoff_ * 2, max_backoff);
    const auto deadline = std::min(steady::now() + connect_timeout, give_up_at);
    wake_.expires_at(steady::time_point::max());  // Ctrl-C cancels it, and so the connect
    auto got =
        co_await (connect(socket_, options_.target, deadline) || wake_.async_wait(use_tuple));
    auto ec = got.index() == 0 ? std::get<0>(got) : asio::error::operation_aborted;
    if (!ec) co_return co_await on_reconnected(attempts_);
    std::error_code ignored;
    socket_.close(ignored);
    if (interrupts_ > 0) co_return;
    print_error(fmt::format("{}; retrying in {}", connect_error_text(options_.target, ec),
                            proto::format_duration(backoff_)));
}

asio::awaitable<void> sensor_session::on_reconnected(unsigned attempts) {
    connected_ = true;
    reader_.emplace(socket_);
    server_seq_ = 0;  // netd counts readings per connection
    ++reconnects_;
    peer_ = peer_text(socket_, options_.target);
    const auto outage_ms = micros(steady::now() - *outage_since_) / 1000;
    const auto resend = to_resend_.size();
    if (resend == 0) outage_since_.reset();  // nothing waits for an answer to prove it works
    if (options_.json)
        print_line(json_text({{"type", "reconnect"},
                              {"attempts", attempts},
                              {"outage_ms", outage_ms},
                              {"resend", resend}}));
    else
        print_line(fmt::format(
            "reconnected to {} after {} (outage {} ms){}", peer_,
            plural(attempts, "attempt", "attempts"), outage_ms,
            resend == 0 ? ""
                        : fmt::format(", resending {}", plural(resend, "reading", "readings"))));
    while (connected_ && !to_resend_.empty()) {
        auto r = std::move(to_resend_.front());
        to_resend_.pop_front();
        if (!co_await transmit(std::move(r))) break;
    }
}

void sensor_session::report_summary(steady::duration elapsed) {
    const auto s = ack_rtts_.summary();
    const auto lost = sent_ - acked_ - nacked_;
    const auto elapsed_ms = micros(elapsed) / 1000;
    if (options_.json) {
        json j{{"type", "summary"},
               {"target", target_text(options_.target)},
               {"sent", sent_},
               {"acked", acked_},
               {"nacked", nacked_},
               {"lost", lost},
               {"late", late_},
               {"resent", resent_},
               {"reconnects", reconnects_},
               {"time_ms", elapsed_ms}};
        add_rtt_fields(j, s, acked_ > 0);
        print_line(json_text(j));
        return;
    }
    std::string out =
        fmt::format("\n--- {} netd sensor statistics ---\n", target_text(options_.target));
    // As ping's "+N duplicates": only when there are any.
    const auto late = late_ > 0 ? fmt::format(" (+{} late)", late_) : std::string();
    out +=
        fmt::format("{} sent, {} acked, {} nacked, {} lost{}, {} resent, {} reconnects, time {}ms",
                    sent_, acked_, nacked_, lost, late, resent_, reconnects_, elapsed_ms);
    if (acked_ > 0) out += "\n" + rtt_lines(s, "ack rtt");
    print_line(out);
}

}  // namespace netd::netctl
