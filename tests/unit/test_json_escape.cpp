#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "proto/json_escape.hpp"

using netd::proto::append_json_string;

namespace {
std::string json_quoted(std::string_view s, std::size_t max = std::string_view::npos) {
    std::string out;
    append_json_string(out, s, max);
    return out;
}
}  // namespace

TEST_CASE("json escape: quotes, backslashes and control characters") {
    CHECK(json_quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json_quoted("l1\nl2\r\t") == "\"l1\\nl2\\r\\t\"");
    CHECK(json_quoted(std::string("a\0b", 3)) == "\"a\\u0000b\"");
    CHECK(json_quoted("\x1b[31m") == "\"\\u001b[31m\"");
}

TEST_CASE("json escape: valid UTF-8 passes through, invalid bytes become \\u00XX") {
    CHECK(json_quoted("h\xc3\xa9llo \xe2\x82\xac") == "\"h\xc3\xa9llo \xe2\x82\xac\"");
    CHECK(json_quoted("\xff\xfe") == "\"\\u00ff\\u00fe\"");
    CHECK(json_quoted("\xc3") == "\"\\u00c3\"");                        // truncated sequence
    CHECK(json_quoted("\xc0\xaf") == "\"\\u00c0\\u00af\"");             // overlong '/'
    CHECK(json_quoted("\xed\xa0\x80") == "\"\\u00ed\\u00a0\\u0080\"");  // surrogate
}

TEST_CASE("json escape: any byte string yields JSON a strict parser accepts") {
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    for (int i = 255; i >= 0; --i)
        all += static_cast<char>(i);
    auto text = json_quoted(all);
    // nlohmann's parser rejects invalid UTF-8 and raw control characters.
    nlohmann::json parsed;
    REQUIRE_NOTHROW(parsed = nlohmann::json::parse(text));
    REQUIRE(parsed.is_string());
    CHECK(parsed.get<std::string>().size() > all.size());  // escapes expanded, nothing dropped
}

TEST_CASE("json escape: long peer text is cut and marked") {
    CHECK(json_quoted("abcdef", 3) == "\"abc...\"");
    CHECK(json_quoted("abc", 3) == "\"abc\"");
}
