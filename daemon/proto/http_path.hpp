#pragma once
// From a request target to a path under the files root: the one place that decides whether a
// target may name a file. Pure, fuzzed; the kernel (openat2 RESOLVE_BENEATH) backs it up.
#include <string>
#include <string_view>

namespace netd::proto::http {

struct safe_path {
    enum class verdict { ok, bad_request, not_found } what = verdict::bad_request;
    /// Decoded, normalised, relative to the root, no leading or trailing slash; "" is the root.
    /// Segments are joined by '/'. Only meaningful when ok.
    std::string relative;
    bool trailing_slash = false;  ///< the decoded path ended with '/' (a directory was asked for)
    std::string_view query;       ///< after '?', not decoded ("format=json")
};

/// Turns an origin-form target ("/docs/a%20b.txt?x") into a path under the root.
/// - Percent-decodes exactly once; a bad escape ("%4", "%zz") is bad_request.
/// - bad_request: not starting with '/', NUL (raw or %00), a backslash (raw or encoded),
///   control characters (below 0x20, and 0x7f), an encoded '/' (%2F), and a ".." segment that
///   would climb above the root. "." segments and empty segments ("//") are dropped; ".."
///   inside the root removes the segment before it ("/a/../b" is "b"), as nginx does.
/// - not_found: a segment starting with '.' (a dotfile or dot-directory) unless allow_dotfiles.
/// A "#fragment" is not expected from clients; '#' is treated as part of the path.
safe_path resolve_target(std::string_view target, bool allow_dotfiles);

/// Appends `path` percent-encoded for use in a URL path (keeps unreserved characters and '/').
void append_url_path(std::string& out, std::string_view path);

/// Appends `text` with &, <, >, " and ' escaped for HTML.
void append_html_escaped(std::string& out, std::string_view text);

}  // namespace netd::proto::http
