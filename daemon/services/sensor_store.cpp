#include "sensor_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "log.hpp"
#include "proto/timefmt.hpp"
#include "sensor_wal.hpp"

namespace netd {
namespace {

std::mutex registry_mutex;
std::map<std::filesystem::path, std::weak_ptr<sensor_store>> registry;

std::string errno_text(const char* what, int err) {
    if (err == ENOSPC) return "disk full";
    if (err == EDQUOT) return "disk quota exceeded";
    if (err == EFBIG) return "file too large";
    return std::string(what) + ": " + std::strerror(err);
}

// The WAL's size. Big enough that a checkpoint (a sync of the data file: a journal commit and
// the data written since the last one) comes only every few seconds at full load (7-15 MB/s of
// readings on the benchmark machine), so its cost is spread over thousands of batches; small
// enough that replaying it at start takes a fraction of a second and making it (zeros, once)
// is quick.
constexpr std::uint64_t wal_bytes = 32u << 20;

// The most submissions whose room the writer keeps between batches.
constexpr std::size_t max_kept_batch = 1024;

// Writes all of `iov` with writev (at < 0: the O_APPEND end) or pwritev at `at`, resuming after
// short writes. `iov` is consumed. Returns 0 or the errno.
int write_iov(int fd, std::vector<struct iovec>& iov, off_t at) {
    std::size_t first = 0;
    while (first < iov.size()) {
        if (iov[first].iov_len == 0) {
            ++first;
            continue;
        }
        int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, IOV_MAX));
        auto n = at < 0 ? ::writev(fd, &iov[first], count) : ::pwritev(fd, &iov[first], count, at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;
        if (at >= 0) at += n;
        for (auto left = static_cast<std::size_t>(n); left > 0;) {
            auto take = std::min(left, iov[first].iov_len);
            iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
            iov[first].iov_len -= take;
            left -= take;
            if (iov[first].iov_len == 0) ++first;
        }
    }
    return 0;
}

bool write_at(int fd, const void* data, std::size_t n, std::uint64_t at) {
    std::vector<struct iovec> iov{{const_cast<void*>(data), n}};
    int err = write_iov(fd, iov, static_cast<off_t>(at));
    errno = err;
    return err == 0;
}

bool read_all(int fd, void* data, std::size_t n, std::uint64_t at) {
    auto p = static_cast<char*>(data);
    while (n > 0) {
        auto got = ::pread(fd, p, n, static_cast<off_t>(at));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = EIO;  // the file is shorter than it said
            return false;
        }
        p += got;
        n -= static_cast<std::size_t>(got);
        at += static_cast<std::uint64_t>(got);
    }
    return true;
}

struct file_state {
    std::uint64_t size = 0, links = 0;
};

// A file's size and link count, without reading its times: a stat that reads them (fstat) makes
// the kernel give the file's next write a fine-grained time stamp (multigrain time stamps, Linux
// 6.13), which dirtied the data file's inode on every append and, measured here, made each WAL
// fdatasync about 60 us slower: 116k instead of 138k acks/s (README, "Durable acks"). fstat
// only where statx cannot answer (no such system call, or a file system that leaves a field
// out). Returns 0 or the errno.
int size_and_links(int fd, file_state& out) {
    struct statx sx {};
    constexpr unsigned want = STATX_SIZE | STATX_NLINK;
    if (::statx(fd, "", AT_EMPTY_PATH, want, &sx) == 0 && (sx.stx_mask & want) == want) {
        out = {sx.stx_size, sx.stx_nlink};
        return 0;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno;
    out = {static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_nlink)};
    return 0;
}

// Cuts the WAL's chain at its first record: nothing in it is replayed any more.
bool invalidate(int wal_fd) {
    const unsigned char zeros[wal::header_bytes] = {};
    return write_at(wal_fd, zeros, sizeof zeros, 0) && ::fdatasync(wal_fd) == 0;
}

// The directory entries of `path` must be durable too, or a crash could lose a file that was
// just created: sync the directories up to /.
void sync_dirs(const std::filesystem::path& path) {
    for (auto dir = path.parent_path(); !dir.empty(); dir = dir.parent_path()) {
        int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
        if (dir == dir.root_path()) break;
    }
}

// A crash mid-write can leave a last line without its "\n": cut it so the file is valid JSON
// lines. Such a line was never acknowledged (acks follow the sync), so nothing acked is lost.
bool repair_tail(int fd, const std::filesystem::path& path, std::string& error) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = "cannot stat '" + path.string() + "': " + std::strerror(errno);
        return false;
    }
    if (st.st_size == 0) return true;
    char last = 0;
    if (::pread(fd, &last, 1, st.st_size - 1) != 1) {
        error = "cannot read '" + path.string() + "': " + std::strerror(errno);
        return false;
    }
    if (last == '\n') return true;
    // Scan back in blocks for the last newline.
    std::vector<char> block(65536);
    off_t end = st.st_size, keep = 0;
    while (end > 0 && keep == 0) {
        off_t start = std::max<off_t>(0, end - static_cast<off_t>(block.size()));
        auto n = ::pread(fd, block.data(), static_cast<std::size_t>(end - start), start);
        if (n < 0) {
            error = "cannot read '" + path.string() + "': " + std::strerror(errno);
            return false;
        }
        for (auto i = n; i > 0; --i)
            if (block[static_cast<std::size_t>(i - 1)] == '\n') {
                keep = start + i;
                break;
            }
        end = start;
    }
    if (::ftruncate(fd, keep) != 0 || ::fsync(fd) != 0) {
        error = "cannot repair '" + path.string() + "': " + std::strerror(errno);
        return false;
    }
    log::line(log::level::warn, "repair")
        .str("file", path.string())
        .num("dropped_bytes", st.st_size - keep)
        .str("why", "torn last line from an earlier crash");
    return true;
}

}  // namespace

std::shared_ptr<sensor_store> sensor_store::open(const std::filesystem::path& path,
                                                 std::string& error) {
    std::lock_guard lock(registry_mutex);
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(path, ec);
    if (ec) {
        error = "bad data file '" + path.string() + "': " + ec.message();
        return nullptr;
    }
    if (auto it = registry.find(canonical); it != registry.end())
        if (auto existing = it->second.lock()) return existing;
    std::shared_ptr<sensor_store> store(new sensor_store(canonical));
    if (!store->open_file(error, true)) return nullptr;
    store->thread_ = std::thread([s = store.get()] { s->run(); });
    registry[canonical] = store;
    return store;
}

std::vector<store_stats> sensor_store::stats_all() {
    std::vector<store_stats> out;
    std::lock_guard lock(registry_mutex);
    for (auto& [path, weak] : registry)
        if (auto store = weak.lock()) {
            std::lock_guard store_lock(store->mutex_);
            auto s = store->stats_;
            s.file = path.string();
            s.pending = store->queue_.size();
            out.push_back(std::move(s));
        }
    return out;
}

void sensor_store::reopen_all() {
    std::lock_guard lock(registry_mutex);
    for (auto& [path, weak] : registry)
        if (auto store = weak.lock()) {
            std::lock_guard store_lock(store->mutex_);
            store->reopen_ = true;
            store->wake_.notify_one();
        }
}

sensor_store::sensor_store(std::filesystem::path path) : path_(std::move(path)) {}

sensor_store::~sensor_store() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_one();
    }
    if (thread_.joinable()) thread_.join();  // drains the queue first
    if (fd_ >= 0) ::close(fd_);
    if (wal_fd_ >= 0) ::close(wal_fd_);
}

bool sensor_store::open_file(std::string& error, bool recover) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        error = "cannot open data file '" + path_.string() + "': " + std::strerror(errno);
        return false;
    }
    // O_APPEND does not allow pread (and pwrite would append); recover and repair through a
    // second, read-write descriptor. Then sync: what an earlier run wrote without syncing
    // (durability "write", then a crash) must not lie between the durable file and this run's
    // first WAL record.
    int rw = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st {};
    bool repaired = rw >= 0 && (!recover || open_wal(rw, error)) && repair_tail(rw, path_, error) &&
                    ::fdatasync(rw) == 0 && ::fstat(rw, &st) == 0;
    if (rw >= 0) ::close(rw);
    if (!repaired) {
        if (error.empty())
            error = "cannot open data file '" + path_.string() + "': " + std::strerror(errno);
        ::close(fd);
        return false;
    }
    // Also a file logrotate's "create" made before SIGUSR1.
    sync_dirs(path_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    data_size_ = synced_size_ = static_cast<std::uint64_t>(st.st_size);
    data_inode_ = static_cast<std::uint64_t>(st.st_ino);
    return true;
}

// Replays what the WAL holds into the data file (`data_fd`, read-write), then makes the WAL
// ready for this run. Fails only when acknowledged data could be at stake; a WAL that cannot be
// created just means syncing the data file per batch, as without one.
bool sensor_store::open_wal(int data_fd, std::string& error) {
    const auto wal_path = wal_file();
    int wal = ::open(wal_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    struct stat ws {};
    struct stat ds {};
    const int open_errno = errno;
    if (wal < 0 && ::access(wal_path.c_str(), F_OK) != 0 && errno == ENOENT) {
        // No log to replay, and none can be made here (a read-only directory): do without.
        log::line(log::level::warn, "wal")
            .str("file", wal_path.string())
            .str("why", errno_text("create", open_errno))
            .str("action", "syncing the data file per batch instead");
        return true;
    }
    if (wal < 0) errno = open_errno;
    if (wal < 0 || ::fstat(wal, &ws) != 0 || ::fstat(data_fd, &ds) != 0) {
        error = "cannot open write-ahead log '" + wal_path.string() + "': " + std::strerror(errno);
        if (wal >= 0) ::close(wal);
        return false;
    }
    std::uint64_t last_epoch = 0;
    if (ws.st_size > 0) {
        // Only the first wal_bytes can hold the current chain (a larger file is from elsewhere).
        std::vector<unsigned char> log(
            std::min<std::uint64_t>(static_cast<std::uint64_t>(ws.st_size), wal_bytes));
        if (!read_all(wal, log.data(), log.size(), 0)) {
            error =
                "cannot read write-ahead log '" + wal_path.string() + "': " + std::strerror(errno);
            ::close(wal);
            return false;
        }
        auto chain = wal::scan(log);
        if (!chain.empty()) last_epoch = chain.records.front().epoch;
        auto size = static_cast<std::uint64_t>(ds.st_size);
        auto what = wal::decide(chain, static_cast<std::uint64_t>(ds.st_ino), size);
        // Replaying over bytes that differ would corrupt the file: then the log is not this
        // file's (copied, restored from a backup...) and is left alone, like another inode.
        std::string existing;
        std::uint64_t unmatched = 0;
        for (std::size_t i = 0; what == wal::replay::all && i < chain.records.size(); ++i) {
            const auto& r = chain.records[i];
            if (r.data_offset >= size) break;
            existing.resize(std::min(r.length, size - r.data_offset));
            if (!read_all(data_fd, existing.data(), existing.size(), r.data_offset)) {
                error = "cannot read data file '" + path_.string() + "': " + std::strerror(errno);
                ::close(wal);
                return false;
            }
            std::string_view payload(
                reinterpret_cast<const char*>(log.data()) + chain.payload_at[i], r.length);
            if (wal::restores_only(existing, payload)) continue;
            // The last record of a chain that matched the file so far, unlike the bytes there:
            // most likely a nacked batch (its log sync failed, then so did the data file's, and
            // zeroing its header) whose range later batches took. The rest is this file's and
            // is replayed; the log is kept aside, with that record, in case it was not so.
            if (i > 0 && i + 1 == chain.records.size()) {
                unmatched = 1;
                chain.payload_bytes -= r.length;
                chain.records.pop_back();
                chain.payload_at.pop_back();
            } else {
                what = wal::replay::other_file;
            }
        }
        const bool replay = what == wal::replay::all;
        if (replay) {
            for (std::size_t i = 0; i < chain.records.size(); ++i) {
                const auto& r = chain.records[i];
                if (!write_at(data_fd, log.data() + chain.payload_at[i], r.length, r.data_offset)) {
                    error = "cannot replay write-ahead log into '" + path_.string() +
                            "': " + std::strerror(errno);
                    ::close(wal);
                    return false;
                }
            }
            if (::fdatasync(data_fd) != 0) {
                error = "cannot replay write-ahead log into '" + path_.string() +
                        "': fdatasync: " + std::strerror(errno);
                ::close(wal);
                return false;
            }
        }
        // A log not replayed, or not all of it, is not cut either: its records may be the only
        // copy of acked readings (of a rotated file whose tail a power cut took), so it is kept
        // aside for recovery by hand, and a new log is made.
        const bool keep = unmatched > 0 || (!replay && what != wal::replay::nothing);
        const auto aside = std::filesystem::path(wal_path.string() + "." +
                                                 std::to_string(last_epoch) + ".skipped");
        const bool kept = keep && ::rename(wal_path.c_str(), aside.c_str()) == 0;
        const int rename_errno = errno;
        if (replay || keep) {
            log::line line(log::level::warn, "recover");
            line.str("file", path_.string()).unum("records", replay ? chain.records.size() : 0);
            if (replay)
                line.unum("bytes", chain.payload_bytes)
                    .unum("restored_bytes", chain.data_end() > size ? chain.data_end() - size : 0);
            line.unum("skipped_records", replay ? unmatched : chain.records.size())
                .str("why",
                     what == wal::replay::file_too_short
                         ? "data file is shorter than where the write-ahead log starts"
                     : what == wal::replay::other_file
                         ? "write-ahead log is not this data file's (replaced or rotated)"
                     : unmatched > 0
                         ? "write-ahead log of an earlier run that did not stop cleanly; its "
                           "last record differs from the data file's bytes and is not replayed "
                           "(a batch nacked after failed syncs, or stale blocks after a power "
                           "cut): see kept_as"
                         : "write-ahead log of an earlier run that did not stop cleanly");
            if (kept) line.str("kept_as", aside.string());
        }
        if (keep) {
            ::close(wal);
            // Without a new log the data file is synced per batch; the old one is never cut.
            wal = kept ? ::open(wal_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640) : -1;
            if (wal < 0 || ::fstat(wal, &ws) != 0) {
                auto why = kept ? errno_text("create", errno) : errno_text("rename", rename_errno);
                log::line(log::level::warn, "wal")
                    .str("file", wal_path.string())
                    .str("why", why)
                    .str("action", "syncing the data file per batch instead");
                if (wal >= 0) ::close(wal);
                return true;
            }
        }
    }
    // A log of the wrong size is written over with zeros (new, or cut short by a crash while it
    // was being made); zeros, not fallocate: an unwritten extent's first write would cost the
    // journal commit the log is there to avoid. A full log only needs its chain cut at the start.
    bool ok;
    if (static_cast<std::uint64_t>(ws.st_size) != wal_bytes) {
        std::vector<char> zeros(1 << 20, 0);
        ok = ::ftruncate(wal, 0) == 0;
        for (std::uint64_t at = 0; ok && at < wal_bytes; at += zeros.size())
            ok = write_at(wal, zeros.data(), zeros.size(), at);
        ok = ok && ::fsync(wal) == 0;
        if (ok) sync_dirs(wal_path);
    } else {
        ok = invalidate(wal);
    }
    if (!ok) {
        // The data file is already durable (replayed and synced above): the log is not needed.
        log::line(log::level::warn, "wal")
            .str("file", wal_path.string())
            .str("why", errno_text("create", errno))
            .str("action", "syncing the data file per batch instead");
        ::close(wal);
        ::unlink(wal_path.c_str());
        return true;
    }
    wal_fd_ = wal;
    // Above every epoch a crash can have left in the log: the chain's, or a time in µs when the
    // chain was cut (a clean stop), so a stale record never continues a new chain.
    epoch_ = std::max<std::uint64_t>(last_epoch + 1,
                                     static_cast<std::uint64_t>(proto::unix_micros_now()));
    wal_offset_ = wal_seq_ = 0;
    return true;
}

void sensor_store::submit(std::string lines, durability mode, asio::any_io_executor executor,
                          completion done) {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(lines), mode, std::move(executor), std::move(done)});
    wake_.notify_one();
}

// Makes the data file durable (fdatasync) and cuts the WAL's chain, which is then no longer
// needed: the next record starts a new epoch at offset 0. If the data file's sync fails, the
// lines acked through the WAL may be lost from the data file's page cache; the WAL still holds
// them, so it is kept as it is for the next start and not written again in this run.
// After a failed sync of the data file the WAL may hold the only durable copy of acked lines, and
// the kernel reports a writeback error only once: a later sync that succeeds proves nothing. So
// the log is never cut again in this run.
void sensor_store::freeze_wal(const std::string& error) {
    if (wal_fd_ < 0 || wal_frozen_) return;
    wal_frozen_ = true;
    log::line(log::level::error, "error")
        .str("what", "checkpoint")
        .str("file", path_.string())
        .str("why", error)
        .str("action", "write-ahead log kept for the next start; syncing every batch");
}

std::string sensor_store::checkpoint() {
    if (::fdatasync(fd_) != 0) {
        auto error = errno_text("fdatasync", errno);
        freeze_wal(error);
        return error;
    }
    synced_size_ = data_size_;
    if (wal_fd_ >= 0 && !wal_frozen_) {
        if ((wal_offset_ > 0 || checkpoint_due_) && !invalidate(wal_fd_)) {
            // Stale records could describe bytes a failed batch had: cut them before any new
            // record. The data is durable meanwhile, so this batch is not failed for it.
            const int err = errno;
            if (!std::exchange(cut_failing_, true))
                log::line(log::level::warn, "wal")
                    .str("file", wal_file().string())
                    .str("why", errno_text("cut", err))
                    .str("action", "syncing the data file per batch until the log can be cut");
            checkpoint_due_ = true;
            return {};
        }
        if (std::exchange(cut_failing_, false))
            log::line(log::level::info, "wal")
                .str("file", wal_file().string())
                .str("action", "log cut; batches go through it again");
        ++epoch_;
        wal_offset_ = wal_seq_ = 0;
        checkpoint_due_ = false;
    }
    return {};
}

// The batch is refused, but its record may be on disk anyway, whole or in part. Left there, it
// would extend the chain: the next start would replay nacked lines, or, once later batches took
// its range in the data file, find a chain that does not match the file. write_batch cuts the
// whole log once the data file is cut back and synced; should that sync fail, the log is frozen
// (kept for the next start), so the record's header is zeroed first. Best effort: if that fails
// too, recovery sets aside a last record whose range later batches took (open_wal), but replays
// one past the file's end: the nacked lines come back, as duplicates (three failures in a row).
std::string sensor_store::refuse_record(std::string error) {
    checkpoint_due_ = true;
    const unsigned char zeros[wal::header_bytes] = {};
    if (write_at(wal_fd_, zeros, sizeof zeros, wal_offset_)) ::fdatasync(wal_fd_);
    return error;
}

std::string sensor_store::make_durable(const std::vector<entry>& batch, std::uint64_t data_offset,
                                       std::uint64_t bytes) {
    // A chain must cover the data file without gaps from where the file was last durable
    // (recovery skips a chain that starts past the file's end, and stops at a gap): after bytes
    // that have no record (a durability "write" batch, or someone else's write) the file is
    // synced and a chain starts again.
    bool gap = data_offset != (wal_seq_ > 0 ? chain_end_ : synced_size_);
    if (wal_fd_ < 0 || wal_frozen_ || checkpoint_due_ || gap ||
        !wal::fits(wal_offset_, bytes, wal_bytes))
        return checkpoint();  // which also makes this batch durable
    pieces_.clear();
    for (const auto& e : batch)
        pieces_.push_back(e.lines);
    auto head = wal::encode({epoch_, wal_seq_, data_inode_, data_offset, bytes}, pieces_);
    iov_.clear();
    iov_.push_back({head.data(), head.size()});
    for (const auto& e : batch)
        iov_.push_back({const_cast<char*>(e.lines.data()), e.lines.size()});
    if (int err = write_iov(wal_fd_, iov_, static_cast<off_t>(wal_offset_)))
        return refuse_record(errno_text("write-ahead log", err));
    if (::fdatasync(wal_fd_) != 0)
        return refuse_record(errno_text("write-ahead log fdatasync", errno));
    wal_offset_ += wal::header_bytes + bytes;
    ++wal_seq_;
    chain_end_ = data_offset + bytes;
    return {};
}

std::string sensor_store::write_batch(const std::vector<entry>& batch) {
    // A failed batch that could not be cut away would have the next line glued to its
    // fragment: nothing is stored until the file is repaired.
    if (broken_) {
        std::string error;
        if (!open_file(error)) return "data file needs repair: " + error;
        broken_ = false;
    }
    auto start = data_size_;  // where the batch begins, to cut it away if it fails
    std::uint64_t bytes = 0;
    bool sync = false;
    iov_.clear();
    for (const auto& e : batch) {
        iov_.push_back({const_cast<char*>(e.lines.data()), e.lines.size()});
        bytes += e.lines.size();
        sync |= e.mode == durability::fsync;
    }
    std::string error;
    if (int err = write_iov(fd_, iov_, -1)) error = errno_text("write", err);
    // Once per batch: whether the file was deleted, and where the batch really landed.
    file_state st;
    if (error.empty())
        if (int err = size_and_links(fd_, st)) error = errno_text("stat", err);
    // Written into a file someone deleted: it would vanish at close. Nack, and start a new one.
    if (error.empty() && st.links == 0) {
        error = "data file was deleted";
        reopen_pending_ = true;
        return error;
    }
    if (error.empty()) {
        // The stat is the truth if the file changed behind our back (cut by someone else).
        data_size_ = st.size;
        auto expected = std::exchange(start, data_size_ >= bytes ? data_size_ - bytes : 0);
        // Cut or appended to by someone else: what of the file is durable is no longer known
        // (a cut back to exactly where the chain would start would pass for nothing), so sync.
        if (start != expected && wal_fd_ >= 0) checkpoint_due_ = true;
        if (sync) error = make_durable(batch, start, bytes);
    }
    // Never keep what we are about to nack: a later successful sync must not make a torn or
    // unacknowledged batch durable behind the client's back. With the cut synced, every acked
    // line is durable in the data file, so the log is cut too, with any record of this batch
    // (a failed sync freezes it instead: see freeze_wal).
    if (!error.empty()) {
        if (wal_fd_ >= 0) checkpoint_due_ = true;
        if (::ftruncate(fd_, static_cast<off_t>(start)) != 0) {
            broken_ = true;
        } else {
            data_size_ = start;
            if (sync) checkpoint();
        }
    }
    return error;
}

// Runs each submitter's completion on its executor: one post per executor (a worker thread)
// and batch, not one per submission.
void sensor_store::complete(std::vector<entry>& batch, const std::string& error) {
    std::vector<bool> posted(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (posted[i]) continue;
        std::vector<completion> group;
        for (std::size_t j = i; j < batch.size(); ++j)
            if (!posted[j] && batch[j].executor == batch[i].executor) {
                group.push_back(std::move(batch[j].done));
                posted[j] = true;
            }
        asio::post(batch[i].executor, [group = std::move(group), error] {
            for (const auto& done : group)
                done(error);
        });
    }
}

void sensor_store::run() {
    std::vector<entry> batch;
    for (;;) {
        bool reopen = false, stop = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || reopen_ || !queue_.empty(); });
            stop = queue_.empty() && stopping_;
            batch.swap(queue_);
            reopen = std::exchange(reopen_, false) || std::exchange(reopen_pending_, false);
        }
        if (stop) {
            // A clean stop: the data file durable and the log's chain cut, so the next start
            // replays nothing.
            if (wal_fd_ >= 0 && !wal_frozen_) checkpoint();
            return;
        }
        if (reopen) {
            // The old file's lines must be durable before the log moves on to the new one.
            if (wal_fd_ >= 0) checkpoint();
            std::string error;
            if (open_file(error))
                log::line(log::level::info, "reopen")
                    .str("what", "data file")
                    .str("file", path_.string());
            else
                log::line(log::level::error, "error")
                    .str("what", "reopen data file")
                    .str("why", error);
        }
        if (batch.empty()) continue;
        auto error = write_batch(batch);
        // A full disk fails every batch: log when the state changes, not once per batch.
        if (error != last_error_) {
            if (!error.empty())
                log::line(log::level::error, "error")
                    .str("what", "store")
                    .str("file", path_.string())
                    .str("why", error)
                    .str("action", "nacking readings until it clears");
            else
                log::line(log::level::info, "store_ok")
                    .str("file", path_.string())
                    .unum("failed_batches", failed_batches_);
            last_error_ = error;
            failed_batches_ = 0;
        }
        if (!error.empty()) ++failed_batches_;
        {
            std::uint64_t lines = 0, bytes = 0;
            for (const auto& e : batch) {
                lines +=
                    static_cast<std::uint64_t>(std::count(e.lines.begin(), e.lines.end(), '\n'));
                bytes += e.lines.size();
            }
            std::lock_guard lock(mutex_);
            ++stats_.batches;
            if (error.empty()) {
                stats_.readings += lines;
                stats_.bytes += bytes;
                stats_.last_batch = lines;
                stats_.max_batch = std::max(stats_.max_batch, lines);
                stats_.last_write_us = proto::unix_micros_now();
            } else {
                ++stats_.failed_batches;
            }
            stats_.error = error;
        }
        complete(batch, error);
        batch.clear();
        // Ten thousand sensors reporting at once make a batch of ten thousand: do not keep
        // room for that (about 200 bytes a reading across these) once the burst is over.
        if (batch.capacity() > max_kept_batch) {
            std::vector<entry>().swap(batch);
            std::vector<struct iovec>().swap(iov_);
            std::vector<std::string_view>().swap(pieces_);
        }
    }
}

}  // namespace netd
