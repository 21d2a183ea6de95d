#include "files_listing.hpp"
#include "proto/append.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <vector>

#include "open_beneath.hpp"
#include "proto/http_path.hpp"
#include "proto/json_escape.hpp"
#include "proto/timefmt.hpp"

namespace netd::files_listing {
namespace {

namespace http = proto::http;
using proto::append_uint;

// A listing is built in memory: past this many entries the rest is left out (and said so).
constexpr std::size_t max_entries = 10000;

struct entry {
    std::string name;
    bool dir = false;
    std::uint64_t size = 0;
    std::int64_t mtime_us = 0;
};

// "2026-11-22 02:40" (UTC): a listing is read by people.
void append_minute(std::string& out, std::int64_t unix_us) {
    std::time_t t = static_cast<std::time_t>(unix_us / 1000000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    auto n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    out.append(buf, n);
}

// Stat of one entry; a symlink counts only if it resolves inside the root.
bool stat_entry(int root_fd, int dir_fd, std::string_view relative, const char* name,
                struct stat& st) {
    if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
    if (!S_ISLNK(st.st_mode)) return true;
    std::string path(relative);
    if (!path.empty()) path.push_back('/');
    path.append(name);
    unique_fd fd(open_beneath(root_fd, path.c_str(), O_PATH));
    return fd && ::fstat(fd.get(), &st) == 0;
}

std::vector<entry> read_entries(int root_fd, int dir_fd, std::string_view relative, bool dotfiles,
                                bool& truncated) {
    std::vector<entry> entries;
    int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return entries;
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        ::close(fd);
        return entries;
    }
    while (dirent* d = ::readdir(dir)) {
        std::string_view name(d->d_name);
        if (name == "." || name == "..") continue;
        if (name.front() == '.' && !dotfiles) continue;
        if (entries.size() == max_entries) {
            truncated = true;
            break;
        }
        struct stat st {};
        if (!stat_entry(root_fd, dir_fd, relative, d->d_name, st)) continue;
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
        entries.push_back({std::string(name), S_ISDIR(st.st_mode),
                           static_cast<std::uint64_t>(st.st_size),
                           st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000});
    }
    ::closedir(dir);
    // Directories first, then files, each in byte order: stable for scripts and people.
    std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
        if (a.dir != b.dir) return a.dir;
        return a.name < b.name;
    });
    return entries;
}

void append_html(std::string& out, const std::vector<entry>& entries, std::string_view url_path,
                 bool truncated) {
    out.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    http::append_html_escaped(out, url_path);
    out.append(
        "</title><style>body{font-family:sans-serif;margin:2em}td{padding:0 1em}"
        "td.n{text-align:right}</style></head>\n<body><h1>Index of ");
    http::append_html_escaped(out, url_path);
    out.append("</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n");
    if (url_path != "/")
        out.append("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    for (const auto& e : entries) {
        // The href is the percent-encoded name relative to this directory; "./" keeps a name
        // with a colon from being read as a URL scheme.
        out.append("<tr><td><a href=\"./");
        std::string href;
        http::append_url_path(href, e.name);
        http::append_html_escaped(out, href);
        if (e.dir) out.push_back('/');
        out.append("\">");
        http::append_html_escaped(out, e.name);
        if (e.dir) out.push_back('/');
        out.append("</a></td><td class=\"n\">");
        if (!e.dir) append_uint(out, e.size);
        out.append("</td><td>");
        append_minute(out, e.mtime_us);
        out.append("</td></tr>\n");
    }
    out.append("</table>\n");
    if (truncated) out.append("<p>Only the first 10000 entries are listed.</p>\n");
    out.append("</body></html>\n");
}

void append_json(std::string& out, const std::vector<entry>& entries, std::string_view url_path,
                 bool truncated) {
    out.append("{\"path\":");
    proto::append_json_string(out, url_path);
    out.append(",\"truncated\":");
    out.append(truncated ? "true" : "false");
    out.append(",\"entries\":[");
    bool first = true;
    for (const auto& e : entries) {
        if (!first) out.push_back(',');
        first = false;
        out.append("{\"name\":");
        proto::append_json_string(out, e.name);
        out.append(e.dir ? ",\"type\":\"dir\"" : ",\"type\":\"file\"");
        out.append(",\"size\":");
        append_uint(out, e.dir ? 0 : e.size);
        out.append(",\"mtime\":\"");
        proto::append_rfc3339(out, e.mtime_us);
        out.append("\"}");
    }
    out.append("]}\n");
}

}  // namespace

bool append(std::string& out, format f, int root_fd, int dir_fd, std::string_view relative,
            std::string_view url_path, bool dotfiles) {
    struct stat st {};
    if (::fstat(dir_fd, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    bool truncated = false;
    auto entries = read_entries(root_fd, dir_fd, relative, dotfiles, truncated);
    if (f == format::html)
        append_html(out, entries, url_path, truncated);
    else
        append_json(out, entries, url_path, truncated);
    return true;
}

}  // namespace netd::files_listing
