#pragma once
// The I/O half of a line service's connection, shared by every line service: a read buffer that
// grows only for long lines, the framer, reading with the idle deadline, writing the replies,
// and the graceful-stop test. The services keep only what they do with a message.
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/framing.hpp"

namespace netd {

class session;
struct line_settings;

/// The buffer is held only while a message is being received: an idle connection gives it back
/// to a per-thread pool and is parked (session::park), so ten thousand idle connections hold no
/// read buffers and no coroutines.
class line_io {
  public:
    line_io(session& s, const line_settings& settings);
    ~line_io();
    line_io(const line_io&) = delete;
    line_io& operator=(const line_io&) = delete;

    /// The next framed step from the unread input (at end of input, the unterminated rest).
    proto::line_framer::step next();
    /// The input not yet used by next()/skip().
    std::string_view pending() const { return {buf_.data() + used_, have_ - used_}; }
    /// Marks `bytes` more of pending() as used.
    void skip(std::size_t bytes) { used_ += bytes; }
    /// Forgets what was used and keeps the rest for the next read.
    void compact();

    /// Writes `out` (then clears it) with the write timeout; false if the connection ended.
    asio::awaitable<bool> write(std::string& out);
    /// Sends what of `out` the socket takes now and erases it from `out`; false if the
    /// connection failed (the reason is set).
    bool try_write(std::string& out);
    /// If nothing is half-received and the connection goes on: gives the buffer back, arms the
    /// idle deadline and returns true (the caller parks the session).
    bool settle_idle();
    /// The thread's buffer for composing replies (empty): it keeps its capacity from one
    /// connection to the next. Use it only until the next co_await; write() copes with that.
    static std::string& reply_buffer();

    enum class input {
        more,  ///< more input is pending (or end of input, once: eof() tells)
        park,  ///< nothing half-received: park the session and return
        end,   ///< the connection ended or should end (a graceful stop, an error)
    };
    /// Waits for more input with the idle deadline. At end of input it returns `more` once, with
    /// eof() set, so the caller can answer what is left.
    asio::awaitable<input> read();
    /// Takes the bytes that woke the parked session (session::take_woken).
    void feed(std::string_view bytes);
    /// Gives the read buffer back if everything in it was used (before a long wait).
    void release_if_drained() {
        if (used_ == have_) release_buffer();
    }

    bool eof() const { return eof_; }
    bool classic() const { return framer_.current() == proto::line_framer::mode::classic; }
    /// When the bytes of the last read arrived, in unix microseconds.
    std::int64_t received_us() const { return received_us_; }

  private:
    void acquire_buffer();
    void release_buffer();
    void received(std::size_t n);

    session& s_;
    std::chrono::microseconds idle_timeout_;
    proto::line_framer framer_;
    std::string buf_;
    std::int64_t received_us_ = 0;
    std::uint32_t have_ = 0,
                  used_ = 0;  ///< max_line is at most 16 MiB: every connection is smaller
    bool quiet_ = false, eof_ = false;
};

}  // namespace netd
