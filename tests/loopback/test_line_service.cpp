#include <chrono>

#include "harness.hpp"

using netd::test::client;
using netd::test::test_daemon;
using namespace std::chrono_literals;

namespace {
const std::string ping_table = "[ping]\nlisten = [\"127.0.0.1:0\"]\n";
}

TEST_CASE("loopback: pipelined requests are answered in order") {
    test_daemon d(ping_table);
    client c(d.port());
    REQUIRE(c.connected());
    c.send("ping\nstamp 42\nnope\r\nping\n");
    auto got = c.recv_lines(4);
    CHECK(got.starts_with("pong\nstamp 42 "));
    CHECK(got.ends_with("\nUnknown command\npong\n"));
}

TEST_CASE("loopback: a classic client's bare message gets its reply, again and again") {
    test_daemon d(ping_table);
    client c(d.port());
    c.send("ping");
    CHECK(c.recv_once() == "pong\n");
    c.send("get_time");
    auto t = c.recv_once();
    CHECK(t.size() == 28);  // 2026-11-21T23:40:01.123456Z\n
    CHECK(t.ends_with("Z\n"));
}

TEST_CASE("loopback: after a first full line, a split line is joined, not cut") {
    test_daemon d(ping_table);
    client c(d.port());
    // "pi" rides with a full line, so the server has read it once "pong" is back: the rest
    // of the line is certain to arrive in a later read.
    c.send("ping\npi");
    CHECK(c.recv_lines(1) == "pong\n");
    c.send("ng\n");
    CHECK(c.recv_lines(1) == "pong\n");
}

TEST_CASE("loopback: framing = line waits for the newline even from a bare sender") {
    test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\nframing = \"line\"\n");
    client c(d.port());
    c.send("ping\npi");
    CHECK(c.recv_lines(1) == "pong\n");
    c.send("ng\n");
    CHECK(c.recv_lines(1) == "pong\n");
}

TEST_CASE("loopback: a line over max_line gets ERR line too long and a close") {
    test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\nmax_line = 16\n");
    client c(d.port());
    c.send("ping\n" + std::string(17, 'x') + "\nping\n");
    CHECK(c.recv_lines(2) == "pong\nERR line too long\n");
    CHECK(c.closed_by_peer());
}

TEST_CASE("loopback: an over-long line is refused before its end arrives") {
    test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\nmax_line = 1000\n");
    client c(d.port());
    c.send("ping\n");
    CHECK(c.recv_lines(1) == "pong\n");
    c.send(std::string(5000, 'x'));  // no newline, ever
    CHECK(c.recv_lines(1) == "ERR line too long\n");
    CHECK(c.closed_by_peer());
}

TEST_CASE("loopback: an idle connection is closed after idle_timeout") {
    test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\nidle_timeout = \"100ms\"\n");
    client c(d.port());
    c.send("ping\n");
    CHECK(c.recv_lines(1) == "pong\n");
    auto start = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer());
    CHECK(std::chrono::steady_clock::now() - start >= 90ms);
}

TEST_CASE("loopback: past max_connections a client is told so and closed") {
    test_daemon d("[daemon]\nmax_connections = 2\n" + ping_table);
    client a(d.port()), b(d.port());
    a.send("ping\n");
    b.send("ping\n");
    REQUIRE(a.recv_lines(1) == "pong\n");
    REQUIRE(b.recv_lines(1) == "pong\n");
    client c(d.port());
    CHECK(c.recv_lines(1) == "ERR too many connections\n");
    CHECK(c.closed_by_peer());
    CHECK(d.open_connections() == 2);
}

TEST_CASE("loopback: a peer outside the allow list is closed without a reply") {
    test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\nallow = [\"10.0.0.0/8\"]\n");
    client c(d.port());
    c.send("ping\n");
    CHECK(c.closed_by_peer());
}

TEST_CASE("loopback: a peer inside the allow list is served") {
    test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\nallow = [\"10.0.0.0/8\", \"127.0.0.1\"]\n");
    client c(d.port());
    c.send("ping\n");
    CHECK(c.recv_lines(1) == "pong\n");
}

TEST_CASE("loopback: a reconfigure that keeps the address keeps socket and connections") {
    test_daemon d(ping_table);
    client before(d.port());
    before.send("ping\n");
    REQUIRE(before.recv_lines(1) == "pong\n");
    d.configure(false);
    client after(d.port());
    after.send("ping\n");
    CHECK(after.recv_lines(1) == "pong\n");
    before.send("ping\n");
    CHECK(before.recv_lines(1) == "pong\n");
}

TEST_CASE("loopback: a graceful stop ends idle connections and the workers") {
    test_daemon d(ping_table);
    client c(d.port());
    c.send("ping\n");
    REQUIRE(c.recv_lines(1) == "pong\n");
    d.stop();
    CHECK(c.closed_by_peer());
    CHECK(d.joined_within(5s));
    CHECK(d.open_connections() == 0);
}

TEST_CASE("loopback: a stop lets a half-received request finish, then closes") {
    test_daemon d(ping_table);
    client c(d.port());
    c.send("ping\npi");  // once "pong" is back, the server holds "pi": mid-request, not idle
    REQUIRE(c.recv_lines(1) == "pong\n");
    d.stop();
    c.send("ng\n");
    CHECK(c.recv_lines(1) == "pong\n");
    CHECK(c.closed_by_peer());
    CHECK(d.joined_within(5s));
}

TEST_CASE("loopback: force_stop ends a connection that never finishes its request") {
    test_daemon d(ping_table);
    client c(d.port());
    c.send("ping\npi");
    REQUIRE(c.recv_lines(1) == "pong\n");
    d.stop();
    CHECK_FALSE(d.joined_within(100ms));  // still waiting for the rest of the line
    d.force_stop();
    CHECK(c.closed_by_peer());
    CHECK(d.joined_within(5s));
}

TEST_CASE("loopback: ack counts messages per connection and fills the template") {
    test_daemon d("[ack]\nlisten = [\"127.0.0.1:0\"]\nreply = \"ACK {seq} {bytes} {message}\"\n");
    client a(d.port()), b(d.port());
    a.send("hello\nworld!\n");
    CHECK(a.recv_lines(2) == "ACK 1 5 hello\nACK 2 6 world!\n");
    b.send("x\n");
    CHECK(b.recv_lines(1) == "ACK 1 1 x\n");  // a new connection counts from 1
}

TEST_CASE("loopback: a classic client's bare 'Hello from client' gets its ack") {
    test_daemon d("[ack]\nlisten = [\"127.0.0.1:0\"]\n");
    client c(d.port());
    c.send("Hello from client");
    CHECK(c.recv_once() == "ACK 1 17\n");
}
