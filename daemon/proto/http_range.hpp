#pragma once
// The Range header (RFC 9110 14.2), bytes unit, against a file of known size. Pure.
#include <cstdint>
#include <string_view>

namespace netd::proto::http {

struct range_result {
    enum class kind {
        whole,          ///< no usable Range (absent, malformed, other unit, several ranges): 200
        partial,        ///< one satisfiable range: 206 with first..last (inclusive)
        unsatisfiable,  ///< valid syntax but nothing in the file: 416 with "bytes */size"
    } what = kind::whole;
    std::uint64_t first = 0, last = 0;  ///< inclusive, only for partial
};

/// Parses "bytes=a-b", "bytes=a-", "bytes=-n" (case-insensitive unit, optional spaces around
/// the set). `last` past the end is clipped; "-n" longer than the file is the whole file as a
/// 206 of 0..size-1; a suffix of 0 or a first byte at or past the end is unsatisfiable (an
/// empty file: every range is). Several ranges, even when they overlap, are answered with the
/// whole file; numbers that overflow are malformed.
range_result parse_range(std::string_view header, std::uint64_t size);

}  // namespace netd::proto::http
