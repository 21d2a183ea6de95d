// netctl: the command-line client for netd. argv dispatch only; each subcommand is one file.
#include <fmt/core.h>

#include <cstdio>
#include <span>
#include <string_view>

#include "cli.hpp"
#include "commands.hpp"

#ifndef NETD_VERSION
#define NETD_VERSION "unknown"
#endif

namespace {

using namespace netd::netctl;

constexpr std::string_view help_text = R"(usage: netctl COMMAND [ARGS...]

The command-line client for netd.

  ping   [HOST[:PORT]] [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [--json]   RTT, like ping(8)
  time   [HOST[:PORT]] [--json]              server time, RTT, estimated clock offset
  send   [HOST[:PORT]] MESSAGE... [-W TIMEOUT] [--json]   to the ack service, RTT per reply
  sensor [HOST[:PORT]] [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [--from FILE|-] [--json]
                                            stream readings, each ack's RTT, resend on reconnect
  get    URL | HOST PORT PATH  [-o FILE] [-c] [-W TIMEOUT] [--json]
                                            download over HTTP/1.1: status, bytes, time to
                                            first byte, total time, throughput; -c resumes
  status [-c FILE | -s SOCKET] [--json]     a running netd's state from its control socket:
                                            uptime, each service's counters, sensor data files
  reload [-c FILE | -s SOCKET] [--json]     reload netd's config and print the outcome
  selftest [-c FILE] [-W TIMEOUT] [--json]  check every service the config enables, end to
                                            end, one line per service with its RTT

HOST defaults to 127.0.0.1; ports to 7000 (ping, time), 7001 (send), 8889 (sensor),
8080 (get). INTERVAL and TIMEOUT are seconds ("0.2") or durations ("200ms").
--json prints one JSON object per line. 'netctl COMMAND --help' tells more.

Exit status: 0 success, 1 no reply, loss or an HTTP error, 2 usage error or no connection.
)";

struct command {
    std::string_view name;
    int (*run)(std::span<char* const> args);  // nullptr: planned, not written yet
};

constexpr command commands[] = {
    {"ping", ping_command},     {"time", time_command},         {"send", send_command},
    {"sensor", sensor_command}, {"get", get_command},           {"status", status_command},
    {"reload", reload_command}, {"selftest", selftest_command},
};

}  // namespace

int main(int argc, char** argv) {
    std::span<char* const> args(argv, static_cast<std::size_t>(argc));
    if (args.size() < 2) {
        print_error("missing command (see 'netctl --help')");
        return exit_usage;
    }
    std::string_view name = args[1];
    if (name == "-h" || name == "--help" || name == "help") {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (name == "-V" || name == "--version") {
        fmt::print("netctl {}\n", NETD_VERSION);
        return exit_ok;
    }
    for (const auto& c : commands) {
        if (c.name != name) continue;
        if (c.run == nullptr) {
            print_error(fmt::format("'{}' is not implemented yet", name));
            return exit_usage;
        }
        return c.run(args.subspan(2));
    }
    if (name.starts_with('-'))
        print_error(fmt::format("unknown option '{}' (see 'netctl --help')", name));
    else
        print_error(fmt::format("unknown command '{}' (see 'netctl --help')", name));
    return exit_usage;
}
