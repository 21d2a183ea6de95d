#pragma once
// The sensor data file's single writer, shared by every worker thread: group commit.
//
// Sessions hand over a batch of ready-made JSON lines; the writer thread takes everything queued
// while the previous write+fdatasync was in flight, writes it with one write(2), makes it durable
// with one fdatasync(2), and only then reports success to each submitter on its own executor.
// A failed write or sync reports failure for the whole batch and truncates the file back to
// where the batch began, so the file never holds a line that was not acknowledged as stored
// (it may hold lines that were nacked if the truncate fails; those are duplicates, not losses).
//
// With durability fsync the batch is not made durable by syncing the data file (an append, whose
// size change costs an ext4 journal commit per sync) but by a record in `<data_file>.wal`, a
// preallocated write-ahead log overwritten in place (see sensor_wal.hpp): write(2) the batch to
// the data file, pwrite the same bytes as one WAL record, fdatasync the WAL, ack. A checkpoint
// (fdatasync of the data file) lets the log start again at offset 0; it happens when the next
// record does not fit, on reopen, at a clean stop and after any failure. At start the WAL's
// records are written back into the data file (what a power cut took from its tail).
#include <sys/uio.h>

#include <asio/any_io_executor.hpp>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace netd {

enum class durability { fsync, write };

/// What the writer of one data file has done since start (for `netctl status`).
struct store_stats {
    std::string file;
    std::uint64_t batches = 0;     ///< write (+ fdatasync) rounds
    std::uint64_t readings = 0;    ///< lines stored
    std::uint64_t bytes = 0;       ///< bytes stored
    std::uint64_t last_batch = 0;  ///< readings in the last batch
    std::uint64_t max_batch = 0;   ///< readings in the largest batch
    std::uint64_t failed_batches = 0;
    std::uint64_t pending = 0;       ///< submissions queued for the next batch
    std::int64_t last_write_us = 0;  ///< unix µs when the last batch was stored; 0: never
    std::string error;               ///< the current error, empty when storing works
};

class sensor_store {
  public:
    /// The stats of every open store.
    static std::vector<store_stats> stats_all();

    /// The outcome of one submission: empty error = stored as `durability` says.
    using completion = std::function<void(const std::string& error)>;

    /// The store for `path`, shared with every other service instance using the same file
    /// (a reload keeps it). Opening repairs a torn last line. On failure returns nullptr.
    static std::shared_ptr<sensor_store> open(const std::filesystem::path& path,
                                              std::string& error);
    /// Reopens every store's file (SIGUSR1, after logrotate moved it).
    static void reopen_all();

    ~sensor_store();
    sensor_store(const sensor_store&) = delete;
    sensor_store& operator=(const sensor_store&) = delete;

    /// Queues `lines` (whole JSON lines). `done` runs on `executor` once they are stored as
    /// `mode` says, or have failed. Submissions complete in order. The mode travels with the
    /// data: connections of an older config keep theirs across a reload.
    void submit(std::string lines, durability mode, asio::any_io_executor executor,
                completion done);

    const std::filesystem::path& path() const { return path_; }

  private:
    struct entry {
        std::string lines;
        durability mode;
        asio::any_io_executor executor;
        completion done;
    };

    explicit sensor_store(std::filesystem::path path);
    std::filesystem::path wal_file() const { return path_.string() + ".wal"; }
    bool open_file(std::string& error, bool recover = false);
    bool open_wal(int data_fd, std::string& error);
    void run();
    std::string write_batch(const std::vector<entry>& batch);
    std::string make_durable(const std::vector<entry>& batch, std::uint64_t data_offset,
                             std::uint64_t bytes);
    std::string refuse_record(std::string error);
    std::string checkpoint();
    void freeze_wal(const std::string& error);
    void complete(std::vector<entry>& batch, const std::string& error);

    const std::filesystem::path path_;
    bool reopen_pending_ = false;  ///< writer thread only: the file was deleted under us
    bool broken_ = false;          ///< writer thread only: a failed batch could not be cut away
    int fd_ = -1;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<entry> queue_;
    bool stopping_ = false, reopen_ = false;
    std::string last_error_;  ///< writer thread only
    // The write-ahead log; writer thread only (after open).
    int wal_fd_ = -1;                ///< -1: none, every batch syncs the data file
    bool wal_frozen_ = false;        ///< a checkpoint failed: keep the log for the next start
    bool checkpoint_due_ = false;    ///< a batch failed: checkpoint before the next record
    bool cut_failing_ = false;       ///< the last checkpoint could not cut the log (logged once)
    std::uint64_t wal_offset_ = 0;   ///< where the next record goes
    std::uint64_t wal_seq_ = 0;      ///< the next record's seq in this epoch
    std::uint64_t chain_end_ = 0;    ///< where the last record's data ends in the data file
    std::uint64_t epoch_ = 0;        ///< the current epoch
    std::uint64_t data_size_ = 0;    ///< the data file's size as we wrote it
    std::uint64_t synced_size_ = 0;  ///< its size when last synced: where a chain may start
    std::uint64_t data_inode_ = 0;   ///< the data file's inode (WAL records name it)
    std::vector<struct iovec> iov_;  ///< reused for writev/pwritev
    std::vector<std::string_view> pieces_;  ///< reused: the batch's lines, for the CRC
    std::uint64_t failed_batches_ = 0;      ///< writer thread only
    store_stats stats_;                     ///< guarded by mutex_ (the writer updates it per batch)
    std::thread thread_;
};

}  // namespace netd
