#include "line_input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <cerrno>
#include <cstring>

namespace netd::netctl {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

std::unique_ptr<line_input> line_input::open(const asio::any_io_executor& executor,
                                             const std::string& path, std::string& error) {
    const bool is_stdin = path == "-";
    const std::string name = is_stdin ? "standard input" : path;
    // A duplicate of standard input, so that closing ours leaves fd 0 to the process.
    int fd = is_stdin ? ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)
                      : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        error = "cannot open '" + name + "': " + std::strerror(errno);
        return nullptr;
    }
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        error = "cannot read '" + name + "': " + std::strerror(EISDIR);
        return nullptr;
    }
    // O_NONBLOCK belongs to the open file description, which standard input shares with the
    // shell when it is a terminal: put it back as it was when netctl is done.
    int saved_flags = is_stdin ? ::fcntl(fd, F_GETFL) : -1;
    // Asio accepts a regular file here too (epoll cannot watch one, but reading it never blocks).
    asio::posix::stream_descriptor stream(executor);
    std::error_code ec;
    stream.assign(fd, ec);
    if (ec) {
        ::close(fd);
        error = "cannot read '" + name + "': " + ec.message();
        return nullptr;
    }
    return std::unique_ptr<line_input>(new line_input(std::move(stream), name, saved_flags));
}

line_input::line_input(asio::posix::stream_descriptor stream, std::string name, int saved_flags)
    : stream_(std::move(stream)), name_(std::move(name)), saved_flags_(saved_flags) {}

line_input::~line_input() {
    if (saved_flags_ >= 0 && stream_.is_open())
        ::fcntl(stream_.native_handle(), F_SETFL, saved_flags_);
}

std::size_t line_input::first_line_bytes(bool& whole) const {
    auto nl = buffer_.find('\n');
    whole = nl != std::string::npos || eof_;
    auto end = nl == std::string::npos ? buffer_.size() : nl;
    if (whole && end > 0 && buffer_[end - 1] == '\r') --end;
    return end;
}

asio::awaitable<std::error_code> line_input::wait_line() {
    for (;;) {
        bool whole = false;
        auto bytes = first_line_bytes(whole);
        // One byte of slack while the line is open: it may be a "\r" whose "\n" is on its way.
        if (bytes > max_line_bytes && (whole || bytes > max_line_bytes + 1))
            co_return asio::error::message_size;
        if (whole) co_return std::error_code{};
        // As line_reader: a cancelled read transfers nothing, so racing this loses no bytes.
        auto [ec, n] = co_await stream_.async_read_some(asio::buffer(chunk_), use_tuple);
        if (ec == asio::error::eof) {
            eof_ = true;
            continue;
        }
        if (ec) co_return ec;
        buffer_.append(chunk_.data(), n);
    }
}

bool line_input::take_line(std::string& line) {
    bool whole = false;
    auto bytes = first_line_bytes(whole);
    if (!whole || buffer_.empty() || bytes > max_line_bytes) return false;
    line.assign(buffer_, 0, bytes);
    auto nl = buffer_.find('\n');
    buffer_.erase(0, nl == std::string::npos ? buffer_.size() : nl + 1);
    ++line_number_;
    return true;
}

}  // namespace netd::netctl
