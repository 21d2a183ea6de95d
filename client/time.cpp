// netctl time: the server's clock, the RTT and the clock offset from `stamp` exchanges (NTP's
// four timestamps: T1 client send, T2 server receive, T3 server send, T4 client receive).
#include <fmt/core.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "ping.hpp"
#include "timefmt.hpp"

namespace netd::netctl {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t default_port = 7000;
constexpr int exchanges = 5;
constexpr auto reply_deadline = 2s;  // for all exchanges together

constexpr std::string_view help_text = R"(usage: netctl time [HOST[:PORT]] [--json]

Asks netd's ping service (default 127.0.0.1:7000) for its clock with "stamp" exchanges and
prints the server's time, the round-trip time, the server's own processing time and the
estimated offset of the server's clock from this machine's (positive: the server is ahead).

It makes 5 exchanges back to back on one connection and keeps the one with the lowest RTT,
as NTP does: the fastest exchange waited least in queues, so its offset, which is exact
only if the two directions took equally long, has the smallest error bound (+- RTT/2).

  --json       one JSON object with the four timestamps and the results
  -h, --help   show this help

Exit status: 0 success, 1 no valid reply within 2s, 2 usage error or no connection.
)";

struct time_options {
    proto::host_port target;
    bool json = false;
};

// One stamp exchange, all in unix microseconds.
struct exchange {
    std::int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;

    std::int64_t server_proc() const { return t3 - t2; }
    std::int64_t rtt() const { return (t4 - t1) - server_proc(); }
    // Exact when the request and the reply took equally long; off by at most rtt/2 otherwise.
    std::int64_t offset() const { return std::llround(((t2 - t1) + (t3 - t4)) / 2.0); }
    std::int64_t uncertainty() const { return std::llround(static_cast<double>(rtt()) / 2.0); }
};

// Why the exchanges stopped, as one line; empty if all of them were made.
std::string failure_text(std::error_code ec, const std::string& peer) {
    if (ec == asio::error::timed_out)
        return fmt::format("no reply from {} within {}s", peer, reply_deadline.count());
    if (ec == asio::error::eof) return fmt::format("{} closed the connection", peer);
    return fmt::format("connection to {} failed: {}", peer, ec.message());
}

void print_result(const exchange& e, int samples, bool json) {
    const auto server_time = proto::rfc3339(e.t3);
    if (json) {
        nlohmann::ordered_json j{{"type", "time"},          {"server_time", server_time},
                                 {"t1_us", e.t1},           {"t2_us", e.t2},
                                 {"t3_us", e.t3},           {"t4_us", e.t4},
                                 {"rtt_us", e.rtt()},       {"server_proc_us", e.server_proc()},
                                 {"offset_us", e.offset()}, {"uncertainty_us", e.uncertainty()},
                                 {"samples", samples}};
        fmt::print("{}\n", j.dump());
        return;
    }
    fmt::print("server time  {}\n", server_time);
    fmt::print("rtt          {} us\n", e.rtt());
    fmt::print("server proc  {} us\n", e.server_proc());
    fmt::print("offset       {:+} us (+- {} us)\n", e.offset(), e.uncertainty());
}

asio::awaitable<int> time_main(time_options options) {
    tcp::socket socket(co_await asio::this_coro::executor);
    if (auto ec = co_await connect(socket, options.target, steady::now() + connect_timeout)) {
        print_error(connect_error_text(options.target, ec));
        co_return exit_no_connection;
    }
    const auto peer = peer_text(socket, options.target);
    const auto deadline = steady::now() + reply_deadline;
    line_reader reader(socket);
    std::optional<exchange> best;
    int samples = 0;
    std::string failure, line;
    for (int i = 1; i <= exchanges; ++i) {
        const auto request = fmt::format("stamp {}\n", i);
        exchange e;
        e.t1 = proto::unix_micros_now();
        auto ec = co_await write_all(socket, request, deadline);
        if (!ec) ec = co_await reader.read_line(line, deadline);
        if (ec) {
            failure = failure_text(ec, peer);
            break;
        }
        e.t4 = reader.arrived_unix_us();
        proto::stamp_reply reply;
        if (!proto::parse_stamp_reply(line, reply) || reply.token != std::to_string(i)) {
            failure = fmt::format("{} answered {} to 'stamp {}' (is it netd's ping service?)", peer,
                                  quoted_peer_text(line), i);
            break;
        }
        e.t2 = reply.t2_us;
        e.t3 = reply.t3_us;
        ++samples;
        if (!best || e.rtt() < best->rtt()) best = e;
    }
    if (!best) {
        print_error(failure);
        co_return exit_failure;
    }
    // A later exchange failing still leaves valid earlier ones: report the best of those,
    // and say why there were fewer.
    if (!failure.empty())
        print_error(fmt::format("{}; result from {} of {} exchanges", failure, samples, exchanges));
    print_result(*best, samples, options.json);
    co_return exit_ok;
}

}  // namespace

int time_command(std::span<char* const> args) {
    static constexpr option_spec spec[] = {{"--json"}, {"-h"}, {"--help"}};
    auto parsed = parse_args(args, spec);
    if (!parsed.ok()) return usage_error("time", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (a.positional.size() > 1)
        return usage_error("time", fmt::format("unexpected argument '{}'", a.positional[1]));
    time_options options;
    auto target = proto::parse_host_port(a.positional.empty() ? "" : a.positional[0], default_port);
    if (!target.ok()) return usage_error("time", target.error);
    options.target = target.value;
    options.json = a.has("--json");
    return run_command([options] { return time_main(options); });
}

}  // namespace netd::netctl
