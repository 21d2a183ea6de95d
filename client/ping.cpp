// netctl ping: RTT to netd's ping service, read like ping(8).
#include <fmt/core.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <deque>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "duration.hpp"
#include "ping.hpp"
#include "stats.hpp"

namespace netd::netctl {
namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::uint16_t default_port = 7000;
// Below this an unlimited run is a flood, not a measurement.
constexpr proto::usec min_interval = 1ms;

constexpr std::string_view help_text =
    R"(usage: netctl ping [HOST[:PORT]] [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [--json]

Measures round-trip time to netd's ping service (default 127.0.0.1:7000), the way ping(8)
does: one connection, a "ping" line every INTERVAL, one line per probe with its RTT in
microseconds, then sent/received/loss, min/avg/max/mdev, p50/p95/p99 and jitter once COUNT
probes are done or on Ctrl-C. A reply that comes after its TIMEOUT still belongs to its own
probe (replies come in order) and that probe stays lost.

  -c COUNT     stop after COUNT probes (default: until Ctrl-C)
  -i INTERVAL  time between probes, in seconds ("0.2") or with a unit ("200ms"); default 1s
  -W TIMEOUT   how long to wait for each reply before counting it lost; default 1s
  --json       one JSON object per line: each probe, then the summary
  -h, --help   show this help

Exit status: 0 every probe answered, 1 any probe lost or the connection dropped,
2 usage error or no connection.
)";

struct ping_options {
    proto::host_port target;
    std::uint64_t count = 0;  // 0: until Ctrl-C
    proto::usec interval = 1s;
    proto::usec timeout = 1s;
    bool json = false;
};

// A probe on the wire. Replies come in order, so the oldest outstanding probe owns the next one.
struct probe {
    std::uint64_t seq = 0;
    steady::time_point sent_at;
    bool timed_out = false;
};

std::int64_t micros(steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// "33.3", "0", "100": what a person reads; scripts get the same rounding in --json.
double round_tenth(double v) {
    return std::round(v * 10) / 10;
}

class ping_session {
  public:
    ping_session(tcp::socket socket, ping_options options)
        : socket_(std::move(socket)),
          options_(std::move(options)),
          peer_(peer_text(socket_, options_.target)),
          wake_(socket_.get_executor()),
          signals_(socket_.get_executor(), SIGINT, SIGTERM) {}

    /// Probes until COUNT, Ctrl-C or a dropped connection; prints the summary; the exit status.
    asio::awaitable<int> run();

  private:
    bool more_to_send() const {
        return !interrupted_ && (options_.count == 0 || next_seq_ <= options_.count);
    }
    const probe* first_pending() const;
    asio::awaitable<bool> send_probe();
    void take_replies();
    void expire(steady::time_point now);
    void lose_connection(std::error_code ec);
    void print_line(const std::string& text);
    void report_summary(steady::duration elapsed);

    tcp::socket socket_;
    line_reader reader_{socket_};
    ping_options options_;
    std::string peer_;
    asio::steady_timer wake_;
    asio::signal_set signals_;
    std::deque<probe> outstanding_;  // timed-out probes first, then those still in time
    rtt_stats stats_;
    std::uint64_t next_seq_ = 1;
    steady::time_point next_send_;
    bool interrupted_ = false;
    bool failed_ = false;  // the connection dropped or the peer is not a ping service
};

asio::awaitable<int> ping_session::run() {
    const auto start = steady::now();
    next_send_ = start;
    signals_.async_wait([this](std::error_code ec, int) {
        if (ec) return;
        interrupted_ = true;
        wake_.cancel();  // wakes the loop below, which then sees interrupted_
    });
    for (;;) {
        take_replies();
        expire(steady::now());
        if (interrupted_ || failed_) break;
        if (more_to_send() && steady::now() >= next_send_) {
            if (!co_await send_probe()) break;
            continue;
        }
        const probe* pending = first_pending();
        if (!more_to_send() && pending == nullptr) break;
        auto wake_at = more_to_send() ? next_send_ : steady::time_point::max();
        if (pending != nullptr) wake_at = std::min(wake_at, pending->sent_at + options_.timeout);
        wake_.expires_at(wake_at);
        auto got = co_await (reader_.wait_line() || wake_.async_wait(use_tuple));
        if (got.index() == 0) {
            if (auto ec = std::get<0>(got)) lose_connection(ec);
        }
    }
    const auto elapsed = steady::now() - start;
    signals_.cancel();
    std::error_code ignored;
    socket_.close(ignored);
    report_summary(elapsed);
    const bool all_answered = stats_.sent() > 0 && stats_.received() == stats_.sent();
    co_return !failed_ && all_answered ? exit_ok : exit_failure;
}

const probe* ping_session::first_pending() const {
    for (const auto& p : outstanding_)
        if (!p.timed_out) return &p;
    return nullptr;
}

asio::awaitable<bool> ping_session::send_probe() {
    const auto now = steady::now();
    outstanding_.push_back({next_seq_++, now, false});
    stats_.add_sent();
    // Keep to the schedule, but after a stall start afresh rather than sending a burst.
    next_send_ += options_.interval;
    if (next_send_ < now) next_send_ = now + options_.interval;
    if (auto ec = co_await write_all(socket_, "ping\n", now + options_.timeout)) {
        lose_connection(ec);
        co_return false;
    }
    co_return true;
}

void ping_session::take_replies() {
    std::string line;
    while (!failed_ && reader_.take_line(line)) {
        if (outstanding_.empty() || proto::trim(line) != "pong") {
            print_error(fmt::format("{} answered {} instead of 'pong' (is it netd's ping service?)",
                                    peer_, quoted_peer_text(line)));
            failed_ = true;
            return;
        }
        auto p = outstanding_.front();
        outstanding_.pop_front();
        if (p.timed_out) continue;  // the late answer to a probe already reported lost
        auto rtt_us = micros(reader_.arrived_steady() - p.sent_at);
        stats_.add_reply(rtt_us);
        if (options_.json)
            print_line(nlohmann::ordered_json{{"type", "probe"}, {"seq", p.seq}, {"rtt_us", rtt_us}}
                           .dump());
        else
            print_line(fmt::format("pong from {}: seq={} rtt={} us", peer_, p.seq, rtt_us));
    }
}

void ping_session::expire(steady::time_point now) {
    for (auto& p : outstanding_) {
        if (p.timed_out) continue;
        if (p.sent_at + options_.timeout > now) break;  // later probes were sent later still
        p.timed_out = true;
        if (options_.json)
            print_line(nlohmann::ordered_json{{"type", "probe"}, {"seq", p.seq}, {"timeout", true}}
                           .dump());
        else
            print_line(fmt::format("timeout for seq={}", p.seq));
    }
}

void ping_session::lose_connection(std::error_code ec) {
    auto what = ec == asio::error::eof
                    ? fmt::format("{} closed the connection", peer_)
                    : fmt::format("connection to {} failed: {}", peer_, ec.message());
    // Probes in flight stay sent and unanswered (lost); those not sent yet are not claimed as
    // sent in the summary, so say here how many COUNT fell short by.
    if (options_.count > 0 && next_seq_ <= options_.count)
        what += fmt::format("; {} of {} probes not sent", options_.count - next_seq_ + 1,
                            options_.count);
    print_error(what);
    failed_ = true;
}

void ping_session::print_line(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // a line per probe as it happens, also into a pipe
}

void ping_session::report_summary(steady::duration elapsed) {
    const auto s = stats_.summary();
    const auto elapsed_ms = micros(elapsed) / 1000;
    if (options_.json) {
        nlohmann::ordered_json j{{"type", "summary"},
                                 {"target", target_text(options_.target)},
                                 {"sent", s.sent},
                                 {"received", s.received},
                                 {"loss_pct", round_tenth(s.loss_pct)},
                                 {"time_ms", elapsed_ms}};
        add_rtt_fields(j, s, s.received > 0);
        print_line(j.dump());
        return;
    }
    std::string out =
        fmt::format("\n--- {} netd ping statistics ---\n", target_text(options_.target));
    out += fmt::format("{} sent, {} received, {}% loss, time {}ms", s.sent, s.received,
                       round_tenth(s.loss_pct), elapsed_ms);
    if (s.received > 0) out += "\n" + rtt_lines(s, "rtt");
    print_line(out);
}

asio::awaitable<int> ping_main(ping_options options) {
    tcp::socket socket(co_await asio::this_coro::executor);
    if (auto ec = co_await connect(socket, options.target, steady::now() + connect_timeout)) {
        print_error(connect_error_text(options.target, ec));
        co_return exit_no_connection;
    }
    ping_session session(std::move(socket), std::move(options));
    co_return co_await session.run();
}

}  // namespace

int ping_command(std::span<char* const> args) {
    static constexpr option_spec spec[] = {{"-c", true}, {"-i", true}, {"-W", true},
                                           {"--json"},   {"-h"},       {"--help"}};
    auto parsed = parse_args(args, spec);
    if (!parsed.ok()) return usage_error("ping", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (a.positional.size() > 1)
        return usage_error("ping", fmt::format("unexpected argument '{}'", a.positional[1]));

    ping_options options;
    auto target = proto::parse_host_port(a.positional.empty() ? "" : a.positional[0], default_port);
    if (!target.ok()) return usage_error("ping", target.error);
    options.target = target.value;
    if (auto v = a.value("-c")) {
        auto count = parse_count(*v);
        if (!count.ok()) return usage_error("ping", count.error);
        options.count = count.value;
    }
    if (auto v = a.value("-i")) {
        auto interval = proto::parse_interval(*v);
        if (!interval.ok()) return usage_error("ping", interval.error);
        if (interval.value < min_interval)
            return usage_error("ping", fmt::format("interval '{}' is too short: at least 1ms", *v));
        options.interval = interval.value;
    }
    if (auto v = a.value("-W")) {
        auto timeout = proto::parse_interval(*v);
        if (!timeout.ok()) return usage_error("ping", timeout.error);
        if (timeout.value <= proto::usec::zero())
            return usage_error("ping", fmt::format("timeout '{}' must be more than 0", *v));
        options.timeout = timeout.value;
    }
    options.json = a.has("--json");
    return run_command([options] { return ping_main(options); });
}

}  // namespace netd::netctl
