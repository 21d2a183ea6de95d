#include "framing.hpp"

namespace netd::proto {
namespace {

std::string_view strip_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

}  // namespace

line_framer::step line_framer::whole(std::string_view input) {
    auto message = input;
    if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
    message = strip_cr(message);
    if (message.size() > max_line_) return {status::too_long, {}, 0};
    return {status::message, message, input.size()};
}

line_framer::step line_framer::next(std::string_view input, bool quiet) {
    if (input.empty()) return {status::need_more, {}, 0};
    if (mode_ == mode::classic) return whole(input);
    auto nl = input.find('\n');
    if (mode_ == mode::unknown) {
        if (nl != std::string_view::npos || framing_ == framing::line) {
            mode_ = mode::line;
        } else if (quiet) {
            mode_ = mode::classic;
            return whole(input);
        }
    }
    if (nl == std::string_view::npos) {
        // "\r" may still be followed by its "\n", hence the one byte of slack.
        if (input.size() > max_line_ + 1) return {status::too_long, {}, 0};
        return {status::need_more, {}, 0};
    }
    auto line = strip_cr(input.substr(0, nl));
    if (line.size() > max_line_) return {status::too_long, {}, 0};
    return {status::message, line, nl + 1};
}

line_framer::step line_framer::finish(std::string_view input) {
    if (input.empty()) return {status::need_more, {}, 0};
    return whole(input);
}

}  // namespace netd::proto
