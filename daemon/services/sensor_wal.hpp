#pragma once
// The sensor store's write-ahead log format: pure functions, no I/O, no logging.
//
// `<data_file>.wal` is a fixed-size, zero-filled file. Each durable batch is one record at the
// WAL's current offset: a 48-byte header, then the batch's bytes exactly as appended to the data
// file. Overwriting blocks that already exist and syncing them costs far less than syncing an
// append (which changes the file's size and so forces a journal commit), which is the point.
//
//   offset 0  u32 magic "NWAL"   4 u32 CRC32C over the header (this field zero) and the payload
//          8  u64 epoch         16 u64 record seq (0, 1, 2... within the epoch)
//         24  u64 data file inode   32 u64 data_offset   40 u64 length (payload bytes)
// All little-endian. After a checkpoint (fdatasync of the data file) the log starts again at
// offset 0 with a higher epoch, so the records after a shorter newer chain are stale.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace netd::wal {

inline constexpr std::uint32_t magic = 0x4c41574e;  // "NWAL" as little-endian bytes
inline constexpr std::size_t header_bytes = 48;

/// One record's header.
struct header {
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
    std::uint64_t inode = 0;
    std::uint64_t data_offset = 0;
    std::uint64_t length = 0;
    bool operator==(const header&) const = default;
};

/// CRC32C (Castagnoli) of `n` bytes, continuing from `crc` (0 to start).
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t n);

/// The encoded header of a record whose payload is the concatenation of `payload`.
std::array<unsigned char, header_bytes> encode(const header& h,
                                               std::span<const std::string_view> payload);

/// The record at the start of `at`, if it is a whole record (header and payload both within
/// `at`) with good magic and CRC and a non-empty payload.
bool decode(std::span<const unsigned char> at, header& out);

/// Whether a record of `payload_bytes` still fits at `offset` in a log of `wal_bytes`.
inline bool fits(std::uint64_t offset, std::uint64_t payload_bytes, std::uint64_t wal_bytes) {
    return payload_bytes <= wal_bytes && header_bytes <= wal_bytes - payload_bytes &&
           offset <= wal_bytes - payload_bytes - header_bytes;
}

/// The valid chain at the start of a log: records with good CRCs, the epoch of the first one,
/// seqs 0, 1, 2..., one inode and contiguous data ranges (each starts where the previous ended).
struct chain {
    std::vector<header> records;
    std::vector<std::uint64_t> payload_at;  ///< where each record's payload is in the log
    std::uint64_t payload_bytes = 0;        ///< sum of the records' lengths
    bool empty() const { return records.empty(); }
    /// Where the data the chain holds starts and ends in the data file.
    std::uint64_t data_begin() const { return records.empty() ? 0 : records.front().data_offset; }
    std::uint64_t data_end() const {
        return records.empty() ? 0 : records.back().data_offset + records.back().length;
    }
};
chain scan(std::span<const unsigned char> log);

/// What to do with a chain at start, given the data file's inode and size.
enum class replay { nothing, all, other_file, file_too_short };
replay decide(const chain& c, std::uint64_t data_inode, std::uint64_t data_size);

/// Whether replaying `payload` over the bytes the data file already holds there (`existing`, a
/// prefix of the payload's range) only restores what is missing: each byte must be the same or
/// NUL (a block lost by a power cut). Anything else means the log does not describe this file.
bool restores_only(std::string_view existing, std::string_view payload);

}  // namespace netd::wal
