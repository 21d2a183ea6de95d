#include <doctest/doctest.h>

#include <string>

#include "proto/ack.hpp"

using netd::proto::ack_template;

namespace {
std::string fill(std::string_view tmpl, std::uint64_t seq, std::string_view message) {
    auto t = ack_template::parse(tmpl);
    REQUIRE_MESSAGE(t.ok(), t.error);
    std::string out;
    t.value.append(out, seq, message);
    return out;
}
}  // namespace

TEST_CASE("ack template: the default fills seq and bytes") {
    CHECK(fill("ACK {seq} {bytes}", 3, "hello") == "ACK 3 5\n");
}

TEST_CASE("ack template: {message} echoes the message; newlines inside become spaces") {
    CHECK(fill("got '{message}' #{seq}", 1, "Hello from client") == "got 'Hello from client' #1\n");
    CHECK(fill("{message}", 1, "a\nb\r\nc") == "a b  c\n");
}

TEST_CASE("ack template: doubled braces are literal braces") {
    CHECK(fill("{{\"seq\":{seq}}}", 9, "x") == "{\"seq\":9}\n");
}

TEST_CASE("ack template: unknown placeholders, stray braces and newlines are errors") {
    CHECK(ack_template::parse("ACK {sq}").error ==
          "unknown placeholder '{sq}': use {seq}, {bytes} or {message}");
    CHECK(ack_template::parse("ACK {seq").error ==
          "'{' without '}' at offset 4 (write '{{' for a brace)");
    CHECK(ack_template::parse("ACK }").error ==
          "'}' without '{' at offset 4 (write '}}' for a brace)");
    CHECK(ack_template::parse("ACK\n{seq}").error ==
          "a reply is one line: no newline in the template");
    CHECK(ack_template::parse("").ok());
}
