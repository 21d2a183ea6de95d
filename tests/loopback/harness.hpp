#pragma once
// Loopback harness: real workers and listeners on 127.0.0.1 port 0, driven by a blocking client
// whose every receive has a deadline, so a broken server fails a test instead of hanging it.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "net/listen.hpp"
#include "net/worker.hpp"

namespace netd::test {

/// A running daemon core: `threads` workers serving the [ping] table given.
class test_daemon {
  public:
    explicit test_daemon(const std::string& toml, unsigned threads = 2) {
        char tmpl[] = "/tmp/netd-loopback-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        std::ofstream(dir_ / "netd.toml") << toml;
        auto loaded = load_config((dir_ / "netd.toml").string());
        REQUIRE_MESSAGE(loaded.cfg, (loaded.errors.empty() ? "" : loaded.errors.front()));
        cfg_ = loaded.cfg;
        for (const auto& sc : cfg_->services) {
            std::string error;
            REQUIRE_MESSAGE(sc.impl->start(error), error);
        }
        shared_.max_connections = cfg_->daemon.max_connections;
        for (unsigned i = 0; i < threads; ++i)
            workers_.push_back(std::make_unique<worker>(shared_, [this] { ++done_; }));
        for (auto& w : workers_)
            w->start();
        configure(true);
    }
    ~test_daemon() {
        stop();
        force_stop();
        for (auto& w : workers_)
            w->join();  // before done_ and the directory go away
        std::filesystem::remove_all(dir_);
    }

    /// Hands the listeners to the workers again; fresh=false keeps the sockets (a reload).
    void configure(bool fresh) {
        const auto& sc = cfg_->services.at(0);
        listen_group group;
        if (fresh) {
            std::string error;
            REQUIRE_MESSAGE(listen_on(sc.listen.at(0), workers_.size(), group, error), error);
            port_ = static_cast<std::uint16_t>(
                std::stoi(group.bound.substr(group.bound.rfind(':') + 1)));
        }
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            listener_spec spec{sc.listen[0].text(), sc.name, sc.impl, sc.allow, -1, group.v6};
            if (fresh) spec.fd = std::exchange(group.fds[i], -1);
            workers_[i]->configure({spec});
        }
    }

    void stop() {
        if (stopped_) return;
        stopped_ = true;
        for (auto& w : workers_)
            w->stop();
    }
    void force_stop() {
        for (auto& w : workers_)
            w->force_stop();
    }
    /// Waits for every worker thread to end; false if they did not within `limit`.
    bool joined_within(std::chrono::milliseconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        while (done_ < workers_.size() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (done_ < workers_.size()) return false;
        for (auto& w : workers_)
            w->join();
        return true;
    }

    /// Waits until every worker ran the handlers posted to it so far (stop(), force_stop()...);
    /// false if one did not within `limit` (its io_context no longer runs).
    bool synced_within(std::chrono::milliseconds limit) {
        auto ran = std::make_shared<std::atomic<std::size_t>>(0);
        for (auto& w : workers_)
            asio::post(w->executor(), [ran] { ++*ran; });
        auto until = std::chrono::steady_clock::now() + limit;
        while (*ran < workers_.size() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return *ran == workers_.size();
    }

    /// Makes every worker's run() end with an exception, as a bug in a handler would.
    void fail_workers() {
        for (auto& w : workers_)
            asio::post(w->executor(), [] { throw std::runtime_error("test: a handler failed"); });
    }
    /// Destroys the workers, once their threads have ended (see joined_within()).
    void destroy_workers() { workers_.clear(); }

    std::uint16_t port() const { return port_; }
    const std::filesystem::path& dir() const { return dir_; }
    std::size_t open_connections() const { return shared_.open_connections.load(); }

  private:
    std::filesystem::path dir_;
    std::shared_ptr<const config> cfg_;
    shared_state shared_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::atomic<unsigned> done_{0};
    std::uint16_t port_ = 0;
    bool stopped_ = false;
};

/// A blocking TCP client with a receive deadline.
class client {
  public:
    explicit client(std::uint16_t port,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~client() { ::close(fd_); }

    bool connected() const { return connected_; }
    int fd() const { return fd_; }
    void send(std::string_view data) {
        REQUIRE(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(data.size()));
    }
    /// Receives until `lines` newlines arrived, the peer closed, or the deadline passed.
    std::string recv_lines(int lines) {
        std::string got;
        while (std::count(got.begin(), got.end(), '\n') < lines) {
            char buf[4096];
            auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }
    /// One recv(): what a classic client does after each send().
    std::string recv_once() {
        char buf[4096];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
    /// True if the server closed the connection (EOF or reset) before the deadline.
    bool closed_by_peer() {
        char buf[256];
        for (;;) {
            auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0) return true;
            if (n < 0) return errno == ECONNRESET;
        }
    }

  private:
    int fd_ = -1;
    bool connected_ = false;
};

}  // namespace netd::test
