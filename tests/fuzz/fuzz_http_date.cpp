// libFuzzer target: HTTP dates, entity tags and the MIME table. Invariants: a parsed date
// written back as IMF-fixdate parses to the same second; a written date is always 29 bytes; a
// tag always matches itself; every file name gets a type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "http_date.hpp"
#include "mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netd::proto::http;
    std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto t = parse_http_date(text)) {
        std::string written;
        append_http_date(written, *t);
        if (written.size() != 29 || parse_http_date(written) != t) std::abort();
    }

    if (size >= 16) {
        std::int64_t raw = 0;
        std::uint64_t file_size = 0;
        std::memcpy(&raw, data, 8);
        std::memcpy(&file_size, data + 8, 8);
        std::string written;
        append_http_date(written, static_cast<std::time_t>(raw));
        auto back = parse_http_date(written);
        if (written.size() != 29 || !back) std::abort();
        if (raw >= -62167219200 && raw <= 253402300799 && *back != raw) std::abort();

        auto tag = make_etag(file_size, raw);
        if (!etag_list_matches(tag, tag) || !etag_list_matches("W/" + tag, tag)) std::abort();
        (void)etag_list_matches(text.substr(16), tag);
    }

    auto type = mime_type(text);
    if (type.find('/') == std::string_view::npos) std::abort();
    return 0;
}
