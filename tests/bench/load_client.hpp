#pragma once
// What the closed-loop load generators (durable_load.cpp, line_load.cpp) share: the common
// options, loopback-only address resolution, a non-blocking connect with a deadline, sending
// what a connection owes under epoll, error counting and the process's CPU time. Plain POSIX,
// header-only: each generator is still one g++ command (bench_lib.sh's build_tool).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline clock_type::duration seconds_to_duration(double s) {
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

/// The options every generator takes.
struct common_options {
    std::string host = "127.0.0.1";
    std::string port;
    int connections = 64;
    int threads = 1;
    double seconds = 10;
    double warmup = 1;
    double timeout = 5;
};

/// A generator's command line: its name and usage text, for errors (exit status 2).
struct command_line {
    const char* tool;
    const char* usage;

    [[noreturn]] void fail(const std::string& why) const {
        std::fprintf(stderr, "%s: %s\nusage: %s\n", tool, why.c_str(), usage);
        std::exit(2);
    }

    double number(std::string_view flag, const char* text, double min, double max) const {
        char* end = nullptr;
        errno = 0;
        double v = std::strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max))
            fail(std::string(flag) + ": '" + text + "' is not a number in range");
        return v;
    }

    /// Takes `flag value` if it is a common option; false if it is not one.
    bool common(std::string_view flag, const char* value, common_options& o) const {
        if (flag == "--host")
            o.host = value;
        else if (flag == "--port")
            o.port = value;
        else if (flag == "--connections")
            o.connections = static_cast<int>(number(flag, value, 1, 100000));
        else if (flag == "--threads")
            o.threads = static_cast<int>(number(flag, value, 1, 4096));
        else if (flag == "--seconds")
            o.seconds = number(flag, value, 0.1, 3600);
        else if (flag == "--warmup")
            o.warmup = number(flag, value, 0, 600);
        else if (flag == "--timeout")
            o.timeout = number(flag, value, 0.01, 600);
        else
            return false;
        return true;
    }

    /// Checks what every run needs once all options are read.
    void finish(common_options& o) const {
        if (o.port.empty()) fail("--port is required");
        o.threads = std::min(o.threads, o.connections);
    }
};

inline bool is_loopback(const sockaddr* sa) {
    if (sa->sa_family == AF_INET) {
        auto addr = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
        return (addr >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    return false;
}

struct address {
    sockaddr_storage storage{};
    socklen_t len = 0;
};

/// The server's address; exits with status 2 unless it resolves to a loopback address: these
/// are benchmarks, not tools to point at someone else's server.
inline address resolve(const char* tool, const common_options& o) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res); rc != 0) {
        std::fprintf(stderr, "%s: cannot resolve '%s' port '%s': %s\n", tool, o.host.c_str(),
                     o.port.c_str(), ::gai_strerror(rc));
        std::exit(2);
    }
    address out;
    for (auto* ai = res; ai; ai = ai->ai_next)
        if (is_loopback(ai->ai_addr)) {
            std::memcpy(&out.storage, ai->ai_addr, ai->ai_addrlen);
            out.len = ai->ai_addrlen;
            break;
        }
    ::freeaddrinfo(res);
    if (out.len == 0) {
        std::fprintf(stderr, "%s: '%s' is not a loopback address\n", tool, o.host.c_str());
        std::exit(2);
    }
    return out;
}

/// Connects a non-blocking socket by `deadline`: -1 with `error` set on failure.
inline int connect_by(const address& addr, clock_type::time_point deadline, std::string& error) {
    int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len);
    if (rc != 0 && errno == EINPROGRESS) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock_type::now());
        pollfd p{fd, POLLOUT, 0};
        int so_error = ETIMEDOUT;
        socklen_t so_len = sizeof so_error;
        if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) == 1)
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
        errno = so_error;
        rc = so_error == 0 ? 0 : -1;
    }
    if (rc != 0) {
        error = std::string("connect: ") + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Sends what is left of `out` after `done` bytes, as far as the socket takes it. Returns an
/// error text if the connection failed, else empty (then `done == out.size()` or the socket is
/// full).
inline std::string send_some(int fd, const std::string& out, std::size_t& done) {
    while (done < out.size()) {
        auto n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
        if (n > 0)
            done += static_cast<std::size_t>(n);
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            return std::string("send: ") + std::strerror(errno);
    }
    return {};
}

/// Registers `fd` (as `index`) for EPOLLOUT too while it has bytes to send, and not after.
inline void want_output(int ep, int fd, std::uint64_t index, bool want, bool& registered) {
    if (want == registered) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.u64 = index;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    registered = want;
}

/// Connection errors: all counted, the first few kept to print.
struct error_tally {
    std::uint64_t count = 0;
    std::vector<std::string> texts;

    void record(const std::string& error) {
        ++count;
        if (texts.size() < 3) texts.push_back(error);
    }
};

/// This process's CPU time so far (user + system), so a script can tell the servers' share of
/// the machine from the client's.
inline double cpu_seconds() {
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    auto seconds_of = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds_of(self.ru_utime) + seconds_of(self.ru_stime);
}

}  // namespace bench
