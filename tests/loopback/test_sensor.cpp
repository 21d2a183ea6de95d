#include <fstream>
#include <set>
#include <thread>

#include "harness.hpp"

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
}  // namespace

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
