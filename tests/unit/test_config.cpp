#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config.hpp"

namespace fs = std::filesystem;

namespace {

// Writes `text` as netd.toml in a fresh directory and loads it; errors come back with the
// directory stripped, so they read "netd.toml:LINE:COL: ...".
struct loaded {
    netd::load_result result;
    std::vector<std::string> errors;
    fs::path dir;
};

loaded load(const std::string& text) {
    char tmpl[] = "/tmp/netd-config-test-XXXXXX";
    fs::path dir = ::mkdtemp(tmpl);
    std::ofstream(dir / "netd.toml") << text;
    loaded l{netd::load_config((dir / "netd.toml").string()), {}, dir};
    for (auto e : l.result.errors) {
        auto prefix = dir.string() + "/";
        if (e.starts_with(prefix)) e.erase(0, prefix.size());
        l.errors.push_back(e);
    }
    return l;
}

std::string only_error(const std::string& text) {
    auto l = load(text);
    fs::remove_all(l.dir);
    REQUIRE(l.errors.size() == 1);
    return l.errors.front();
}

const std::string ping_ok = "[ping]\nlisten = [\"127.0.0.1:7000\"]\n";

}  // namespace

TEST_CASE("config: the repository's config/netd.toml loads") {
    auto r = netd::load_config(NETD_SOURCE_DIR "/config/netd.toml");
    CHECK(r.errors.empty());
    REQUIRE(r.cfg);
    CHECK(r.cfg->services.size() >= 1);
}

TEST_CASE("config: values reach the structs; relative paths resolve against the file") {
    auto l = load(
        "[daemon]\nthreads = 3\nmax_connections = 50\nshutdown_grace = \"250ms\"\n"
        "[log]\nlevel = \"debug\"\npath = \"logs/netd.log\"\nlog_interval = \"2m\"\n"
        "[ping]\nlisten = [\":7000\", \"[::1]:0\"]\nallow = [\"127.0.0.0/8\"]\n"
        "idle_timeout = \"5s\"\nmax_line = 100\nframing = \"line\"\n");
    REQUIRE(l.result.cfg);
    const auto& c = *l.result.cfg;
    CHECK(c.daemon.threads == 3);
    CHECK(c.daemon.worker_threads() == 3);
    CHECK(c.daemon.max_connections == 50);
    CHECK(c.daemon.shutdown_grace == std::chrono::milliseconds(250));
    CHECK(c.log.level == netd::log::level::debug);
    CHECK(c.log.path == (l.dir / "logs/netd.log").string());
    CHECK(c.log.alive_interval == std::chrono::minutes(2));
    REQUIRE(c.services.size() == 1);
    CHECK(c.services[0].name == "ping");
    CHECK(c.services[0].listen.size() == 2);
    CHECK(c.services[0].allow.size() == 1);
    fs::remove_all(l.dir);
}

TEST_CASE("config: a missing table or enabled = false turns the service off") {
    auto none = load("[daemon]\nthreads = 1\n");
    REQUIRE(none.result.cfg);
    CHECK(none.result.cfg->services.empty());
    auto off = load("[ping]\nenabled = false\nlisten = [\"127.0.0.1:7000\"]\n");
    REQUIRE(off.result.cfg);
    CHECK(off.result.cfg->services.empty());
    fs::remove_all(none.dir);
    fs::remove_all(off.dir);
}

TEST_CASE("config: each mistake gets the exact one-line error with file:line:col") {
    struct bad_file {
        std::string text, error;
    };
    const bad_file table[] = {
        {"[ping]\nenable = true\nlisten = [\"127.0.0.1:7000\"]\n",
         "netd.toml:2:1: unknown key 'enable' in [ping] (did you mean 'enabled'?)"},
        {"[pnig]\nenabled = true\n", "netd.toml:1:2: unknown table [pnig] (did you mean [ping]?)"},
        {"[daemon]\nthreads = \"4\"\n",
         "netd.toml:2:11: 'threads' in [daemon] must be an integer, not a string"},
        {"[daemon]\nthreads = -1\n",
         "netd.toml:2:11: 'threads' in [daemon] must be 0..1024, not -1"},
        {"[daemon]\nmax_connections = 0\n",
         "netd.toml:2:19: 'max_connections' in [daemon] must be 1..10000000, not 0"},
        {"[daemon]\nshutdown_grace = \"5\"\n",
         "netd.toml:2:18: 'shutdown_grace' in [daemon]: bad duration '5': expected a number with "
         "a unit, e.g. \"250ms\", \"5s\", \"2m\", \"1h\""},
        {"[daemon]\nshutdown_grace = 5\n",
         "netd.toml:2:18: 'shutdown_grace' in [daemon] must be a string, not an integer"},
        {"[log]\nlevel = \"verbose\"\n",
         "netd.toml:2:9: 'level' in [log] must be one of \"trace\", \"debug\", \"info\", \"warn\", "
         "\"error\", not \"verbose\""},
        {"[log]\nlevel = \"inf\"\n",
         "netd.toml:2:9: 'level' in [log] must be one of \"trace\", \"debug\", \"info\", \"warn\", "
         "\"error\", not \"inf\" (did you mean \"info\"?)"},
        {"[ping]\nlisten = [\"127.0.0.1\"]\n",
         "netd.toml:2:11: [ping] listen: bad address '127.0.0.1': expected \"host:port\", "
         "\"[v6]:port\" or \":port\""},
        {"[ping]\nlisten = \"127.0.0.1:7000\"\n",
         "netd.toml:2:10: 'listen' in [ping] must be an array of strings, e.g. "
         "[\"127.0.0.1:7000\"], not a string"},
        {"[ping]\nlisten = [\"127.0.0.1:7000\", \"127.0.0.1:7000\"]\n",
         "netd.toml:2:29: [ping] listen: '127.0.0.1:7000' is listed twice"},
        {"[ping]\nlisten = [\"127.0.0.1:7000\", \":7000\"]\n",
         "netd.toml:2:10: [ping] listen: ':7000' overlaps '127.0.0.1:7000' of [ping]; each "
         "address serves one service"},
        {"[ping]\nidle_timeout = \"0s\"\nlisten = [\"127.0.0.1:7000\"]\n",
         "netd.toml:2:16: 'idle_timeout' in [ping] must be at least 1ms, not \"0s\""},
        {"[ping]\nframing = \"lines\"\nlisten = [\"127.0.0.1:7000\"]\n",
         "netd.toml:2:11: 'framing' in [ping] must be one of \"auto\", \"line\", not \"lines\" "
         "(did you mean \"line\"?)"},
        {"[ping]\nallow = [\"10.0.0.1/8\"]\nlisten = [\"127.0.0.1:7000\"]\n",
         "netd.toml:2:10: [ping] allow: network '10.0.0.1/8' has host bits set (did you mean "
         "'10.0.0.0/8'?)"},
        {"[ping]\nallow = [\"10.0.0.0/33\"]\nlisten = [\"127.0.0.1:7000\"]\n",
         "netd.toml:2:10: [ping] allow: bad prefix length in '10.0.0.0/33': expected /0../32"},
        {"[ping]\nenabled = true\n",
         "netd.toml:1:1: [ping] needs 'listen', e.g. listen = [\"127.0.0.1:7000\"]"},
        {"[ping]\nenabled = \"yes\"\nlisten = [\"127.0.0.1:7000\"]\n",
         "netd.toml:2:11: 'enabled' in [ping] must be true or false, not a string"},
        {"[ping]\nlisten = [\"127.0.0.1:7000\"]\nmax_line = 0\n",
         "netd.toml:3:12: 'max_line' in [ping] must be 1..16777216, not 0"},
        {"[ack]\nlisten = [\"127.0.0.1:7001\"]\nreply = \"ACK {sq}\"\n",
         "netd.toml:3:9: 'reply' in [ack]: unknown placeholder '{sq}': use {seq}, {bytes} or "
         "{message}"},
        {"ping = 1\n", "netd.toml:1:8: 'ping' must be a table: [ping]"},
        {"[ping\n", "netd.toml:1:6: Error while parsing table header: expected ']', saw '\\n'"},
    };
    for (const auto& [text, error] : table) {
        CAPTURE(text);
        CHECK(only_error(text) == error);
    }
}

TEST_CASE("config: every error of a file is reported in one run, in file order") {
    auto l = load(
        "[daemon]\nthreds = 2\nshutdown_grace = \"soon\"\n"
        "[ping]\nenable = true\nlisten = [\"127.0.0.1:99999\"]\n");
    CHECK(l.errors.size() == 4);
    REQUIRE(l.errors.size() >= 4);
    CHECK(
        l.errors[0].starts_with("netd.toml:2:1: unknown key 'threds' in [daemon] (did you mean "
                                "'threads'?)"));
    CHECK(l.errors[1].starts_with("netd.toml:3:18:"));
    CHECK(l.errors[2].starts_with("netd.toml:5:1: unknown key 'enable'"));
    CHECK(l.errors[3].starts_with("netd.toml:6:11: [ping] listen: bad port"));
    fs::remove_all(l.dir);
}

TEST_CASE("config: a missing file is one clear error") {
    auto r = netd::load_config("/nonexistent/netd.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] == "/nonexistent/netd.toml: no such file");
}

TEST_CASE("config: summary names services, addresses and limits") {
    auto l = load("[daemon]\nthreads = 2\n" + ping_ok);
    REQUIRE(l.result.cfg);
    CHECK(l.result.cfg->summary() ==
          (l.dir / "netd.toml").string() +
              ": 1 service (ping on 127.0.0.1:7000), 2 threads, max_connections 10000, log stdout");
    fs::remove_all(l.dir);
}
