#include "config.hpp"

#include <algorithm>
#include <thread>

#include "config_reader.hpp"
#include "proto/duration.hpp"

namespace netd {
namespace {

constexpr std::int64_t max_threads = 1024;
constexpr std::int64_t max_connections_limit = 10'000'000;

void read_daemon(table_reader& t, daemon_settings& d) {
    std::int64_t v = d.threads;
    if (t.get("threads", v, 0, max_threads)) d.threads = static_cast<unsigned>(v);
    v = static_cast<std::int64_t>(d.max_connections);
    if (t.get("max_connections", v, 1, max_connections_limit))
        d.max_connections = static_cast<std::size_t>(v);
    t.get_duration("shutdown_grace", d.shutdown_grace, std::chrono::microseconds(0));
    std::string control;
    if (t.get("control", control) && !control.empty())
        d.control = std::filesystem::path(control).is_absolute()
                        ? control
                        : (t.diag().base_dir / control).lexically_normal().string();
    t.finish();
}

void read_log(table_reader& t, log_settings& l) {
    std::string level;
    if (t.get_one_of("level", level, {"trace", "debug", "info", "warn", "error"}))
        log::parse_level(level, l.level);
    std::string path;
    if (t.get("path", path)) {
        if (path.empty())
            t.error("path", "'path' in [log] must be \"-\" (stdout) or a file name");
        else if (path == "-")
            l.path = path;
        else
            l.path = std::filesystem::path(path).is_absolute()
                         ? path
                         : (t.diag().base_dir / path).string();
    }
    t.get_duration("log_interval", l.alive_interval, std::chrono::seconds(1));
    t.finish();
}

// A service table: the core's keys (enabled, listen, allow) and then the service's own.
void read_service(const service_kind& kind, const toml::table& table, diagnostics& diag,
                  config& cfg) {
    table_reader t(table, std::string(kind.name), diag);
    bool enabled = true;
    t.get("enabled", enabled);
    service_config sc{kind.name, {}, {}, nullptr};
    bool has_listen = t.get_addresses("listen", sc.listen);
    t.get_cidrs("allow", sc.allow);
    sc.impl = kind.make(t);
    t.finish();
    if (!enabled) return;
    if (!has_listen && !table.contains("listen"))
        diag.add(table.source(), "[" + std::string(kind.name) +
                                     "] needs 'listen', e.g. listen = [\"127.0.0.1:7000\"]");
    else if (has_listen && sc.listen.empty())
        t.error("listen", "'listen' in [" + std::string(kind.name) +
                              "] is empty (set enabled = false to turn the service off)");
    cfg.services.push_back(std::move(sc));
}

bool wildcard(const proto::listen_address& a) {
    return a.any() || a.host == "0.0.0.0" || a.host == "::";
}

// Two services on one address (or a wildcard and a specific address on one port) would fail at
// bind time; say so now, naming both.
void check_overlaps(const config& cfg, const toml::table& root, diagnostics& diag) {
    struct seen {
        proto::listen_address addr;
        std::string_view service;
    };
    std::vector<seen> all;
    for (const auto& sc : cfg.services) {
        for (const auto& a : sc.listen) {
            for (const auto& prev : all) {
                if (a.port == 0 || prev.addr.port != a.port) continue;
                if (prev.addr.host != a.host && !wildcard(prev.addr) && !wildcard(a)) continue;
                const toml::node* node = root.at_path(std::string(sc.name) + ".listen").node();
                diag.add(node ? node->source() : root.source(),
                         "[" + std::string(sc.name) + "] listen: '" + a.text() + "' overlaps '" +
                             prev.addr.text() + "' of [" + std::string(prev.service) +
                             "]; each address serves one service");
            }
            all.push_back({a, sc.name});
        }
    }
}

}  // namespace

unsigned daemon_settings::worker_threads() const {
    if (threads != 0) return threads;
    return std::max(1u, std::thread::hardware_concurrency());
}

std::string config::summary() const {
    std::string s = file + ": ";
    s += std::to_string(services.size()) + (services.size() == 1 ? " service" : " services");
    if (!services.empty()) {
        s += " (";
        for (std::size_t i = 0; i < services.size(); ++i) {
            if (i) s += ", ";
            s += std::string(services[i].name) + " on ";
            for (std::size_t j = 0; j < services[i].listen.size(); ++j)
                s += (j ? " " : "") + services[i].listen[j].text();
        }
        s += ")";
    }
    s += ", " + std::to_string(daemon.worker_threads()) + " threads, max_connections " +
         std::to_string(daemon.max_connections) + ", log " +
         (log.path == "-" ? "stdout" : log.path);
    return s;
}

load_result load_config(const std::string& file) {
    diagnostics diag;
    diag.file = file;
    diag.base_dir = std::filesystem::absolute(file).parent_path();
    toml::table root;
    try {
        root = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
        if (!std::filesystem::exists(file)) return {nullptr, {file + ": no such file"}};
        diag.add(e.source(), e.description());
        return {nullptr, diag.errors()};
    }

    auto cfg = std::make_shared<config>();
    cfg->file = file;
    std::vector<std::string_view> known = {"daemon", "log"};
    for (const auto& kind : service_kinds())
        known.push_back(kind.name);

    for (const auto& [key, node] : root) {
        auto name = key.str();
        auto* table = node.as_table();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            auto hint = closest_match(name, known);
            diag.add(key.source(), "unknown " + std::string(table ? "table [" : "key '") +
                                       std::string(name) + (table ? "]" : "'") +
                                       (hint.empty() ? "" : " (did you mean [" + hint + "]?)"));
            continue;
        }
        if (!table) {
            diag.add(node.source(),
                     "'" + std::string(name) + "' must be a table: [" + std::string(name) + "]");
            continue;
        }
        if (name == "daemon") {
            table_reader t(*table, "daemon", diag);
            read_daemon(t, cfg->daemon);
        } else if (name == "log") {
            table_reader t(*table, "log", diag);
            read_log(t, cfg->log);
        }
    }
    // Services in registry order, so start-up order does not depend on the file's order.
    for (const auto& kind : service_kinds())
        if (auto* table = root.get_as<toml::table>(kind.name))
            read_service(kind, *table, diag, *cfg);
    check_overlaps(*cfg, root, diag);
    if (!diag.ok()) return {nullptr, diag.errors()};
    return {cfg, {}};
}

}  // namespace netd
