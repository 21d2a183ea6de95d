#include <doctest/doctest.h>

#include "proto/mime.hpp"

using netd::proto::http::mime_type;

TEST_CASE("mime: common web types by extension, text ones with charset=utf-8") {
    CHECK(mime_type("index.html") == "text/html; charset=utf-8");
    CHECK(mime_type("a.htm") == "text/html; charset=utf-8");
    CHECK(mime_type("style.css") == "text/css; charset=utf-8");
    CHECK(mime_type("app.js") == "text/javascript; charset=utf-8");
    CHECK(mime_type("mod.mjs") == "text/javascript; charset=utf-8");
    CHECK(mime_type("data.json") == "application/json; charset=utf-8");
    CHECK(mime_type("app.js.map") == "application/json; charset=utf-8");
    CHECK(mime_type("readings.jsonl") == "application/x-ndjson; charset=utf-8");
    CHECK(mime_type("notes.txt") == "text/plain; charset=utf-8");
    CHECK(mime_type("README.md") == "text/markdown; charset=utf-8");
    CHECK(mime_type("t.csv") == "text/csv; charset=utf-8");
    CHECK(mime_type("feed.xml") == "application/xml; charset=utf-8");
    CHECK(mime_type("logo.svg") == "image/svg+xml; charset=utf-8");
    CHECK(mime_type("a.png") == "image/png");
    CHECK(mime_type("a.jpg") == "image/jpeg");
    CHECK(mime_type("a.jpeg") == "image/jpeg");
    CHECK(mime_type("a.gif") == "image/gif");
    CHECK(mime_type("a.webp") == "image/webp");
    CHECK(mime_type("favicon.ico") == "image/x-icon");
    CHECK(mime_type("a.avif") == "image/avif");
    CHECK(mime_type("a.pdf") == "application/pdf");
    CHECK(mime_type("a.zip") == "application/zip");
    CHECK(mime_type("a.tar.gz") == "application/gzip");
    CHECK(mime_type("a.tar") == "application/x-tar");
    CHECK(mime_type("a.wasm") == "application/wasm");
    CHECK(mime_type("f.woff") == "font/woff");
    CHECK(mime_type("f.woff2") == "font/woff2");
    CHECK(mime_type("f.ttf") == "font/ttf");
    CHECK(mime_type("f.otf") == "font/otf");
    CHECK(mime_type("v.mp4") == "video/mp4");
    CHECK(mime_type("v.webm") == "video/webm");
    CHECK(mime_type("s.mp3") == "audio/mpeg");
    CHECK(mime_type("s.ogg") == "audio/ogg");
    CHECK(mime_type("s.wav") == "audio/wav");
    CHECK(mime_type("site.webmanifest") == "application/manifest+json; charset=utf-8");
}

TEST_CASE("mime: the extension is case-insensitive and taken from the last path segment") {
    CHECK(mime_type("INDEX.HTML") == "text/html; charset=utf-8");
    CHECK(mime_type("Photo.JpG") == "image/jpeg");
    CHECK(mime_type("docs/v1.2/readme") == "application/octet-stream");
    CHECK(mime_type("docs/v1.2/page.html") == "text/html; charset=utf-8");
    CHECK(mime_type("/abs/path/a.css") == "text/css; charset=utf-8");
}

TEST_CASE("mime: unknown or missing extensions are application/octet-stream") {
    for (const char* name : {"", "Makefile", "a.", "a.unknownext", "a.exe", "a.verylongextension",
                             "dir.d/", "a.h\xc3\xa9"}) {
        CAPTURE(name);
        CHECK(mime_type(name) == "application/octet-stream");
    }
}
