#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "proto/http_request.hpp"

// Cases re-expressed from lighttpd's request tests (src/t/test_request.c), nginx-tests
// (http_uri.t, http_header_buffers.t) and RFC 9112's own examples.

using namespace netd::proto::http;

namespace {

struct parsed {
    parse_result result;
    request req;
};

parsed parse(std::string_view text, const limits& lim = {}) {
    parsed p;
    p.result = parse_request(text, lim, p.req);
    return p;
}

int status_of(std::string_view text, const limits& lim = {}) {
    auto p = parse(text, lim);
    if (p.result.status == parse_status::complete) return 200;
    if (p.result.status == parse_status::incomplete) return 0;
    return p.result.error_status;
}

bool same(const request& a, const request& b) {
    return a.verb == b.verb && a.method_text == b.method_text && a.target == b.target &&
           a.version_major == b.version_major && a.version_minor == b.version_minor &&
           a.keep_alive == b.keep_alive && a.has_host == b.has_host && a.has_body == b.has_body &&
           a.content_length == b.content_length && a.host == b.host &&
           a.user_agent == b.user_agent && a.range == b.range && a.if_range == b.if_range &&
           a.if_none_match == b.if_none_match && a.if_modified_since == b.if_modified_since;
}

const std::string browser_get =
    "GET /docs/a%20b.txt?x=1 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
    "Range: bytes=0-99\r\n"
    "If-Range: \"1f-2a\"\r\n"
    "If-None-Match: W/\"1f-2a\", \"3\"\r\n"
    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

}  // namespace

TEST_CASE("request: a browser's GET is complete, its headers are views into the buffer") {
    auto p = parse(browser_get);
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.result.head_bytes == browser_get.size());
    const auto& r = p.req;
    CHECK(r.verb == method::get);
    CHECK(r.method_text == "GET");
    CHECK(r.target == "/docs/a%20b.txt?x=1");
    CHECK(r.version_major == 1);
    CHECK(r.version_minor == 1);
    CHECK(r.keep_alive);
    CHECK(r.has_host);
    CHECK_FALSE(r.has_body);
    CHECK(r.host == "localhost:8080");
    CHECK(r.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
    CHECK(r.range == "bytes=0-99");
    CHECK(r.if_range == "\"1f-2a\"");
    CHECK(r.if_none_match == "W/\"1f-2a\", \"3\"");
    CHECK(r.if_modified_since == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(r.target.data() >= browser_get.data());
    CHECK(r.target.data() + r.target.size() <= browser_get.data() + browser_get.size());
}

TEST_CASE("request: every prefix of a valid head is incomplete, the whole gives one answer") {
    const std::vector<std::string> heads = {
        browser_get,
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",  // bare LF throughout
        "\r\n\r\nHEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET http://example.org/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    };
    for (const auto& head : heads) {
        CAPTURE(head);
        auto whole = parse(head);
        REQUIRE(whole.result.status == parse_status::complete);
        CHECK(whole.result.head_bytes == head.size());
        for (std::size_t k = 0; k < head.size(); ++k) {
            CAPTURE(k);
            CHECK(parse(head.substr(0, k)).result.status == parse_status::incomplete);
        }
        // Whatever follows the head (a body, the next pipelined request) changes nothing.
        const std::string more = head + "GET /next HTTP/1.1\r\n";
        auto with_more = parse(more);
        REQUIRE(with_more.result.status == parse_status::complete);
        CHECK(with_more.result.head_bytes == whole.result.head_bytes);
        CHECK(same(with_more.req, whole.req));
    }
}

TEST_CASE("request: pipelined requests are taken one head at a time") {
    const std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    auto first = parse(two);
    REQUIRE(first.result.status == parse_status::complete);
    CHECK(first.req.target == "/a");
    auto second = parse(std::string_view(two).substr(first.result.head_bytes));
    REQUIRE(second.result.status == parse_status::complete);
    CHECK(second.req.target == "/b");
    CHECK(first.result.head_bytes + second.result.head_bytes == two.size());
}

TEST_CASE("request: empty lines before the request line are skipped and counted") {
    auto p = parse("\r\n\nGET / HTTP/1.0\r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.result.head_bytes == 21);
    CHECK(p.req.target == "/");
}

TEST_CASE("request: bare LF ends a line, a bare CR anywhere is 400") {
    CHECK(status_of("GET / HTTP/1.0\n\n") == 200);
    CHECK(status_of("GET / HTTP/1.0\r\nA: b\n\r\n") == 200);
    CHECK(status_of("GET / HTTP/1.0\rX\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA: b\rc\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA: b\r\n\rX") == 400);
    CHECK(status_of("\rGET / HTTP/1.0\r\n\r\n") == 400);
    CHECK(parse("GET / HTTP/1.0\r\nA: b\r\n\r").result.error_reason.empty());  // still waiting
    auto p = parse("GET / HTTP/1.0\r\nA: b\rc\r\n\r\n");
    CHECK(p.result.error_reason == "bare CR");
}

TEST_CASE("request: keep-alive follows the version and the Connection options") {
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").req.keep_alive);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").req.keep_alive);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: Upgrade ,\tkeep-alive\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").req.keep_alive);
    // Two Connection lines are one list.
    CHECK_FALSE(
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")
            .req.keep_alive);
    // A token that merely contains "close" is not "close".
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n").req.keep_alive);
}

TEST_CASE("request: HTTP/1.1 needs exactly one valid Host; 1.0 may omit it") {
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);
    CHECK(parse("GET / HTTP/1.1\r\n\r\n").result.error_reason == "missing Host");
    CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == 200);
    CHECK(status_of("GET / HTTP/1.0\r\nHost: a.example\r\nHost: b.example\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n") == 200);  // RFC 9112 3.2: empty is valid
    for (const char* good : {"www.example.org", "127.0.0.1", "[::1]", "www.example.org:80",
                             "127.0.0.1:8080", "[::1]:80", "example.org.", "a.b-c.d123", "h:"}) {
        CAPTURE(good);
        const std::string head = std::string("GET / HTTP/1.1\r\nHost: ") + good + "\r\n\r\n";
        auto p = parse(head);
        CHECK(p.result.status == parse_status::complete);
        CHECK(p.req.host == good);
    }
    for (const char* bad :
         {"../123.org", ".jsdh.sfdg.sdfg", "jsdh..sfdg.sdfg", "host:asd", "host:-1", ":80", "-a.c",
          ".", "[::1]' UNION SELECT '/", "[::1]/../../../", "a/b", "a\\b", "a b", "[]", "[::1",
          "h:123456", "user@host"}) {
        CAPTURE(bad);
        CHECK(status_of(std::string("GET / HTTP/1.1\r\nHost: ") + bad + "\r\n\r\n") == 400);
    }
}

TEST_CASE("request: header names are tokens; whitespace before the colon is 400") {
    CHECK(status_of("GET / HTTP/1.0\r\nABC:foo\r\n\r\n") == 200);
    CHECK(status_of("GET / HTTP/1.0\r\nABC : foo\r\n\r\n") == 400);
    CHECK(parse("GET / HTTP/1.0\r\nABC : foo\r\n\r\n").result.error_reason ==
          "whitespace before colon");
    CHECK(status_of("GET / HTTP/1.0\r\nABC\t: foo\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nABC a: foo\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\n: foo\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA\"B: foo\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA(B): foo\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nno colon here\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nnocolon\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nX-Odd!#$%&'*+-.^_`|~: ok\r\n\r\n") == 200);
}

TEST_CASE("request: obs-fold and whitespace before the first header are 400") {
    CHECK(status_of("GET / HTTP/1.0\r\nABC: foo\r\n  bc\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nABC: foo\r\n\tbc\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\n Host: a\r\n\r\n") == 400);
    CHECK(parse("GET / HTTP/1.0\r\nA: b\r\n c\r\n\r\n").result.error_reason == "obs-fold");
}

TEST_CASE("request: field values take VCHAR, obs-text, SP and HTAB, trimmed; CTLs are 400") {
    auto p = parse("GET / HTTP/1.0\r\nUser-Agent: \t caf\xc3\xa9 \t x\t \r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.req.user_agent == "caf\xc3\xa9 \t x");
    CHECK(parse("GET / HTTP/1.0\r\nRange:\r\n\r\n").req.range.empty());
    CHECK(status_of(std::string("GET / HTTP/1.0\r\nA: b\0c\r\n\r\n", 27)) == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA: b\x01\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA: b\x7f\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nA: b\x1b[31m\r\n\r\n") == 400);
    CHECK(parse("GET / HTTP/1.0\r\nA: b\x01\r\n\r\n").result.error_reason ==
          "invalid header value");
}

TEST_CASE("request: a bad byte is caught at every offset of a long value or target") {
    // Long runs are scanned a word at a time; a bad byte must be seen wherever it falls.
    const std::string plain = "abcdefghijklmnopqrstuvwxyz0123456789-\x80\xff~!";
    for (std::size_t k = 0; k < plain.size(); ++k) {
        CAPTURE(k);
        for (char bad : {'\0', '\x01', '\x1f', '\x7f', '\r', '\n'}) {
            std::string value = plain;
            value[k] = bad;
            const std::string head = "GET / HTTP/1.0\r\nUser-Agent: " + value + "\r\n\r\n";
            auto p = parse(head);
            // An LF inside ends the line early and the rest is an invalid header line; as the
            // last byte it is a bare-LF line end, which is fine.
            if (bad == '\n' && k + 1 == plain.size())
                CHECK(p.result.status == parse_status::complete);
            else
                CHECK(p.result.status == parse_status::error);
        }
        std::string target = "/" + plain;
        target[k + 1] = '\x7f';
        CHECK(status_of("GET " + target + " HTTP/1.0\r\n\r\n") == 400);
        std::string tabbed = plain;
        tabbed[k] = '\t';
        auto p = parse("GET / HTTP/1.0\r\nUser-Agent: x" + tabbed + "x\r\n\r\n");
        CHECK(p.result.status == parse_status::complete);
    }
    CHECK(parse("GET /" + plain + " HTTP/1.0\r\n\r\n").req.target.size() == plain.size() + 1);
}

TEST_CASE("request: the headers netd acts on are found in any letter case") {
    auto p = parse(
        "GET / HTTP/1.1\r\nhOsT: h\r\nUSER-AGENT: ua\r\nrange: r\r\nIF-RANGE: ir\r\n"
        "if-none-match: inm\r\nIf-Modified-Since: ims\r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.req.host == "h");
    CHECK(p.req.user_agent == "ua");
    CHECK(p.req.range == "r");
    CHECK(p.req.if_range == "ir");
    CHECK(p.req.if_none_match == "inm");
    CHECK(p.req.if_modified_since == "ims");
    // Names of the same length that are not ours are left alone.
    auto q = parse("GET / HTTP/1.0\r\nHOST-: x\r\nRanges: y\r\nuser_agent: z\r\n\r\n");
    REQUIRE(q.result.status == parse_status::complete);
    CHECK(q.req.range.empty());
    CHECK(q.req.user_agent.empty());
    CHECK_FALSE(q.req.has_host);
}

TEST_CASE("request: Content-Length is one run of digits, once") {
    auto p = parse("POST / HTTP/1.0\r\nContent-Length: 42\r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.req.content_length == 42);
    CHECK(p.req.has_body);
    CHECK(p.req.verb == method::post);
    CHECK_FALSE(parse("GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n").req.has_body);
    CHECK(parse("GET / HTTP/1.0\r\nContent-Length: 18446744073709551615\r\n\r\n")
              .req.content_length == 18446744073709551615u);
    for (const char* bad : {"-2", "+5", "", "5, 5", "5 5", "0x10", "18446744073709551616",
                            "99999999999999999999999", "4a"}) {
        CAPTURE(bad);
        CHECK(status_of(std::string("GET / HTTP/1.0\r\nContent-Length: ") + bad + "\r\n\r\n") ==
              400);
    }
    CHECK(status_of("GET / HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n") == 400);
}

TEST_CASE("request: Transfer-Encoding means a body; with Content-Length it is 400") {
    auto p = parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.req.has_body);
    CHECK(parse("GET / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").req.has_body);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 3\r\n\r\n") == 400);
}

TEST_CASE("request: a Transfer-Encoding whose final coding is not chunked is 400") {
    for (const char* te : {"identity", "gzip", "chunked, gzip", "chunkedx"}) {
        CAPTURE(te);
        CHECK(status_of(std::string("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ") + te +
                        "\r\n\r\n") == 400);
    }
    // Several lines: the codings join in order, so the last line's last coding is final.
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                "Transfer-Encoding: CHUNKED\r\n\r\n")
              .result.status == parse_status::complete);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: gzip\r\n\r\n") == 400);
}

TEST_CASE("request: methods are case-sensitive tokens; unknown ones are 501") {
    CHECK(parse("HEAD / HTTP/1.0\r\n\r\n").req.verb == method::head);
    CHECK(parse("DELETE / HTTP/1.0\r\n\r\n").req.verb == method::del);
    CHECK(parse("PATCH / HTTP/1.0\r\n\r\n").req.verb == method::patch);
    CHECK(status_of("get / HTTP/1.0\r\n\r\n") == 501);
    CHECK(status_of("Get / HTTP/1.0\r\n\r\n") == 501);
    CHECK(status_of("ABC / HTTP/1.0\r\n\r\n") == 501);
    CHECK(status_of("GET/ HTTP/1.0\r\n\r\n") == 400);  // '/' is not a token byte
    CHECK(status_of(" / HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of(" a\r\n\r\n") == 400);
    CHECK(status_of(".\r\n\r\n") == 400);
    CHECK(status_of("GET\r\n\r\n") == 400);
    CHECK(status_of("a \r\n\r\n") == 400);
}

TEST_CASE("request: a request line that is not three parts split by single spaces is 400") {
    CHECK(status_of("GET  / HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.0 \r\n\r\n") == 400);
    CHECK(status_of("GET /  HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET \r\n\r\n") == 400);
    CHECK(status_of("GET  HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET HTTP/1.0\r\n\r\n") == 400);  // "HTTP/1.0" is the target, no version
    CHECK(status_of("GET /HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET /\r\n\r\n") == 400);  // HTTP/0.9 is not served
    CHECK(parse("GET /\r\n\r\n").result.error_reason == "no HTTP version");
    CHECK(status_of("GET\t/ HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("BC /\r\n\r\n") == 400);
}

TEST_CASE("request: versions: 1.0 and 1.1 served, other majors 505, a malformed one 400") {
    CHECK(parse("GET / HTTP/1.0\r\n\r\n").req.version_minor == 0);
    CHECK(status_of("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/0.9\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/3.0\r\n\r\n") == 505);
    CHECK(status_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505);  // the h2 preface
    for (const char* bad :
         {"HTTP/1.1x", "HTTP/1.10", "HTTP/01.01", "HTTP/1.", "HTTP/1", "HTTP/.1", "HTTP/a.b",
          "http/1.1", "HTTPS/1.1", "HTTP 1.1", "HTTP/1,1", "HTTP/11"}) {
        CAPTURE(bad);
        CHECK(status_of(std::string("GET / ") + bad + "\r\nHost: a\r\n\r\n") == 400);
    }
}

TEST_CASE("request: HTTP/1.2 is served as 1.1 (RFC 9110 2.5), Host rule included") {
    auto p = parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.req.version_major == 1);
    CHECK(p.req.version_minor == 1);
    CHECK(p.req.keep_alive);
    CHECK(status_of("GET / HTTP/1.9\r\n\r\n") == 400);  // no Host
}

TEST_CASE("request: targets: origin-form, '*' for OPTIONS only, absolute-form reduced") {
    CHECK(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == 200);
    CHECK(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status_of("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n") == 400);

    auto p = parse("GET http://www.example.org/a/b?c=d HTTP/1.1\r\nHost: ignored\r\n\r\n");
    REQUIRE(p.result.status == parse_status::complete);
    CHECK(p.req.target == "/a/b?c=d");
    CHECK(p.req.host == "www.example.org");  // RFC 9112 3.2.2: the target's authority wins
    auto root = parse("GET HTTPS://Example.org:8443 HTTP/1.0\r\n\r\n");
    REQUIRE(root.result.status == parse_status::complete);
    CHECK(root.req.target == "/");
    CHECK(root.req.host == "Example.org:8443");
    CHECK(status_of("GET http://example.org?q HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET http:///a HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET http://user@example.org/ HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET ftp://example.org/ HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n") == 400);
    CHECK(status_of("GET a/b HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET ../etc/passwd HTTP/1.0\r\n\r\n") == 400);
}

TEST_CASE("request: the target takes raw obs-text but no control bytes") {
    CHECK(parse("GET /caf\xc3\xa9 HTTP/1.0\r\n\r\n").req.target == "/caf\xc3\xa9");
    CHECK(status_of(std::string("GET /a\0b HTTP/1.0\r\n\r\n", 21)) == 400);
    CHECK(status_of("GET /a\x7f HTTP/1.0\r\n\r\n") == 400);
    CHECK(status_of("GET /a\tb HTTP/1.0\r\n\r\n") == 400);
}

TEST_CASE("request: 414 as soon as the request line passes the limit, before its end") {
    limits lim;
    lim.max_request_line_bytes = 64;
    // "GET /" plus enough to make the line exactly 64 bytes with " HTTP/1.0".
    const std::string at_limit = "GET /" + std::string(64 - 5 - 9, 'a') + " HTTP/1.0";
    REQUIRE(at_limit.size() == 64);
    CHECK(status_of(at_limit + "\r\n\r\n", lim) == 200);
    const std::string over = "GET /" + std::string(64 - 5 - 9 + 1, 'a') + " HTTP/1.0";
    CHECK(status_of(over + "\r\n\r\n", lim) == 414);
    // An endless line with no newline is cut once it is known to be too long.
    std::string endless = "GET /";
    while (endless.size() < 63)
        endless += 'a';
    CHECK(status_of(endless, lim) == 0);
    CHECK(status_of(endless + "a", lim) == 414);
    // The version that would push the line over is known to not fit before it arrives.
    CHECK(status_of(over.substr(0, over.size() - 8), lim) == 414);
    // A method that fills the line is cut too.
    CHECK(status_of(std::string(64, 'G'), lim) == 414);
    CHECK(status_of(std::string(63, 'G'), lim) == 0);
}

TEST_CASE("request: 431 once the head passes max_head_bytes without a blank line") {
    limits lim;
    lim.max_head_bytes = 100;
    std::string head = "GET / HTTP/1.0\r\n";
    head += "X: " + std::string(100 - head.size() - 3 - 4, 'v') + "\r\n\r\n";
    REQUIRE(head.size() == 100);
    CHECK(status_of(head, lim) == 200);
    std::string big = "GET / HTTP/1.0\r\nX: " + std::string(200, 'v');
    CHECK(status_of(big.substr(0, 100), lim) == 0);
    CHECK(status_of(big.substr(0, 101), lim) == 431);
    // Endless empty lines are bounded by the same limit.
    CHECK(status_of(std::string(101, '\n'), lim) == 431);
    // A head of 101 bytes is over even when its blank line is there.
    std::string one_more = head;
    one_more.insert(head.size() - 4, "v");
    CHECK(status_of(one_more, lim) == 431);
}

TEST_CASE("request: more than max_headers header lines is 431") {
    limits lim;
    lim.max_headers = 3;
    CHECK(status_of("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", lim) == 200);
    CHECK(status_of("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", lim) == 431);
    CHECK(status_of("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD:", lim) == 431);
}

TEST_CASE("request: garbage is refused at its first byte, without waiting for a newline") {
    CHECK(status_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 400);  // TLS ClientHello
    CHECK(status_of("GET /\x01") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX\x01") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: \x01") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: y") == 0);
}

TEST_CASE("request: an empty buffer and partial line endings are incomplete") {
    CHECK(status_of("") == 0);
    CHECK(status_of("\r") == 0);
    CHECK(status_of("\r\n\r\n") == 0);
    CHECK(status_of("GET / HTTP/1.0\r") == 0);
    CHECK(status_of("GET / HTTP/1.0\r\n") == 0);
    CHECK(status_of("GET / HTTP/1.0\r\n\r") == 0);
}

TEST_CASE("request: method_name gives each method's token") {
    for (auto m : {method::get, method::head, method::post, method::put, method::del,
                   method::options, method::patch, method::trace, method::connect}) {
        auto name = method_name(m);
        REQUIRE_FALSE(name.empty());
        auto p = parse(std::string(name) + " / HTTP/1.0\r\n\r\n");
        CHECK(p.req.verb == m);
    }
    CHECK(method_name(method::unknown).empty());
}
