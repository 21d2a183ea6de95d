#pragma once
// JSON-lines logging: one object per line, first fields ts (RFC 3339 UTC, µs), level, event.
// Lines are built on the calling thread and written in batches by one writer thread, so network
// threads never wait on the log's disk or pipe, nor wake a thread per line.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netd::log {

enum class level { trace, debug, info, warn, error, off };

/// Parses "trace" | "debug" | "info" | "warn" | "error".
bool parse_level(std::string_view text, level& out);

/// Starts logging to `path` ("-" = stdout). On failure returns a one-line reason.
bool open(std::string_view path, level min_level, std::string& error);
/// Switches to another destination and level (reload). On failure keeps the old one.
bool reconfigure(std::string_view path, level min_level, std::string& error);
/// Reopens the log file (SIGUSR1, after logrotate moved it).
void reopen();
/// Writes what is queued and stops the writer thread; nothing is logged after this.
void close();
/// Lines dropped because the queue was full (the destination fell behind); the writer also
/// logs them as a `log_dropped` line.
std::uint64_t dropped();

bool enabled(level l);

/// One log line. Fields are appended in call order; the line is written when it goes out of scope.
class line {
  public:
    line(level l, std::string_view event);
    ~line();
    line(const line&) = delete;
    line& operator=(const line&) = delete;

    line& str(std::string_view key, std::string_view value);
    /// Peer-controlled text: escaped and cut to max_bytes.
    line& peer_str(std::string_view key, std::string_view value, std::size_t max_bytes = 256);
    line& num(std::string_view key, std::int64_t value);
    line& unum(std::string_view key, std::uint64_t value);
    line& boolean(std::string_view key, bool value);
    line& strs(std::string_view key, const std::vector<std::string>& values);

  private:
    void key(std::string_view k);

    level level_;
    bool active_;
    std::string& buf_;
};

}  // namespace netd::log
