// libFuzzer target: the Range header against files of several sizes. Invariants: a partial
// range lies inside the file (first <= last < size), an empty file never gets one, and the
// range written back as "bytes=first-last" parses to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http_range.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netd::proto::http;
    using kind = range_result::kind;
    if (size < 1) return 0;
    constexpr std::uint64_t sizes[] = {0, 1, 2, 10, 1000, 1ull << 40, UINT64_MAX};
    const std::uint64_t file_size = sizes[data[0] % 7];
    std::string header = data[0] & 8 ? "bytes=" : "";
    header.append(reinterpret_cast<const char*>(data) + 1, size - 1);

    auto r = parse_range(header, file_size);
    if (r.what != kind::partial) {
        if (r.first != 0 || r.last != 0) std::abort();
        return 0;
    }
    if (file_size == 0 || r.first > r.last || r.last >= file_size) std::abort();
    auto again =
        parse_range("bytes=" + std::to_string(r.first) + "-" + std::to_string(r.last), file_size);
    if (again.what != kind::partial || again.first != r.first || again.last != r.last) std::abort();
    return 0;
}
