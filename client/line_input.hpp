#pragma once
// Lines from a file or standard input for `netctl sensor --from`, read without blocking the
// io_context, so acks keep arriving (and are timed) while a slow producer has nothing to give.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include <asio.hpp>

namespace netd::netctl {

class line_input {
  public:
    /// A line longer than this is not a reading netd would take (its default max_line).
    static constexpr std::size_t max_line_bytes = 65536;

    /// Opens FILE, or standard input for "-"; nullptr and a one-line error if it cannot.
    static std::unique_ptr<line_input> open(const asio::any_io_executor& executor,
                                            const std::string& path, std::string& error);
    ~line_input();
    line_input(const line_input&) = delete;
    line_input& operator=(const line_input&) = delete;

    /// Completes once a whole line or the end of input is buffered, or with a read error
    /// (asio::error::message_size for an over-long line). Cancelling it loses no bytes.
    asio::awaitable<std::error_code> wait_line();

    /// Takes the next line without its "\n" or "\r"; at the end of input an unterminated rest
    /// is the last line. False if no whole line is buffered.
    bool take_line(std::string& line);

    /// The end of input was reached and every line taken.
    bool at_end() const { return eof_ && buffer_.empty(); }
    /// The number of the line take_line() returned last (1-based).
    std::uint64_t line_number() const { return line_number_; }
    /// "readings.txt" or "standard input", for messages.
    const std::string& name() const { return name_; }

  private:
    line_input(asio::posix::stream_descriptor stream, std::string name, int saved_flags);
    // The first buffered line's length without "\r"; `whole`: it is complete (or the last).
    std::size_t first_line_bytes(bool& whole) const;

    asio::posix::stream_descriptor stream_;
    std::string name_;
    int saved_flags_;  // standard input's file status flags, restored on exit (Asio sets
                       // O_NONBLOCK)
    std::string buffer_;
    std::array<char, 4096> chunk_{};
    bool eof_ = false;
    std::uint64_t line_number_ = 0;
};

}  // namespace netd::netctl
