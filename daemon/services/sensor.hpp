#pragma once
#include <memory>

#include "service.hpp"

namespace netd {

/// The sensor service: each reading is stored as a JSON line and acknowledged once durable.
std::shared_ptr<service> make_sensor_service(table_reader& table);

}  // namespace netd
