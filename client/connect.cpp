#include "connect.hpp"

#include <fmt/core.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <exception>

#include "cli.hpp"
#include "timefmt.hpp"

namespace netd::netctl {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Waits until the deadline; the error is operation_aborted when `||` cancels the wait.
asio::awaitable<std::error_code> wait_until(steady::time_point deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
    auto [ec] = co_await timer.async_wait(use_tuple);
    co_return ec;
}

}  // namespace

std::string target_text(const proto::host_port& target) {
    if (target.host.find(':') != std::string::npos)
        return fmt::format("[{}]:{}", target.host, target.port);
    return fmt::format("{}:{}", target.host, target.port);
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
    auto address = endpoint.address();
    if (address.is_v6() && !address.to_v6().is_v4_mapped())
        return fmt::format("[{}]:{}", address.to_string(), endpoint.port());
    if (address.is_v6()) address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    return fmt::format("{}:{}", address.to_string(), endpoint.port());
}

std::string peer_text(const tcp::socket& socket, const proto::host_port& target) {
    std::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    return ec ? target_text(target) : endpoint_text(endpoint);
}

asio::awaitable<std::error_code> connect(tcp::socket& socket, const proto::host_port& target,
                                         steady::time_point deadline) {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto resolved = co_await (resolver.async_resolve(target.host, std::to_string(target.port),
                                                     tcp::resolver::numeric_service, use_tuple) ||
                              wait_until(deadline));
    if (resolved.index() == 1) co_return asio::error::timed_out;
    auto [resolve_ec, endpoints] = std::get<0>(resolved);
    if (resolve_ec) co_return resolve_ec;

    auto connected =
        co_await (asio::async_connect(socket, endpoints, use_tuple) || wait_until(deadline));
    if (connected.index() == 1) {
        socket.close();
        co_return asio::error::timed_out;
    }
    auto [connect_ec, endpoint] = std::get<0>(connected);
    if (connect_ec) co_return connect_ec;
    std::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    co_return ec;
}

std::string connect_error_text(const proto::host_port& target, std::error_code ec) {
    return fmt::format("cannot connect to {}: {}", target_text(target), ec.message());
}

asio::awaitable<std::error_code> write_all(tcp::socket& socket, std::string_view data,
                                           steady::time_point deadline) {
    // The common case: the line fits the socket buffer and leaves now, without the cost of
    // racing a timer (microseconds that would otherwise show up in every measured RTT).
    std::error_code ec;
    socket.non_blocking(true, ec);
    if (!ec) {
        auto n = socket.write_some(asio::buffer(data), ec);
        if (!ec && n == data.size()) co_return ec;
        if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
        data.remove_prefix(n);
    }
    auto written =
        co_await (asio::async_write(socket, asio::buffer(data), use_tuple) || wait_until(deadline));
    if (written.index() == 1) co_return asio::error::timed_out;
    co_return std::get<0>(std::get<0>(written));
}

asio::awaitable<std::error_code> line_reader::wait_line() {
    while (buffer_.find('\n') == std::string::npos) {
        if (buffer_.size() > max_line_bytes) co_return asio::error::message_size;
        // read_some into a member chunk: a cancelled read transfers nothing, so `||` losing
        // this branch never drops bytes that already arrived.
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk_), use_tuple);
        if (ec) co_return ec;
        arrived_steady_ = steady::now();
        arrived_unix_us_ = proto::unix_micros_now();
        buffer_.append(chunk_.data(), n);
    }
    co_return std::error_code{};
}

bool line_reader::take_line(std::string& line) {
    auto nl = buffer_.find('\n');
    if (nl == std::string::npos) return false;
    auto end = nl > 0 && buffer_[nl - 1] == '\r' ? nl - 1 : nl;
    line.assign(buffer_, 0, end);
    buffer_.erase(0, nl + 1);
    return true;
}

asio::awaitable<std::error_code> line_reader::read_line(std::string& line,
                                                        steady::time_point deadline) {
    if (take_line(line)) co_return std::error_code{};
    auto got = co_await (wait_line() || wait_until(deadline));
    if (got.index() == 1) co_return asio::error::timed_out;
    if (auto ec = std::get<0>(got)) co_return ec;
    take_line(line);
    co_return std::error_code{};
}

int run_command(std::function<asio::awaitable<int>()> command) {
    asio::io_context io;
    int status = exit_failure;
    asio::co_spawn(io, command(), [&](std::exception_ptr e, int result) {
        if (!e) {
            status = result;
            return;
        }
        // Expected failures are values; an exception here is a bug, but still one line.
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            print_error(fmt::format("internal error: {}", ex.what()));
        } catch (...) {
            print_error("internal error: unknown exception");
        }
        status = exit_failure;
    });
    io.run();
    return status;
}

}  // namespace netd::netctl
