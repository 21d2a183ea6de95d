#pragma once
// Directory listings for the files service, as HTML or JSON: sorted, escaped, bounded.
#include <string>
#include <string_view>

namespace netd::files_listing {

enum class format { html, json };

/// Reads the directory open at `dir_fd` (which stays open) and appends its listing to `out`.
/// `root_fd` and `relative` (the directory's path under the root) let symlinks be checked: an
/// entry is listed only if it resolves inside the root. `url_path` is the decoded path shown to
/// the user ("/docs/"). Dotfiles appear only if `dotfiles`. False if the directory could not be
/// read.
bool append(std::string& out, format f, int root_fd, int dir_fd, std::string_view relative,
            std::string_view url_path, bool dotfiles);

}  // namespace netd::files_listing
