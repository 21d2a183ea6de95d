#pragma once
// A worker thread: its own io_context, its own acceptor per listen address, and the sessions it
// accepted. Everything inside runs on the worker's thread; the control thread talks to it only
// by posting.
#include <array>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/deadlines.hpp"
#include "net/session.hpp"
#include "proto/address.hpp"
#include "services/service.hpp"

namespace netd {

/// Running totals of one service over all workers, since start (for `netctl status`).
struct service_totals {
    std::atomic<std::uint64_t> open{0}, connections{0}, messages{0}, bytes_in{0}, bytes_out{0};
    /// Connections turned away (not allowed, too many) or ended by an error or a timeout.
    std::atomic<std::uint64_t> errors{0};
};

/// Counters and limits every worker shares.
struct shared_state {
    static constexpr std::size_t max_services = 8;

    std::atomic<std::size_t> open_connections{0};
    std::atomic<std::size_t> max_connections{10000};
    std::atomic<std::uint64_t> next_conn_id{1};
    std::atomic<std::int64_t> alive_interval_us{60'000'000};
    std::array<service_totals, max_services> totals;  ///< by the service's registry index

    /// The registry index of the service named `name`.
    static std::size_t index_of(std::string_view name);
    service_totals& totals_of(std::string_view name) { return totals[index_of(name)]; }
};

/// What the sessions open on one worker have done so far, per service (registry index).
struct live_counts {
    std::uint64_t messages = 0, bytes_in = 0, bytes_out = 0;
};
using live_by_service = std::array<live_counts, shared_state::max_services>;

/// One listen address as a worker should serve it after a (re)configuration.
struct listener_spec {
    std::string key;  ///< the configured address text; unchanged key = keep the socket
    std::string_view service_name;
    std::shared_ptr<service> impl;
    std::vector<proto::cidr> allow;
    int fd = -1;  ///< a new socket for this worker to adopt, or -1 to keep the one it has
    bool v6 = false;
};

class worker {
  public:
    worker(shared_state& shared, std::function<void()> on_done);
    ~worker();

    void start();
    void join();
    /// Replaces the set of listeners (start and reload): adopt new sockets, update kept ones,
    /// close the ones that are gone.
    void configure(std::vector<listener_spec> specs);
    /// Graceful stop: close listeners, let sessions finish their current request.
    void stop();
    /// Ends every session still open (the grace period is over).
    void force_stop();
    /// The counters of the open sessions. Call on the worker's own thread (see executor()).
    live_by_service live() const;
    asio::io_context::executor_type executor() { return io_.get_executor(); }

    using session_ref = std::list<session>::iterator;
    /// Continues a held connection (session::proceed).
    void proceed(session_ref it, wake next);

  private:
    struct listener {
        asio::ip::tcp::acceptor acceptor;
        listener_spec spec;
    };

    void apply(std::vector<listener_spec> specs);
    asio::awaitable<void> accept_loop(std::shared_ptr<listener> l);

    void admit(listener& l, session::socket_type socket);
    /// Runs the service on the connection until it ends or parks.
    void resume(session_ref it);
    /// Waits for input without a coroutine, then resumes.
    void park(session_ref it);
    /// Logs conn_close and forgets the connection.
    void finish(session_ref it);
    void arm_deadlines(deadline_queue::clock::time_point at);
    /// A session starts or ends work outside a parked read (serve(), or held); once 512 or
    /// more were at it at once, the last to end gives freed heap back to the system.
    void busy();
    void done_busy();
    void give_back_memory();

    shared_state& shared_;
    std::function<void()> on_done_;
    asio::io_context io_{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::map<std::string, std::shared_ptr<listener>> listeners_;
    deadline_queue deadlines_;  ///< of every session here; before sessions_, which use it
    asio::steady_timer deadline_timer_{io_};
    std::list<session> sessions_;
    /// Sessions in a serve() coroutine or held by their service, now and at most since the
    /// last give_back_memory().
    std::size_t running_ = 0, peak_running_ = 0;
    bool stopping_ = false;
    bool draining_ = false;  ///< ~worker after a failed run(): no deadline is armed again
    std::thread thread_;
};

}  // namespace netd
