#include "log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <mutex>

#include "proto/json_escape.hpp"
#include "proto/timefmt.hpp"

namespace netd::log {
namespace {

constexpr std::size_t queue_lines = 65536;
constexpr std::string_view level_names[] = {"trace", "debug", "info", "warn", "error", "off"};

// Writes each line to stdout or to a file that can be reopened in place. Runs on spdlog's
// writer thread only (plus reopen/retarget under the sink mutex).
class line_sink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    bool retarget(std::string_view path, std::string& error) {
        std::lock_guard lock(mutex_);
        return open_locked(std::string(path), error);
    }
    void reopen() {
        std::lock_guard lock(mutex_);
        std::string error;
        if (path_ != "-") open_locked(path_, error);
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (!file_) return;
        std::fwrite(msg.payload.data(), 1, msg.payload.size(), file_);
        std::fputc('\n', file_);
        std::fflush(file_);
    }
    void flush_() override {
        if (file_) std::fflush(file_);
    }

  private:
    bool open_locked(std::string path, std::string& error) {
        std::FILE* f = stdout;
        if (path != "-") {
            f = std::fopen(path.c_str(), "ae");
            if (!f) {
                error = "cannot open log file '" + path + "': " + std::strerror(errno);
                return false;
            }
        }
        if (file_ && file_ != stdout) std::fclose(file_);
        file_ = f;
        path_ = std::move(path);
        return true;
    }

    std::FILE* file_ = nullptr;
    std::string path_;
};

std::shared_ptr<line_sink> sink;
std::shared_ptr<spdlog::async_logger> logger;
std::atomic<int> min_level{static_cast<int>(level::info)};

spdlog::level::level_enum to_spdlog(level l) {
    switch (l) {
        case level::trace:
            return spdlog::level::trace;
        case level::debug:
            return spdlog::level::debug;
        case level::info:
            return spdlog::level::info;
        case level::warn:
            return spdlog::level::warn;
        case level::error:
            return spdlog::level::err;
        default:
            return spdlog::level::off;
    }
}

std::string& thread_buffer() {
    thread_local std::string buf = [] {
        std::string s;
        s.reserve(1024);
        return s;
    }();
    return buf;
}

}  // namespace

bool parse_level(std::string_view text, level& out) {
    for (int i = 0; i < 5; ++i)
        if (text == level_names[i]) {
            out = static_cast<level>(i);
            return true;
        }
    return false;
}

bool open(std::string_view path, level min, std::string& error) {
    sink = std::make_shared<line_sink>();
    if (!sink->retarget(path, error)) return false;
    spdlog::init_thread_pool(queue_lines, 1);
    // Overrun, not block: a slow log destination must never stall the network threads.
    logger = std::make_shared<spdlog::async_logger>("netd", sink, spdlog::thread_pool(),
                                                    spdlog::async_overflow_policy::overrun_oldest);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::trace);
    min_level = static_cast<int>(min);
    return true;
}

bool reconfigure(std::string_view path, level min, std::string& error) {
    if (!sink->retarget(path, error)) return false;
    min_level = static_cast<int>(min);
    return true;
}

void reopen() {
    if (sink) sink->reopen();
}

void close() {
    if (!logger) return;
    logger->flush();
    logger.reset();
    spdlog::shutdown();
    sink.reset();
}

std::uint64_t dropped() {
    auto pool = spdlog::thread_pool();
    return pool ? pool->overrun_counter() : 0;
}

bool enabled(level l) {
    return logger && static_cast<int>(l) >= min_level.load(std::memory_order_relaxed);
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
    logger->log(to_spdlog(level_), std::string_view(buf_));
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
