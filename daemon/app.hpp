#pragma once
// The daemon's control thread: starts workers and listeners in order, handles signals (reload,
// reopen, graceful stop) and stops everything in reverse.
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "control.hpp"
#include "net/activation.hpp"
#include "net/listen.hpp"
#include "net/worker.hpp"

namespace netd {

/// Blocks or unblocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 in the calling thread. main() blocks
/// them before any thread starts, so only the control thread ever takes them.
void set_control_signals_blocked(bool blocked);

class app {
  public:
    explicit app(std::shared_ptr<const config> cfg);
    ~app();

    /// Binds every listener, runs until stopped; returns the exit status (0 clean, 1 failure).
    int run();

  private:
    /// Starts every service of `cfg` (opens its files); the reason of the first failure.
    static bool start_services(const config& cfg, std::string& error);
    /// Binds the addresses of `cfg` this daemon does not listen on yet.
    bool bind_new(const config& cfg, std::map<std::string, listen_group>& fresh,
                  std::string& error);
    /// Hands the listeners of `cfg` to every worker, with the fresh sockets split among them.
    void hand_out(const config& cfg, std::map<std::string, listen_group>& fresh);
    void apply_runtime(const config& cfg);
    void wait_signal();
    /// Loads the config file again and applies it; the outcome as the control socket says it.
    nlohmann::json reload();
    asio::awaitable<nlohmann::json> handle_control(const nlohmann::json& request);
    asio::awaitable<nlohmann::json> status();
    asio::awaitable<live_by_service> gather_live();
    void begin_stop(std::string_view why);
    void worker_done();

    std::shared_ptr<const config> cfg_;
    asio::io_context control_{1};
    asio::signal_set signals_;
    asio::steady_timer grace_timer_;
    shared_state shared_;
    std::vector<std::unique_ptr<worker>> workers_;
    inherited_sockets inherited_;  ///< socket activation: what the service manager passed
    control_server control_server_;
    std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
    std::map<std::string, std::string> bound_;  ///< configured address -> real bound address
    unsigned running_ = 0;
    bool stopping_ = false;
    int exit_status_ = 0;
};

}  // namespace netd
