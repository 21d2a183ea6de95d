#pragma once
// Listening sockets. Each address gets one SO_REUSEPORT socket per worker thread, so the kernel
// spreads connections over the workers and no thread ever touches another's acceptor.
#include <string>
#include <vector>

#include "proto/address.hpp"

namespace netd {

/// The sockets of one listen address, bound and listening, one per worker.
struct listen_group {
    proto::listen_address wanted;
    std::string bound;       ///< the real address, e.g. "127.0.0.1:40123" for port 0
    bool v6 = false;         ///< socket family
    bool inherited = false;  ///< from the service manager (socket activation), not bound here
    std::vector<int> fds;    ///< ownership passes to the workers' acceptors

    listen_group() = default;
    listen_group(listen_group&& other) noexcept;
    listen_group& operator=(listen_group&&) = delete;
    ~listen_group();  ///< closes any fds not handed over
};

/// Binds `count` sockets on `addr`. An address already in use by another process is an error
/// even though SO_REUSEPORT would let us share it. On failure returns the reason (strerror).
bool listen_on(const proto::listen_address& addr, unsigned count, listen_group& out,
               std::string& error);

/// Uses an inherited listening socket (socket activation) for `count` workers: each gets a
/// duplicate of `fd`, which stays open for its owner. On failure returns the reason.
bool adopt_listener(int fd, const proto::listen_address& addr, unsigned count, listen_group& out,
                    std::string& error);

/// "127.0.0.1:7000" or "[::1]:7000": the address a socket is bound to.
std::string socket_address_text(int fd);

}  // namespace netd
