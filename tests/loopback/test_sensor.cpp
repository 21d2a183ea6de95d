#include <asio/execution.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "harness.hpp"
#include "services/sensor_store.hpp"

using netd::test::client;
using netd::test::test_daemon;

namespace {
const std::string sensor_table =
    "[sensor]\nlisten = [\"127.0.0.1:0\"]\ndata_file = \"readings.jsonl\"\n";

std::vector<std::string> stored_lines(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// Stops the store's writer thread where it hands a verdict back: the writer posts it through a
// gate_executor and waits in execute() until the test opens the gate. Every batch submitted
// meanwhile stays with the store, so its connection is held (wake::hold) for as long as the
// test wants.
struct writer_gate {
    std::mutex mutex;
    std::condition_variable changed;
    bool submitted = false, inside = false, open = false, left = false;

    void enter() {
        std::unique_lock lock(mutex);
        inside = true;
        changed.notify_all();
        changed.wait(lock, [this] { return open; });
    }
    void leave() {
        std::lock_guard lock(mutex);
        left = true;
        changed.notify_all();
    }
    bool wait_inside(std::chrono::milliseconds limit) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, limit, [this] { return inside; });
    }
    /// Lets the writer go on; returns once it is out of the gate (it may still use it until then).
    void release() {
        std::unique_lock lock(mutex);
        open = true;
        changed.notify_all();
        changed.wait(lock, [this] { return !submitted || left; });
    }
};

struct gate_executor {
    asio::execution_context* context;
    writer_gate* gate;

    asio::execution_context& query(asio::execution::context_t) const noexcept { return *context; }
    static constexpr asio::execution::blocking_t query(asio::execution::blocking_t) noexcept {
        return asio::execution::blocking.never;
    }
    gate_executor require(asio::execution::blocking_t::never_t) const noexcept { return *this; }
    template <typename F>
    void execute(F&& f) const {
        gate->enter();
        std::forward<F>(f)();
        gate->leave();
    }
    bool operator==(const gate_executor& other) const noexcept { return gate == other.gate; }
    bool operator!=(const gate_executor& other) const noexcept { return gate != other.gate; }
};

// How the held reading reaches the store: from the parked read's handler (on_wake), or from
// serve(), which finishes a reading that arrived in two parts.
enum class held_by { handler, serve };

// A sensor daemon whose writer is stopped at a gate, and a connection that sent one reading
// after that: the reading's batch waits in the store and the connection is held.
struct held_connection {
    test_daemon d{sensor_table + "durability = \"write\"\n", 1};
    client c{d.port()};
    asio::io_context unused;  // the gate's execution context; never run
    writer_gate gate;
    // Opens the gate even if the constructor fails, before the gate and the store go away.
    struct opener {
        writer_gate& gate;
        ~opener() { gate.release(); }
    } open_at_end{gate};
    std::shared_ptr<netd::sensor_store> store;

    explicit held_connection(held_by path) {
        REQUIRE(c.connected());
        c.send("n=1\n");
        REQUIRE(c.recv_lines(1) == "ack 1\n");
        std::string error;
        store = netd::sensor_store::open(d.dir() / "readings.jsonl", error);
        REQUIRE_MESSAGE(store, error);
        gate.submitted = true;
        store->submit("{\"gate\":1}\n", netd::durability::write, gate_executor{&unused, &gate},
                      [](const std::string&) {});
        REQUIRE(gate.wait_inside(std::chrono::seconds(5)));
        if (path == held_by::handler) {
            c.send("n=2\n");
        } else {
            // The pong says the first part was read: the handler leaves the half-received
            // reading to serve(), which reads the rest.
            c.send("ping\nn=");
            REQUIRE(c.recv_lines(1) == "pong\n");
            c.send("2\n");
        }
        REQUIRE(queued_within(std::chrono::seconds(5)));
    }
    // True once a submission waits in the store's queue behind the gate.
    bool queued_within(std::chrono::milliseconds limit) {
        auto until = std::chrono::steady_clock::now() + limit;
        for (;;) {
            for (const auto& s : netd::sensor_store::stats_all())
                if (s.file == store->path().string() && s.pending > 0) return true;
            if (std::chrono::steady_clock::now() >= until) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
};

}  // namespace

TEST_CASE("loopback: a connection held by the store gets its ack through a graceful stop") {
    for (auto path : {held_by::handler, held_by::serve}) {
        CAPTURE(path == held_by::serve);
        held_connection h(path);
        h.d.stop();
        // The stop has reached the worker while the reading is still with the store.
        REQUIRE(h.d.synced_within(std::chrono::seconds(5)));
        h.gate.release();
        CHECK(h.c.recv_lines(1) == "ack 2\n");
        CHECK(h.c.closed_by_peer());  // then the stop ends it
        CHECK(h.d.joined_within(std::chrono::seconds(5)));
        auto lines = stored_lines(h.d.dir() / "readings.jsonl");
        CHECK(lines.size() == 3);
    }
}

TEST_CASE("loopback: a forced stop ends a held connection once the store answers") {
    for (auto path : {held_by::handler, held_by::serve}) {
        CAPTURE(path == held_by::serve);
        held_connection h(path);
        h.d.stop();
        h.d.force_stop();
        REQUIRE(h.d.synced_within(std::chrono::seconds(5)));
        CHECK(h.d.open_connections() == 1);  // not forgotten while its verdict is to come
        h.gate.release();
        CHECK(h.c.recv_once().empty());  // closed without the ack
        CHECK(h.d.joined_within(std::chrono::seconds(5)));
        CHECK(h.d.open_connections() == 0);
    }
}

TEST_CASE("loopback: a failed worker's end waits for the store's verdict on a held connection") {
    for (auto path : {held_by::handler, held_by::serve}) {
        CAPTURE(path == held_by::serve);
        held_connection h(path);
        h.d.fail_workers();
        REQUIRE(h.d.joined_within(std::chrono::seconds(5)));
        // The store answers only after the worker is gone if its end does not wait; if it
        // waits, the gate opens after a while. Either way the verdict then comes.
        std::atomic<bool> destroyed{false};
        std::thread opener([&] {
            auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
            while (!destroyed && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            h.gate.release();
        });
        h.d.destroy_workers();  // must not return before the held connection is ended
        destroyed = true;
        opener.join();
        // The verdict ended the connection (had it come to a destroyed worker's io_context, it
        // would have been a use after free, and the connection never counted as closed). It
        // was closed without its ack.
        CHECK(h.c.recv_once().empty());
        CHECK(h.d.open_connections() == 0);
    }
}

TEST_CASE("loopback: a pipelined burst of readings is acked in order and stored once each") {
    test_daemon d(sensor_table);
    client c(d.port());
    std::string burst, expected;
    for (int i = 1; i <= 500; ++i) {
        burst += "n=" + std::to_string(i) + "\n";
        expected += "ack " + std::to_string(i) + "\n";
    }
    c.send(burst);
    CHECK(c.recv_lines(500) == expected);
    auto lines = stored_lines(d.dir() / "readings.jsonl");
    REQUIRE(lines.size() == 500);
    CHECK(lines.front().find("\"data\":{\"n\":1}") != std::string::npos);
    CHECK(lines.back().find("\"data\":{\"n\":500}") != std::string::npos);
}

TEST_CASE("loopback: concurrent connections share the writer and every reading is stored") {
    test_daemon d(sensor_table);
    constexpr int connections = 8, per_connection = 100;
    std::vector<std::thread> threads;
    std::atomic<int> acked{0};
    for (int c = 0; c < connections; ++c)
        threads.emplace_back([&, c] {
            client cl(d.port());
            for (int i = 0; i < per_connection; ++i) {
                cl.send("c=" + std::to_string(c) + ",i=" + std::to_string(i) + "\n");
                if (cl.recv_lines(1) == "ack " + std::to_string(i + 1) + "\n") ++acked;
            }
        });
    for (auto& t : threads)
        t.join();
    CHECK(acked == connections * per_connection);
    auto lines = stored_lines(d.dir() / "readings.jsonl");
    CHECK(std::set<std::string>(lines.begin(), lines.end()).size() == lines.size());
    CHECK(lines.size() == connections * per_connection);
}
