#include <doctest/doctest.h>

#include <string>

#include "proto/http_path.hpp"

// Cases re-expressed from darkhttpd's make_safe_url tests (devel/test_make_safe_uri.c) and its
// black-box test.py, and from nginx-tests' http_uri.t.

using namespace netd::proto::http;
using verdict = safe_path::verdict;

namespace {

struct expect_ok {
    const char* target;
    const char* relative;
    bool trailing_slash;
};

verdict verdict_of(std::string_view target, bool allow_dotfiles = false) {
    return resolve_target(target, allow_dotfiles).what;
}

}  // namespace

TEST_CASE("path: dot segments and repeated slashes collapse as darkhttpd's table says") {
    // darkhttpd drops the slash of "/abc/." ("/abc"); RFC 3986 remove_dot_segments (and
    // nginx) keep it ("/abc/"): a path ending in a dot segment names a directory.
    const expect_ok cases[] = {
        {"/", "", true},
        {"/.", "", true},
        {"/./", "", true},
        {"/abc", "abc", false},
        {"/abc/", "abc", true},
        {"/abc/.", "abc", true},
        {"/abc/./", "abc", true},
        {"/abc/..", "", true},
        {"/abc/../", "", true},
        {"/abc/../def", "def", false},
        {"/abc/../def/", "def", true},
        {"/abc/../def/..", "", true},
        {"/abc/../def/../", "", true},
        {"/abc/../def/.././", "", true},
        {"/a/b/c/../../d/", "a/d", true},
        {"//a///b////c/////", "a/b/c", true},
        {"/a/./b/./c", "a/b/c", false},
    };
    for (const auto& c : cases) {
        CAPTURE(c.target);
        auto r = resolve_target(c.target, false);
        REQUIRE(r.what == verdict::ok);
        CHECK(r.relative == c.relative);
        CHECK(r.trailing_slash == c.trailing_slash);
    }
}

TEST_CASE("path: a '..' that would climb above the root is a bad request") {
    for (const char* t : {"/..", "/../", "/../etc/passwd", "/abc/../def/../../",
                          "/abc/../def/.././../", "/a/b/../../../c", "//../a", "/./../a"}) {
        CAPTURE(t);
        CHECK(verdict_of(t) == verdict::bad_request);
        CHECK(verdict_of(t, true) == verdict::bad_request);
    }
}

TEST_CASE("path: percent-encoded dots are dot segments after the single decode") {
    CHECK(verdict_of("/%2e%2e/etc/passwd") == verdict::bad_request);
    CHECK(verdict_of("/%2E%2E/") == verdict::bad_request);
    CHECK(verdict_of("/.%2e/") == verdict::bad_request);
    CHECK(verdict_of("/%2e./x") == verdict::bad_request);
    CHECK(resolve_target("/a/%2e%2e/b", false).relative == "b");
    CHECK(resolve_target("/%2e/a", false).relative == "a");
}

TEST_CASE("path: decoding happens exactly once") {
    auto r = resolve_target("/%252e%252e/x", false);
    REQUIRE(r.what == verdict::ok);
    CHECK(r.relative == "%2e%2e/x");
    CHECK(resolve_target("/a%20b.txt", false).relative == "a b.txt");
    CHECK(resolve_target("/caf%C3%A9", false).relative == "caf\xc3\xa9");
    CHECK(resolve_target("/caf\xc3\xa9", false).relative == "caf\xc3\xa9");
    CHECK(resolve_target("/a%3fb", false).relative == "a?b");
    CHECK(resolve_target("/a+b", false).relative == "a+b");  // '+' is not a space in a path
}

TEST_CASE("path: an encoded slash, a backslash or NUL in any form is a bad request") {
    for (const char* t :
         {"/a%2fb", "/a%2Fb", "/..%2f..%2fetc%2fpasswd", "/%2f", "/a%5cb", "/a%5Cb", "/a\\b",
          "/..\\..\\windows", "/..%5c..%5cwindows", "/%00", "/a%00.html", "/index.html%00.txt"}) {
        CAPTURE(t);
        CHECK(verdict_of(t) == verdict::bad_request);
    }
    CHECK(verdict_of(std::string_view("/a\0b", 4)) == verdict::bad_request);
}

TEST_CASE("path: control characters, raw or encoded, are a bad request") {
    for (const char* t : {"/a%0d%0aSet-Cookie:x", "/a%0a", "/a%09", "/a%1b", "/a%7f", "/a%7F",
                          "/a\tb", "/a\x7f", "/a\x01"}) {
        CAPTURE(t);
        CHECK(verdict_of(t) == verdict::bad_request);
    }
}

TEST_CASE("path: a malformed escape is a bad request") {
    for (const char* t : {"/%", "/%4", "/a%zz", "/%g0", "/%0g", "/%%30", "/a%2", "/%-1"}) {
        CAPTURE(t);
        CHECK(verdict_of(t) == verdict::bad_request);
    }
}

TEST_CASE("path: a target that does not start with '/' is a bad request") {
    for (const char* t : {"", "a", "*", "http://example.org/", "../a", "?x", "%2f"}) {
        CAPTURE(t);
        CHECK(verdict_of(t) == verdict::bad_request);
    }
}

TEST_CASE("path: dotfiles and dot-directories are not found unless allowed") {
    for (const char* t :
         {"/.git/config", "/a/.htaccess", "/.well-known/x", "/%2ehidden", "/...", "/a/.../b"}) {
        CAPTURE(t);
        CHECK(verdict_of(t) == verdict::not_found);
        CHECK(verdict_of(t, true) == verdict::ok);
    }
    CHECK(resolve_target("/...", true).relative == "...");
    // Gone after normalisation: only what would be opened counts.
    CHECK(verdict_of("/.git/../index.html") == verdict::ok);
    // A bad request stays one, whatever else the path holds.
    CHECK(verdict_of("/.git/%00") == verdict::bad_request);
}

TEST_CASE("path: trailing dots inside a name are part of the name") {
    CHECK(resolve_target("/a.", false).relative == "a.");
    CHECK(resolve_target("/a..", false).relative == "a..");
    CHECK(resolve_target("/a../b", false).relative == "a../b");
    CHECK(resolve_target("/x/a..b/", false).relative == "x/a..b");
}

TEST_CASE("path: the query is split off before decoding and left encoded") {
    auto r = resolve_target("/a/b.txt?format=json&x=%41", false);
    REQUIRE(r.what == verdict::ok);
    CHECK(r.relative == "a/b.txt");
    CHECK(r.query == "format=json&x=%41");
    CHECK(resolve_target("/a?", false).query.empty());
    CHECK(resolve_target("/a?b?c", false).query == "b?c");
    // What follows '?' is not a path: no climbing through it.
    auto q = resolve_target("/?x/../../etc", false);
    REQUIRE(q.what == verdict::ok);
    CHECK(q.relative.empty());
    CHECK(q.query == "x/../../etc");
    // '#' is not expected from clients and is part of the path.
    CHECK(resolve_target("/a#b", false).relative == "a#b");
}

TEST_CASE("path: append_url_path keeps unreserved bytes and '/', escapes the rest") {
    std::string out;
    append_url_path(out, "dir/a b&c?d#e%f\xc3\xa9~_-.txt");
    CHECK(out == "dir/a%20b%26c%3Fd%23e%25f%C3%A9~_-.txt");
}

TEST_CASE("path: what append_url_path writes resolves back to the same path") {
    for (const char* name : {"a b", "100%", "x?y", "q#r", "caf\xc3\xa9", "semi;colon", "a+b",
                             "under_score/sub dir/file.txt"}) {
        CAPTURE(name);
        std::string url = "/";
        append_url_path(url, name);
        auto r = resolve_target(url, false);
        REQUIRE(r.what == verdict::ok);
        CHECK(r.relative == name);
        CHECK(r.query.empty());
    }
}

TEST_CASE("path: append_html_escaped escapes the five HTML specials") {
    std::string out = "<li>";
    append_html_escaped(out, "<a href=\"x\">Tom & Jerry's</a>");
    CHECK(out == "<li>&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    std::string plain;
    append_html_escaped(plain, "caf\xc3\xa9.txt");
    CHECK(plain == "caf\xc3\xa9.txt");
}
