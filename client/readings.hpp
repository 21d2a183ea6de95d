#pragma once
// Plausible sensor readings for `netctl sensor` when no --from input is given: pure, no I/O.
#include <cstdint>
#include <random>
#include <string>

namespace netd::netctl {

/// Generates one JSON reading per call, e.g.
/// {"sensor":"netctl-host-42","seq":7,"temperature":21.53,"humidity":40.2,"pressure":1013.21}.
/// Each value takes a small random step pulled back towards a typical indoor value, so a run
/// looks like a room, not noise; `seq` is the caller's, so a resent reading keeps its own.
class reading_generator {
  public:
    reading_generator(std::string sensor_id, std::uint64_t seed);

    /// The next reading as one line of JSON (no newline).
    std::string next(std::uint64_t seq);

    const std::string& sensor_id() const { return sensor_id_; }

  private:
    double step(double value, double typical, double pull, double spread, double lo, double hi);

    std::string sensor_id_;
    std::mt19937_64 random_;
    double temperature_c_;
    double humidity_pct_;
    double pressure_hpa_;
};

/// "netctl-<hostname>-<pid>": unique per run on a host, so a server can tell runs apart and
/// spot duplicates by (sensor, seq).
std::string default_sensor_id();

}  // namespace netd::netctl
