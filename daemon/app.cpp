#include "app.hpp"

#include <pthread.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <csignal>
#include <cstdio>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"
#include "notify.hpp"
#include "proto/timefmt.hpp"
#include "services/sensor_store.hpp"

namespace netd {
namespace {

// Which listener a configured address is, across reloads: the address itself, so a fixed
// address keeps its socket even if it moves to another service; but every "port 0" is a
// listener of its own, one per service.
std::string listener_key(std::string_view service, const proto::listen_address& addr) {
    if (addr.port == 0) return std::string(service) + " " + addr.text();
    return addr.text();
}

}  // namespace

void set_control_signals_blocked(bool blocked) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1})
        sigaddset(&set, s);
    pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

app::app(std::shared_ptr<const config> cfg)
    : cfg_(std::move(cfg)),
      signals_(control_, SIGTERM, SIGINT, SIGHUP),
      grace_timer_(control_),
      control_server_(control_,
                      [this](const nlohmann::json& request) { return handle_control(request); }) {
    signals_.add(SIGUSR1);
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGXFSZ, SIG_IGN);  // a file size limit is a write error (EFBIG), not death
}

app::~app() {
    for (auto& w : workers_)
        w->join();
    // Removing the signal set restores the default actions, and a late SIGTERM would then kill
    // a daemon that already stopped cleanly. Every other thread has them blocked (see main), so
    // blocking them here too leaves them pending until exit.
    set_control_signals_blocked(true);
    std::error_code ignored;
    signals_.clear(ignored);
}

bool app::start_services(const config& cfg, std::string& error) {
    for (const auto& sc : cfg.services) {
        std::string why;
        if (!sc.impl->start(why)) {
            error = "[" + std::string(sc.name) + "] " + why;
            return false;
        }
    }
    return true;
}

bool app::bind_new(const config& cfg, std::map<std::string, listen_group>& fresh,
                   std::string& error) {
    for (const auto& sc : cfg.services) {
        for (const auto& addr : sc.listen) {
            auto key = listener_key(sc.name, addr);
            if (bound_.count(key)) continue;
            listen_group group;
            std::string why;
            auto count = static_cast<unsigned>(workers_.size());
            int inherited = inherited_.find(sc.name, addr);
            if (inherited >= 0 ? !adopt_listener(inherited, addr, count, group, why)
                               : !listen_on(addr, count, group, why)) {
                error = "cannot listen on " + key + " for [" + std::string(sc.name) + "]: " + why;
                return false;  // fresh's destructor closes what was bound so far
            }
            fresh.emplace(key, std::move(group));
        }
    }
    return true;
}

void app::hand_out(const config& cfg, std::map<std::string, listen_group>& fresh) {
    std::map<std::string, std::string> bound;
    std::map<std::string, bool> inherited;
    for (std::size_t w = 0; w < workers_.size(); ++w) {
        std::vector<listener_spec> specs;
        for (const auto& sc : cfg.services) {
            for (const auto& addr : sc.listen) {
                listener_spec spec{
                    listener_key(sc.name, addr), sc.name, sc.impl, sc.allow, -1, false};
                if (auto it = fresh.find(spec.key); it != fresh.end()) {
                    spec.fd = std::exchange(it->second.fds[w], -1);
                    spec.v6 = it->second.v6;
                    bound[spec.key] = it->second.bound;
                    inherited[spec.key] = it->second.inherited;
                } else {
                    bound[spec.key] = bound_[spec.key];
                }
                specs.push_back(std::move(spec));
            }
        }
        workers_[w]->configure(std::move(specs));
    }
    for (const auto& sc : cfg.services)
        for (const auto& addr : sc.listen)
            if (auto key = listener_key(sc.name, addr); fresh.count(key))
                log::line(log::level::info, "listening")
                    .str("service", sc.name)
                    .str("addr", bound[key])
                    .boolean("inherited", inherited[key]);
    bound_ = std::move(bound);
}

void app::apply_runtime(const config& cfg) {
    shared_.max_connections = cfg.daemon.max_connections;
    shared_.alive_interval_us = cfg.log.alive_interval.count();
}

int app::run() {
    const auto& cfg = *cfg_;
    const unsigned threads = cfg.daemon.worker_threads();
    log::line(log::level::info, "start")
        .str("version", NETD_VERSION)
        .str("config", cfg.file)
        .unum("threads", threads)
        .num("pid", ::getpid());
    apply_runtime(cfg);
    std::vector<std::string> problems;
    inherited_ = inherited_sockets::from_environment(problems);
    for (const auto& p : problems)
        log::line(log::level::warn, "error").str("what", "socket activation").str("why", p);
    for (unsigned i = 0; i < threads; ++i)
        workers_.push_back(std::make_unique<worker>(
            shared_, [this] { asio::post(control_, [this] { worker_done(); }); }));

    // Bind everything before anything runs: a port in use fails the start, not half of it.
    std::map<std::string, listen_group> fresh;
    std::string error;
    if (!start_services(cfg, error) || !bind_new(cfg, fresh, error) ||
        (!cfg.daemon.control.empty() && !control_server_.open(cfg.daemon.control, error))) {
        std::fprintf(stderr, "netd: %s\n", error.c_str());
        log::line(log::level::error, "error").str("what", "start").str("why", error);
        return 1;
    }
    for (auto& w : workers_)
        w->start();
    running_ = threads;
    // Every thread is running now and inherited the blocked mask: signals reach this one only.
    set_control_signals_blocked(false);
    hand_out(cfg, fresh);
    for (const auto& s : inherited_.unclaimed())
        log::line(log::level::warn, "error")
            .str("what", "socket activation")
            .str("why", "inherited socket " + s + " matches no listen address; left unused");
    notify("READY=1");
    wait_signal();
    control_.run();
    for (auto& w : workers_)
        w->join();
    log::line(log::level::info, "stop").str("phase", "done").num("status", exit_status_);
    return exit_status_;
}

void app::wait_signal() {
    signals_.async_wait([this](const std::error_code& ec, int signo) {
        if (ec) return;
        switch (signo) {
            case SIGHUP:
                (void)reload();
                break;
            case SIGUSR1:
                log::reopen();
                reopen_service_files();
                log::line(log::level::info, "reopen").str("what", "log");
                break;
            default:
                if (stopping_) {
                    // A second SIGTERM/SIGINT: the operator does not want to wait.
                    log::line(log::level::warn, "stop").str("phase", "forced").num("signal", signo);
                    for (auto& w : workers_)
                        w->force_stop();
                } else {
                    begin_stop(signo == SIGINT ? "SIGINT" : "SIGTERM");
                }
        }
        if (running_ > 0) wait_signal();  // all workers done: let control_.run() return
    });
}

nlohmann::json app::reload() {
    if (stopping_) return {{"ok", false}, {"error", "netd is stopping"}};
    notify_reloading();
    nlohmann::json outcome;
    auto loaded = load_config(cfg_->file);
    std::map<std::string, listen_group> fresh;
    std::string error;
    if (!loaded.cfg) {
        log::line(log::level::error, "reload")
            .boolean("ok", false)
            .str("why", "config has errors; the old one keeps running")
            .strs("errors", loaded.errors);
        outcome = {{"ok", false}, {"errors", loaded.errors}};
    } else if (!start_services(*loaded.cfg, error) || !bind_new(*loaded.cfg, fresh, error)) {
        log::line(log::level::error, "reload")
            .boolean("ok", false)
            .str("why", error + "; the old config keeps running");
        outcome = {{"ok", false}, {"errors", {error}}};
    } else {
        const auto& next = *loaded.cfg;
        std::string log_error;
        if (!log::reconfigure(next.log.path, next.log.level, log_error))
            log::line(log::level::error, "reload").str("what", "log").str("why", log_error);
        if (next.daemon.worker_threads() != cfg_->daemon.worker_threads())
            log::line(log::level::warn, "reload")
                .str("what", "threads")
                .str("why", "a change of [daemon] threads takes effect on restart");
        apply_runtime(next);
        hand_out(next, fresh);
        cfg_ = loaded.cfg;
        log::line(log::level::info, "reload").boolean("ok", true).str("config", next.summary());
        outcome = {{"ok", true}, {"config", next.summary()}};
        if (next.daemon.control != control_server_.path())
            log::line(log::level::warn, "reload")
                .str("what", "control")
                .str("why", "a change of [daemon] control takes effect on restart");
    }
    notify("READY=1");
    return outcome;
}

// The open sessions' counters of every worker, each summed on its own thread, asked all at once.
// A worker that has ended (a stop or a failure racing this query) never runs the request: then
// after a second the answer leaves its counters out, rather than the control thread waiting
// forever (and with it the daemon's exit, as an awaited co_spawn keeps this io_context busy).
asio::awaitable<live_by_service> app::gather_live() {
    struct answers {
        answers(asio::io_context& io, std::size_t n)
            : ready(io, std::chrono::seconds(1)), left(n) {}
        asio::steady_timer ready;
        live_by_service sum{};
        std::size_t left;
    };
    auto a = std::make_shared<answers>(control_, workers_.size());
    for (auto& w : workers_)
        asio::post(w->executor(), [a, &w = *w, this] {
            asio::post(control_, [a, live = w.live()] {
                for (std::size_t i = 0; i < live.size(); ++i) {
                    a->sum[i].messages += live[i].messages;
                    a->sum[i].bytes_in += live[i].bytes_in;
                    a->sum[i].bytes_out += live[i].bytes_out;
                }
                if (--a->left == 0) a->ready.cancel();
            });
        });
    if (a->left > 0)
        co_await a->ready.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return a->sum;
}

asio::awaitable<nlohmann::json> app::handle_control(const nlohmann::json& request) {
    auto cmd = request["cmd"].get<std::string>();
    if (cmd == "status") co_return co_await status();
    if (cmd == "reload") co_return reload();
    co_return nlohmann::json{{"ok", false},
                             {"error", "unknown command '" + cmd + "' (known: status, reload)"}};
}

asio::awaitable<nlohmann::json> app::status() {
    const auto& cfg = *cfg_;
    auto now = std::chrono::system_clock::now();
    // Connections still open count too: each worker sums its own sessions on its thread.
    live_by_service live{};
    if (!stopping_) live = co_await gather_live();
    auto services = nlohmann::json::array();
    for (const auto& sc : cfg.services) {
        auto listen = nlohmann::json::array();
        for (const auto& addr : sc.listen)
            listen.push_back(bound_[listener_key(sc.name, addr)]);
        auto i = shared_state::index_of(sc.name);
        const auto& t = shared_.totals[i];
        services.push_back({{"name", sc.name},
                            {"listen", listen},
                            {"open", t.open.load()},
                            {"connections", t.connections.load()},
                            {"messages", t.messages.load() + live[i].messages},
                            {"bytes_in", t.bytes_in.load() + live[i].bytes_in},
                            {"bytes_out", t.bytes_out.load() + live[i].bytes_out},
                            {"errors", t.errors.load()}});
    }
    auto stores = nlohmann::json::array();
    for (const auto& s : sensor_store::stats_all())
        stores.push_back({{"file", s.file},
                          {"batches", s.batches},
                          {"readings", s.readings},
                          {"bytes", s.bytes},
                          {"last_batch", s.last_batch},
                          {"max_batch", s.max_batch},
                          {"avg_batch", s.batches ? double(s.readings) / double(s.batches) : 0.0},
                          {"failed_batches", s.failed_batches},
                          {"pending", s.pending},
                          {"last_write", s.last_write_us ? proto::rfc3339(s.last_write_us) : ""},
                          {"error", s.error}});
    co_return nlohmann::json{
        {"ok", true},
        {"version", NETD_VERSION},
        {"pid", ::getpid()},
        {"config", cfg.file},
        {"started", proto::rfc3339(proto::unix_micros(started_))},
        {"uptime_us",
         std::chrono::duration_cast<std::chrono::microseconds>(now - started_).count()},
        {"threads", workers_.size()},
        {"stopping", stopping_},
        {"open_connections", shared_.open_connections.load()},
        {"max_connections", shared_.max_connections.load()},
        {"services", services},
        {"sensor_stores", stores}};
}

void app::begin_stop(std::string_view why) {
    stopping_ = true;
    notify("STOPPING=1");
    log::line(log::level::info, "stop")
        .str("phase", "begin")
        .str("signal", why)
        .num("grace_us", cfg_->daemon.shutdown_grace.count())
        .unum("open_connections", shared_.open_connections.load());
    // Listeners close first, sessions finish their current request, then the grace runs out.
    for (auto& w : workers_)
        w->stop();
    grace_timer_.expires_after(cfg_->daemon.shutdown_grace);
    grace_timer_.async_wait([this](const std::error_code& ec) {
        if (ec) return;
        log::line(log::level::warn, "stop")
            .str("phase", "grace expired")
            .unum("open_connections", shared_.open_connections.load());
        for (auto& w : workers_)
            w->force_stop();
    });
}

void app::worker_done() {
    if (!stopping_) {
        exit_status_ = 1;  // a worker died on its own: stop the rest rather than limp on
        begin_stop("worker failure");
    }
    if (--running_ == 0) {
        grace_timer_.cancel();
        signals_.cancel();
        control_server_.close();
    }
}

}  // namespace netd
