#pragma once
#include <memory>

#include "service.hpp"

namespace netd {

/// The ping service: ping -> pong, get_time -> server time, stamp TOKEN -> T2 T3.
std::shared_ptr<service> make_ping_service(table_reader& table);

}  // namespace netd
