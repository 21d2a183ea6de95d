// netctl send: messages to netd's ack service, each reply with its round-trip time.
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "duration.hpp"
#include "stats.hpp"

namespace netd::netctl {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t default_port = 7001;

constexpr std::string_view help_text =
    R"(usage: netctl send [HOST[:PORT]] MESSAGE... [-W TIMEOUT] [--json]

Sends each MESSAGE as one line to netd's ack service (default 127.0.0.1:7001) and prints
the reply to each with its round-trip time in microseconds. All messages go over one
connection, one at a time: the next leaves once the previous one is answered, so each RTT
is that message's own and not time spent queued behind the others.

With more than one argument, the first is the target if it is an IP address, "localhost"
or has a ":PORT" (send to a bare host name as "NAME:7001"); otherwise every argument is a
message for 127.0.0.1:7001. A message cannot contain a newline: that would be two messages.

  -W TIMEOUT   how long to wait for each reply, in seconds ("0.5") or with a unit
               ("500ms"); default 2s. netctl stops at the first reply that does not come.
  --json       one JSON object per line: {"type":"reply","message":...,"reply":...,"rtt_us":...}
               per reply ("error":true on an "ERR ..." reply), {"type":"timeout",...} for a
               missing one, then {"type":"summary","target":...,"sent":...,"answered":...,
               "ok":...} with min_us/avg_us/max_us/... as netctl ping's
  -h, --help   show this help

Exit status: 0 every message answered, 1 a reply missing, an error reply or the connection
dropped, 2 usage error or no connection.
)";

struct send_options {
    proto::host_port target;
    std::vector<std::string> messages;
    proto::usec timeout = 2s;
    bool json = false;
};

std::int64_t micros(steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// Whether the first of several arguments names the target rather than being a message. A
// bare word is always a message, so "netctl send hello world" sends two messages instead of
// trying to reach a host called "hello".
bool looks_like_target(std::string_view arg) {
    auto parsed = proto::parse_host_port(arg, 0);
    if (!parsed.ok()) return false;
    proto::ip_bytes ip;
    return parsed.value.port != 0 || parsed.value.host == "localhost" ||
           proto::parse_ip(parsed.value.host, ip);
}

// netd's line services answer an over-long line or a full house with "ERR ..."; an ack
// template that starts that way would be perverse, so such a reply is taken as netd's error.
bool is_error_reply(std::string_view reply) {
    return reply.starts_with("ERR ");
}

std::string failure_text(std::error_code ec, const std::string& peer, const send_options& o,
                         std::size_t index) {
    const auto message =
        fmt::format("message {} ({})", index + 1, quoted_peer_text(o.messages[index]));
    auto what = ec == asio::error::timed_out
                    ? fmt::format("no reply from {} to {} within {}", peer, message,
                                  proto::format_duration(o.timeout))
                : ec == asio::error::eof
                    ? fmt::format("{} closed the connection before replying to {}", peer, message)
                    : fmt::format("connection to {} failed before the reply to {}: {}", peer,
                                  message, ec.message());
    if (auto left = o.messages.size() - index; left > 1)
        what += fmt::format("; {} of {} messages not answered", left, o.messages.size());
    return what;
}

asio::awaitable<int> send_main(send_options options) {
    tcp::socket socket(co_await asio::this_coro::executor);
    if (auto ec = co_await connect(socket, options.target, steady::now() + connect_timeout)) {
        print_error(connect_error_text(options.target, ec));
        co_return exit_no_connection;
    }
    const auto peer = peer_text(socket, options.target);
    line_reader reader(socket);
    std::string line;
    rtt_stats stats;
    // With --json, the last line whatever happened after connecting.
    auto finish = [&](int status) {
        if (options.json) {
            const auto s = stats.summary();
            nlohmann::ordered_json j{{"type", "summary"},
                                     {"target", target_text(options.target)},
                                     {"sent", s.sent},
                                     {"answered", s.received},
                                     {"ok", status == exit_ok}};
            add_rtt_fields(j, s, s.received > 0);
            print_line(j.dump());
        }
        return status;
    };
    for (std::size_t i = 0; i < options.messages.size(); ++i) {
        const auto& message = options.messages[i];
        const auto sent_at = steady::now();
        const auto deadline = sent_at + options.timeout;
        const auto line_out = message + "\n";  // not a temporary in co_await: g++ 12 bug
        stats.add_sent();
        auto ec = co_await write_all(socket, line_out, deadline);
        if (!ec) ec = co_await reader.read_line(line, deadline);
        if (ec) {
            if (ec == asio::error::timed_out && options.json)
                print_line(json_text({{"type", "timeout"}, {"message", message}}));
            print_error(failure_text(ec, peer, options, i));
            co_return finish(exit_failure);
        }
        const auto rtt_us = micros(reader.arrived_steady() - sent_at);
        stats.add_reply(rtt_us);
        const bool error = is_error_reply(line);
        if (options.json) {
            nlohmann::ordered_json j{
                {"type", "reply"}, {"message", message}, {"reply", line}, {"rtt_us", rtt_us}};
            if (error) j["error"] = true;
            print_line(json_text(j));
        }
        if (error) {
            print_error(
                fmt::format("{} answered {} to message {}", peer, quoted_peer_text(line), i + 1));
            co_return finish(exit_failure);
        }
        if (!options.json) print_line(fmt::format("{}  (rtt {} us)", printable_text(line), rtt_us));
    }
    co_return finish(exit_ok);
}

}  // namespace

int send_command(std::span<char* const> args) {
    static constexpr option_spec spec[] = {{"-W", true}, {"--json"}, {"-h"}, {"--help"}};
    auto parsed = parse_args(args, spec);
    if (!parsed.ok()) return usage_error("send", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    send_options options;
    std::string_view target_arg;
    auto messages = std::span(a.positional);
    if (messages.size() > 1 && looks_like_target(messages[0])) {
        target_arg = messages[0];
        messages = messages.subspan(1);
    }
    if (messages.empty()) return usage_error("send", "missing MESSAGE");
    auto target = proto::parse_host_port(target_arg, default_port);
    if (!target.ok()) return usage_error("send", target.error);
    options.target = target.value;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        auto m = messages[i];
        if (m.find('\n') != std::string_view::npos)
            return usage_error("send", fmt::format("message {} contains a newline, which would "
                                                   "make it two messages",
                                                   i + 1));
        if (m.ends_with('\r'))
            return usage_error("send", fmt::format("message {} ends in a carriage return, which "
                                                   "netd's line framing drops",
                                                   i + 1));
        options.messages.emplace_back(m);
    }
    if (auto v = a.value("-W")) {
        auto timeout = proto::parse_interval(*v);
        if (!timeout.ok()) return usage_error("send", timeout.error);
        if (timeout.value <= proto::usec::zero())
            return usage_error("send", fmt::format("timeout '{}' must be more than 0", *v));
        options.timeout = timeout.value;
    }
    options.json = a.has("--json");
    return run_command([options] { return send_main(options); });
}

}  // namespace netd::netctl
