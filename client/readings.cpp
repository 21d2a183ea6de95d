#include "readings.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

namespace netd::netctl {
namespace {

// Dividing (not multiplying by 0.01) gives the double nearest to the decimal, which JSON then
// prints as "21.53" rather than "21.530000000000001".
double round_to(double v, double per_unit) {
    return std::round(v * per_unit) / per_unit;
}

}  // namespace

reading_generator::reading_generator(std::string sensor_id, std::uint64_t seed)
    : sensor_id_(std::move(sensor_id)), random_(seed) {
    std::uniform_real_distribution<double> offset(-1, 1);
    temperature_c_ = 21.5 + 1.5 * offset(random_);
    humidity_pct_ = 42 + 5 * offset(random_);
    pressure_hpa_ = 1013.25 + 4 * offset(random_);
}

double reading_generator::step(double value, double typical, double pull, double spread, double lo,
                               double hi) {
    std::normal_distribution<double> noise(0, spread);
    return std::clamp(value + pull * (typical - value) + noise(random_), lo, hi);
}

std::string reading_generator::next(std::uint64_t seq) {
    temperature_c_ = step(temperature_c_, 21.5, 0.02, 0.05, -40, 85);
    humidity_pct_ = step(humidity_pct_, 42, 0.02, 0.2, 0, 100);
    pressure_hpa_ = step(pressure_hpa_, 1013.25, 0.01, 0.05, 870, 1085);
    nlohmann::ordered_json j{{"sensor", sensor_id_},
                             {"seq", seq},
                             {"temperature", round_to(temperature_c_, 100)},
                             {"humidity", round_to(humidity_pct_, 10)},
                             {"pressure", round_to(pressure_hpa_, 100)}};
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string default_sensor_id() {
    std::array<char, 256> host{};
    if (::gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0')
        std::copy_n("localhost", 10, host.data());
    return "netctl-" + std::string(host.data()) + "-" + std::to_string(::getpid());
}

}  // namespace netd::netctl
