// netctl selftest: reads netd.toml and checks each enabled service end to end, the way a
// client uses it, one line per service with its RTT. Meant for ExecStartPost= and monitoring.
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "control_client.hpp"
#include "duration.hpp"
#include "http_client.hpp"
#include "netd_config.hpp"
#include "ping.hpp"
#include "timefmt.hpp"

#ifndef NETD_VERSION
#define NETD_VERSION "unknown"
#endif

namespace netd::netctl {
namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// A files probe reads the response to its end so that netd sees a clean close (not a reset
// it would count as an error), but not more than this of an index page.
constexpr std::size_t max_body_bytes = 1024 * 1024;

constexpr std::string_view help_text =
    R"(usage: netctl selftest [-c FILE] [-W TIMEOUT] [--json]

Reads netd's config (default /etc/netd/netd.toml) and checks every enabled service end to
end on its first listen address, one line per service with its round-trip time in
microseconds:

  ping     sends "ping", expects "pong"
  ack      sends a message, expects a reply line (not "ERR ...")
  sensor   sends one reading, expects "ack 1": the reading is stored as netd's durability
           says. It is a JSON object {"netctl_selftest":true,"ts_us":...}, so a test reading
           is easy to tell from real ones in the data file
  files    GET of "/", expects a 2xx status
  control  the control socket, if [daemon] control is set: a status request, expects "ok"

A wildcard address (":7000", "0.0.0.0:7000") is probed on 127.0.0.1, "[::]:7000" on [::1].
A service on port 0 (any free port) cannot be found from the config and is skipped, and so
is a control socket this user may not open. Use it as ExecStartPost= or as a monitoring
check.

  -c FILE      the config netd runs with; default /etc/netd/netd.toml
  -W TIMEOUT   how long each check may take, connecting included, in seconds ("2") or with
               a unit ("500ms"); default 5s
  --json       one JSON object per line: each check, then the summary
  -h, --help   show this help

Exit status: 0 every check passed (skipped ones aside), 1 a check failed, 2 usage error or
a config netctl cannot read.
)";

enum class verdict { ok, failed, skipped };

struct outcome {
    verdict result = verdict::failed;
    std::int64_t rtt_us = 0;
    std::string detail;  ///< why it failed or was skipped
};

outcome failed(std::string why) {
    return {verdict::failed, 0, std::move(why)};
}

/// One line of the report: a service (or the control socket) and where it is probed.
struct check {
    std::string name;
    std::string target_text;
    proto::host_port target;  ///< TCP services
    std::string data_file;    ///< sensor
    bool port_zero = false;
};

std::int64_t micros(steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// The failure text for an I/O error after connecting.
std::string io_error_text(std::error_code ec, proto::usec timeout) {
    if (ec == asio::error::timed_out)
        return fmt::format("no reply within {}", proto::format_duration(timeout));
    if (ec == asio::error::eof) return "netd closed the connection without a reply";
    return fmt::format("connection failed: {}", ec.message());
}

asio::awaitable<std::optional<std::string>> connect_for_probe(tcp::socket& socket,
                                                              const proto::host_port& target,
                                                              steady::time_point deadline,
                                                              proto::usec timeout) {
    auto ec = co_await connect(socket, target, deadline);
    if (!ec) co_return std::nullopt;
    if (ec == asio::error::timed_out)
        co_return fmt::format("cannot connect within {}", proto::format_duration(timeout));
    co_return fmt::format("cannot connect: {}", ec.message());
}

// A line service: send one line, read one line, judge it (an error text, or empty when good).
asio::awaitable<outcome> probe_line(proto::host_port target, std::string request,
                                    std::function<std::string(const std::string&)> judge,
                                    proto::usec timeout) {
    const auto deadline = steady::now() + timeout;
    tcp::socket socket(co_await asio::this_coro::executor);
    if (auto error = co_await connect_for_probe(socket, target, deadline, timeout))
        co_return failed(std::move(*error));
    line_reader reader(socket);
    const auto sent_at = steady::now();
    auto ec = co_await write_all(socket, request, deadline);
    std::string reply;
    if (!ec) ec = co_await reader.read_line(reply, deadline);
    if (ec) co_return failed(io_error_text(ec, timeout));
    if (auto error = judge(reply); !error.empty()) co_return failed(std::move(error));
    co_return outcome{verdict::ok, micros(reader.arrived_steady() - sent_at), {}};
}

std::string expect_pong(const std::string& reply) {
    if (proto::trim(reply) == "pong") return {};
    return fmt::format("answered {} instead of 'pong'", quoted_peer_text(reply));
}

std::string expect_ack_reply(const std::string& reply) {
    if (!reply.starts_with("ERR ")) return {};
    return fmt::format("answered {}", quoted_peer_text(reply));
}

std::string expect_sensor_ack(const std::string& reply) {
    if (reply == "ack 1") return {};
    if (reply.starts_with("nack "))
        return fmt::format("the test reading was not stored: {}", quoted_peer_text(reply));
    return fmt::format("answered {} instead of 'ack 1'", quoted_peer_text(reply));
}

// The files service: GET / and a 2xx status; the RTT is until the whole response head is in.
asio::awaitable<outcome> probe_files(proto::host_port target, proto::usec timeout) {
    const auto deadline = steady::now() + timeout;
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    if (auto error = co_await connect_for_probe(socket, target, deadline, timeout))
        co_return failed(std::move(*error));
    const http::url url{target.host, target.port, "/"};
    const auto request = http::build_request(url, "netctl/" NETD_VERSION " (selftest)", 0);
    const auto sent_at = steady::now();
    if (auto ec = co_await write_all(socket, request, deadline))
        co_return failed(io_error_text(ec, timeout));

    asio::steady_timer timer(executor, deadline);
    std::array<char, 16384> chunk{};
    std::string head;
    http::response response;
    std::size_t body_bytes = 0;
    std::optional<steady::time_point> head_at;
    for (;;) {
        auto got = co_await (socket.async_read_some(asio::buffer(chunk), use_tuple) ||
                             timer.async_wait(use_tuple));
        if (got.index() == 1) {
            if (!head_at) co_return failed(io_error_text(asio::error::timed_out, timeout));
            co_return failed(
                fmt::format("the response did not end within {}", proto::format_duration(timeout)));
        }
        auto [ec, n] = std::get<0>(got);
        if (ec == asio::error::eof && head_at) break;  // Connection: close ends the body
        if (ec) co_return failed(io_error_text(ec, timeout));
        if (head_at) {
            body_bytes += n;
            if (body_bytes > max_body_bytes) break;  // enough: it is being served
            continue;
        }
        head.append(chunk.data(), n);
        auto parsed = http::parse_response_head(head, response);
        if (parsed.status == http::parse_status::error)
            co_return failed(fmt::format("not an HTTP response: {}", parsed.error));
        if (parsed.status == http::parse_status::incomplete) continue;
        head_at = steady::now();
        if (response.status < 200 || response.status > 299)
            co_return failed(fmt::format("GET / answered {} {}", response.status,
                                         printable_text(response.reason)));
        body_bytes = head.size() - parsed.head_bytes;
        if (response.framing() == http::body_framing::none) break;
    }
    co_return outcome{verdict::ok, micros(*head_at - sent_at), {}};
}

asio::awaitable<outcome> probe_control(std::string path, proto::usec timeout) {
    const auto started = steady::now();
    auto x = co_await control_request(path, "status", started + timeout);
    if (x.denied) co_return outcome{verdict::skipped, 0, x.error};
    if (!x.error.empty()) co_return failed(std::move(x.error));
    const auto rtt_us = micros(steady::now() - started);
    if (!x.reply["ok"].get<bool>()) {
        auto error = x.reply.find("error");
        co_return failed(
            fmt::format("status answered: {}", error != x.reply.end() && error->is_string()
                                                   ? printable_text(error->get<std::string>())
                                                   : std::string("not ok")));
    }
    co_return outcome{verdict::ok, rtt_us, {}};
}

std::string test_reading() {
    return nlohmann::json{{"netctl_selftest", true}, {"ts_us", proto::unix_micros_now()}}.dump() +
           "\n";
}

asio::awaitable<outcome> run_check(const check& c, proto::usec timeout) {
    if (c.port_zero) co_return outcome{verdict::skipped, 0, "port 0"};
    if (c.name == "ping") co_return co_await probe_line(c.target, "ping\n", expect_pong, timeout);
    if (c.name == "ack")
        co_return co_await probe_line(c.target, "netctl selftest\n", expect_ack_reply, timeout);
    if (c.name == "sensor")
        co_return co_await probe_line(c.target, test_reading(), expect_sensor_ack, timeout);
    if (c.name == "files") co_return co_await probe_files(c.target, timeout);
    co_return co_await probe_control(c.target_text, timeout);
}

struct report {
    std::size_t name_width = 0, target_width = 0;
    bool json = false;
    std::vector<std::string> failed_names;
    unsigned passed = 0, skipped = 0;

    void add(const check& c, const outcome& o) {
        if (o.result == verdict::ok) ++passed;
        if (o.result == verdict::skipped) ++skipped;
        if (o.result == verdict::failed) failed_names.push_back(c.name);
        if (json) {
            nlohmann::ordered_json j{{"type", "check"},
                                     {"service", c.name},
                                     {"target", c.target_text},
                                     {"result", o.result == verdict::ok       ? "ok"
                                                : o.result == verdict::failed ? "failed"
                                                                              : "skipped"}};
            if (o.result == verdict::ok) j["rtt_us"] = o.rtt_us;
            if (o.result == verdict::failed) j["error"] = o.detail;
            if (o.result == verdict::skipped) j["reason"] = o.detail;
            if (o.result == verdict::ok && !c.data_file.empty()) j["data_file"] = c.data_file;
            print_line(json_text(j));
            return;
        }
        auto line = fmt::format("{:<{}}  {:<{}}  ", c.name, name_width,
                                printable_text(c.target_text), target_width);
        if (o.result == verdict::ok) {
            line += fmt::format("ok  {} us", o.rtt_us);
            if (!c.data_file.empty())
                line += fmt::format("  (test reading in {})", printable_text(c.data_file));
        } else if (o.result == verdict::failed) {
            line += "FAILED  " + o.detail;
        } else {
            line += fmt::format("skipped ({})", o.detail);
        }
        print_line(line);
    }

    int finish() {
        const auto failed = failed_names.size();
        if (json) {
            print_line(json_text(
                {{"type", "summary"}, {"ok", passed}, {"failed", failed}, {"skipped", skipped}}));
        } else {
            std::string line = fmt::format("\n{} ok", passed);
            if (failed > 0) line += fmt::format(", {} failed", failed);
            if (skipped > 0) line += fmt::format(", {} skipped", skipped);
            print_line(line);
        }
        if (failed == 0) return exit_ok;
        std::string names;
        for (const auto& n : failed_names)
            names += (names.empty() ? "" : ", ") + n;
        print_error(fmt::format("selftest: {} of {} checks failed: {}", failed,
                                passed + failed + skipped, names));
        return exit_failure;
    }
};

asio::awaitable<int> selftest_main(std::vector<check> checks, proto::usec timeout, bool json) {
    report r;
    r.json = json;
    for (const auto& c : checks) {
        r.name_width = std::max(r.name_width, c.name.size());
        r.target_width = std::max(r.target_width, printable_text(c.target_text).size());
    }
    for (const auto& c : checks) {
        auto o = co_await run_check(c, timeout);
        r.add(c, o);
    }
    co_return r.finish();
}

std::vector<check> checks_of(const netd_config& cfg) {
    std::vector<check> out;
    for (const auto& s : cfg.services) {
        const auto& first = s.listen.front();
        check c;
        c.name = s.name;
        c.port_zero = first.port == 0;
        c.target = reachable_target(first);
        c.target_text = c.port_zero ? first.text() : target_text(c.target);
        if (s.name == "sensor") c.data_file = s.data_file;
        out.push_back(std::move(c));
    }
    if (!cfg.control.empty()) out.push_back({"control", cfg.control, {}, {}, false});
    return out;
}

}  // namespace

int selftest_command(std::span<char* const> args) {
    static constexpr option_spec spec[] = {
        {"-c", true}, {"-W", true}, {"--json"}, {"-h"}, {"--help"}};
    auto parsed = parse_args(args, spec);
    if (!parsed.ok()) return usage_error("selftest", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (!a.positional.empty())
        return usage_error("selftest", fmt::format("unexpected argument '{}'", a.positional[0]));
    proto::usec timeout = 5s;
    if (auto v = a.value("-W")) {
        auto t = proto::parse_interval(*v);
        if (!t.ok()) return usage_error("selftest", t.error);
        if (t.value <= proto::usec::zero())
            return usage_error("selftest", fmt::format("timeout '{}' must be more than 0", *v));
        timeout = t.value;
    }
    const std::string file(a.value("-c").value_or(default_config_file));
    auto cfg = read_netd_config(file);
    if (!cfg.ok()) {
        print_error(a.has("-c") ? cfg.error : cfg.error + " (name the config with -c FILE)");
        return exit_usage;
    }
    auto checks = checks_of(cfg.value);
    if (checks.empty()) {
        print_error(
            fmt::format("selftest: {} enables no service and no control socket: "
                        "nothing to check",
                        file));
        return exit_usage;
    }
    return run_command([checks = std::move(checks), timeout, json = a.has("--json")] {
        return selftest_main(checks, timeout, json);
    });
}

}  // namespace netd::netctl
