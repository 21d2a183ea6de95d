// libFuzzer target: request target to a path under the root. Invariants: an accepted path has no
// "." or ".." segment, no empty segment, no leading or trailing '/', no NUL, control byte or
// backslash, and no dot segment unless dotfiles are allowed; it is never longer than the target;
// it survives a round trip through append_url_path; the query is exactly what follows '?'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http_path.hpp"

namespace {

using namespace netd::proto::http;
using verdict = safe_path::verdict;

void check_relative(std::string_view rel, bool dotfiles_ok) {
    if (rel.empty()) return;
    if (rel.front() == '/' || rel.back() == '/' || rel.find("//") != std::string_view::npos)
        std::abort();
    for (char c : rel) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == '\\') std::abort();
    }
    std::size_t from = 0;
    for (;;) {
        auto slash = rel.find('/', from);
        auto segment = rel.substr(from, slash == std::string_view::npos ? slash : slash - from);
        if (segment.empty() || segment == "." || segment == "..") std::abort();
        if (!dotfiles_ok && segment[0] == '.') std::abort();
        if (slash == std::string_view::npos) break;
        from = slash + 1;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const bool allow_dotfiles = data[0] & 1;
    std::string target = data[0] & 2 ? "/" : "";
    target.append(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] & 4) {  // the replay's alphabet has no '%': borrow ','
        for (auto& c : target)
            if (c == ',') c = '%';
    }

    auto r = resolve_target(target, allow_dotfiles);
    auto q = target.find('?');
    if (q == std::string::npos ? !r.query.empty()
                               : r.query != std::string_view(target).substr(q + 1))
        std::abort();
    if (r.relative.size() > target.size()) std::abort();

    switch (r.what) {
        case verdict::bad_request:
            if (!r.relative.empty()) std::abort();
            break;
        case verdict::not_found:
            if (allow_dotfiles) std::abort();
            check_relative(r.relative, true);
            if (resolve_target(target, true).what != verdict::ok) std::abort();
            break;
        case verdict::ok: {
            check_relative(r.relative, allow_dotfiles);
            if (r.relative.empty() && !r.trailing_slash) std::abort();  // the root is a directory
            std::string url = "/";
            append_url_path(url, r.relative);
            if (r.trailing_slash && !r.relative.empty()) url += '/';
            auto again = resolve_target(url, allow_dotfiles);
            if (again.what != verdict::ok || again.relative != r.relative ||
                again.trailing_slash != r.trailing_slash || !again.query.empty())
                std::abort();
            break;
        }
    }

    std::string html;
    append_html_escaped(html, target);
    if (html.find_first_of("<>\"'") != std::string::npos) std::abort();
    for (auto amp = html.find('&'); amp != std::string::npos; amp = html.find('&', amp + 1)) {
        auto rest = std::string_view(html).substr(amp);
        if (!(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;") ||
              rest.starts_with("&quot;") || rest.starts_with("&#39;")))
            std::abort();
    }
    return 0;
}
