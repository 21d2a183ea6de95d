// netctl get's wire code: URLs, file names, the request, response heads, chunked bodies,
// Content-Range and what -c does with each answer. No sockets.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "http_client.hpp"

namespace http = netd::netctl::http;
using namespace std::string_literals;

namespace {

http::url url_of(std::string_view text) {
    auto r = http::parse_url(text, 8080);
    REQUIRE_MESSAGE(r.ok(), r.error);
    return r.value;
}

std::string url_error(std::string_view text) {
    auto r = http::parse_url(text, 8080);
    CHECK_FALSE(r.ok());
    return r.error;
}

http::response head_of(std::string_view text) {
    http::response r;
    auto parsed = http::parse_response_head(text, r);
    REQUIRE_MESSAGE(parsed.status == http::parse_status::complete, parsed.error);
    CHECK(parsed.head_bytes == text.size());
    return r;
}

std::string head_error(std::string_view text, const http::limits& lim = {}) {
    http::response r;
    auto parsed = http::parse_response_head(text, r, lim);
    CHECK(parsed.status == http::parse_status::error);
    return parsed.error;
}

// Feeds `wire` to a chunked decoder in pieces of `step` bytes, the way reads would deliver it,
// keeping what was not consumed; returns the body, or "ERROR: ..." .
std::string dechunk(std::string_view wire, std::size_t step, bool* complete = nullptr) {
    http::chunked_decoder d;
    std::string pending, body;
    for (std::size_t pos = 0; pos <= wire.size(); pos += step) {
        pending += wire.substr(pos, step);
        std::string_view in = pending;
        for (;;) {
            auto s = d.next(in);
            if (s.status == http::parse_status::error) return "ERROR: " + std::string(s.error);
            body += s.data;
            in.remove_prefix(s.consumed);
            if (s.status == http::parse_status::complete) {
                if (complete) *complete = true;
                return body;
            }
            if (s.consumed == 0) break;
        }
        pending = std::string(in);
    }
    if (complete) *complete = false;
    return body;
}

}  // namespace

TEST_CASE("url: host, port and path of a plain http URL") {
    auto u = url_of("http://127.0.0.1:9000/dir/file.bin");
    CHECK(u.host == "127.0.0.1");
    CHECK(u.port == 9000);
    CHECK(u.target == "/dir/file.bin");
    CHECK(u.text() == "http://127.0.0.1:9000/dir/file.bin");
}

TEST_CASE("url: no port means netctl get's default, no path means /") {
    auto u = url_of("http://localhost");
    CHECK(u.host == "localhost");
    CHECK(u.port == 8080);
    CHECK(u.target == "/");
    CHECK(url_of("HTTP://h:/x").port == 8080);  // empty port: the default (RFC 3986)
}

TEST_CASE("url: IPv6 literal in brackets, with and without a port") {
    auto u = url_of("http://[::1]:8081/a");
    CHECK(u.host == "::1");
    CHECK(u.port == 8081);
    CHECK(u.text() == "http://[::1]:8081/a");
    CHECK(url_of("http://[::1]/").port == 8080);
}

TEST_CASE("url: query kept, fragment dropped, unsafe bytes percent-encoded") {
    CHECK(url_of("http://h/a?x=1#frag").target == "/a?x=1");
    CHECK(url_of("http://h?q").target == "/?q");
    CHECK(url_of("http://h/a b\x01\xc3\xa9").target == "/a%20b%01%C3%A9");
    CHECK(url_of("http://h/already%20encoded").target == "/already%20encoded");
}

TEST_CASE("url: https is a clear error, as are other schemes and junk") {
    CHECK(url_error("https://127.0.0.1/x").find("https is not supported") != std::string::npos);
    CHECK(url_error("ftp://h/x").find("unsupported scheme 'ftp'") != std::string::npos);
    CHECK(url_error("127.0.0.1/x").find("expected http://") != std::string::npos);
    CHECK(url_error("http://user:pw@h/").find("user info") != std::string::npos);
    CHECK(url_error("http://h:0/").find("bad port") != std::string::npos);
    CHECK(url_error("http://h:65536/").find("bad port") != std::string::npos);
    CHECK(url_error("http://h:8o/").find("bad port") != std::string::npos);
    CHECK(url_error("http://[::1/").find("unclosed") != std::string::npos);
    CHECK(url_error("http://[zz]/").find("bad IPv6") != std::string::npos);
    CHECK(url_error("http://::1/").find("brackets") != std::string::npos);
    CHECK(url_error("http://h st/").find("bad host") != std::string::npos);
}

TEST_CASE("url: classic HOST PORT PATH form") {
    auto r = http::make_url("127.0.0.1", "8080", "/index.html");
    REQUIRE(r.ok());
    CHECK(r.value.text() == "http://127.0.0.1:8080/index.html");
    CHECK(http::make_url("::1", "80", "x").value.text() == "http://[::1]:80/x");
    CHECK(http::make_url("[::1]", "80", "/a#b").value.target == "/a%23b");
    CHECK_FALSE(http::make_url("h", "0", "/").ok());
    CHECK_FALSE(http::make_url("h", "http", "/").ok());
    CHECK_FALSE(http::make_url("", "80", "/").ok());
}

TEST_CASE("location: absolute-path, relative, query-only and absolute URLs") {
    auto base = url_of("http://127.0.0.1:8080/dir/page?x=1");
    CHECK(http::resolve_location(base, "/other").value.text() == "http://127.0.0.1:8080/other");
    CHECK(http::resolve_location(base, "file.bin").value.target == "/dir/file.bin");
    CHECK(http::resolve_location(base, "sub/").value.target == "/dir/sub/");
    CHECK(http::resolve_location(base, "?y=2").value.target == "/dir/page?y=2");
    CHECK(http::resolve_location(base, " /a#frag ").value.target == "/a");
    auto abs = http::resolve_location(base, "http://127.0.0.1:8080/x").value;
    CHECK(http::same_origin(base, abs));
    CHECK(abs.target == "/x");
}

TEST_CASE("location: another host or port is another origin; no port there means 80") {
    auto base = url_of("http://127.0.0.1:8080/");
    CHECK_FALSE(http::same_origin(base, http::resolve_location(base, "http://127.0.0.1/").value));
    CHECK(http::resolve_location(base, "http://127.0.0.1/").value.port == 80);
    CHECK_FALSE(http::same_origin(base, http::resolve_location(base, "//example.com:8080/").value));
    CHECK(http::same_origin(url_of("http://LocalHost:1/"), url_of("http://localhost:1/b")));
    CHECK_FALSE(http::resolve_location(base, "https://127.0.0.1:8080/").ok());
    CHECK_FALSE(http::resolve_location(base, "").ok());
}

TEST_CASE("file name: last path segment, percent-decoded, query ignored") {
    CHECK(http::file_name_for("/dir/file.bin") == "file.bin");
    CHECK(http::file_name_for("/a%20b.txt?download=1") == "a b.txt");
    CHECK(http::file_name_for("/x/%C3%A9t%C3%A9.txt") == "\xc3\xa9t\xc3\xa9.txt");
    CHECK(http::file_name_for("/100%") == "100%");  // a stray '%' is kept as it is
    CHECK(http::file_name_for("/%zz") == "%zz");
}

TEST_CASE("file name: index.html for a directory, '.' or '..'; no '/' or control bytes") {
    CHECK(http::file_name_for("/") == "index.html");
    CHECK(http::file_name_for("/dir/") == "index.html");
    CHECK(http::file_name_for("/dir/?q=1") == "index.html");
    CHECK(http::file_name_for("/a/.") == "index.html");
    CHECK(http::file_name_for("/a/..") == "index.html");
    CHECK(http::file_name_for("/%2e%2E") == "index.html");
    CHECK(http::file_name_for("/..%2F..%2Fetc%2Fpasswd") == ".._.._etc_passwd");
    CHECK(http::file_name_for("/a%00b%0Ac") == "a_b_c");
}

TEST_CASE("request: GET with Host, User-Agent, Accept, Connection; Range only to resume") {
    auto u = url_of("http://127.0.0.1:8080/f?x=1");
    CHECK(http::build_request(u, "netctl/1.0", 0) ==
          "GET /f?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: netctl/1.0\r\n"
          "Accept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n");
    auto ranged = http::build_request(url_of("http://[::1]:80/f"), "ua", 1234);
    CHECK(ranged.find("\r\nHost: [::1]\r\n") != std::string::npos);
    CHECK(ranged.find("\r\nRange: bytes=1234-\r\n") != std::string::npos);
}

TEST_CASE("response: status line, headers case-insensitive, Content-Length framing") {
    auto r = head_of(
        "HTTP/1.1 200 OK\r\ncontent-length: 42\r\nContent-Type: text/plain\r\nX-A: b\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.reason == "OK");
    CHECK(r.content_length == 42u);
    CHECK(r.content_type == "text/plain");
    CHECK(r.framing() == http::body_framing::content_length);
}

TEST_CASE("response: body after the head is not part of it; bare LF lines accepted") {
    http::response r;
    std::string_view wire = "HTTP/1.0 404 Not Found\nContent-Length: 3\n\nabc";
    auto parsed = http::parse_response_head(wire, r);
    REQUIRE(parsed.status == http::parse_status::complete);
    CHECK(wire.substr(parsed.head_bytes) == "abc");
    CHECK(r.version_minor == 0);
    CHECK(r.reason == "Not Found");
}

TEST_CASE("response: framing is chunked, until close, or none for 204/304") {
    CHECK(head_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\n")
              .framing() == http::body_framing::chunked);
    CHECK(head_of("HTTP/1.1 200 OK\r\n\r\n").framing() == http::body_framing::until_close);
    CHECK(head_of("HTTP/1.1 204 No Content\r\n\r\n").framing() == http::body_framing::none);
    CHECK(head_of("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing() ==
          http::body_framing::none);
    CHECK(head_of("HTTP/1.1 200\r\n\r\n").reason.empty());  // a missing reason phrase is fine
}

TEST_CASE("response: Location and Content-Range are kept, values trimmed") {
    auto r =
        head_of("HTTP/1.1 302 Found\r\nLocation:  /new \r\nContent-Range:\tbytes */10\r\n\r\n");
    CHECK(r.location == "/new");
    CHECK(r.content_range == "bytes */10");
}

TEST_CASE("response: a head split across reads is incomplete until its blank line") {
    std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n";
    for (std::size_t n = 0; n < wire.size(); ++n) {
        http::response r;
        auto parsed = http::parse_response_head(std::string_view(wire).substr(0, n), r);
        CHECK_MESSAGE(parsed.status == http::parse_status::incomplete, n);
    }
}

TEST_CASE("response: a peer that is not HTTP is an error at once, not a wait") {
    CHECK(head_error("Unknown command\n") == "not an HTTP/1.x response");
    CHECK(head_error("U") == "not an HTTP/1.x response");
    CHECK(head_error("HTTP/2 200\r\n\r\n") == "not an HTTP/1.x response");
    CHECK(head_error("HTTP/1.1 99 x\r\n\r\n") == "not an HTTP/1.x response");
    CHECK(head_error("HTTP/1.1 2000 x\r\n\r\n") == "not an HTTP/1.x response");
    http::response r;
    CHECK(http::parse_response_head("HTT", r).status == http::parse_status::incomplete);
}

TEST_CASE("response: bad headers are errors") {
    CHECK(head_error("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n").find("folding") !=
          std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nno colon\r\n\r\n").find("colon") != std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\n: v\r\n\r\n").find("colon") != std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n").find("name") != std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").find("Content-Length") !=
          std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n")
              .find("Content-Length") != std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
              .find("conflicting") != std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
              .find("unsupported Transfer-Encoding") != std::string::npos);
}

TEST_CASE("response: repeated identical Content-Length is one value") {
    CHECK(head_of("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n")
              .content_length == 7u);
}

TEST_CASE("response: over the head limit or the header count is an error") {
    http::limits lim;
    lim.max_head_bytes = 64;
    lim.max_headers = 2;
    CHECK(head_error("HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a'), lim)
              .find("longer than 64") != std::string::npos);
    CHECK(head_error("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", lim).find("more than 2") !=
          std::string::npos);
    http::response r;
    // Exactly at the limit is still fine.
    std::string at_limit =
        "HTTP/1.1 200 OK\r\nX: " + std::string(64 - 17 - 3 - 4, 'a') + "\r\n\r\n";
    REQUIRE(at_limit.size() == 64);
    CHECK(http::parse_response_head(at_limit, r, lim).status == http::parse_status::complete);
}

TEST_CASE("chunked: decodes sizes in hex, extensions and trailers, in any split") {
    std::string wire = "5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    for (std::size_t step : {1u, 2u, 3u, 7u, 1000u}) {
        bool complete = false;
        CHECK(dechunk(wire, step, &complete) == "hello0123456789");
        CHECK(complete);
    }
}

TEST_CASE("chunked: bare LF line ends and upper-case hex") {
    bool complete = false;
    CHECK(dechunk("1F\n" + std::string(31, 'x') + "\n0\n\n", 4, &complete) == std::string(31, 'x'));
    CHECK(complete);
}

TEST_CASE("chunked: a body cut before the last chunk is not complete") {
    bool complete = true;
    CHECK(dechunk("5\r\nhello\r\n3\r\nab", 100, &complete) == "helloab");
    CHECK_FALSE(complete);
    CHECK(dechunk("5\r\nhello\r\n0\r\n", 100, &complete) == "hello");  // no end of trailers
    CHECK_FALSE(complete);
}

TEST_CASE("chunked: bad sizes, missing CRLF and over-long lines are errors") {
    CHECK(dechunk("x\r\n", 100) == "ERROR: bad chunk size");
    CHECK(dechunk("\r\n", 100) == "ERROR: bad chunk size");
    CHECK(dechunk("5 junk\r\n", 100) == "ERROR: bad chunk size");
    CHECK(dechunk("2\r\nabX", 100).starts_with("ERROR: chunk data not followed"));
    CHECK(dechunk("11111111111111111\r\n", 100) == "ERROR: chunk size too large");
    CHECK(dechunk(std::string(5000, '1'), 5000) == "ERROR: chunk size line too long");
    CHECK(dechunk("0\r\n" + std::string(5000, 'x'), 5000) == "ERROR: trailer line too long");
}

TEST_CASE("chunked: data comes out as views of the input, without waiting for the whole chunk") {
    http::chunked_decoder d;
    std::string_view in = "10\r\nabc";
    auto s = d.next(in);
    CHECK(s.consumed == 4);
    in.remove_prefix(s.consumed);
    s = d.next(in);
    CHECK(s.data == "abc");
    CHECK(s.data.data() == in.data());
    CHECK(s.status == http::parse_status::incomplete);
}

TEST_CASE("content-range: the three forms, and junk") {
    auto cr = http::parse_content_range("bytes 100-199/1000");
    REQUIRE(cr);
    CHECK((cr->first == 100 && cr->last == 199 && cr->complete_length == 1000u));
    CHECK_FALSE(http::parse_content_range("bytes 100-199/*")->complete_length);
    cr = http::parse_content_range("bytes */1000");
    REQUIRE(cr);
    CHECK(cr->unsatisfied);
    CHECK(cr->complete_length == 1000u);
    CHECK_FALSE(http::parse_content_range("bytes 5-4/10"));
    CHECK_FALSE(http::parse_content_range("bytes 5-10/10"));
    CHECK_FALSE(http::parse_content_range("bytes */*"));
    CHECK_FALSE(http::parse_content_range("items 1-2/3"));
    CHECK_FALSE(http::parse_content_range(""));
}

TEST_CASE("resume: 206 from the asked byte appends, from another byte fails") {
    http::response r;
    r.status = 206;
    r.content_range = "bytes 100-999/1000";
    CHECK(http::decide_resume(r, 100).action == http::resume_action::append);
    CHECK(http::decide_resume(r, 50).action == http::resume_action::fail);
    r.content_range = "";
    CHECK(http::decide_resume(r, 100).action == http::resume_action::fail);
}

TEST_CASE("resume: 200 starts afresh; 416 for exactly our size is already complete") {
    http::response r;
    r.status = 200;
    CHECK(http::decide_resume(r, 100).action == http::resume_action::overwrite);
    r.status = 416;
    r.content_range = "bytes */1000";
    CHECK(http::decide_resume(r, 1000).action == http::resume_action::already_complete);
    auto bigger = http::decide_resume(r, 2000);
    CHECK(bigger.action == http::resume_action::fail);
    CHECK(bigger.error.find("2000") != std::string::npos);
    r.content_range = "";
    CHECK(http::decide_resume(r, 1000).action == http::resume_action::fail);
}

TEST_CASE("format: sizes and rates in decimal units, and the progress line") {
    CHECK(http::format_size(999) == "999 B");
    CHECK(http::format_size(1500) == "1.5 kB");
    CHECK(http::format_size(3'145'728) == "3.1 MB");
    CHECK(http::format_rate(12.0) == "12 B/s");
    CHECK(http::format_rate(254.8e6) == "254.8 MB/s");
    CHECK(http::format_rate(1.5e9) == "1.50 GB/s");
    CHECK(http::progress_text(50, 100, 1e6) ==
          " 50% [###############               ] 50 B / 100 B  1.0 MB/s");
    CHECK(http::progress_text(200, 100, 0).starts_with("100% [####"));  // more than promised
    CHECK(http::progress_text(0, 0, 0).starts_with("100%"));
}
