#include "ack.hpp"
#include "ping.hpp"
#include "service.hpp"

namespace netd {

std::span<const service_kind> service_kinds() {
    static const service_kind kinds[] = {
        {"ping", make_ping_service},
        {"ack", make_ack_service},
    };
    return kinds;
}

}  // namespace netd
