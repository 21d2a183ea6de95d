#pragma once
// The built-in MIME table: Content-Type from a file name's extension. Pure.
#include <string_view>

namespace netd::proto::http {

/// "text/html; charset=utf-8" for "index.html" (case-insensitive extension); text types carry
/// charset=utf-8; an unknown or missing extension is "application/octet-stream".
std::string_view mime_type(std::string_view file_name);

}  // namespace netd::proto::http
