#pragma once
// Socket activation: listening sockets handed over by systemd (or any service manager speaking
// its protocol: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, descriptors from 3 on). netd uses one
// instead of binding when it matches a configured address or is named after the service, so a
// netd.socket can own privileged ports and keep them open across restarts.
#include <string>
#include <string_view>
#include <vector>

#include "proto/address.hpp"

namespace netd {

class inherited_sockets {
  public:
    /// Takes the sockets the environment describes (only if LISTEN_PID is this process) and
    /// removes the variables, so nothing netd starts inherits them. Descriptors that are not
    /// listening stream sockets are reported in `problems` and closed.
    static inherited_sockets from_environment(std::vector<std::string>& problems);

    inherited_sockets() = default;
    inherited_sockets(inherited_sockets&&) = default;
    inherited_sockets& operator=(inherited_sockets&&) = default;
    ~inherited_sockets();

    /// The inherited socket for `service` listening on `addr`: first one bound to exactly that
    /// address, else an unclaimed one whose FileDescriptorName is the service's name. -1 if
    /// none. The descriptor stays owned here (callers dup it), so a reload can find it again.
    int find(std::string_view service, const proto::listen_address& addr);

    /// "3 (name ping, 127.0.0.1:7000)" for each socket no listen address claimed.
    std::vector<std::string> unclaimed() const;

    bool empty() const { return entries_.empty(); }

  private:
    struct entry {
        int fd = -1;
        std::string name;
        std::string addr;  ///< "127.0.0.1:7000", "[::]:80"
        bool claimed = false;
    };
    std::vector<entry> entries_;
};

}  // namespace netd
