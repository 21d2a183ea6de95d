// netctl status: what a running netd reports on its control socket, for a person to read.
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "control_client.hpp"
#include "http_client.hpp"

namespace netd::netctl {
namespace {

constexpr std::string_view help_text =
    R"(usage: netctl status [-c FILE | -s SOCKET] [--json]

Asks a running netd for its state on its control socket and prints it: version, pid,
uptime, config file, then one line per service (its addresses, connections open now,
connections, messages, bytes in and out, errors since start) and the state of each sensor
data file (readings, batches, average and largest batch, readings pending, last write,
the last write error if there is one).

The socket is [daemon] control of the config file (relative paths are relative to the
file's directory, as netd reads them), or the one -s names. Connecting needs write access
to it: netd creates it mode 0660, for its own user and group.

  -c FILE      the config netd runs with; default /etc/netd/netd.toml
  -s SOCKET    the control socket itself, instead of reading a config
  --json       print netd's reply as it is: one JSON object
  -h, --help   show this help

Exit status: 0 success, 1 netd answered with an error, 2 usage error, no control socket
configured, or no connection.
)";

// "3d 4h", "2h 3m", "5m 12s", "42s": the two largest units, as uptime(1) reads.
std::string human_uptime(std::int64_t uptime_us) {
    const std::int64_t s = std::max<std::int64_t>(uptime_us, 0) / 1'000'000;
    const std::int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
    if (d > 0) return fmt::format("{}d {}h", d, h);
    if (h > 0) return fmt::format("{}h {}m", h, m);
    if (m > 0) return fmt::format("{}m {}s", m, sec);
    return fmt::format("{}s", sec);
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

// The services as a table: columns as wide as their widest cell, numbers right-aligned.
std::string services_table(const nlohmann::json& services) {
    using row = std::array<std::string, 8>;
    std::vector<row> rows{
        {"service", "listen", "open", "conns", "messages", "bytes in", "bytes out", "errors"}};
    for (const auto& s : services) {
        std::string listen;
        for (const auto& a : s.at("listen"))
            listen += (listen.empty() ? "" : ",") + a.get<std::string>();
        rows.push_back({printable_text(s.at("name").get<std::string>()), printable_text(listen),
                        std::to_string(s.at("open").get<std::uint64_t>()),
                        std::to_string(s.at("connections").get<std::uint64_t>()),
                        std::to_string(s.at("messages").get<std::uint64_t>()),
                        http::format_size(s.at("bytes_in").get<std::uint64_t>()),
                        http::format_size(s.at("bytes_out").get<std::uint64_t>()),
                        std::to_string(s.at("errors").get<std::uint64_t>())});
    }
    std::array<std::size_t, 8> width{};
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i)
            width[i] = std::max(width[i], r[i].size());
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            const bool text_column = i < 2;
            line += text_column ? fmt::format("{:<{}}  ", r[i], width[i])
                                : fmt::format("{:>{}}  ", r[i], width[i]);
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string store_text(const nlohmann::json& s) {
    const auto readings = s.at("readings").get<std::uint64_t>();
    const auto batches = s.at("batches").get<std::uint64_t>();
    const auto failed = s.at("failed_batches").get<std::uint64_t>();
    const auto last_write = s.at("last_write").get<std::string>();
    const auto error = s.at("error").get<std::string>();
    std::string out =
        fmt::format("sensor data {}\n", printable_text(s.at("file").get<std::string>()));
    out += fmt::format("  {} in {} (avg {:.1f}, max {} per batch), {} pending",
                       plural(readings, "reading", "readings"), plural(batches, "batch", "batches"),
                       s.at("avg_batch").get<double>(), s.at("max_batch").get<std::uint64_t>(),
                       s.at("pending").get<std::uint64_t>());
    if (failed > 0) out += fmt::format(", {} failed", plural(failed, "batch", "batches"));
    out += fmt::format(", last write {}\n", last_write.empty() ? "never" : last_write);
    if (!error.empty()) out += fmt::format("  error: {}\n", printable_text(error));
    return out;
}

std::string status_text(const nlohmann::json& st) {
    std::string out = fmt::format(
        "netd {}, pid {}, up {} (since {})\n", printable_text(st.at("version").get<std::string>()),
        st.at("pid").get<std::int64_t>(), human_uptime(st.at("uptime_us").get<std::int64_t>()),
        st.at("started").get<std::string>());
    out += fmt::format("config: {}\n", printable_text(st.at("config").get<std::string>()));
    out += fmt::format(
        "{}, {} open of max {}{}\n\n",
        plural(st.at("threads").get<std::uint64_t>(), "thread", "threads"),
        plural(st.at("open_connections").get<std::uint64_t>(), "connection", "connections"),
        st.at("max_connections").get<std::uint64_t>(),
        st.at("stopping").get<bool>() ? ", stopping" : "");
    const auto& services = st.at("services");
    if (services.empty())
        out += "no services enabled\n";
    else
        out += services_table(services);
    for (const auto& s : st.at("sensor_stores"))
        out += "\n" + store_text(s);
    return out;
}

// netd's own error text from an ok:false reply.
std::string reply_error(const nlohmann::json& reply) {
    if (auto it = reply.find("error"); it != reply.end() && it->is_string())
        return it->get<std::string>();
    return "no reason given";
}

asio::awaitable<int> status_main(std::string path, bool json) {
    auto x = co_await control_request(path, "status", steady::now() + control_timeout);
    if (!x.error.empty()) {
        print_error(x.error);
        co_return x.reached ? exit_failure : exit_no_connection;
    }
    const bool ok = x.reply["ok"].get<bool>();
    if (json) print_line(x.raw);
    if (!ok) {
        print_error(fmt::format("status: netd answered: {}", printable_text(reply_error(x.reply))));
        co_return exit_failure;
    }
    if (json) co_return exit_ok;
    std::string text;
    try {
        text = status_text(x.reply);
    } catch (const nlohmann::json::exception& e) {
        // A netd of another version may say things differently; --json still shows them.
        print_error(
            fmt::format("status: netd's reply is not in the form this netctl reads "
                        "({}); try --json",
                        e.what()));
        co_return exit_failure;
    }
    text.pop_back();  // print_line adds the last newline
    print_line(text);
    co_return exit_ok;
}

}  // namespace

int status_command(std::span<char* const> args) {
    auto parsed = parse_args(args, control_options);
    if (!parsed.ok()) return usage_error("status", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    if (!a.positional.empty())
        return usage_error("status", fmt::format("unexpected argument '{}'", a.positional[0]));
    auto path = control_socket_of(a);
    if (!path.ok()) {
        print_error(path.error);
        return exit_usage;
    }
    return run_command(
        [path = path.value, json = a.has("--json")] { return status_main(path, json); });
}

}  // namespace netd::netctl
