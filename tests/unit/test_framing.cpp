#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proto/framing.hpp"

using namespace netd::proto;
using status = line_framer::status;

namespace {

// Feeds `chunks` one read at a time, like a socket would, and collects the messages.
struct feeder {
    explicit feeder(line_framer f) : framer(f) {}

    line_framer framer;
    std::string buffer;
    std::vector<std::string> messages;
    bool too_long = false;

    void read(std::string_view chunk, bool quiet) {
        buffer += chunk;
        for (;;) {
            auto step = framer.next(buffer, quiet);
            if (step.what == status::too_long) too_long = true;
            if (step.what != status::message) break;
            messages.emplace_back(step.message);
            buffer.erase(0, step.consumed);
        }
    }
    void eof() {
        auto step = framer.finish(buffer);
        if (step.what == status::message) messages.emplace_back(step.message);
    }
};

}  // namespace

TEST_CASE("framing: lines split across reads are joined, never cut") {
    feeder f(line_framer(framing::auto_detect, 100));
    f.read("pi", false);  // more bytes pending: not a classic client
    f.read("ng\nget_", true);
    f.read("time\r\n", true);
    CHECK(f.messages == std::vector<std::string>{"ping", "get_time"});
    CHECK(f.framer.current() == line_framer::mode::line);
}

TEST_CASE("framing: pipelined lines in one read come out in order; \\r before \\n dropped") {
    feeder f(line_framer(framing::line, 100));
    f.read("a\r\nb\n\nc\n", true);
    CHECK(f.messages == std::vector<std::string>{"a", "b", "", "c"});
}

TEST_CASE("framing: a bare message with nothing more pending marks a classic client") {
    feeder f(line_framer(framing::auto_detect, 100));
    f.read("ping", true);
    CHECK(f.messages == std::vector<std::string>{"ping"});
    CHECK(f.framer.current() == line_framer::mode::classic);
    // From then on each read is one message, newline or not.
    f.read("Hello from client", true);
    f.read("get_time\n", true);
    CHECK(f.messages == std::vector<std::string>{"ping", "Hello from client", "get_time"});
}

TEST_CASE("framing: line mode never treats a bare read as a message") {
    feeder f(line_framer(framing::line, 100));
    f.read("ping", true);
    CHECK(f.messages.empty());
    f.read("\n", true);
    CHECK(f.messages == std::vector<std::string>{"ping"});
}

TEST_CASE("framing: a first read that has a newline fixes line mode for good") {
    feeder f(line_framer(framing::auto_detect, 100));
    f.read("ping\n", true);
    f.read("pi", true);  // now a split line, not a classic message
    CHECK(f.messages == std::vector<std::string>{"ping"});
    f.read("ng\n", true);
    CHECK(f.messages == std::vector<std::string>{"ping", "ping"});
}

TEST_CASE("framing: max_line bytes is accepted, one more is too long") {
    feeder ok(line_framer(framing::line, 4));
    ok.read("abcd\r\n", false);
    CHECK(ok.messages == std::vector<std::string>{"abcd"});
    CHECK_FALSE(ok.too_long);

    feeder bad(line_framer(framing::line, 4));
    bad.read("abcde\n", false);
    CHECK(bad.too_long);
    CHECK(bad.messages.empty());
}

TEST_CASE("framing: an over-long line is caught before its newline arrives") {
    line_framer framer(framing::line, 4);
    CHECK(framer.next("abcd", false).what == status::need_more);
    CHECK(framer.next("abcd\r", false).what == status::need_more);  // the \n may follow
    CHECK(framer.next("abcdef", false).what == status::too_long);
    CHECK(framer.buffer_bytes() == 6);  // a full buffer always decides
}

TEST_CASE("framing: an over-long classic message is too long") {
    line_framer framer(framing::auto_detect, 4);
    CHECK(framer.next("pingpong", true).what == status::too_long);
}

TEST_CASE("framing: at end of input the unterminated rest is one last message") {
    feeder f(line_framer(framing::auto_detect, 100));
    f.read("a\nb", false);
    f.eof();
    CHECK(f.messages == std::vector<std::string>{"a", "b"});
}
