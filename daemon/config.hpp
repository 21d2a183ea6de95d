#pragma once
// netd.toml as plain structs. Parsed once, strictly; --check-config, start and SIGHUP share it.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "log.hpp"
#include "proto/address.hpp"
#include "services/service.hpp"

namespace netd {

struct daemon_settings {
    unsigned threads = 0;  ///< 0: one worker per core
    std::size_t max_connections = 10000;
    std::chrono::microseconds shutdown_grace = std::chrono::seconds(5);
    std::string control;  ///< the control socket's path (absolute); empty: none

    unsigned worker_threads() const;
};

struct log_settings {
    log::level level = log::level::info;
    std::string path = "-";  ///< "-": stdout; else a file (absolute, resolved against the config)
    std::chrono::microseconds alive_interval = std::chrono::seconds(60);
};

/// One enabled service: where it listens, who may connect, and the service itself.
struct service_config {
    std::string_view name;  ///< the registry's name, static storage
    std::vector<proto::listen_address> listen;
    std::vector<proto::cidr> allow;  ///< empty: everyone
    std::shared_ptr<service> impl;
};

struct config {
    std::string file;
    daemon_settings daemon;
    log_settings log;
    std::vector<service_config> services;

    /// "config/netd.toml: 2 services (ping on 127.0.0.1:7000, ...), 2 threads, ..."
    std::string summary() const;
};

/// A loaded config, or every error in the file ("file:line:col: message", one per line).
struct load_result {
    std::shared_ptr<const config> cfg;
    std::vector<std::string> errors;
};

load_result load_config(const std::string& file);

}  // namespace netd
