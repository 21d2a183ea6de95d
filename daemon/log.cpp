#include "log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "proto/json_escape.hpp"
#include "proto/timefmt.hpp"

namespace netd::log {
namespace {

constexpr std::string_view level_names[] = {"trace", "debug", "info", "warn", "error", "off"};
// Lines wait at most this long before the writer picks them up under load...
constexpr std::chrono::milliseconds batch_interval{10};
// ...or until this much is queued, whichever comes first.
constexpr std::size_t wake_bytes = 64 * 1024;
// Past this much queued (the destination cannot keep up), new lines are dropped and counted
// rather than let a slow disk or pipe stall the network threads or fill memory.
constexpr std::size_t max_queued_bytes = 16 * 1024 * 1024;
// A buffer that grew past this in a burst is given back once written.
constexpr std::size_t max_kept_bytes = 256 * 1024;

// The one writer. Network threads append whole lines to `queued_` under a mutex held for a
// memcpy; they wake the writer only when it sleeps idle or the queue is large, so a busy daemon
// pays no thread wake-up per line (that was a context switch per request with spdlog's queue).
// The writer takes everything queued every batch_interval and writes it with one write(2).
class writer {
  public:
    bool open(std::string_view path, std::string& error) {
        int fd = open_path(path, error);
        if (fd < 0) return false;
        {
            std::lock_guard lock(fd_mutex_);
            set_fd_locked(fd, path);
        }
        if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
        return true;
    }

    void reopen() {
        std::lock_guard lock(fd_mutex_);
        if (path_ == "-") return;
        std::string error;
        int fd = open_path(path_, error);
        if (fd >= 0) set_fd_locked(fd, path_);
    }

    void push(std::string_view text) {
        bool wake = false;
        {
            std::lock_guard lock(queue_mutex_);
            if (queued_.size() + text.size() + 1 > max_queued_bytes) {
                ++dropped_;
                return;
            }
            queued_.append(text);
            queued_.push_back('\n');
            wake = idle_ || queued_.size() >= wake_bytes;
            idle_ = false;
        }
        if (wake) wake_.notify_one();
    }

    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(queue_mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
        std::lock_guard lock(fd_mutex_);
        if (fd_ > 2) ::close(fd_);
        fd_ = -1;
    }

    std::uint64_t dropped() {
        std::lock_guard lock(queue_mutex_);
        return dropped_;
    }

  private:
    static int open_path(std::string_view path, std::string& error) {
        if (path == "-") return STDOUT_FILENO;
        std::string p(path);
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) error = "cannot open log file '" + p + "': " + std::strerror(errno);
        return fd;
    }

    void set_fd_locked(int fd, std::string_view path) {
        if (fd_ > 2 && fd_ != fd) ::close(fd_);
        fd_ = fd;
        path_ = path;
    }

    void run() {
        std::string batch;
        std::uint64_t reported_dropped = 0;
        for (;;) {
            std::uint64_t dropped_now = 0;
            bool stop = false;
            {
                std::unique_lock lock(queue_mutex_);
                // Gather for an interval; only when a whole interval brought nothing, sleep
                // until the next line (which then wakes us and is written at once). Going idle
                // right after a write would cost a wake-up per line when the writer shares a
                // core with the network thread.
                auto gathered = [&] { return stopping_ || queued_.size() >= wake_bytes; };
                if (!gathered()) wake_.wait_for(lock, batch_interval, gathered);
                if (queued_.empty() && !stopping_) {
                    idle_ = true;
                    wake_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
                }
                batch.swap(queued_);
                queued_.clear();
                dropped_now = dropped_;
                stop = stopping_;
            }
            if (dropped_now != reported_dropped) {
                batch += dropped_line(dropped_now - reported_dropped);
                reported_dropped = dropped_now;
            }
            write_all(batch);
            // A burst (ten thousand conn_open lines) must not leave megabytes behind: the two
            // buffers swap, so each keeps its capacity only up to a bound.
            if (batch.capacity() > max_kept_bytes)
                std::string().swap(batch);
            else
                batch.clear();
            if (stop) return;
        }
    }

    static std::string dropped_line(std::uint64_t lines) {
        std::string s = "{\"ts\":\"";
        proto::append_rfc3339(s, proto::unix_micros_now());
        s += "\",\"level\":\"warn\",\"event\":\"log_dropped\",\"lines\":";
        s += std::to_string(lines);
        s += ",\"why\":\"the log destination did not keep up\"}\n";
        return s;
    }

    void write_all(std::string_view data) {
        std::lock_guard lock(fd_mutex_);
        while (!data.empty() && fd_ >= 0) {
            auto n = ::write(fd_, data.data(), data.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;  // a full disk or a closed pipe: these lines are lost
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    std::mutex queue_mutex_;
    std::condition_variable wake_;
    std::string queued_;
    bool idle_ = false, stopping_ = false;
    std::uint64_t dropped_ = 0;

    std::mutex fd_mutex_;  ///< the destination: the writer while writing, reopen and reload
    int fd_ = -1;
    std::string path_;
    std::thread thread_;
};

writer* out = nullptr;
std::atomic<int> min_level{static_cast<int>(level::info)};

std::string& thread_buffer() {
    thread_local std::string buf = [] {
        std::string s;
        s.reserve(1024);
        return s;
    }();
    return buf;
}

}  // namespace

bool parse_level(std::string_view text, level& out_level) {
    for (int i = 0; i < 5; ++i)
        if (text == level_names[i]) {
            out_level = static_cast<level>(i);
            return true;
        }
    return false;
}

bool open(std::string_view path, level min, std::string& error) {
    if (!out) out = new writer;  // never freed: lines may be logged until exit
    if (!out->open(path, error)) return false;
    min_level = static_cast<int>(min);
    return true;
}

bool reconfigure(std::string_view path, level min, std::string& error) {
    if (!out->open(path, error)) return false;
    min_level = static_cast<int>(min);
    return true;
}

void reopen() {
    if (out) out->reopen();
}

void close() {
    if (!out) return;
    min_level = static_cast<int>(level::off);
    out->stop();
}

std::uint64_t dropped() {
    return out ? out->dropped() : 0;
}

bool enabled(level l) {
    return out && static_cast<int>(l) >= min_level.load(std::memory_order_relaxed);
}

line::line(level l, std::string_view event)
    : level_(l), active_(enabled(l)), buf_(thread_buffer()) {
    if (!active_) return;
    buf_.clear();
    buf_ += "{\"ts\":\"";
    proto::append_rfc3339(buf_, proto::unix_micros_now());
    buf_ += "\",\"level\":\"";
    buf_ += level_names[static_cast<int>(l)];
    buf_ += "\",\"event\":";
    proto::append_json_string(buf_, event);
}

line::~line() {
    if (!active_) return;
    buf_ += '}';
    out->push(buf_);
}

void line::key(std::string_view k) {
    buf_ += ',';
    proto::append_json_string(buf_, k);
    buf_ += ':';
}

line& line::str(std::string_view k, std::string_view value) {
    if (active_) {
        key(k);
        proto::append_json_string(buf_, value);
    }
    return *this;
}

line& line::peer_str(std::string_view k, std::string_view value, std::size_t max_bytes) {
    if (active_) {
        key(k);
        proto::append_json_string(buf_, value, max_bytes);
    }
    return *this;
}

line& line::num(std::string_view k, std::int64_t value) {
    if (active_) {
        key(k);
        char tmp[24];
        auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, value);
        buf_.append(tmp, end);
    }
    return *this;
}

line& line::unum(std::string_view k, std::uint64_t value) {
    if (active_) {
        key(k);
        char tmp[24];
        auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, value);
        buf_.append(tmp, end);
    }
    return *this;
}

line& line::boolean(std::string_view k, bool value) {
    if (active_) {
        key(k);
        buf_ += value ? "true" : "false";
    }
    return *this;
}

line& line::strs(std::string_view k, const std::vector<std::string>& values) {
    if (active_) {
        key(k);
        buf_ += '[';
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i) buf_ += ',';
            proto::append_json_string(buf_, values[i]);
        }
        buf_ += ']';
    }
    return *this;
}

}  // namespace netd::log
