// libFuzzer target: config loading, as `netd --check-config`, start and SIGHUP do it, on any
// bytes as netd.toml. Invariants: it never crashes or throws; it gives a config or errors, never
// both or neither; each error is one line "FILE:LINE:COL: message" with LINE and COL from 1 (so
// every line --check-config prints points at the file); a config it accepts has every enabled
// service complete (an implementation, at least one address) and a summary naming the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config.hpp"

namespace {

namespace fs = std::filesystem;

void check(bool ok) {
    if (!ok) std::abort();
}

// "FILE:LINE:COL: message" on one line, LINE and COL positive numbers.
bool well_formed(std::string_view error, std::string_view file) {
    if (error.find('\n') != std::string_view::npos || !error.starts_with(file)) return false;
    auto rest = error.substr(file.size());
    for (int field = 0; field < 2; ++field) {
        if (rest.empty() || rest[0] != ':') return false;
        rest.remove_prefix(1);
        std::size_t digits = 0;
        while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9')
            ++digits;
        if (digits == 0 || rest[0] == '0') return false;
        rest.remove_prefix(digits);
    }
    return rest.starts_with(": ") && rest.size() > 2;
}

// A directory like an installation's: the config in conf/, a site in www/ next to it, so the
// checked-in configs' relative paths ("../www") resolve.
struct scratch {
    fs::path dir, file;
    scratch() {
        char tmpl[] = "/tmp/netd-fuzz-config-XXXXXX";
        dir = ::mkdtemp(tmpl);
        fs::create_directories(dir / "conf");
        fs::create_directories(dir / "www");
        file = dir / "conf" / "netd.toml";
        std::atexit([] { fs::remove_all(get().dir); });
    }
    static scratch& get() {
        static auto* s = new scratch;  // never destroyed: the atexit handler still needs it
        return *s;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& s = scratch::get();
    std::ofstream(s.file, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    const std::string file = s.file.string();

    auto loaded = netd::load_config(file);
    check(!loaded.cfg != loaded.errors.empty());
    for (const auto& e : loaded.errors)
        check(well_formed(e, file));
    if (!loaded.cfg) return 0;

    check(loaded.cfg->file == file);
    check(loaded.cfg->summary().starts_with(file + ": "));
    for (const auto& sc : loaded.cfg->services)
        check(sc.impl != nullptr && !sc.listen.empty() && !sc.name.empty());
    return 0;
}
