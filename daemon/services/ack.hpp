#pragma once
#include <memory>

#include "service.hpp"

namespace netd {

/// The ack service: each message gets the configured reply template filled in.
std::shared_ptr<service> make_ack_service(table_reader& table);

}  // namespace netd
