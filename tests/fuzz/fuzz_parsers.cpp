// libFuzzer target: every config/CLI parser on arbitrary text. They must not crash, and what
// they accept must survive a round trip (an accepted address prints back to an equal address).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "address.hpp"
#include "duration.hpp"
#include "ping.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netd::proto;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto a = parse_listen_address(text); a.ok()) {
        auto again = parse_listen_address(a.value.text());
        if (!again.ok() || !(again.value == a.value)) std::abort();
    } else if (a.error.empty()) {
        std::abort();
    }
    if (auto c = parse_cidr(text); c.ok() && c.value.prefix > 128) std::abort();
    (void)parse_host_port(text, 7000);
    if (auto d = parse_duration(text); d.ok() && d.value.count() < 0) std::abort();
    (void)parse_interval(text);
    stamp_reply r;
    (void)parse_stamp_reply(text, r);
    std::string out;
    append_ping_reply(out, text, 1, 2);
    if (out.empty() || out.back() != '\n') std::abort();
    return 0;
}
