#include "sensor_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "log.hpp"
#include "proto/timefmt.hpp"

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
    if (!store->open_file(error)) return nullptr;
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
}

bool sensor_store::open_file(std::string& error) {
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        error = "cannot open data file '" + path_.string() + "': " + std::strerror(errno);
        return false;
    }
    // O_APPEND does not allow pread; repair through a second, read-write descriptor.
    int rw = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    bool repaired = rw >= 0 && repair_tail(rw, path_, error);
    if (rw >= 0) ::close(rw);
    if (!repaired) {
        if (error.empty())
            error = "cannot open data file '" + path_.string() + "': " + std::strerror(errno);
        ::close(fd);
        return false;
    }
    // The file's directory entry must be durable too, or a crash could lose a file that was just
    // created (by us, or by logrotate's "create" before SIGUSR1): sync the directories up to /.
    for (auto dir = path_.parent_path(); !dir.empty(); dir = dir.parent_path()) {
        int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
        if (dir == dir.root_path()) break;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    return true;
}

void sensor_store::submit(std::string lines, durability mode, asio::any_io_executor executor,
                          completion done) {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(lines), mode, std::move(executor), std::move(done)});
    wake_.notify_one();
}

std::string sensor_store::write_batch(const std::deque<entry>& batch) {
    // A failed batch that could not be cut away would have the next line glued to its
    // fragment: nothing is stored until the file is repaired.
    if (broken_) {
        std::string error;
        if (!open_file(error)) return "data file needs repair: " + error;
        broken_ = false;
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_text("fstat", errno);
    const off_t start = st.st_size;
    // One write for the whole batch (writev would avoid the copy; batches are small).
    std::string all;
    bool sync = false;
    for (const auto& e : batch) {
        all += e.lines;
        sync |= e.mode == durability::fsync;
    }
    std::string error;
    std::size_t done = 0;
    while (done < all.size()) {
        auto n = ::write(fd_, all.data() + done, all.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = errno_text("write", errno);
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    if (error.empty() && sync && ::fdatasync(fd_) != 0) error = errno_text("fdatasync", errno);
    // Written into a file someone deleted: it would vanish at close. Nack, and start a new one.
    if (error.empty() && ::fstat(fd_, &st) == 0 && st.st_nlink == 0) {
        error = "data file was deleted";
        reopen_pending_ = true;
        return error;
    }
    // Never keep what we are about to nack: a later successful sync must not make a torn or
    // unacknowledged batch durable behind the client's back.
    if (!error.empty()) {
        if (::ftruncate(fd_, start) != 0)
            broken_ = true;
        else if (sync)
            ::fdatasync(fd_);
    }
    return error;
}

void sensor_store::run() {
    std::deque<entry> batch;
    for (;;) {
        bool reopen = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || reopen_ || !queue_.empty(); });
            if (queue_.empty() && stopping_) return;
            batch.swap(queue_);
            reopen = std::exchange(reopen_, false) || std::exchange(reopen_pending_, false);
        }
        if (reopen) {
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
        for (auto& e : batch)
            asio::post(e.executor, [done = std::move(e.done), error] { done(error); });
        batch.clear();
    }
}

}  // namespace netd
