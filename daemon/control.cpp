#include "control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstring>

#include "log.hpp"

namespace netd {
namespace {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using unix_socket = asio::local::stream_protocol;

constexpr std::size_t max_request_bytes = 4096;
constexpr std::chrono::seconds request_timeout{5};
constexpr unsigned max_clients = 16;

// True if something answers on the socket at `path` (a running netd); false for a stale file.
bool someone_listens(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    bool answered = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return answered;
}

}  // namespace

control_server::control_server(asio::io_context& io, handler h)
    : io_(io), handler_(std::move(h)), acceptor_(io) {}

control_server::~control_server() {
    close();
}

bool control_server::open(const std::string& path, std::string& error) {
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        error = "control socket path is longer than " +
                std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes: " + path;
        return false;
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = "control socket " + path + " exists and is not a socket";
            return false;
        }
        if (someone_listens(path)) {
            error = "control socket " + path + " is in use (is another netd running?)";
            return false;
        }
        ::unlink(path.c_str());  // left behind by a netd that crashed
    }
    std::error_code ec;
    // The socket is created 0660 from the start: no window where others could connect.
    auto old_mask = ::umask(0117);
    acceptor_.open(unix_socket(), ec);
    if (!ec) acceptor_.bind(unix_socket::endpoint(path), ec);
    ::umask(old_mask);
    if (!ec) acceptor_.listen(16, ec);
    if (ec) {
        error = "cannot listen on control socket " + path + ": " + ec.message();
        std::error_code ignored;
        acceptor_.close(ignored);
        return false;
    }
    path_ = path;
    asio::co_spawn(io_, accept_loop(), asio::detached);
    return true;
}

void control_server::close() {
    if (!acceptor_.is_open()) return;
    std::error_code ignored;
    acceptor_.close(ignored);
    ::unlink(path_.c_str());
}

asio::awaitable<void> control_server::accept_loop() {
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            // Out of descriptors: wait a little rather than spin.
            asio::steady_timer pause(io_, std::chrono::milliseconds(100));
            co_await pause.async_wait(as_tuple(asio::use_awaitable));
            continue;
        }
        if (clients_ >= max_clients) continue;  // the socket's destructor closes it
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> control_server::serve(unix_socket::socket socket) {
    ++clients_;
    std::string buffer;
    for (;;) {
        asio::steady_timer deadline(io_, request_timeout);
        auto result = co_await (
            asio::async_read_until(socket, asio::dynamic_buffer(buffer, max_request_bytes), '\n',
                                   as_tuple(asio::use_awaitable)) ||
            deadline.async_wait(as_tuple(asio::use_awaitable)));
        if (result.index() != 0) break;  // the deadline passed
        auto [ec, n] = std::get<0>(result);
        if (ec) {
            if (ec == asio::error::not_found) {  // over max_request_bytes without a newline
                std::string reply = R"({"ok":false,"error":"request too long"})"
                                    "\n";
                co_await asio::async_write(socket, asio::buffer(reply),
                                           as_tuple(asio::use_awaitable));
            }
            break;
        }
        auto request =
            nlohmann::json::parse(buffer.begin(), buffer.begin() + n - 1, nullptr, false);
        buffer.erase(0, n);
        nlohmann::json reply;
        if (request.is_discarded() || !request.is_object() || !request.contains("cmd") ||
            !request["cmd"].is_string())
            reply = {{"ok", false}, {"error", R"(a request is one JSON object: {"cmd":"status"})"}};
        else
            reply = co_await handler_(request);
        auto text = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        auto [wec, wn] =
            co_await asio::async_write(socket, asio::buffer(text), as_tuple(asio::use_awaitable));
        if (wec) break;
    }
    --clients_;
}

}  // namespace netd
