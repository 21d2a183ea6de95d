#pragma once
// What netctl needs from netd.toml: the control socket and where each enabled service listens.
// netd validates the whole file strictly (netd --check-config); netctl reads only these keys,
// resolves relative paths exactly as netd does (against the config file's directory), and
// names the file, line and column when one of them is wrong.
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"
#include "result.hpp"

namespace netd::netctl {

/// The installed config, netd's default too.
constexpr std::string_view default_config_file = "/etc/netd/netd.toml";

/// One enabled service as the config has it.
struct configured_service {
    std::string name;  ///< "ping", "ack", "sensor" or "files"
    std::vector<proto::listen_address> listen;
    std::string data_file;  ///< sensor only: where readings are stored (absolute)
};

/// The parts of netd.toml netctl uses.
struct netd_config {
    std::string file;                          ///< as the user named it
    std::string control;                       ///< the control socket (absolute); empty: none
    std::vector<configured_service> services;  ///< the enabled ones, in netd's start order
};

/// Reads FILE. An error is one line: "cannot read FILE: No such file or directory" or
/// "FILE:LINE:COL: what is wrong".
proto::result<netd_config> read_netd_config(const std::string& file);

/// Where a client reaches a listen address: a wildcard (":7000", "0.0.0.0:7000") is reached on
/// 127.0.0.1, "[::]:7000" on [::1]; any other address as it is.
proto::host_port reachable_target(const proto::listen_address& address);

}  // namespace netd::netctl
