#include "ack.hpp"
#include "files.hpp"
#include "ping.hpp"
#include "sensor.hpp"
#include "sensor_store.hpp"
#include "service.hpp"

namespace netd {

void reopen_service_files() {
    sensor_store::reopen_all();
}

std::span<const service_kind> service_kinds() {
    static const service_kind kinds[] = {
        {"ping", make_ping_service},
        {"ack", make_ack_service},
        {"sensor", make_sensor_service},
        {"files", make_files_service},
    };
    return kinds;
}

}  // namespace netd
