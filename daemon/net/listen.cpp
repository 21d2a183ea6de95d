#include "listen.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netd {
namespace {

constexpr int backlog = 4096;  // the kernel caps it at net.core.somaxconn

struct sock_addr {
    sockaddr_storage storage{};
    socklen_t len = 0;
    int family = AF_INET;
};

sock_addr make_addr(const proto::listen_address& a, bool v6_any) {
    sock_addr s;
    if (a.any() ? v6_any : a.v6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a.port);
        in6->sin6_addr = in6addr_any;
        if (!a.any()) inet_pton(AF_INET6, a.host.c_str(), &in6->sin6_addr);
        s.len = sizeof(sockaddr_in6);
        s.family = AF_INET6;
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&s.storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(a.port);
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        if (!a.any()) inet_pton(AF_INET, a.host.c_str(), &in4->sin_addr);
        s.len = sizeof(sockaddr_in);
    }
    return s;
}

// One socket bound to `addr`; -1 with errno set on failure.
int bind_one(const sock_addr& addr, bool reuseport, bool listen_now) {
    int fd = ::socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1, zero = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    // ":port" means every address: one IPv6 socket that takes IPv4 too.
    if (addr.family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0 ||
        (listen_now && ::listen(fd, backlog) != 0)) {
        int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

}  // namespace

std::string socket_address_text(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in4->sin_port));
}

namespace {

std::uint16_t bound_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

listen_group::listen_group(listen_group&& other) noexcept
    : wanted(std::move(other.wanted)),
      bound(std::move(other.bound)),
      v6(other.v6),
      inherited(other.inherited),
      fds(std::move(other.fds)) {
    other.fds.clear();
}

listen_group::~listen_group() {
    for (int fd : fds)
        if (fd >= 0) ::close(fd);
}

bool listen_on(const proto::listen_address& addr, unsigned count, listen_group& out,
               std::string& error) {
    out.wanted = addr;
    bool v6_any = true;
    auto target = make_addr(addr, v6_any);
    // SO_REUSEPORT would quietly share a port with another netd of the same user; a plain bind
    // first tells us whether anyone is listening there already.
    if (addr.port != 0) {
        int probe = bind_one(target, false, false);
        if (probe < 0 && errno == EAFNOSUPPORT && addr.any()) {
            v6_any = false;  // a host without IPv6: ":port" falls back to 0.0.0.0
            target = make_addr(addr, v6_any);
            probe = bind_one(target, false, false);
        }
        if (probe < 0) {
            error = std::strerror(errno);
            return false;
        }
        ::close(probe);
    }
    for (unsigned i = 0; i < count; ++i) {
        int fd = bind_one(target, true, true);
        if (fd < 0 && i == 0 && errno == EAFNOSUPPORT && addr.any()) {
            v6_any = false;
            target = make_addr(addr, v6_any);
            fd = bind_one(target, true, true);
        }
        if (fd < 0) {
            error = std::strerror(errno);
            return false;  // out's destructor closes what was bound
        }
        out.fds.push_back(fd);
        // Port 0: the first socket picks a free port, the rest of the group joins it.
        if (i == 0 && addr.port == 0) {
            auto* port = target.family == AF_INET6
                             ? &reinterpret_cast<sockaddr_in6*>(&target.storage)->sin6_port
                             : &reinterpret_cast<sockaddr_in*>(&target.storage)->sin_port;
            *port = htons(bound_port(fd));
        }
    }
    out.v6 = target.family == AF_INET6;
    out.bound = socket_address_text(out.fds.front());
    return true;
}

bool adopt_listener(int fd, const proto::listen_address& addr, unsigned count, listen_group& out,
                    std::string& error) {
    out.wanted = addr;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        error = std::strerror(errno);
        return false;
    }
    // The workers share the one socket through duplicates; the kernel hands each connection
    // to one of them.
    for (unsigned i = 0; i < count; ++i) {
        int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup < 0) {
            error = std::strerror(errno);
            return false;
        }
        out.fds.push_back(dup);
    }
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    out.v6 = ss.ss_family == AF_INET6;
    out.inherited = true;
    out.bound = socket_address_text(fd);
    return true;
}

}  // namespace netd
