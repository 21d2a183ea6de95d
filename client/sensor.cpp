// netctl sensor: streams readings to netd's sensor service, one per interval, and reports
// each durable ack with its round-trip time. The run itself is sensor_session.
#include <fmt/core.h>

#include "cli.hpp"
#include "commands.hpp"
#include "sensor_session.hpp"

namespace netd::netctl {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t default_port = 8889;
constexpr proto::usec min_interval = 1ms;  // as ping: below this it is a flood

constexpr std::string_view help_text =
    R"(usage: netctl sensor [HOST[:PORT]] [-c COUNT] [-i INTERVAL] [-W TIMEOUT]
                     [--from FILE|-] [--retry-for DURATION] [--json]

Streams readings to netd's sensor service (default 127.0.0.1:8889), one every INTERVAL, and
prints each "ack" with its round-trip time in microseconds: netd acks a reading only once it
is stored as its durability setting says (by default on disk). Ends with sent/acked/nacked/
lost counts and ack RTT statistics, at COUNT, at the end of --from input, or on Ctrl-C (a
first Ctrl-C waits up to TIMEOUT for the acks in flight, a second stops at once).

Without --from it makes up plausible readings, JSON objects like
  {"sensor":"netctl-HOST-PID","seq":1,"temperature":21.53,"humidity":40.2,"pressure":1013.21}
and prints "ack N seq=S rtt=R us" (N: netd's count on this connection, S: the reading's seq).
With --from each non-empty line of FILE (or of standard input, "-") is one reading, sent as
it is, and the ack line names its line number, "line=L".

If the connection drops, netctl reconnects with back-off (100ms, doubling up to 5s) and
resends, in order, every reading that was not acknowledged. That is at-least-once delivery:
a reading whose ack was lost in the drop is stored twice. A generated reading's "sensor" and
"seq" name it, so such a duplicate shows as the same pair twice in the data file; readings
from --from need an id of their own for that.

  -c COUNT     stop after COUNT readings (default: until Ctrl-C or the end of input)
  -i INTERVAL  time between readings, in seconds ("0.2") or with a unit ("200ms"); default 1s
  -W TIMEOUT   how long to wait for each ack before counting the reading lost; default 2s.
               An ack that still comes while netctl runs counts, marked as late; the
               summary then adds "+N late" to the lost count.
  --from FILE  send the lines of FILE ("-": standard input) instead of generated readings
  --retry-for DURATION
               give up after a connection has been down this long; default 30s, 0: never
               reconnect
  --json       one JSON object per line: each ack, nack, timeout, disconnect and reconnect,
               then the summary
  -h, --help   show this help

Exit status: 0 every reading acknowledged, 1 a reading nacked or lost, bad input, or giving
up on a dropped connection, 2 usage error or no connection at the start.
)";

asio::awaitable<int> sensor_main(sensor_options options) {
    auto executor = co_await asio::this_coro::executor;
    std::unique_ptr<line_input> input;
    if (!options.from.empty()) {
        std::string error;
        input = line_input::open(executor, options.from, error);
        if (!input) {
            print_error(fmt::format("sensor: {}", error));
            co_return exit_usage;
        }
    }
    tcp::socket socket(executor);
    if (auto ec = co_await connect(socket, options.target, steady::now() + connect_timeout)) {
        print_error(connect_error_text(options.target, ec));
        co_return exit_no_connection;
    }
    sensor_session session(std::move(socket), std::move(options), std::move(input));
    co_return co_await session.run();
}

// A duration option that must be more than 0 (or may be 0 when zero_ok).
proto::result<proto::usec> duration_option(std::string_view what, std::string_view text,
                                           bool zero_ok) {
    auto d = proto::parse_interval(text);
    if (d.ok() && !zero_ok && d.value <= proto::usec::zero())
        return proto::result<proto::usec>::fail(
            fmt::format("{} '{}' must be more than 0", what, text));
    return d;
}

}  // namespace

int sensor_command(std::span<char* const> args) {
    static constexpr option_spec spec[] = {
        {"-c", true},          {"-i", true}, {"-W", true}, {"--from", true},
        {"--retry-for", true}, {"--json"},   {"-h"},       {"--help"}};
    auto parsed = parse_args(args, spec);
    if (!parsed.ok()) return usage_error("sensor", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (a.positional.size() > 1)
        return usage_error("sensor", fmt::format("unexpected argument '{}'", a.positional[1]));

    sensor_options options;
    auto target = proto::parse_host_port(a.positional.empty() ? "" : a.positional[0], default_port);
    if (!target.ok()) return usage_error("sensor", target.error);
    options.target = target.value;
    if (auto v = a.value("-c")) {
        auto count = parse_count(*v);
        if (!count.ok()) return usage_error("sensor", count.error);
        options.count = count.value;
    }
    if (auto v = a.value("-i")) {
        auto interval = duration_option("interval", *v, false);
        if (!interval.ok()) return usage_error("sensor", interval.error);
        if (interval.value < min_interval)
            return usage_error("sensor",
                               fmt::format("interval '{}' is too short: at least 1ms", *v));
        options.interval = interval.value;
    }
    if (auto v = a.value("-W")) {
        auto timeout = duration_option("timeout", *v, false);
        if (!timeout.ok()) return usage_error("sensor", timeout.error);
        options.timeout = timeout.value;
    }
    if (auto v = a.value("--retry-for")) {
        auto retry = duration_option("--retry-for", *v, true);
        if (!retry.ok()) return usage_error("sensor", retry.error);
        options.retry_for = retry.value;
    }
    if (auto v = a.value("--from")) {
        if (v->empty())
            return usage_error("sensor", "--from needs a FILE, or '-' for standard input");
        options.from = std::string(*v);
    }
    options.json = a.has("--json");
    return run_command([options] { return sensor_main(options); });
}

}  // namespace netd::netctl
