#include "mime.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace netd::proto::http {
namespace {

using entry = std::pair<std::string_view, std::string_view>;

constexpr std::string_view octet_stream = "application/octet-stream";

// Sorted by extension (checked below) for a binary search. Text, script, JSON, XML and SVG
// carry charset=utf-8 so a browser never guesses; the rest is what nginx's mime.types says,
// updated where the registry moved on (text/javascript, RFC 9239; font/*, RFC 8081).
constexpr std::array table = {
    entry{"7z", "application/x-7z-compressed"},
    entry{"atom", "application/atom+xml; charset=utf-8"},
    entry{"avi", "video/x-msvideo"},
    entry{"avif", "image/avif"},
    entry{"bmp", "image/bmp"},
    entry{"bz2", "application/x-bzip2"},
    entry{"css", "text/css; charset=utf-8"},
    entry{"csv", "text/csv; charset=utf-8"},
    entry{"eot", "application/vnd.ms-fontobject"},
    entry{"epub", "application/epub+zip"},
    entry{"flac", "audio/flac"},
    entry{"gif", "image/gif"},
    entry{"gz", "application/gzip"},
    entry{"htm", "text/html; charset=utf-8"},
    entry{"html", "text/html; charset=utf-8"},
    entry{"ico", "image/x-icon"},
    entry{"ics", "text/calendar; charset=utf-8"},
    entry{"jpeg", "image/jpeg"},
    entry{"jpg", "image/jpeg"},
    entry{"js", "text/javascript; charset=utf-8"},
    entry{"json", "application/json; charset=utf-8"},
    entry{"jsonl", "application/x-ndjson; charset=utf-8"},
    entry{"log", "text/plain; charset=utf-8"},
    entry{"m4a", "audio/mp4"},
    entry{"map", "application/json; charset=utf-8"},
    entry{"md", "text/markdown; charset=utf-8"},
    entry{"mjs", "text/javascript; charset=utf-8"},
    entry{"mkv", "video/x-matroska"},
    entry{"mov", "video/quicktime"},
    entry{"mp3", "audio/mpeg"},
    entry{"mp4", "video/mp4"},
    entry{"mpeg", "video/mpeg"},
    entry{"ndjson", "application/x-ndjson; charset=utf-8"},
    entry{"oga", "audio/ogg"},
    entry{"ogg", "audio/ogg"},
    entry{"ogv", "video/ogg"},
    entry{"opus", "audio/ogg"},
    entry{"otf", "font/otf"},
    entry{"pdf", "application/pdf"},
    entry{"png", "image/png"},
    entry{"rss", "application/rss+xml; charset=utf-8"},
    entry{"svg", "image/svg+xml; charset=utf-8"},
    entry{"tar", "application/x-tar"},
    entry{"tgz", "application/gzip"},
    entry{"tif", "image/tiff"},
    entry{"tiff", "image/tiff"},
    entry{"toml", "application/toml; charset=utf-8"},
    entry{"tsv", "text/tab-separated-values; charset=utf-8"},
    entry{"ttf", "font/ttf"},
    entry{"txt", "text/plain; charset=utf-8"},
    entry{"wasm", "application/wasm"},
    entry{"wav", "audio/wav"},
    entry{"weba", "audio/webm"},
    entry{"webm", "video/webm"},
    entry{"webmanifest", "application/manifest+json; charset=utf-8"},
    entry{"webp", "image/webp"},
    entry{"woff", "font/woff"},
    entry{"woff2", "font/woff2"},
    entry{"xhtml", "application/xhtml+xml; charset=utf-8"},
    entry{"xml", "application/xml; charset=utf-8"},
    entry{"xz", "application/x-xz"},
    entry{"yaml", "application/yaml; charset=utf-8"},
    entry{"yml", "application/yaml; charset=utf-8"},
    entry{"zip", "application/zip"},
    entry{"zst", "application/zstd"},
};

static_assert(std::is_sorted(table.begin(), table.end(),
                             [](const entry& a, const entry& b) { return a.first < b.first; }));

constexpr std::size_t longest_extension = 11;  // "webmanifest"

}  // namespace

std::string_view mime_type(std::string_view file_name) {
    auto base = file_name.substr(file_name.rfind('/') + 1);  // npos + 1 == 0
    auto dot = base.rfind('.');
    if (dot == std::string_view::npos) return octet_stream;
    auto ext = base.substr(dot + 1);
    if (ext.empty() || ext.size() > longest_extension) return octet_stream;

    char lower[longest_extension];
    for (std::size_t i = 0; i < ext.size(); ++i) {
        char c = ext[i];
        lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
    }
    const std::string_view key(lower, ext.size());
    auto it = std::lower_bound(table.begin(), table.end(), key,
                               [](const entry& e, std::string_view k) { return e.first < k; });
    if (it == table.end() || it->first != key) return octet_stream;
    return it->second;
}

}  // namespace netd::proto::http
