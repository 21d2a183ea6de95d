#pragma once
#include <memory>

#include "service.hpp"

namespace netd {

/// The files service: an HTTP/1.1 static file server for GET and HEAD under one root directory.
std::shared_ptr<service> make_files_service(table_reader& table);

}  // namespace netd
