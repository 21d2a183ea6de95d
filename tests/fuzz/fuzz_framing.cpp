// libFuzzer target: the line framer on arbitrary bytes cut at arbitrary points. Invariants:
// it always makes progress, never consumes past its input, never yields a message over
// max_line, and never yields a message containing '\n'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "framing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netd::proto;
    if (size < 2) return 0;
    const std::size_t max_line = 1 + data[0] % 64;
    const bool line_only = data[1] & 1;
    std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    line_framer framer(line_only ? framing::line : framing::auto_detect, max_line);
    std::string buffer;
    std::size_t pos = 0;
    while (pos < input.size()) {
        // Chunk sizes come from the bytes themselves, so the fuzzer explores split points.
        std::size_t chunk = 1 + static_cast<unsigned char>(input[pos]) % 17;
        buffer.append(input.substr(pos, chunk));
        pos += chunk;
        for (;;) {
            auto step = framer.next(buffer, pos >= input.size());
            if (step.what == line_framer::status::too_long) return 0;
            if (step.what == line_framer::status::need_more) {
                if (buffer.size() >= framer.buffer_bytes()) std::abort();  // must have decided
                break;
            }
            if (step.consumed == 0 || step.consumed > buffer.size()) std::abort();
            if (step.message.size() > max_line) std::abort();
            if (step.message.find('\n') != std::string_view::npos &&
                framer.current() != line_framer::mode::classic)
                std::abort();
            buffer.erase(0, step.consumed);
        }
    }
    auto last = framer.finish(buffer);
    if (last.what == line_framer::status::message && last.message.size() > max_line) std::abort();
    return 0;
}
