#pragma once
// Line framing shared by the line services (ping, ack, sensor).
//
// A message is a line ending in "\n" (a "\r" before it is dropped). With framing "auto", a
// connection whose first message arrives with no newline and nothing more pending is a classic
// socket client (one bare message per send(), then it waits for the reply): from then on each
// read is one message. Every other connection is line-framed for good.
#include <cstddef>
#include <string_view>

namespace netd::proto {

enum class framing { auto_detect, line };

class line_framer {
  public:
    enum class mode { unknown, line, classic };
    enum class status { message, need_more, too_long };
    struct step {
        status what;
        std::string_view message;  ///< valid when what == message; points into the input
        std::size_t consumed;      ///< bytes of the input this step used up
    };

    line_framer(framing f, std::size_t max_line_bytes) : max_line_(max_line_bytes), framing_(f) {}

    /// Takes the next message from the unconsumed input. `quiet`: nothing more is pending on the
    /// connection right now (the classic-client test); it only matters for the first message.
    step next(std::string_view input, bool quiet);

    /// At end of input: the unterminated rest (if any) as one last message.
    step finish(std::string_view input);

    mode current() const { return mode_; }
    /// Bytes the caller's buffer must hold so that an over-long line is always detected.
    std::size_t buffer_bytes() const { return max_line_ + 2; }

  private:
    step whole(std::string_view input);

    std::size_t max_line_;
    framing framing_;
    mode mode_ = mode::unknown;
};

}  // namespace netd::proto
