// libFuzzer target: whatever bytes a peer sends, the escaped string is valid JSON that decodes
// to a string (checked with nlohmann's strict parser).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "json_escape.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string out;
    netd::proto::append_json_string(
        out, std::string_view(reinterpret_cast<const char*>(data), size), size > 0 ? data[0] : 0);
    auto parsed = nlohmann::json::parse(out, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_string()) std::abort();
    return 0;
}
