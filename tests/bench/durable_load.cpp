// durable_load: closed-loop load generator for durable acknowledgements, netd vs redis.
//
//   durable_load --proto netd|redis --port N [--host 127.0.0.1] [--connections 64]
//                [--threads 2] [--seconds 10] [--warmup 1] [--timeout 5]
//
// Each connection has one request outstanding: it sends a sensor reading, waits for the reply
// that says the reading is stored, then sends the next. The same reading goes to both servers:
//   netd:  {"sensor":"bench-<conn>","seq":<n>,"temperature":21.5,"humidity":40.1}\n -> ack <n>\n
//   redis: RPUSH readings <the same JSON> (RESP)                                  -> :<len>\r\n
// Replies completed during the warm-up are not counted. Prints one JSON line:
//   {"proto":..,"connections":..,"threads":..,"seconds":..,"ops":..,"ops_per_sec":..,
//    "p50_us":..,"p99_us":..,"max_us":..,"errors":..,"acked_total":..,"client_cpu_s":..}
// acked_total counts every acknowledged request including the warm-up, so a script can check
// that the server really stored that many; client_cpu_s is this process's CPU time, so a
// script can tell the servers' share of the machine from the client's. Every wait is bounded by
// --timeout: a late, wrong or missing reply counts as an error and ends that connection. Loopback
// addresses only: this is a benchmark, not a tool to point at someone else's server.
//
// The connections are spread over --threads threads, each an epoll loop (--threads equal to
// --connections gives one thread per connection). A few threads keep the client's own cost
// and its pressure on the scheduler low, so on a small machine the servers are measured rather
// than the client. Plain POSIX sockets, no Asio, so no client library is shared with netd (what
// it shares with line_load.cpp: load_client.hpp).
// Build: g++ -std=c++20 -O2 -pthread durable_load.cpp -o durable_load
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "load_client.hpp"

namespace {

using bench::clock_type;

enum class proto { netd, redis };

struct options : bench::common_options {
    proto protocol = proto::netd;
    options() { threads = 2; }
};

/// What one thread measured.
struct thread_result {
    std::vector<std::uint32_t> latencies_us;  ///< completions inside the measured window
    std::uint64_t acked_total = 0;            ///< every acknowledged request, warm-up included
    bench::error_tally errors;
};

constexpr bench::command_line cli{
    "durable_load",
    "durable_load --proto netd|redis --port N [--host 127.0.0.1]\n"
    "         [--connections 64] [--threads 2] [--seconds 10] [--warmup 1] [--timeout 5]"};

options parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "-h" || flag == "--help") cli.fail("closed-loop durable-ack load generator");
        if (i + 1 >= argc) cli.fail("missing value after " + std::string(flag));
        const char* value = argv[++i];
        if (flag == "--proto") {
            std::string_view v = value;
            if (v == "netd")
                o.protocol = proto::netd;
            else if (v == "redis")
                o.protocol = proto::redis;
            else
                cli.fail("--proto must be netd or redis");
        } else if (!cli.common(flag, value, o)) {
            cli.fail("unknown option " + std::string(flag));
        }
    }
    cli.finish(o);
    return o;
}

void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

/// The bytes on the wire for request `seq` of connection `conn`: the same reading for both.
void make_request(std::string& out, proto p, int conn, std::uint64_t seq) {
    std::string reading = "{\"sensor\":\"bench-";
    append_uint(reading, static_cast<std::uint64_t>(conn));
    reading += "\",\"seq\":";
    append_uint(reading, seq);
    reading += ",\"temperature\":21.5,\"humidity\":40.1}";
    if (p == proto::netd) {
        out = reading + '\n';
        return;
    }
    out = "*3\r\n$5\r\nRPUSH\r\n$8\r\nreadings\r\n$";
    append_uint(out, reading.size());
    out += "\r\n";
    out += reading;
    out += "\r\n";
}

/// Whether `reply` (without its line end) acknowledges request `seq` of its connection.
bool reply_ok(proto p, std::string_view reply, std::uint64_t seq) {
    if (p == proto::redis) {  // an integer reply: the list's new length, shared by everyone
        if (reply.size() < 2 || reply[0] != ':') return false;
        std::uint64_t len = 0;
        auto [ptr, ec] = std::from_chars(reply.data() + 1, reply.data() + reply.size(), len);
        return ec == std::errc() && ptr == reply.data() + reply.size() && len > 0;
    }
    // netd numbers the readings of a connection from 1, so its ack must match ours.
    std::string expected = "ack ";
    append_uint(expected, seq);
    return reply == expected;
}

/// One connection's state in its thread's epoll loop.
struct conn {
    int fd = -1;
    int id = 0;
    std::uint64_t seq = 0;  ///< the request outstanding
    clock_type::time_point sent, deadline;
    std::string out;  ///< request bytes not yet sent
    std::size_t out_done = 0;
    std::string in;         ///< reply bytes not yet consumed
    bool want_out = false;  ///< registered for EPOLLOUT
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
          r_(r) {}

    /// Drives connections `ids` until the measured window ends or each fails.
    void run(const std::vector<int>& ids) {
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) return fail_all(ids, std::string("epoll: ") + std::strerror(errno));
        conns_.resize(ids.size());
        r_.latencies_us.reserve(1 << 16);
        for (std::size_t i = 0; i < ids.size(); ++i) {
            auto& c = conns_[i];
            c.id = ids[i];
            std::string error;
            c.fd = bench::connect_by(addr_, clock_type::now() + timeout_, error);
            if (c.fd < 0) {
                record_error(error);
                continue;
            }
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = i;
            ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
            ++open_;
            send_next(c, clock_type::now());
        }
        std::vector<epoll_event> events(std::max<std::size_t>(conns_.size(), 1));
        while (open_ > 0) {
            auto now = clock_type::now();
            auto wait_ms = std::chrono::milliseconds(100);
            for (auto& c : conns_)
                if (c.fd >= 0)
                    wait_ms = std::min(
                        wait_ms, std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now));
            int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(std::max<long long>(wait_ms.count(), 0)));
            if (n < 0 && errno != EINTR) {
                for (auto& c : conns_)
                    if (c.fd >= 0) close(c, std::string("epoll_wait: ") + std::strerror(errno));
                break;
            }
            for (int i = 0; i < n; ++i) {
                auto& c = conns_[events[i].data.u64];
                if (c.fd >= 0 && (events[i].events & EPOLLOUT)) flush(c);
                if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) receive(c);
            }
            now = clock_type::now();
            for (auto& c : conns_)
                if (c.fd >= 0 && now >= c.deadline) {
                    char why[64];
                    std::snprintf(why, sizeof why, "no reply within %g s", o_.timeout);
                    close(c, why);
                }
        }
        ::close(ep_);
    }

  private:
    void record_error(const std::string& error) { r_.errors.record(error); }

    void fail_all(const std::vector<int>& ids, const std::string& error) {
        for (std::size_t i = 0; i < ids.size(); ++i)
            record_error(error);
    }

    /// Ends `c`; a non-empty `error` counts as an error.
    void close(conn& c, const std::string& error) {
        if (!error.empty()) record_error(error);
        ::close(c.fd);  // also removes it from the epoll set
        c.fd = -1;
        --open_;
    }

    void send_next(conn& c, clock_type::time_point now) {
        if (now >= until_) return close(c, "");
        make_request(c.out, o_.protocol, c.id, ++c.seq);
        c.out_done = 0;
        c.sent = now;
        c.deadline = now + timeout_;
        flush(c);
    }

    void flush(conn& c) {
        if (auto error = bench::send_some(c.fd, c.out, c.out_done); !error.empty())
            return close(c, error);
        bench::want_output(ep_, c.fd, static_cast<std::uint64_t>(&c - conns_.data()),
                           c.out_done < c.out.size(), c.want_out);
    }

    void receive(conn& c) {
        char chunk[4096];
        for (;;) {
            auto n = ::recv(c.fd, chunk, sizeof chunk, 0);
            if (n > 0) {
                c.in.append(chunk, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0) return close(c, "connection closed by the server");
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return close(c, std::string("recv: ") + std::strerror(errno));
        }
        auto nl = c.in.find('\n');
        if (nl == std::string::npos) {
            if (c.in.size() > 4096) close(c, "reply line longer than 4096 bytes");
            return;
        }
        auto now = clock_type::now();
        std::string_view reply(c.in.data(), nl);
        if (!reply.empty() && reply.back() == '\r') reply.remove_suffix(1);
        // Closed loop: one request outstanding, so anything after its reply is out of step.
        if (!reply_ok(o_.protocol, reply, c.seq) || nl + 1 != c.in.size())
            return close(c, "unexpected reply '" + std::string(reply.substr(0, 80)) + "'");
        c.in.clear();
        ++r_.acked_total;
        if (now >= from_ && now < until_) {
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - c.sent).count();
            r_.latencies_us.push_back(
                static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
        }
        send_next(c, now);
    }

    const options& o_;
    const bench::address& addr_;
    const clock_type::time_point from_, until_;
    const clock_type::duration timeout_;
    thread_result& r_;
    int ep_ = -1;
    std::size_t open_ = 0;
    std::vector<conn> conns_;
};

/// Nearest-rank percentile of sorted `v` (0 if empty).
std::uint32_t percentile(const std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) return 0;
    auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    const bench::address addr = bench::resolve(cli.tool, o);

    const auto start = clock_type::now();
    const auto measure_from = start + bench::seconds_to_duration(o.warmup);
    const auto measure_until = measure_from + bench::seconds_to_duration(o.seconds);

    std::vector<thread_result> results(static_cast<std::size_t>(o.threads));
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < o.threads; ++t)
            threads.emplace_back([&, t] {
                std::vector<int> ids;
                for (int id = t; id < o.connections; id += o.threads)
                    ids.push_back(id);
                load_thread(o, addr, measure_from, measure_until,
                            results[static_cast<std::size_t>(t)])
                    .run(ids);
            });
    }  // jthreads join here; each ends by itself once the window is over or its connections fail

    std::vector<std::uint32_t> all;
    std::uint64_t errors = 0, acked_total = 0;
    for (auto& r : results) {
        all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
        errors += r.errors.count;
        acked_total += r.acked_total;
        for (auto& e : r.errors.texts)
            std::fprintf(stderr, "durable_load: connection error: %s\n", e.c_str());
    }
    std::sort(all.begin(), all.end());
    std::printf(
        "{\"proto\":\"%s\",\"connections\":%d,\"threads\":%d,\"seconds\":%g,\"ops\":%zu,"
        "\"ops_per_sec\":%.1f,\"p50_us\":%" PRIu32 ",\"p99_us\":%" PRIu32 ",\"max_us\":%" PRIu32
        ",\"errors\":%" PRIu64 ",\"acked_total\":%" PRIu64 ",\"client_cpu_s\":%.2f}\n",
        o.protocol == proto::netd ? "netd" : "redis", o.connections, o.threads, o.seconds,
        all.size(), static_cast<double>(all.size()) / o.seconds, percentile(all, 50),
        percentile(all, 99), all.empty() ? 0 : all.back(), errors, acked_total,
        bench::cpu_seconds());
    return errors == 0 && !all.empty() ? 0 : 1;
}
