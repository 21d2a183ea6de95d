#pragma once
// What a service is to the daemon core: it parses its own config table and serves connections.
// Adding a service is one file plus one row in registry.cpp.
#include <asio/awaitable.hpp>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace netd {

class session;
class table_reader;

/// What happens to a connection after service::on_wake().
enum class wake {
    park,   ///< answered: wait for the next input without a coroutine
    serve,  ///< run serve()
    hold,   ///< work for it runs elsewhere (the sensor store): the service calls
            ///< session::proceed() with park or serve once it is done; until then the connection
            ///< is neither read nor ended
};

class service {
  public:
    virtual ~service() = default;
    /// Serves one accepted connection until it ends, parks it (session::park: the core waits
    /// for input and calls on_wake()) or holds it (session::hold, as wake::hold). The core logs
    /// conn_open and conn_close.
    virtual asio::awaitable<void> serve(session& s) = 0;
    /// A parked connection got input (session::take_woken). Answers it without a coroutine if
    /// it can, and says what comes next.
    virtual wake on_wake(session& s) {
        (void)s;
        return wake::serve;
    }
    /// Acquires what the service needs before its listeners open (files, ...): called at start
    /// and for a reload's new config, never by --check-config. False with a reason on failure.
    virtual bool start(std::string& error) {
        (void)error;
        return true;
    }
    /// What a connection turned away past max_connections is told before it is closed.
    virtual std::string_view overload_reply() const = 0;
};

/// One row of the service table: the [name] section and how to build the service from it.
struct service_kind {
    std::string_view name;
    /// Reads the service's own keys; returns nullptr after reporting errors to table.diag().
    std::shared_ptr<service> (*make)(table_reader& table);
};

/// Reopens the files services write (SIGUSR1, after logrotate moved them).
void reopen_service_files();

/// Every service netd knows, in the order they start.
std::span<const service_kind> service_kinds();

}  // namespace netd
