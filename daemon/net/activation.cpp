#include "activation.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>

#include "listen.hpp"

namespace netd {
namespace {

constexpr int first_fd = 3;  // SD_LISTEN_FDS_START
constexpr long max_inherited = 1024;

bool parse_long(const char* text, long& out) {
    if (!text || !*text) return false;
    std::string_view s(text);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

std::vector<std::string> split_names(const char* text) {
    std::vector<std::string> names;
    if (!text) return names;
    std::string_view s(text);
    for (;;) {
        auto colon = s.find(':');
        names.emplace_back(s.substr(0, colon));
        if (colon == std::string_view::npos) break;
        s.remove_prefix(colon + 1);
    }
    return names;
}

// Whether an inherited socket's address is the configured one (":port" is either wildcard).
bool same_address(const std::string& bound, const proto::listen_address& a) {
    auto port = ":" + std::to_string(a.port);
    if (a.any()) return bound == "[::]" + port || bound == "0.0.0.0" + port;
    if (a.v6) return bound == "[" + a.host + "]" + port;
    return bound == a.host + port;
}

}  // namespace

inherited_sockets inherited_sockets::from_environment(std::vector<std::string>& problems) {
    inherited_sockets result;
    long pid = 0, count = 0;
    bool ours = parse_long(std::getenv("LISTEN_PID"), pid) && pid == ::getpid() &&
                parse_long(std::getenv("LISTEN_FDS"), count) && count > 0;
    auto names = split_names(std::getenv("LISTEN_FDNAMES"));
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    if (!ours) return result;
    if (count > max_inherited) {
        problems.push_back("LISTEN_FDS=" + std::to_string(count) + " is more than netd takes");
        count = max_inherited;
    }
    for (int fd = first_fd; fd < first_fd + count; ++fd) {
        auto i = static_cast<std::size_t>(fd - first_fd);
        std::string name = i < names.size() ? names[i] : "";
        int type = 0, listening = 0;
        socklen_t len = sizeof type;
        bool ok = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
        len = sizeof listening;
        ok = ok && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
        if (!ok) {
            problems.push_back("inherited descriptor " + std::to_string(fd) + " (" + name +
                               ") is not a listening TCP socket; closed");
            ::close(fd);
            continue;
        }
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        result.entries_.push_back({fd, std::move(name), socket_address_text(fd), false});
    }
    return result;
}

inherited_sockets::~inherited_sockets() {
    for (auto& e : entries_)
        if (e.fd >= 0) ::close(e.fd);
}

int inherited_sockets::find(std::string_view service, const proto::listen_address& addr) {
    if (addr.port != 0) {
        for (auto& e : entries_)
            if (same_address(e.addr, addr)) {
                e.claimed = true;
                return e.fd;
            }
    }
    for (auto& e : entries_)
        if (!e.claimed && e.name == service) {
            e.claimed = true;
            return e.fd;
        }
    return -1;
}

std::vector<std::string> inherited_sockets::unclaimed() const {
    std::vector<std::string> out;
    for (const auto& e : entries_)
        if (!e.claimed)
            out.push_back(std::to_string(e.fd) + " (name '" + e.name + "', " + e.addr + ")");
    return out;
}

}  // namespace netd
