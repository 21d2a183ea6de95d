// line_load: closed-loop load generator for line protocols: netd's ping service, the floor
// server (floor_server.c) and redis, with pipelining (issue 6).
//
//   line_load --proto ping|redis --port N [--host 127.0.0.1] [--connections 64] [--depth 1]
//             [--threads 1] [--seconds 10] [--warmup 1] [--timeout 5]
//
// Each connection keeps --depth requests in flight: it sends that many, and for every reply it
// reads it sends one more (closed loop: the server's speed sets the pace). The requests:
//   ping:  "ping\n"   -> "pong\n"      (netd's ping service, the floor server)
//   redis: "PING\r\n" -> "+PONG\r\n"   (RESP inline command)
// Replies come back in order, so each one completes the oldest request of its connection; its
// latency runs from the send() that carried the request to the recv() that carried the reply.
// Replies completed during the warm-up are not counted. Prints one JSON line:
//   {"proto":..,"connections":..,"depth":..,"threads":..,"seconds":..,"ops":..,"ops_per_sec":..,
//    "p50_us":..,"p90_us":..,"p99_us":..,"p999_us":..,"max_us":..,"mean_us":..,"errors":..,
//    "completed_total":..,"client_cpu_s":..}
// Latencies go into a log-linear histogram (128 steps per power of two: under 1 % error), so a
// run of millions of requests needs no memory per request. client_cpu_s is this process's CPU
// time, so a script can tell the server's share of the machine from the client's. Every wait is
// bounded by --timeout: a late, wrong or missing reply counts as an error and ends that
// connection. Loopback addresses only: this is a benchmark, not a tool to point at someone
// else's server.
//
// The connections are spread over --threads threads, each an epoll loop. One reply read wakes
// one send of as many new requests (one system call each way per batch), so the client's own
// cost per request falls with the depth, as a server's does. Plain POSIX sockets, no Asio, so no
// client library is shared with netd (what it shares with durable_load.cpp: load_client.hpp).
// Build: g++ -std=c++20 -O2 -pthread line_load.cpp -o line_load
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "load_client.hpp"

namespace {

using bench::clock_type;

enum class proto { ping, redis };

struct options : bench::common_options {
    proto protocol = proto::ping;
    int depth = 1;
};

std::string_view request_of(proto p) {
    return p == proto::ping ? std::string_view("ping\n") : std::string_view("PING\r\n");
}
std::string_view reply_of(proto p) {
    return p == proto::ping ? std::string_view("pong\n") : std::string_view("+PONG\r\n");
}

/// Latencies in nanoseconds, log-linear: values below 2^sub_bits exactly, above in steps of
/// 1/2^sub_bits of their power of two. Merging is adding counts.
class histogram {
  public:
    static constexpr int sub_bits = 7;
    static constexpr std::uint64_t sub = 1u << sub_bits;

    void add(std::uint64_t ns) {
        ++counts_[index_of(ns)];
        ++total_;
        sum_ns_ += ns;
        max_ns_ = std::max(max_ns_, ns);
    }
    void merge(const histogram& o) {
        for (std::size_t i = 0; i < counts_.size(); ++i)
            counts_[i] += o.counts_[i];
        total_ += o.total_;
        sum_ns_ += o.sum_ns_;
        max_ns_ = std::max(max_ns_, o.max_ns_);
    }
    std::uint64_t total() const { return total_; }
    std::uint64_t max_ns() const { return max_ns_; }
    double mean_ns() const { return total_ ? static_cast<double>(sum_ns_) / total_ : 0; }
    /// Nearest-rank percentile; the midpoint of its bucket (0 if empty).
    double percentile_ns(double p) const {
        if (total_ == 0) return 0;
        auto rank = static_cast<std::uint64_t>(p / 100.0 * static_cast<double>(total_) + 0.999999);
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                auto [lo, hi] = bounds_of(i);
                return std::min<double>((static_cast<double>(lo) + static_cast<double>(hi)) / 2,
                                        static_cast<double>(max_ns_));
            }
        }
        return static_cast<double>(max_ns_);
    }

  private:
    static constexpr std::size_t buckets = (64 - sub_bits + 1) * sub;

    static std::size_t index_of(std::uint64_t v) {
        if (v < sub) return static_cast<std::size_t>(v);
        int msb = 63 - std::countl_zero(v);  // >= sub_bits
        int shift = msb - sub_bits;
        auto mantissa = (v >> shift) & (sub - 1);
        return static_cast<std::size_t>((shift + 1) * sub + mantissa);
    }
    static std::pair<std::uint64_t, std::uint64_t> bounds_of(std::size_t i) {
        if (i < sub) return {i, i};
        auto shift = static_cast<int>(i / sub) - 1;
        auto mantissa = i % sub;
        std::uint64_t lo = (sub + mantissa) << shift;
        return {lo, lo + (std::uint64_t{1} << shift) - 1};
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0, sum_ns_ = 0, max_ns_ = 0;
};

/// What one thread measured.
struct thread_result {
    histogram latency;                  ///< completions inside the measured window
    std::uint64_t completed_total = 0;  ///< every reply, warm-up included
    bench::error_tally errors;
};

constexpr bench::command_line cli{
    "line_load",
    "line_load --proto ping|redis --port N [--host 127.0.0.1]\n"
    "         [--connections 64] [--depth 1] [--threads 1] [--seconds 10] [--warmup 1] "
    "[--timeout 5]"};

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "-h" || flag == "--help")
            cli.fail("closed-loop load generator for line protocols");
        if (i + 1 >= argc) cli.fail("missing value after " + std::string(flag));
        const char* value = argv[++i];
        if (flag == "--proto") {
            std::string_view v = value;
            if (v == "ping")
                o.protocol = proto::ping;
            else if (v == "redis")
                o.protocol = proto::redis;
            else
                cli.fail("--proto must be ping or redis");
        } else if (flag == "--depth") {
            o.depth = static_cast<int>(cli.number(flag, value, 1, 1024));
        } else if (!cli.common(flag, value, o)) {
            cli.fail("unknown option " + std::string(flag));
        }
    }
    cli.finish(o);
    return o;
}

/// One connection's state in its thread's epoll loop.
struct conn {
    int fd = -1;
    std::vector<clock_type::time_point> sent;  ///< ring: send times of the requests in flight
    std::size_t head = 0, in_flight = 0;       ///< oldest request's slot; requests in flight
    std::size_t owed = 0;  ///< requests to send (whole ones; `out` holds their bytes)
    std::string out;       ///< request bytes not yet sent
    std::size_t out_done = 0;
    char in[256];  ///< a partial reply carried over to the next read
    std::size_t in_len = 0;
    clock_type::time_point deadline;  ///< for the oldest request in flight
    bool want_out = false;            ///< registered for EPOLLOUT
    bool draining = false;            ///< the window is over: send nothing more
};

class load_thread {
  public:
    load_thread(const options& o, const bench::address& addr, clock_type::time_point measure_from,
                clock_type::time_point measure_until, thread_result& r)
        : o_(o),
          addr_(addr),
          from_(measure_from),
          until_(measure_until),
          timeout_(std::chrono::duration_cast<clock_type::duration>(
              std::chrono::duration<double>(o.timeout))),
          request_(request_of(o.protocol)),
          reply_(reply_of(o.protocol)),
          r_(r) {}

    /// Drives `count` connections until the measured window ends or each fails.
    void run(int count) {
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) return fail_all(count, std::string("epoll: ") + std::strerror(errno));
        conns_.resize(static_cast<std::size_t>(count));
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            auto& c = conns_[i];
            std::string error;
            c.fd = bench::connect_by(addr_, clock_type::now() + timeout_, error);
            if (c.fd < 0) {
                record_error(error);
                continue;
            }
            c.sent.resize(static_cast<std::size_t>(o_.depth));
            c.out.reserve(request_.size() * static_cast<std::size_t>(o_.depth));
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
            ++open_;
        }
        // All connected before the first request, so a slow connect does not skew the start.
        auto now = clock_type::now();
        for (auto& c : conns_)
            if (c.fd >= 0) {
                c.owed = static_cast<std::size_t>(o_.depth);
                send_owed(c, now);
            }
        std::vector<epoll_event> events(std::max<std::size_t>(conns_.size(), 1));
        auto next_deadline_check = now;
        while (open_ > 0) {
            int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
            if (n < 0 && errno != EINTR) {
                for (auto& c : conns_)
                    if (c.fd >= 0) close(c, std::string("epoll_wait: ") + std::strerror(errno));
                break;
            }
            for (int i = 0; i < n; ++i) {
                auto& c = conns_[events[i].data.u64];
                if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) receive(c);
                if (c.fd >= 0 && (events[i].events & EPOLLOUT)) flush(c);
            }
            // Deadlines and the end of the window, checked a few times a second: a connection
            // whose requests are all answered after the window closes is done.
            now = clock_type::now();
            if (now < next_deadline_check) continue;
            next_deadline_check = now + std::chrono::milliseconds(20);
            for (auto& c : conns_) {
                if (c.fd < 0) continue;
                if (now >= until_) c.draining = true;
                if (c.draining && c.in_flight == 0) {
                    close(c, "");
                } else if (c.in_flight > 0 && now >= c.deadline) {
                    char why[64];
                    std::snprintf(why, sizeof why, "no reply within %g s", o_.timeout);
                    close(c, why);
                }
            }
        }
        ::close(ep_);
    }

  private:
    void record_error(const std::string& error) { r_.errors.record(error); }

    void fail_all(int count, const std::string& error) {
        for (int i = 0; i < count; ++i)
            record_error(error);
    }

    /// Ends `c`; a non-empty `error` counts as an error.
    void close(conn& c, const std::string& error) {
        if (!error.empty()) record_error(error);
        ::close(c.fd);  // also removes it from the epoll set
        c.fd = -1;
        --open_;
    }

    /// Queues the requests owed (all of them: the ring has room for depth) and sends.
    void send_owed(conn& c, clock_type::time_point now) {
        if (now >= until_) c.draining = true;
        if (c.draining) {
            c.owed = 0;
            if (c.in_flight == 0) close(c, "");
            return;
        }
        if (c.in_flight == 0) c.deadline = now + timeout_;
        for (; c.owed > 0; --c.owed) {
            c.sent[(c.head + c.in_flight) % c.sent.size()] = now;
            ++c.in_flight;
            c.out.append(request_);
        }
        flush(c);
    }

    void flush(conn& c) {
        if (auto error = bench::send_some(c.fd, c.out, c.out_done); !error.empty())
            return close(c, error);
        if (c.out_done == c.out.size()) {
            c.out.clear();
            c.out_done = 0;
        }
        bench::want_output(ep_, c.fd, static_cast<std::uint64_t>(&c - conns_.data()),
                           c.out_done < c.out.size(), c.want_out);
    }

    void receive(conn& c) {
        // Fixed-size replies: each whole one completes the oldest request in flight.
        char chunk[16384];
        std::size_t completed = 0;
        clock_type::time_point now{};
        for (;;) {
            std::memcpy(chunk, c.in, c.in_len);
            const std::size_t room = sizeof chunk - c.in_len;
            auto n = ::recv(c.fd, chunk + c.in_len, room, 0);
            if (n == 0) return close(c, "connection closed by the server");
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return close(c, std::string("recv: ") + std::strerror(errno));
            }
            now = clock_type::now();
            std::size_t have = c.in_len + static_cast<std::size_t>(n), pos = 0;
            for (; pos + reply_.size() <= have; pos += reply_.size()) {
                if (std::string_view(chunk + pos, reply_.size()) != reply_ || c.in_flight == 0) {
                    auto end = std::find(chunk + pos, chunk + have, '\n');
                    return close(c, "unexpected reply '" +
                                        std::string(chunk + pos, std::min<std::size_t>(
                                                                     end - (chunk + pos), 80)) +
                                        "'");
                }
                complete(c, now);
                ++completed;
            }
            c.in_len = have - pos;
            std::memcpy(c.in, chunk + pos, c.in_len);
            if (static_cast<std::size_t>(n) < room) break;  // drained: no need to hit EAGAIN
        }
        if (completed == 0) return;
        if (c.in_flight > 0) c.deadline = now + timeout_;  // the next oldest has its own time
        c.owed += completed;
        send_owed(c, now);
    }

    void complete(conn& c, clock_type::time_point now) {
        auto sent = c.sent[c.head];
        c.head = (c.head + 1) % c.sent.size();
        --c.in_flight;
        ++r_.completed_total;
        if (now >= from_ && now < until_)
            r_.latency.add(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent).count()));
    }

    const options& o_;
    const bench::address& addr_;
    const clock_type::time_point from_, until_;
    const clock_type::duration timeout_;
    const std::string_view request_, reply_;
    thread_result& r_;
    int ep_ = -1;
    std::size_t open_ = 0;
    std::vector<conn> conns_;
};

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    const bench::address addr = bench::resolve(cli.tool, o);
    // Many connections need many descriptors: take the hard limit.
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &nofile);
    }

    const auto start = clock_type::now();
    const auto measure_from = start + bench::seconds_to_duration(o.warmup);
    const auto measure_until = measure_from + bench::seconds_to_duration(o.seconds);

    // Heap-allocated: a histogram is about 60 KB.
    std::vector<thread_result> results(static_cast<std::size_t>(o.threads));
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < o.threads; ++t)
            threads.emplace_back([&, t] {
                int count = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
                load_thread(o, addr, measure_from, measure_until,
                            results[static_cast<std::size_t>(t)])
                    .run(count);
            });
    }  // jthreads join here; each ends by itself once the window is over or its connections fail

    histogram all;
    std::uint64_t errors = 0, completed_total = 0;
    for (auto& r : results) {
        all.merge(r.latency);
        errors += r.errors.count;
        completed_total += r.completed_total;
        for (auto& e : r.errors.texts)
            std::fprintf(stderr, "line_load: connection error: %s\n", e.c_str());
    }
    auto us = [&](double p) { return all.percentile_ns(p) / 1000.0; };
    std::printf(
        "{\"proto\":\"%s\",\"connections\":%d,\"depth\":%d,\"threads\":%d,\"seconds\":%g,"
        "\"ops\":%" PRIu64
        ",\"ops_per_sec\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
        "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"errors\":%" PRIu64
        ",\"completed_total\":%" PRIu64 ",\"client_cpu_s\":%.2f}\n",
        o.protocol == proto::ping ? "ping" : "redis", o.connections, o.depth, o.threads, o.seconds,
        all.total(), static_cast<double>(all.total()) / o.seconds, us(50), us(90), us(99), us(99.9),
        static_cast<double>(all.max_ns()) / 1000.0, all.mean_ns() / 1000.0, errors, completed_total,
        bench::cpu_seconds());
    return errors == 0 && all.total() > 0 ? 0 : 1;
}
