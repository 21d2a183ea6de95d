#include "address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace netd::proto {
namespace {

constexpr ip_bytes v4_mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

bool parse_port(std::string_view text, std::uint16_t& port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535)
        return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

bool is_v4_mapped(const ip_bytes& a) {
    return std::memcmp(a.data(), v4_mapped_prefix.data(), 12) == 0;
}

std::string ip_text(const ip_bytes& a) {
    char buf[INET6_ADDRSTRLEN];
    if (is_v4_mapped(a)) return inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
    return inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
}

// Splits "host:port" / "[v6]:port" / ":port" into host and port text. require_port: the port
// must be present (listen addresses); otherwise it may be left off (client targets).
bool split_host_port(std::string_view text, bool require_port, std::string_view& host,
                     std::string_view& port, bool& bracketed) {
    bracketed = !text.empty() && text.front() == '[';
    if (bracketed) {
        auto close = text.find(']');
        if (close == std::string_view::npos) return false;
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (rest.empty()) {
            port = {};
            return !require_port;
        }
        if (rest.front() != ':') return false;
        port = rest.substr(1);
        return true;
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        host = text;
        port = {};
        return !require_port;
    }
    if (text.find(':') != colon) return false;  // a bare IPv6 address needs brackets
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    return true;
}

}  // namespace

std::string listen_address::text() const {
    if (any()) return ":" + std::to_string(port);
    if (v6) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

bool parse_ip(std::string_view text, ip_bytes& out) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.size() >= sizeof buf) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET, buf, out.data() + 12) == 1) {
        std::memcpy(out.data(), v4_mapped_prefix.data(), 12);
        return true;
    }
    return inet_pton(AF_INET6, buf, out.data()) == 1;
}

result<listen_address> parse_listen_address(std::string_view text) {
    using r = result<listen_address>;
    const std::string quoted = "'" + std::string(text) + "'";
    std::string_view host, port_text;
    bool bracketed = false;
    if (!split_host_port(text, true, host, port_text, bracketed))
        return r::fail("bad address " + quoted +
                       ": expected \"host:port\", \"[v6]:port\" or \":port\"");
    listen_address addr;
    if (!parse_port(port_text, addr.port))
        return r::fail("bad port in " + quoted + ": expected 0..65535 (0 = any free port)");
    if (host.empty()) {
        if (bracketed)
            return r::fail("bad address " + quoted + ": empty [] (did you mean '[::]'?)");
        return {addr, {}};
    }
    if (host == "localhost") host = "127.0.0.1";
    ip_bytes ip{};
    if (!parse_ip(host, ip))
        return r::fail("bad address " + quoted + ": '" + std::string(host) +
                       "' is not an IP address (names are not resolved; use e.g. 127.0.0.1 or "
                       "[::1])");
    addr.v6 = !is_v4_mapped(ip);
    if (addr.v6 && !bracketed)
        return r::fail("bad address " + quoted + ": IPv6 needs brackets, e.g. '[::1]:7000'");
    addr.host = ip_text(ip);
    return {addr, {}};
}

result<host_port> parse_host_port(std::string_view text, std::uint16_t default_port) {
    using r = result<host_port>;
    std::string_view host, port_text;
    bool bracketed = false;
    if (!split_host_port(text, false, host, port_text, bracketed) ||
        (text.ends_with(':') && port_text.empty()))
        return r::fail("bad address '" + std::string(text) + "': expected HOST[:PORT]");
    host_port hp{host.empty() ? "127.0.0.1" : std::string(host), default_port};
    if (!port_text.empty() && (!parse_port(port_text, hp.port) || hp.port == 0))
        return r::fail("bad port in '" + std::string(text) + "': expected 1..65535");
    return {hp, {}};
}

bool cidr::contains(const ip_bytes& addr) const {
    int full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(addr.data(), net.data(), full) != 0) return false;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (addr[full] & mask) == net[full];
}

result<cidr> parse_cidr(std::string_view text) {
    using r = result<cidr>;
    const std::string quoted = "'" + std::string(text) + "'";
    auto slash = text.find('/');
    cidr c;
    if (!parse_ip(text.substr(0, slash), c.net))
        return r::fail("bad network " + quoted + ": expected e.g. \"10.0.0.0/8\" or \"::1/128\"");
    const bool v4 = is_v4_mapped(c.net);
    const int max_bits = v4 ? 32 : 128;
    int bits = max_bits;
    if (slash != std::string_view::npos) {
        auto p = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), bits);
        if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || bits < 0 ||
            bits > max_bits)
            return r::fail("bad prefix length in " + quoted + ": expected /0../" +
                           std::to_string(max_bits));
    }
    c.prefix = v4 ? bits + 96 : bits;
    cidr masked = c;
    for (int i = 0; i < 16; ++i) {
        int keep = std::min(8, std::max(0, c.prefix - i * 8));
        masked.net[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
    }
    if (masked.net != c.net)
        return r::fail("network " + quoted + " has host bits set (did you mean '" +
                       ip_text(masked.net) + "/" + std::to_string(bits) + "'?)");
    return {c, {}};
}

}  // namespace netd::proto
