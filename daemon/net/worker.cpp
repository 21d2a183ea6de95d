#include "worker.hpp"

#include <sys/socket.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cerrno>
#include <stdexcept>

#include <asio/bind_allocator.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "log.hpp"

namespace netd {
namespace {

using asio::experimental::as_tuple;

constexpr auto min_accept_backoff = std::chrono::milliseconds(10);
constexpr auto max_accept_backoff = std::chrono::seconds(1);
// Once this many connections were in their service's coroutine or held at once, the worker returns
// freed heap to the system when the last of them is done.
constexpr std::size_t trim_after_running = 512;

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
    auto addr = ep.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
        addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
    return addr.to_string() + ":" + std::to_string(ep.port());
}

proto::ip_bytes ip_of(const asio::ip::address& a) {
    if (a.is_v6()) return a.to_v6().to_bytes();
    return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
}

bool allowed(const std::vector<proto::cidr>& allow, const asio::ip::address& peer) {
    if (allow.empty()) return true;
    auto ip = ip_of(peer);
    for (const auto& net : allow)
        if (net.contains(ip)) return true;
    return false;
}

// Accept errors that mean "out of a resource for now": wait and retry rather than spin.
bool resource_exhausted(const std::error_code& ec) {
    // Standalone Asio's system category does not compare equal to std::errc: use the errno.
    const int e = ec.value();
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

// co_spawn's completion: a coroutine that escapes with an exception is a bug; log it, never
// let it take the thread down silently.
auto log_failure(std::string_view what) {
    return [what](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::line(log::level::error, "error").str("what", what).str("why", ex.what());
        }
    };
}

// Allocates a parked connection's read operation in the session's own room for it: a parked
// connection is then one allocation, and the operation is not put wherever the heap has a gap
// at the moment (among the short-lived allocations of a burst of requests, where one long-lived
// block keeps a whole page in use).
template <typename T>
struct park_allocator {
    using value_type = T;
    explicit park_allocator(session* owner) : s(owner) {}
    template <typename U>
    park_allocator(const park_allocator<U>& other) : s(other.s) {}
    bool operator==(const park_allocator&) const = default;

    T* allocate(std::size_t n) { return static_cast<T*>(s->park_room(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) { s->park_room_free(p, n * sizeof(T)); }

    session* s;
};

}  // namespace

worker::worker(shared_state& shared, std::function<void()> on_done)
    : shared_(shared), on_done_(std::move(on_done)), work_(io_.get_executor()) {
    deadlines_.owner = this;
    deadlines_.rearm = [](void* self, deadline_queue::clock::time_point at) {
        static_cast<worker*>(self)->arm_deadlines(at);
    };
    deadlines_.on_expire = [](void* self, deadline_queue::hook& h) {
        auto interval = static_cast<worker*>(self)->shared_.alive_interval_us.load();
        session::expired(h, std::chrono::microseconds(interval));
    };
}

void worker::arm_deadlines(deadline_queue::clock::time_point at) {
    if (draining_) return;
    // Re-arming cancels the wait in flight; its handler sees operation_aborted and does nothing.
    deadline_timer_.expires_at(at);
    deadline_timer_.async_wait([this](std::error_code ec) {
        if (ec) return;
        auto next = deadlines_.expire();
        if (next != deadline_queue::clock::time_point::max()) arm_deadlines(next);
    });
}

worker::~worker() {
    join();
    // A worker whose run() ended with an exception leaves sessions behind, parked, in a
    // coroutine or held by a service's work (the sensor store's): complete their operations
    // now (aborted), and wait for the held ones' verdicts, which are posted here, while the
    // sessions they point into and this io_context still exist.
    if (sessions_.empty() && listeners_.empty()) return;
    stopping_ = true;  // configure()'s handlers, if any are left, do nothing
    // Only operations (aborted below) and held sessions' verdicts keep run() going, not the
    // deadlines of a session the failure left with nothing pending.
    draining_ = true;
    deadline_timer_.cancel();
    for (auto& [key, l] : listeners_) {
        std::error_code ignored;
        l->acceptor.close(ignored);
    }
    listeners_.clear();
    for (auto& s : sessions_)
        s.abort("worker failed");
    work_.reset();
    io_.restart();
    for (;;) {
        try {
            io_.run();  // until no operation and no held session's verdict is outstanding
            return;
        } catch (const std::exception& e) {
            log::line(log::level::error, "error")
                .str("what", "worker cleanup")
                .str("why", e.what());
        }
    }
}

void worker::start() {
    thread_ = std::thread([this] {
        try {
            io_.run();
        } catch (const std::exception& e) {
            log::line(log::level::error, "error").str("what", "worker failed").str("why", e.what());
        }
        on_done_();
    });
}

void worker::join() {
    if (thread_.joinable()) thread_.join();
}

void worker::configure(std::vector<listener_spec> specs) {
    asio::post(io_, [this, specs = std::move(specs)]() mutable { apply(std::move(specs)); });
}

void worker::stop() {
    asio::post(io_, [this] {
        stopping_ = true;
        for (auto& [key, l] : listeners_)
            l->acceptor.close();
        listeners_.clear();
        for (auto& s : sessions_)
            s.request_stop();
        if (sessions_.empty()) deadline_timer_.cancel();
        work_.reset();  // run() returns once the last session and accept loop have ended
    });
}

void worker::force_stop() {
    asio::post(io_, [this] {
        for (auto& s : sessions_)
            s.abort("shutdown grace expired");
    });
}

void worker::apply(std::vector<listener_spec> specs) {
    if (stopping_) return;
    std::map<std::string, std::shared_ptr<listener>> next;
    for (auto& spec : specs) {
        auto it = listeners_.find(spec.key);
        if (it != listeners_.end() && spec.fd < 0) {
            it->second->spec = std::move(spec);  // same socket, new settings for new connections
            next.emplace(it->first, it->second);
            listeners_.erase(it);
            continue;
        }
        auto l =
            std::make_shared<listener>(listener{asio::ip::tcp::acceptor(io_), std::move(spec)});
        l->acceptor.assign(l->spec.v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), l->spec.fd);
        next.emplace(l->spec.key, l);
        asio::co_spawn(io_, accept_loop(l), log_failure("accept loop"));
    }
    for (auto& [key, l] : listeners_)
        l->acceptor.close();  // addresses no longer configured
    listeners_ = std::move(next);
}

asio::awaitable<void> worker::accept_loop(std::shared_ptr<listener> l) {
    auto backoff = std::chrono::milliseconds(0);
    asio::steady_timer timer(io_);
    while (l->acceptor.is_open()) {
        auto [ec, socket] = co_await l->acceptor.async_accept(io_, as_tuple(asio::use_awaitable));
        if (!l->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Out of descriptors or memory: back off so we neither spin nor stop accepting.
            if (resource_exhausted(ec)) {
                if (backoff.count() == 0)
                    log::line(log::level::error, "error")
                        .str("what", "accept")
                        .str("service", l->spec.service_name)
                        .str("why", ec.message())
                        .str("action", "backing off");
                backoff = std::clamp(backoff * 2, std::chrono::milliseconds(min_accept_backoff),
                                     std::chrono::milliseconds(max_accept_backoff));
                timer.expires_after(backoff);
                co_await timer.async_wait(as_tuple(asio::use_awaitable));
            }
            continue;  // ECONNABORTED and friends: the peer gave up, take the next one
        }
        backoff = std::chrono::milliseconds(0);
        admit(*l, std::move(socket));
    }
}

std::size_t shared_state::index_of(std::string_view name) {
    auto kinds = service_kinds();
    for (std::size_t i = 0; i < kinds.size() && i < max_services; ++i)
        if (kinds[i].name == name) return i;
    throw std::logic_error("unknown service " + std::string(name));
}

live_by_service worker::live() const {
    live_by_service out{};
    for (const auto& s : sessions_) {
        auto& c = out[shared_state::index_of(s.service_name)];
        c.messages += s.messages;
        c.bytes_in += s.bytes_in;
        c.bytes_out += s.bytes_out;
    }
    return out;
}

namespace {

// Endings that are part of normal life; any other reason counts as an error in the totals.
bool normal_ending(std::string_view reason) {
    return reason == "eof" || reason == "close" || reason == "shutdown" || reason == "idle timeout";
}

}  // namespace

void worker::admit(listener& l, session::socket_type socket) {
    std::error_code ec;
    auto peer_ep = socket.remote_endpoint(ec);
    if (ec) return;  // already gone
    auto& totals = shared_.totals_of(l.spec.service_name);
    if (!allowed(l.spec.allow, peer_ep.address())) {
        ++totals.errors;
        log::line(log::level::info, "conn_reject")
            .str("service", l.spec.service_name)
            .str("peer", endpoint_text(peer_ep))
            .str("reason", "not allowed");
        return;  // the socket's destructor closes it
    }
    if (shared_.open_connections.fetch_add(1) >= shared_.max_connections.load()) {
        shared_.open_connections.fetch_sub(1);
        ++totals.errors;
        auto reply = l.spec.impl->overload_reply();
        ::send(socket.native_handle(), reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        log::line(log::level::warn, "conn_reject")
            .str("service", l.spec.service_name)
            .str("peer", endpoint_text(peer_ep))
            .str("reason", "too many connections");
        return;
    }
    ++totals.connections;
    ++totals.open;
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    auto local = endpoint_text(socket.local_endpoint(ec));
    auto id = shared_.next_conn_id.fetch_add(1);
    auto it =
        sessions_.emplace(sessions_.end(), std::move(socket), id, l.spec.service_name, l.spec.impl,
                          deadlines_, std::chrono::microseconds(shared_.alive_interval_us.load()));
    it->set_self(it);
    it->peer = endpoint_text(peer_ep);
    log::line(log::level::info, "conn_open")
        .str("service", it->service_name)
        .unum("conn", it->id)
        .str("peer", it->peer)
        .str("local", local);
    resume(it);
}

namespace {

// An exception out of a service is a bug in it: log it and end only this connection.
void service_failed(session& s, const std::exception& e) {
    s.take_park();
    s.set_reason("internal error");
    log::line(log::level::error, "error")
        .str("what", "session")
        .unum("conn", s.id)
        .str("why", e.what());
}

asio::awaitable<void> serve_guarded(session& s) {
    try {
        co_await s.impl->serve(s);
    } catch (const std::exception& e) {
        service_failed(s, e);
    }
}

}  // namespace

void worker::busy() {
    peak_running_ = std::max(peak_running_, ++running_);
}

void worker::done_busy() {
    // Posted: after the handler that ended the work, when its memory is freed too.
    if (--running_ == 0 && peak_running_ >= trim_after_running)
        asio::post(io_, [this] { give_back_memory(); });
}

void worker::resume(session_ref it) {
    busy();
    asio::co_spawn(io_, serve_guarded(*it), [this, it](std::exception_ptr e) {
        // Held: the service's work has the session now and goes on with proceed(). That work's
        // completion is posted to this thread, so it runs after this handler, which co_spawn
        // dispatches as serve() returns.
        if (it->take_hold()) return;
        done_busy();
        if (e) {
            log_failure("session")(e);
            it->set_reason("internal error");
        }
        if (it->take_park() && !e && it->socket.is_open())
            park(it);
        else
            finish(it);
    });
}

void worker::give_back_memory() {
    peak_running_ = 0;
#ifdef __GLIBC__
    // A burst of requests in flight at once (ten thousand sensors reporting together) leaves
    // the heap full of freed coroutine frames between the connections' long-lived blocks;
    // glibc returns only the top of the heap by itself.
    ::malloc_trim(0);
#endif
}

void worker::park(session_ref it) {
    // A read, not a wait: Asio queues it without an epoll_ctl when the socket was drained, and
    // its few bytes are all a parked connection holds.
    it->set_idle(true);
    auto& buf = it->wake_buffer();
    auto woken = [this, it](std::error_code ec, std::size_t n) {
        it->set_idle(false);
        if (ec) {
            it->set_reason(ec);
            finish(it);
            return;
        }
        it->set_woken(n);
        // Most wake-ups are answered right here; the rest need the service's coroutine.
        wake next = wake::serve;
        try {
            next = it->impl->on_wake(*it);
        } catch (const std::exception& e) {
            service_failed(*it, e);
            finish(it);
            return;
        }
        if (next == wake::park)
            park(it);
        else if (next == wake::serve)
            resume(it);
        else
            busy();  // wake::hold: the service calls proceed() when its work is done
    };
    it->socket.async_read_some(asio::buffer(buf),
                               asio::bind_allocator(park_allocator<void>(&*it), std::move(woken)));
}

void worker::proceed(session_ref it, wake next) {
    done_busy();
    if (!it->socket.is_open())
        finish(it);  // aborted while held: a forced stop
    else if (next == wake::park)
        park(it);
    else
        resume(it);
}

// Here rather than in session.cpp: it is the worker's half of the hold.
void session::proceed(wake next) {
    static_cast<worker*>(deadlines_.owner)->proceed(self_, next);
}

void worker::finish(session_ref it) {
    session& s = *it;
    s.close();
    {
        log::line line(log::level::info, "conn_close");
        s.describe(line);
        line.str("reason", s.reason());
    }
    auto& totals = shared_.totals_of(s.service_name);
    totals.messages += s.messages;
    totals.bytes_in += s.bytes_in;
    totals.bytes_out += s.bytes_out;
    if (!normal_ending(s.reason())) ++totals.errors;
    --totals.open;
    sessions_.erase(it);
    shared_.open_connections.fetch_sub(1);
    // The deadline timer is the last thing that would keep a stopping worker's run() going.
    if (stopping_ && sessions_.empty()) deadline_timer_.cancel();
}

}  // namespace netd
