#include "netd_config.hpp"

#include <fmt/core.h>

#include <toml++/toml.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace netd::netctl {
namespace {

using r = proto::result<netd_config>;

// netd's start order (its service registry); a service's line in `selftest` follows it.
constexpr std::string_view service_names[] = {"ping", "ack", "sensor", "files"};

std::string where(const std::string& file, const toml::node& node) {
    const auto& at = node.source().begin;
    return fmt::format("{}:{}:{}", file, at.line, at.column);
}

// A relative path in the config is relative to the config file's directory, as in netd.
std::string resolve(const std::filesystem::path& base_dir, const std::string& path) {
    std::filesystem::path p(path);
    return (p.is_absolute() ? p : base_dir / p).lexically_normal().string();
}

// Reads one service table; an error names the key's line. Fills `out` only when enabled.
std::string read_service(const std::string& file, const std::filesystem::path& base_dir,
                         std::string_view name, const toml::table& table,
                         std::vector<configured_service>& out) {
    const std::string section = "[" + std::string(name) + "]";
    if (const auto* node = table.get("enabled")) {
        auto enabled = node->value<bool>();
        if (!enabled)
            return where(file, *node) + ": 'enabled' in " + section + " must be a boolean";
        if (!*enabled) return {};
    }
    configured_service service{std::string(name), {}, {}};
    const auto* listen = table.get("listen");
    if (listen == nullptr)
        return where(file, table) + ": " + section + " needs 'listen', e.g. listen = [\"" +
               "127.0.0.1:7000\"]";
    const auto* list = listen->as_array();
    if (list == nullptr || list->empty())
        return where(file, *listen) + ": 'listen' in " + section +
               " must be a non-empty array of addresses";
    for (const auto& item : *list) {
        auto text = item.value<std::string>();
        if (!text) return where(file, item) + ": 'listen' in " + section + " holds a non-string";
        auto address = proto::parse_listen_address(*text);
        if (!address.ok()) return where(file, item) + ": " + section + " listen: " + address.error;
        service.listen.push_back(address.value);
    }
    if (name == "sensor")
        if (auto data_file = table["data_file"].value<std::string>())
            service.data_file = resolve(base_dir, *data_file);
    out.push_back(std::move(service));
    return {};
}

}  // namespace

proto::result<netd_config> read_netd_config(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return r::fail(fmt::format("cannot read {}: {}", file, std::strerror(errno)));
    toml::table root;
    try {
        root = toml::parse(in, file);
    } catch (const toml::parse_error& e) {
        const auto& at = e.source().begin;
        return r::fail(fmt::format("{}:{}:{}: {}", file, at.line, at.column, e.description()));
    }
    netd_config cfg;
    cfg.file = file;
    const auto base_dir = std::filesystem::absolute(file).parent_path();
    if (const auto* daemon = root["daemon"].as_table())
        if (const auto* node = daemon->get("control")) {
            auto control = node->value<std::string>();
            if (!control)
                return r::fail(where(file, *node) + ": 'control' in [daemon] must be a string");
            if (!control->empty()) cfg.control = resolve(base_dir, *control);
        }
    for (auto name : service_names) {
        const auto* table = root[name].as_table();
        if (table == nullptr) continue;  // no table: the service is off
        if (auto error = read_service(file, base_dir, name, *table, cfg.services); !error.empty())
            return r::fail(std::move(error));
    }
    return {std::move(cfg), {}};
}

proto::host_port reachable_target(const proto::listen_address& address) {
    if (address.any() || address.host == "0.0.0.0") return {"127.0.0.1", address.port};
    if (address.host == "::") return {"::1", address.port};
    return {address.host, address.port};
}

}  // namespace netd::netctl
