#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "services/sensor_wal.hpp"

namespace wal = netd::wal;

namespace {

// A log image: records appended at `at` (or at the end), the rest zero.
struct log_image {
    std::vector<unsigned char> bytes = std::vector<unsigned char>(4096, 0);

    std::size_t put(std::size_t at, const wal::header& h, std::string_view payload) {
        std::string_view pieces[] = {payload};
        auto head = wal::encode(h, pieces);
        std::memcpy(bytes.data() + at, head.data(), head.size());
        std::memcpy(bytes.data() + at + head.size(), payload.data(), payload.size());
        return at + head.size() + payload.size();
    }
};

wal::header rec(std::uint64_t epoch, std::uint64_t seq, std::uint64_t offset, std::uint64_t len,
                std::uint64_t inode = 42) {
    return {epoch, seq, inode, offset, len};
}

}  // namespace

TEST_CASE("wal: crc32c matches the standard check value") {
    CHECK(wal::crc32c(0, "123456789", 9) == 0xe3069283u);
    // Continuing over pieces is the same as one pass over the whole.
    auto part = wal::crc32c(0, "1234", 4);
    CHECK(wal::crc32c(part, "56789", 5) == 0xe3069283u);
    CHECK(wal::crc32c(0, "", 0) == 0);
}

TEST_CASE("wal: a record decodes to the header it was encoded from") {
    log_image img;
    std::string payload = "{\"a\":1}\n{\"b\":2}\n";
    std::string_view pieces[] = {"{\"a\":1}\n", "{\"b\":2}\n"};  // split: CRC over both
    auto head = wal::encode(rec(7, 0, 100, payload.size()), pieces);
    std::memcpy(img.bytes.data(), head.data(), head.size());
    std::memcpy(img.bytes.data() + head.size(), payload.data(), payload.size());
    wal::header h;
    REQUIRE(wal::decode(img.bytes, h));
    CHECK(h == rec(7, 0, 100, payload.size()));
}

TEST_CASE("wal: a torn record (payload or header bytes changed) fails its CRC") {
    log_image img;
    img.put(0, rec(1, 0, 0, 8), "abcdefg\n");
    wal::header h;
    REQUIRE(wal::decode(img.bytes, h));
    auto torn = img;
    torn.bytes[wal::header_bytes + 3] = 0;  // a payload sector that never made it
    CHECK_FALSE(wal::decode(torn.bytes, h));
    torn = img;
    torn.bytes[33] ^= 1;  // data_offset
    CHECK_FALSE(wal::decode(torn.bytes, h));
    // A record cut by the end of the log is not a record either.
    CHECK_FALSE(wal::decode(std::span(img.bytes).first(wal::header_bytes + 7), h));
    // Zeroes (a fresh or invalidated log) are no record.
    CHECK_FALSE(wal::decode(std::vector<unsigned char>(4096, 0), h));
}

TEST_CASE("wal: the chain stops at a torn record and keeps what came before") {
    log_image img;
    auto at = img.put(0, rec(3, 0, 0, 4), "aaa\n");
    auto torn_at = img.put(at, rec(3, 1, 4, 4), "bbb\n");
    img.put(torn_at, rec(3, 2, 8, 4), "ccc\n");
    img.bytes[at + wal::header_bytes] = 'X';
    auto c = wal::scan(img.bytes);
    REQUIRE(c.records.size() == 1);
    CHECK(c.data_end() == 4);
    CHECK(c.payload_at[0] == wal::header_bytes);
}

TEST_CASE("wal: stale records of an older epoch after a shorter newer chain are not replayed") {
    log_image img;
    // Epoch 5 wrote four records; after a checkpoint epoch 6 wrote two longer ones over the start.
    std::size_t at = 0;
    for (std::uint64_t i = 0; i < 4; ++i)
        at = img.put(at, rec(5, i, i * 4, 4), "old\n");
    at = img.put(0, rec(6, 0, 16, 6), "new 1\n");
    auto end6 = img.put(at, rec(6, 1, 22, 6), "new 2\n");
    auto c = wal::scan(img.bytes);
    REQUIRE(c.records.size() == 2);
    CHECK(c.records[1].epoch == 6);
    CHECK(c.data_begin() == 16);
    CHECK(c.data_end() == 28);
    CHECK(c.payload_bytes == 12);
    // Even an old record that starts exactly where the new chain ends is left out.
    img.put(end6, rec(5, 2, 28, 4), "old\n");
    CHECK(wal::scan(img.bytes).records.size() == 2);
}

TEST_CASE("wal: a chain whose first record is not seq 0 is not current") {
    log_image img;
    img.put(0, rec(5, 1, 0, 4), "old\n");
    CHECK(wal::scan(img.bytes).empty());
}

TEST_CASE("wal: records must be consecutive, contiguous and of one inode") {
    SUBCASE("a gap in the data ranges ends the chain") {
        log_image img;
        auto at = img.put(0, rec(1, 0, 0, 4), "aaa\n");
        img.put(at, rec(1, 1, 5, 4), "bbb\n");
        CHECK(wal::scan(img.bytes).records.size() == 1);
    }
    SUBCASE("an overlapping range ends the chain") {
        log_image img;
        auto at = img.put(0, rec(1, 0, 0, 4), "aaa\n");
        img.put(at, rec(1, 1, 3, 4), "bbb\n");
        CHECK(wal::scan(img.bytes).records.size() == 1);
    }
    SUBCASE("a skipped seq ends the chain") {
        log_image img;
        auto at = img.put(0, rec(1, 0, 0, 4), "aaa\n");
        img.put(at, rec(1, 2, 4, 4), "bbb\n");
        CHECK(wal::scan(img.bytes).records.size() == 1);
    }
    SUBCASE("another inode ends the chain") {
        log_image img;
        auto at = img.put(0, rec(1, 0, 0, 4), "aaa\n");
        img.put(at, rec(1, 1, 4, 4, 43), "bbb\n");
        CHECK(wal::scan(img.bytes).records.size() == 1);
    }
}

TEST_CASE("wal: replay only into the same file, and only if it reaches the chain's start") {
    log_image img;
    auto at = img.put(0, rec(1, 0, 100, 4), "aaa\n");
    img.put(at, rec(1, 1, 104, 4), "bbb\n");
    auto c = wal::scan(img.bytes);
    CHECK(wal::decide(c, 42, 100) == wal::replay::all);         // the whole chain's data lost
    CHECK(wal::decide(c, 42, 106) == wal::replay::all);         // a torn tail
    CHECK(wal::decide(c, 42, 500) == wal::replay::all);         // all there: identical bytes
    CHECK(wal::decide(c, 43, 108) == wal::replay::other_file);  // rotated or replaced
    CHECK(wal::decide(c, 42, 99) == wal::replay::file_too_short);
    CHECK(wal::decide(wal::chain{}, 42, 0) == wal::replay::nothing);
}

TEST_CASE("wal: replay may fill lost bytes but never change written ones") {
    CHECK(wal::restores_only("abc", "abc\n"));
    CHECK(wal::restores_only("", "abc\n"));
    CHECK(wal::restores_only(std::string_view("a\0\0", 3), "abc\n"));  // zeroed block
    CHECK_FALSE(wal::restores_only("abd", "abc\n"));
    CHECK_FALSE(wal::restores_only("abc\nx", "abc\n"));
}

TEST_CASE("wal: a record that does not fit before the end wraps to a new epoch at 0") {
    const std::uint64_t size = 1024;
    CHECK(wal::fits(0, size - wal::header_bytes, size));
    CHECK_FALSE(wal::fits(0, size - wal::header_bytes + 1, size));  // bigger than the log
    CHECK(wal::fits(500, 100, size));
    CHECK_FALSE(wal::fits(1000, 100, size));
    CHECK_FALSE(wal::fits(size, 1, size));
    CHECK_FALSE(wal::fits(0, UINT64_MAX, size));  // no overflow
    // The writer then checkpoints and starts over: a record at 0 of the next epoch followed by
    // the previous epoch's tail is a chain of one.
    log_image img;
    std::size_t at = 0;
    for (std::uint64_t i = 0; i < 3; ++i)
        at = img.put(at, rec(8, i, 10 * i, 10), "123456789\n");
    img.put(0, rec(9, 0, 30, 10), "abcdefghi\n");
    auto c = wal::scan(img.bytes);
    REQUIRE(c.records.size() == 1);
    CHECK(c.records[0].epoch == 9);
    CHECK(c.data_begin() == 30);
}
