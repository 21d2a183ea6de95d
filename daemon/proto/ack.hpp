#pragma once
// The ack service's reply template: "ACK {seq} {bytes}", with {seq}, {bytes} and {message}.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "result.hpp"

namespace netd::proto {

class ack_template {
  public:
    enum class field { literal, seq, bytes, message };
    struct part {
        field what;
        std::string text;  ///< for literal parts
    };

    /// Parses a template; "{{" and "}}" are literal braces; unknown placeholders are an error.
    static result<ack_template> parse(std::string_view text);

    /// Appends the reply for one message, with its "\n". A newline inside {message} (possible
    /// from a classic client) becomes a space, so one message is always one reply line.
    void append(std::string& out, std::uint64_t seq, std::string_view message) const;

  private:
    std::vector<part> parts_;
};

}  // namespace netd::proto
