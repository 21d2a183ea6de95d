#pragma once
// systemd's sd_notify protocol, without libsystemd: one datagram to $NOTIFY_SOCKET.
#include <string_view>

namespace netd {

/// Sends e.g. "READY=1" to the service manager; does nothing when NOTIFY_SOCKET is unset.
void notify(std::string_view state);
/// "RELOADING=1" with the MONOTONIC_USEC that Type=notify-reload wants.
void notify_reloading();

}  // namespace netd
