#include <doctest/doctest.h>

#include "proto/address.hpp"

using namespace netd::proto;

TEST_CASE("listen address: host:port, [v6]:port, :port and localhost") {
    auto a = parse_listen_address("127.0.0.1:7000");
    REQUIRE(a.ok());
    CHECK(a.value.host == "127.0.0.1");
    CHECK(a.value.port == 7000);
    CHECK_FALSE(a.value.v6);
    CHECK(a.value.text() == "127.0.0.1:7000");

    auto b = parse_listen_address("[::1]:7001");
    REQUIRE(b.ok());
    CHECK(b.value.v6);
    CHECK(b.value.text() == "[::1]:7001");

    auto c = parse_listen_address(":8080");
    REQUIRE(c.ok());
    CHECK(c.value.any());
    CHECK(c.value.text() == ":8080");

    CHECK(parse_listen_address("localhost:7000").value.host == "127.0.0.1");
    CHECK(parse_listen_address("127.0.0.1:0").value.port == 0);  // any free port
}

TEST_CASE("listen address: IPv6 is canonicalised so duplicates compare equal") {
    CHECK(parse_listen_address("[0:0::1]:80").value == parse_listen_address("[::1]:80").value);
}

TEST_CASE("listen address: each mistake gets its own message") {
    CHECK(parse_listen_address("127.0.0.1").error ==
          "bad address '127.0.0.1': expected \"host:port\", \"[v6]:port\" or \":port\"");
    CHECK(parse_listen_address("127.0.0.1:70000").error ==
          "bad port in '127.0.0.1:70000': expected 0..65535 (0 = any free port)");
    CHECK(parse_listen_address("127.0.0.1:").error ==
          "bad port in '127.0.0.1:': expected 0..65535 (0 = any free port)");
    CHECK(parse_listen_address("example.com:80").error ==
          "bad address 'example.com:80': 'example.com' is not an IP address (names are not "
          "resolved; use e.g. 127.0.0.1 or [::1])");
    CHECK(parse_listen_address("::1:80").error ==
          "bad address '::1:80': expected \"host:port\", \"[v6]:port\" or \":port\"");
    CHECK(parse_listen_address("[::1:80").error ==
          "bad address '[::1:80': expected \"host:port\", \"[v6]:port\" or \":port\"");
    CHECK(parse_listen_address("[]:80").error ==
          "bad address '[]:80': empty [] (did you mean '[::]'?)");
    CHECK_FALSE(parse_listen_address("[127.0.0.1]x:80").ok());
    CHECK_FALSE(parse_listen_address("127.0.0.1:-1").ok());
    CHECK_FALSE(parse_listen_address("127.0.0.1:7000x").ok());
}

TEST_CASE("host:port target: port optional, host defaults to 127.0.0.1") {
    auto a = parse_host_port("10.1.2.3", 7000);
    CHECK(a.value.host == "10.1.2.3");
    CHECK(a.value.port == 7000);
    CHECK(parse_host_port("example.org:8080", 7000).value.port == 8080);
    CHECK(parse_host_port("[::1]", 7000).value.host == "::1");
    CHECK(parse_host_port("[::1]:9", 7000).value.port == 9);
    CHECK(parse_host_port(":7001", 7000).value.host == "127.0.0.1");
    CHECK_FALSE(parse_host_port("host:", 7000).ok());
    CHECK_FALSE(parse_host_port("host:0", 7000).ok());
    CHECK_FALSE(parse_host_port("host:99999", 7000).ok());
}

TEST_CASE("cidr: IPv4 and IPv6 networks match their members only") {
    auto lo = parse_cidr("127.0.0.0/8");
    REQUIRE(lo.ok());
    ip_bytes ip{};
    REQUIRE(parse_ip("127.1.2.3", ip));
    CHECK(lo.value.contains(ip));
    REQUIRE(parse_ip("128.0.0.1", ip));
    CHECK_FALSE(lo.value.contains(ip));

    auto v6 = parse_cidr("::1/128");
    REQUIRE(v6.ok());
    REQUIRE(parse_ip("::1", ip));
    CHECK(v6.value.contains(ip));
    REQUIRE(parse_ip("::2", ip));
    CHECK_FALSE(v6.value.contains(ip));

    auto odd = parse_cidr("10.128.0.0/9");
    REQUIRE(odd.ok());
    REQUIRE(parse_ip("10.200.0.1", ip));
    CHECK(odd.value.contains(ip));
    REQUIRE(parse_ip("10.100.0.1", ip));
    CHECK_FALSE(odd.value.contains(ip));
}

TEST_CASE("cidr: a v4 network matches a v4-mapped peer from a dual-stack socket") {
    auto net = parse_cidr("192.168.1.0/24");
    ip_bytes ip{};
    REQUIRE(parse_ip("::ffff:192.168.1.7", ip));
    CHECK(net.value.contains(ip));
}

TEST_CASE("cidr: a bare address is a single-host network; /0 matches all") {
    ip_bytes ip{};
    auto one = parse_cidr("10.0.0.1");
    REQUIRE(one.ok());
    REQUIRE(parse_ip("10.0.0.1", ip));
    CHECK(one.value.contains(ip));
    REQUIRE(parse_ip("10.0.0.2", ip));
    CHECK_FALSE(one.value.contains(ip));
    CHECK(parse_cidr("0.0.0.0/0").value.contains(ip));
}

TEST_CASE("cidr: host bits set name the network meant; bad prefixes are errors") {
    CHECK(parse_cidr("10.0.0.1/8").error ==
          "network '10.0.0.1/8' has host bits set (did you mean '10.0.0.0/8'?)");
    CHECK(parse_cidr("fe80::1/64").error ==
          "network 'fe80::1/64' has host bits set (did you mean 'fe80::/64'?)");
    CHECK(parse_cidr("10.0.0.0/33").error ==
          "bad prefix length in '10.0.0.0/33': expected /0../32");
    CHECK_FALSE(parse_cidr("::/129").ok());
    CHECK_FALSE(parse_cidr("10.0.0.0/").ok());
    CHECK(parse_cidr("lan").error ==
          "bad network 'lan': expected e.g. \"10.0.0.0/8\" or \"::1/128\"");
}
