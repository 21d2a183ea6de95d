// "No allocation per message on the ping path": count every operator new in the process while
// one connection exchanges many pings, after a warm-up. The client side uses stack buffers only.
#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "harness.hpp"

namespace {
std::atomic<std::size_t> allocations{0};
}

void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

// One ping and its pong, without allocating: returns false on any mismatch.
bool exchange(int fd, std::string_view request, std::string_view expected_reply) {
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size()))
        return false;
    char buf[256];
    std::size_t got = 0;
    while (got < expected_reply.size()) {
        auto n = ::recv(fd, buf + got, sizeof buf - got, 0);
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
    }
    return std::string_view(buf, got) == expected_reply;
}

}  // namespace

TEST_CASE("loopback: the ping path allocates nothing per message") {
    netd::test::test_daemon d("[ping]\nlisten = [\"127.0.0.1:0\"]\n", 1);
    netd::test::client c(d.port());
    REQUIRE(c.connected());
    for (int i = 0; i < 100; ++i)
        REQUIRE(exchange(c.fd(), "ping\n", "pong\n"));  // warm-up

    constexpr int messages = 2000;
    auto before = allocations.load();
    bool all_ok = true;
    for (int i = 0; i < messages; ++i)
        all_ok &= exchange(c.fd(), "ping\n", "pong\n");
    for (int i = 0; i < messages / 10; ++i)  // pipelined: ten requests per write
        all_ok &= exchange(c.fd(), "ping\nping\nping\nping\nping\nping\nping\nping\nping\nping\n",
                           "pong\npong\npong\npong\npong\npong\npong\npong\npong\npong\n");
    auto during = allocations.load() - before;
    CHECK(all_ok);
    // A handful is tolerated for one-off growth; one per message would be thousands.
    CHECK(during < 20);
}

TEST_CASE("loopback: a sensor reading is stored and acked from the read's handler") {
    // No coroutine, no timer per reading: what is left is the batch handed to the writer (1)
    // and the writer's hand-back to the worker (4 per batch; here every batch is one reading).
    // Durability "write", so no time goes to fdatasync. Through serve() it is 6.
    netd::test::test_daemon d(
        "[sensor]\nlisten = [\"127.0.0.1:0\"]\ndata_file = "
        "\"readings.jsonl\"\ndurability = \"write\"\n",
        1);
    netd::test::client c(d.port());
    REQUIRE(c.connected());
    char request[64], reply[32];
    auto exchange_reading = [&](int i) {
        auto n = std::snprintf(request, sizeof request, "t=%d\n", i);
        auto m = std::snprintf(reply, sizeof reply, "ack %d\n", i);
        return exchange(c.fd(), {request, static_cast<std::size_t>(n)},
                        {reply, static_cast<std::size_t>(m)});
    };
    int i = 1;
    for (; i <= 100; ++i)
        REQUIRE(exchange_reading(i));  // warm-up

    constexpr int readings = 1000;
    auto before = allocations.load();
    bool all_ok = true;
    for (int end = i + readings; i < end; ++i)
        all_ok &= exchange_reading(i);
    auto per_reading = double(allocations.load() - before) / readings;
    CHECK(all_ok);
    MESSAGE("allocations per reading: " << per_reading);
    CHECK(per_reading <= 5.5);
}
