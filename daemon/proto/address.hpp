#pragma once
// Listen and peer addresses as the config and the CLI spell them, and CIDR allow lists.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "result.hpp"

namespace netd::proto {

/// A listen address: "host:port", "[v6]:port" or ":port" (every address, IPv4 and IPv6).
struct listen_address {
    std::string host;  ///< an IP literal; empty for ":port"
    std::uint16_t port = 0;
    bool v6 = false;

    bool any() const { return host.empty(); }
    /// The canonical spelling: "127.0.0.1:7000", "[::1]:7000", ":7000".
    std::string text() const;
    bool operator==(const listen_address&) const = default;
};

/// Parses a listen address. Port 0 means "any free port". "localhost" means 127.0.0.1.
result<listen_address> parse_listen_address(std::string_view text);

/// A client target "HOST[:PORT]" or "[v6][:PORT]"; the port defaults to default_port.
struct host_port {
    std::string host;
    std::uint16_t port = 0;
};
result<host_port> parse_host_port(std::string_view text, std::uint16_t default_port);

/// An IPv4 or IPv6 address as 16 bytes; IPv4 is stored v4-mapped (::ffff:a.b.c.d).
using ip_bytes = std::array<std::uint8_t, 16>;

/// Parses an IP literal; IPv4 comes back v4-mapped.
bool parse_ip(std::string_view text, ip_bytes& out);

/// A network in an allow list: "10.0.0.0/8", "::1/128", or a single address.
struct cidr {
    ip_bytes net{};
    int prefix = 0;  ///< over the 128-bit (v4-mapped) form

    bool contains(const ip_bytes& addr) const;
};

/// Parses a CIDR; host bits set after the prefix are an error that names the network meant.
result<cidr> parse_cidr(std::string_view text);

}  // namespace netd::proto
