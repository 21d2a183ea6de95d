// netd: argv, exit statuses (0 clean stop, 1 runtime failure, 2 usage or config error).
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "app.hpp"
#include "config.hpp"
#include "log.hpp"

namespace {

constexpr const char* default_config = "/etc/netd/netd.toml";

constexpr const char* usage_text =
    "usage: netd [-c FILE]                  run in the foreground\n"
    "       netd --check-config [-c FILE]   validate the config, print a summary\n"
    "       netd --version | --help\n"
    "FILE defaults to /etc/netd/netd.toml.\n"
    "Signals: TERM/INT stop gracefully, HUP reloads, USR1 reopens the log file.\n";

int usage_error(const std::string& message) {
    std::fprintf(stderr, "netd: %s (try 'netd --help')\n", message.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    netd::set_control_signals_blocked(true);  // before any thread exists; app::run unblocks
    std::string file = default_config;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-c" || arg == "--config") {
            if (++i == argc) return usage_error(std::string(arg) + " needs a file name");
            file = argv[i];
        } else if (arg.starts_with("--config=")) {
            file = arg.substr(9);
        } else if (arg == "--check-config" || arg == "-t") {
            check_only = true;
        } else if (arg == "--version" || arg == "-V") {
            std::printf("netd %s\n", NETD_VERSION);
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            std::fputs(usage_text, stdout);
            return 0;
        } else {
            return usage_error("unknown argument '" + std::string(arg) + "'");
        }
    }

    auto loaded = netd::load_config(file);
    if (!loaded.cfg) {
        for (const auto& e : loaded.errors)
            std::fprintf(stderr, "netd: %s\n", e.c_str());
        return 2;
    }
    if (check_only) {
        std::printf("%s\n", ("config OK: " + loaded.cfg->summary()).c_str());
        return 0;
    }

    std::string error;
    if (!netd::log::open(loaded.cfg->log.path, loaded.cfg->log.level, error)) {
        std::fprintf(stderr, "netd: %s\n", error.c_str());
        return 1;
    }
    int status;
    {
        netd::app app(loaded.cfg);
        status = app.run();
    }
    netd::log::close();
    return status;
}
