// The sensor store's write-ahead log, driven directly: a copy of the WAL taken while the store
// runs is what a power cut would leave on disk, together with a data file cut back to where it
// was last synced.
#include <doctest/doctest.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "faults.hpp"
#include "services/sensor_store.hpp"
#include "services/sensor_wal.hpp"

namespace fs = std::filesystem;
using netd::durability;
using netd::sensor_store;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        char tmpl[] = "/tmp/netd-wal-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Submits and waits for the writer's verdict.
std::string store(sensor_store& s, asio::io_context& io, std::string lines, durability mode) {
    std::optional<std::string> result;
    s.submit(std::move(lines), mode, io.get_executor(),
             [&](const std::string& error) { result = error; });
    while (!result) {  // run_one returns at once while nothing is posted, and stops io
        io.restart();
        io.run_one_for(std::chrono::milliseconds(10));
    }
    return *result;
}

// Opens a store on `data`, stores the batches in turn and returns the WAL as it was after the
// last one: what a power cut at that moment would leave. The store then stops cleanly, which a
// test undoes by writing that copy back.
std::string wal_after(const fs::path& data,
                      std::initializer_list<std::pair<const char*, durability>> batches) {
    asio::io_context io;
    std::string error;
    auto s = sensor_store::open(data, error);
    REQUIRE_MESSAGE(s, error);
    for (const auto& [lines, mode] : batches)
        CHECK(store(*s, io, lines, mode) == "");
    return slurp(data.string() + ".wal");
}

netd::wal::chain chain_of(const std::string& wal) {
    return netd::wal::scan(
        std::span(reinterpret_cast<const unsigned char*>(wal.data()), wal.size()));
}

// Each test that arms a failure must use it, and leaves none armed for the next.
struct faults_used {
    ~faults_used() { CHECK(netd::test::clear_faults() == 0); }
};

// A store on a new data file, driven from the test's thread; stop() and start() again model a
// restart (after the test has put back what a power cut would leave).
struct running_store {
    temp_dir dir;
    fs::path data = dir.path / "readings.jsonl";
    fs::path wal_file = fs::path(data.string() + ".wal");
    asio::io_context io;
    std::shared_ptr<sensor_store> s;
    running_store() { start(); }
    void start() {
        std::string error;
        s = sensor_store::open(data, error);
        REQUIRE_MESSAGE(s, error);
    }
    void stop() { s.reset(); }
    std::string put(std::string lines, durability mode) {
        return store(*s, io, std::move(lines), mode);
    }
};

}  // namespace

TEST_CASE("sensor store: mixed fsync and write batches keep the WAL chain whole") {
    temp_dir dir;
    auto data = dir.path / "readings.jsonl";
    auto wal_file = fs::path(data.string() + ".wal");
    auto wal_at_cut = wal_after(data, {{"{\"a\":1}\n", durability::fsync},
                                       {"{\"w\":1}\n", durability::write},  // no WAL record
                                       {"{\"a\":2}\n", durability::fsync},
                                       {"{\"a\":3}\n{\"a\":4}\n", durability::fsync}});
    const auto all = slurp(data);
    REQUIRE(all == "{\"a\":1}\n{\"w\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n");
    auto chain = chain_of(wal_at_cut);
    // Every fsync-acked byte is either in the chain or before it (synced by a checkpoint).
    REQUIRE_FALSE(chain.empty());
    CHECK(chain.data_end() == all.size());

    // The power cut: the WAL as it was, the data file as the last checkpoint left it.
    std::ofstream(wal_file, std::ios::binary) << wal_at_cut;
    fs::resize_file(data, chain.data_begin());
    std::string error;
    auto s = sensor_store::open(data, error);
    REQUIRE_MESSAGE(s, error);
    CHECK(slurp(data) == all);
}

TEST_CASE("sensor store: a chain starts where the data file is durable, not after write batches") {
    // A durability "write" batch first (a reload from "write" to "fsync" keeps the older
    // connections' mode), then an fsync batch: its record must not start a chain after bytes
    // nothing has synced, or a power cut that takes those bytes makes recovery skip the chain
    // (the data file is shorter than where it starts) and the acked reading is gone.
    temp_dir dir;
    auto data = dir.path / "readings.jsonl";
    auto wal_file = fs::path(data.string() + ".wal");
    auto wal_at_cut =
        wal_after(data, {{"{\"w\":1}\n", durability::write}, {"{\"a\":1}\n", durability::fsync}});
    auto chain = chain_of(wal_at_cut);
    // The new, empty file is the last point known durable unless a checkpoint synced the data
    // file (which ends the chain): a chain must start there.
    if (!chain.empty()) CHECK(chain.data_begin() == 0);

    // The power cut: the WAL as it was, the data file cut back to its last sync.
    std::ofstream(wal_file, std::ios::binary) << wal_at_cut;
    if (!chain.empty()) fs::resize_file(data, 0);
    std::string error;
    auto s = sensor_store::open(data, error);
    REQUIRE_MESSAGE(s, error);
    CHECK(slurp(data).find("{\"a\":1}\n") != std::string::npos);
}

TEST_CASE("sensor store: a file cut by someone else is synced before the chain goes on") {
    // Unsynced lines, then someone empties the file (`: > file`): the next fsync batch lands
    // at 0, where the chain would start anyway. Its record must not rely on the cut being
    // durable: a power cut could bring the old bytes back, which recovery will not overwrite.
    running_store r;
    CHECK(r.put("{\"w\":1}\n{\"w\":2}\n", durability::write) == "");
    const auto before_cut = slurp(r.data);
    fs::resize_file(r.data, 0);
    CHECK(r.put("{\"a\":1}\n", durability::fsync) == "");
    auto wal_at_cut = slurp(r.wal_file);
    r.stop();
    // Unless the cut was synced (which ends the chain), the power cut undoes it.
    auto chain = chain_of(wal_at_cut);
    std::ofstream(r.wal_file, std::ios::binary) << wal_at_cut;
    if (!chain.empty()) std::ofstream(r.data, std::ios::binary) << before_cut;
    r.start();
    CHECK(slurp(r.data).find("{\"a\":1}\n") != std::string::npos);
}

TEST_CASE("sensor store: a clean stop cuts the chain, the next start replays nothing") {
    temp_dir dir;
    auto data = dir.path / "readings.jsonl";
    asio::io_context io;
    {
        std::string error;
        auto s = sensor_store::open(data, error);
        REQUIRE_MESSAGE(s, error);
        CHECK(store(*s, io, "{\"a\":1}\n", durability::fsync) == "");
    }
    auto wal = slurp(data.string() + ".wal");
    CHECK(wal.size() == 32u << 20);
    CHECK(netd::wal::scan(std::span(reinterpret_cast<const unsigned char*>(wal.data()), wal.size()))
              .empty());
}

TEST_CASE("sensor store: a last record unlike the file's bytes is set aside, the rest replays") {
    // A record whose batch was nacked (its log sync failed, and then the data file's) may still
    // be on disk; later batches then took its range of the data file. Recovery must not take
    // that for another file's log and skip the whole chain, with the acked lines before it; nor
    // may it destroy that record, in case it was acked after all (a file system that shows
    // stale blocks after a power cut): the log is kept aside.
    temp_dir dir;
    auto data = dir.path / "readings.jsonl";
    auto wal_file = fs::path(data.string() + ".wal");
    const std::string a = "{\"a\":1}\n", refused = "{\"r\":1}\n", later = "{\"c\":22}\n";
    auto wal_at_cut =
        wal_after(data, {{a.c_str(), durability::fsync}, {refused.c_str(), durability::fsync}});
    REQUIRE(chain_of(wal_at_cut).records.size() == 2);
    // The power cut took a's block (NULs); where the refused batch was, a later one is durable.
    std::ofstream(wal_file, std::ios::binary) << wal_at_cut;
    std::ofstream(data, std::ios::binary) << std::string(a.size(), '\0') << later;
    std::string error;
    auto s = sensor_store::open(data, error);
    REQUIRE_MESSAGE(s, error);
    CHECK(slurp(data) == a + later);
    std::vector<fs::path> kept;
    for (const auto& e : fs::directory_iterator(dir.path))
        if (e.path().extension() == ".skipped") kept.push_back(e.path());
    REQUIRE(kept.size() == 1);
    CHECK(chain_of(slurp(kept[0])).records.size() == 2);
    CHECK(chain_of(slurp(wal_file)).empty());
}

TEST_CASE("sensor store: a batch whose log sync failed is nacked and never replayed") {
    faults_used check;
    running_store r;
    const std::string a = "{\"a\":1}\n", b = "{\"b\":1}\n";
    CHECK(r.put(a, durability::fsync) == "");
    netd::test::fail_fdatasync(".wal");
    CHECK(r.put(b, durability::fsync) != "");
    CHECK(slurp(r.data) == a);  // cut back, and synced
    auto wal_at_cut = slurp(r.wal_file);
    // With the cut synced every acked line is durable in the data file, so the whole log is cut:
    // b's record is gone even where zeroing its header alone did not reach the disk.
    CHECK(chain_of(wal_at_cut).empty());
    r.stop();
    // The power cut: the log as it was after the nack, the data file as its last sync left it.
    std::ofstream(r.wal_file, std::ios::binary) << wal_at_cut;
    r.start();
    CHECK(slurp(r.data) == a);
}

TEST_CASE(
    "sensor store: the log kept after a failed data sync holds the acked lines, not refused ones") {
    // The log sync of batch b fails, then so does the data file's sync after b is cut away: the
    // log is kept for the next start (the data file's writeback error may have lost a), and it
    // must end before b, or recovery would find b unlike the bytes c wrote there.
    faults_used check;
    running_store r;
    const std::string a = "{\"a\":1}\n", b = "{\"b\":1}\n", c = "{\"c\":333}\n";
    CHECK(r.put(a, durability::fsync) == "");
    netd::test::fail_fdatasync(".wal");
    netd::test::fail_fdatasync(".jsonl");
    CHECK(r.put(b, durability::fsync) != "");
    CHECK(r.put(c, durability::fsync) == "");  // synced per batch from now on
    CHECK(slurp(r.data) == a + c);
    auto wal_at_cut = slurp(r.wal_file);
    CHECK(chain_of(wal_at_cut).records.size() == 1);  // a's record; b's was cut off
    r.stop();
    // The power cut: a's block lost to the writeback error, c durable.
    std::ofstream(r.wal_file, std::ios::binary) << wal_at_cut;
    std::ofstream(r.data, std::ios::binary) << std::string(a.size(), '\0') << c;
    r.start();
    CHECK(slurp(r.data) == a + c);
}

TEST_CASE("sensor store: after a failed checkpoint the batch is nacked and the log is never cut") {
    // A durability "write" batch makes the next fsync batch checkpoint first; that sync fails.
    // The kernel reports a writeback error once, so a later sync that succeeds does not prove a
    // is on disk: the log, the only sure copy of a, must outlive this run.
    faults_used check;
    running_store r;
    const std::string a = "{\"a\":1}\n", w = "{\"w\":1}\n", b = "{\"b\":1}\n", c = "{\"c\":1}\n";
    CHECK(r.put(a, durability::fsync) == "");
    CHECK(r.put(w, durability::write) == "");
    netd::test::fail_fdatasync(".jsonl");
    CHECK(r.put(b, durability::fsync) != "");
    CHECK(r.put(c, durability::fsync) == "");
    CHECK(slurp(r.data) == a + w + c);
    r.stop();  // a clean stop, which must not cut the log either
    auto chain = chain_of(slurp(r.wal_file));
    REQUIRE(chain.records.size() == 1);
    CHECK(chain.data_begin() == 0);
    // The power cut: a's block lost to the writeback error.
    std::ofstream(r.data, std::ios::binary) << std::string(a.size(), '\0') << w << c;
    r.start();
    CHECK(slurp(r.data) == a + w + c);
}

TEST_CASE("sensor store: a log that could not be cut is cut before its next record") {
    // The write batch w makes b's batch checkpoint first: the data file's sync works, cutting the
    // log does not. b is durable in the data file, so it is acked; c syncs the data file again
    // and cuts the log, and d's record starts the new chain, which a power cut then replays.
    faults_used check;
    running_store r;
    const std::string a = "{\"a\":1}\n", w = "{\"w\":1}\n", b = "{\"b\":1}\n", c = "{\"c\":1}\n",
                      d = "{\"d\":1}\n";
    CHECK(r.put(a, durability::fsync) == "");
    CHECK(r.put(w, durability::write) == "");
    netd::test::fail_fdatasync(".wal");
    CHECK(r.put(b, durability::fsync) == "");
    CHECK(r.put(c, durability::fsync) == "");
    CHECK(r.put(d, durability::fsync) == "");
    CHECK(slurp(r.data) == a + w + b + c + d);
    auto wal_at_cut = slurp(r.wal_file);
    auto chain = chain_of(wal_at_cut);
    REQUIRE(chain.records.size() == 1);  // d's alone: a's was cut with c's checkpoint
    CHECK(chain.data_begin() == (a + w + b + c).size());
    r.stop();
    // The power cut: the log as it was, the data file as c's checkpoint left it.
    std::ofstream(r.wal_file, std::ios::binary) << wal_at_cut;
    fs::resize_file(r.data, chain.data_begin());
    r.start();
    CHECK(slurp(r.data) == a + w + b + c + d);
}

TEST_CASE("sensor store: a batch into a deleted data file is nacked, a new file takes the next") {
    // The statx after each append (link count 0) is what tells: the lines would vanish with the
    // last descriptor.
    running_store r;
    const std::string a = "{\"a\":1}\n", b = "{\"b\":1}\n", c = "{\"c\":1}\n";
    CHECK(r.put(a, durability::fsync) == "");
    fs::remove(r.data);
    CHECK(r.put(b, durability::fsync) == "data file was deleted");
    CHECK(r.put(c, durability::fsync) == "");
    CHECK(slurp(r.data) == c);
    r.stop();
    CHECK(slurp(r.data) == c);
}

namespace {

// A power cut left a log with a's record; then the data file was replaced (restored from a
// backup: a new inode), so at start the log is not this file's. Returns that log.
std::string log_of_a_replaced_file(const fs::path& data, const std::string& a) {
    auto wal_at_cut = wal_after(data, {{a.c_str(), durability::fsync}});
    REQUIRE(chain_of(wal_at_cut).records.size() == 1);
    std::ofstream(data.string() + ".wal", std::ios::binary) << wal_at_cut;
    std::ofstream(data.string() + ".new", std::ios::binary) << "";
    fs::rename(data.string() + ".new", data);  // made before the old is gone: another inode
    return wal_at_cut;
}

}  // namespace

TEST_CASE("sensor store: another file's log that cannot be moved aside is left as it is") {
    // It may be the only copy of acked readings: not replayed, not cut, not written over. The
    // store syncs the data file per batch instead, and the next start that can move it does.
    faults_used check;
    temp_dir dir;
    const auto data = dir.path / "readings.jsonl", wal_file = fs::path(data.string() + ".wal");
    const std::string a = "{\"a\":1}\n", b = "{\"b\":1}\n";
    const auto old_log = log_of_a_replaced_file(data, a);
    netd::test::fail_rename(".wal", EACCES);
    asio::io_context io;
    std::string error;
    {
        auto s = sensor_store::open(data, error);
        REQUIRE_MESSAGE(s, error);
        CHECK(store(*s, io, b, durability::fsync) == "");
        CHECK(slurp(data) == b);
    }
    CHECK(slurp(wal_file) == old_log);  // a clean stop did not cut it either
    auto s = sensor_store::open(data, error);
    REQUIRE_MESSAGE(s, error);
    std::vector<fs::path> kept;
    for (const auto& e : fs::directory_iterator(dir.path))
        if (e.path().extension() == ".skipped") kept.push_back(e.path());
    REQUIRE(kept.size() == 1);
    CHECK(slurp(kept[0]) == old_log);
    CHECK(chain_of(slurp(wal_file)).empty());  // a new log took its place
    CHECK(slurp(data) == b);
}

TEST_CASE("sensor store: a log that cannot be made means a sync of the data file per batch") {
    faults_used check;
    running_store r;
    r.stop();
    fs::remove(r.wal_file);
    netd::test::fail_create(".wal", ENOSPC);
    r.start();
    const std::string a = "{\"a\":1}\n";
    CHECK(r.put(a, durability::fsync) == "");
    CHECK(slurp(r.data) == a);
    CHECK_FALSE(fs::exists(r.wal_file));
}

TEST_CASE("sensor store: a log that exists but cannot be opened stops the start") {
    // It may hold the only copy of acked readings: starting without it could lose them.
    faults_used check;
    temp_dir dir;
    const auto data = dir.path / "readings.jsonl";
    const auto log = wal_after(data, {{"{\"a\":1}\n", durability::fsync}});
    std::ofstream(data.string() + ".wal", std::ios::binary) << log;  // a crash: a's record
    netd::test::fail_create(".wal", EACCES);
    std::string error;
    CHECK(sensor_store::open(data, error) == nullptr);
    CHECK(error.find("cannot open write-ahead log") != std::string::npos);
    CHECK(error.find("Permission denied") != std::string::npos);
    CHECK(slurp(data.string() + ".wal") == log);
}
