#include "control_client.hpp"

#include <fmt/core.h>
#include <sys/un.h>

#include <cerrno>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "netd_config.hpp"

namespace netd::netctl {
namespace {

using namespace asio::experimental::awaitable_operators;
using unix_socket = asio::local::stream_protocol;
using steady = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// A status reply grows with the number of services and stores; this is far beyond any.
constexpr std::size_t max_reply_bytes = 16 * 1024 * 1024;

asio::awaitable<std::error_code> wait_until(steady::time_point deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    auto [ec] = co_await timer.async_wait(use_tuple);
    co_return ec;
}

// Asio reports socket errors in its own category, which std::errc does not compare equal to.
bool is_errno(std::error_code ec, int value) {
    return ec.category() == asio::system_category() && ec.value() == value;
}

bool is_denied(std::error_code ec) {
    return is_errno(ec, EACCES) || is_errno(ec, EPERM);
}

// What a failed connect means for the operator, naming the socket.
std::string connect_error(const std::string& path, std::error_code ec) {
    if (is_errno(ec, ENOENT))
        return fmt::format("no control socket at {} (is netd running?)", path);
    if (is_errno(ec, ECONNREFUSED))
        return fmt::format(
            "connection refused on {}: netd is not running (the socket file is "
            "left from an earlier run)",
            path);
    if (is_denied(ec))
        return fmt::format("permission denied on {}: run as root or a member of group netd", path);
    if (ec == asio::error::timed_out) return fmt::format("no answer from {} in time", path);
    return fmt::format("cannot connect to {}: {}", path, ec.message());
}

// The reply line with control bytes escaped and cut short: it goes into an error line.
std::string reply_excerpt(std::string_view raw) {
    return quoted_peer_text(raw);
}

}  // namespace

asio::awaitable<control_exchange> control_request(std::string path, std::string cmd,
                                                  steady::time_point deadline) {
    control_exchange out;
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        out.error = fmt::format("control socket path is longer than {} bytes: {}",
                                sizeof(sockaddr_un::sun_path) - 1, path);
        co_return out;
    }
    unix_socket::socket socket(co_await asio::this_coro::executor);
    const unix_socket::endpoint endpoint(path);
    auto connected = co_await (socket.async_connect(endpoint, use_tuple) || wait_until(deadline));
    std::error_code ec =
        connected.index() == 1 ? asio::error::timed_out : std::get<0>(std::get<0>(connected));
    if (ec) {
        out.denied = is_denied(ec);
        out.error = connect_error(path, ec);
        co_return out;
    }
    out.reached = true;

    const std::string request = nlohmann::json{{"cmd", cmd}}.dump() + "\n";
    auto written = co_await (asio::async_write(socket, asio::buffer(request), use_tuple) ||
                             wait_until(deadline));
    ec = written.index() == 1 ? asio::error::timed_out : std::get<0>(std::get<0>(written));
    if (ec) {
        out.error = fmt::format("cannot send to {}: {}", path, ec.message());
        co_return out;
    }

    std::string buffer;
    auto got =
        co_await (asio::async_read_until(socket, asio::dynamic_buffer(buffer, max_reply_bytes),
                                         '\n', use_tuple) ||
                  wait_until(deadline));
    if (got.index() == 1) {
        out.error =
            fmt::format("no reply from netd on {} within {}s", path, control_timeout.count());
        co_return out;
    }
    auto [read_ec, n] = std::get<0>(got);
    if (read_ec) {
        out.error =
            read_ec == asio::error::eof
                ? fmt::format("netd closed {} without a reply", path)
                : fmt::format("reading the reply on {} failed: {}", path, read_ec.message());
        co_return out;
    }
    out.raw.assign(buffer, 0, n - 1);
    if (!out.raw.empty() && out.raw.back() == '\r') out.raw.pop_back();
    out.reply = nlohmann::json::parse(out.raw, nullptr, false);
    if (out.reply.is_discarded() || !out.reply.is_object() || !out.reply.contains("ok") ||
        !out.reply["ok"].is_boolean())
        out.error = fmt::format("{} answered {}, which is not a netd control reply", path,
                                reply_excerpt(out.raw));
    co_return out;
}

proto::result<std::string> control_socket_of(const parsed_args& args) {
    using r = proto::result<std::string>;
    if (auto socket = args.value("-s")) {
        if (args.has("-c")) return r::fail("give -c FILE or -s SOCKET, not both");
        if (socket->empty()) return r::fail("-s needs the control socket's path");
        return {std::string(*socket), {}};
    }
    const std::string file(args.value("-c").value_or(default_config_file));
    auto cfg = read_netd_config(file);
    if (!cfg.ok()) {
        if (!args.has("-c"))
            return r::fail(cfg.error + " (name the config with -c FILE or the socket with -s)");
        return r::fail(cfg.error);
    }
    if (cfg.value.control.empty())
        return r::fail(
            fmt::format("{} configures no control socket: set [daemon] control = "
                        "\"/run/netd/control.sock\" and restart netd, or give -s SOCKET",
                        file));
    return {cfg.value.control, {}};
}

}  // namespace netd::netctl
