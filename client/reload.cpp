// netctl reload: asks netd to reload its config over the control socket and says how it went.
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "control_client.hpp"

namespace netd::netctl {
namespace {

constexpr std::string_view help_text =
    R"(usage: netctl reload [-c FILE | -s SOCKET] [--json]

Asks a running netd to reload its config, as SIGHUP does, and waits for the outcome: on
success prints "reloaded: " and a summary of the config now running; if the new config has
errors, netd keeps running the old one and each error is printed on standard error, one per
line, as "FILE:LINE:COL: what is wrong".

The socket is [daemon] control of the config file, or the one -s names (see 'netctl status
--help').

  -c FILE      the config netd runs with; default /etc/netd/netd.toml
  -s SOCKET    the control socket itself, instead of reading a config
  --json       print netd's reply as it is: one JSON object
  -h, --help   show this help

Exit status: 0 reloaded, 1 the reload failed (the old config keeps running), 2 usage error,
no control socket configured, or no connection.
)";

asio::awaitable<int> reload_main(std::string path, bool json) {
    auto x = co_await control_request(path, "reload", steady::now() + control_timeout);
    if (!x.error.empty()) {
        print_error(x.error);
        co_return x.reached ? exit_failure : exit_no_connection;
    }
    const auto& reply = x.reply;
    if (json) print_line(x.raw);
    if (reply["ok"].get<bool>()) {
        if (!json) {
            auto summary = reply.find("config");
            print_line(fmt::format("reloaded: {}", summary != reply.end() && summary->is_string()
                                                       ? printable_text(summary->get<std::string>())
                                                       : std::string("(netd sent no summary)")));
        }
        co_return exit_ok;
    }
    // Config errors come as a list ("errors"); a refusal such as "netd is stopping" as one
    // "error". Either way, one line each.
    bool config_errors = false, any = false;
    if (auto errors = reply.find("errors"); errors != reply.end() && errors->is_array())
        for (const auto& e : *errors)
            if (e.is_string()) {
                print_error(fmt::format("reload: {}", printable_text(e.get<std::string>())));
                config_errors = any = true;
            }
    if (auto error = reply.find("error"); error != reply.end() && error->is_string()) {
        print_error(fmt::format("reload: {}", printable_text(error->get<std::string>())));
        any = true;
    }
    if (!any) print_error("reload: failed, and netd gave no reason");
    if (config_errors) print_error("reload failed: netd keeps running its previous config");
    co_return exit_failure;
}

}  // namespace

int reload_command(std::span<char* const> args) {
    auto parsed = parse_args(args, control_options);
    if (!parsed.ok()) return usage_error("reload", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (!a.positional.empty())
        return usage_error("reload", fmt::format("unexpected argument '{}'", a.positional[0]));
    auto path = control_socket_of(a);
    if (!path.ok()) {
        print_error(path.error);
        return exit_usage;
    }
    return run_command(
        [path = path.value, json = a.has("--json")] { return reload_main(path, json); });
}

}  // namespace netd::netctl
