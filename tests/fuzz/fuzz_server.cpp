// libFuzzer target: the real server, in-process, over loopback. One daemon core (two workers,
// ping, ack, sensor and files on 127.0.0.1 port 0) lives across inputs. Each input's first byte
// picks the service (bits 0-1) and how the client behaves (bits 2-3: one send then half-close;
// the same in up to four pieces; reset right after sending; reset after the first reply bytes);
// the rest is sent on a fresh connection. Invariants:
//  - a half-closed connection is answered and closed within a deadline, and the reply has the
//    service's shape (ping: known lines; ack and sensor: numbered 1, 2, 3... in order, one line
//    per message; files: an HTTP/1.1 response);
//  - nothing outside the files root and no dotfile is ever served (their contents carry markers);
//  - afterwards a fresh ping still gets pong, and every session ends once its client is gone;
//  - every log line is one JSON object, and no session ever ends in an exception;
//  - every line in the sensor data file is one JSON object.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config.hpp"
#include "log.hpp"
#include "net/listen.hpp"
#include "net/worker.hpp"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Generous next to the configured timeouts (1-2 s): missing it means the server hangs.
constexpr milliseconds reply_deadline{10'000};
constexpr milliseconds session_end_deadline{10'000};
constexpr std::uintmax_t max_kept_file_bytes = 8 << 20;  // the log and the data file

constexpr std::string_view outside_marker = "netd-fuzz-outside-the-root";
constexpr std::string_view dotfile_marker = "netd-fuzz-dotfile-content";

enum service_index { ping, ack, sensor, files };
enum class ending { half_close, pieces, reset_now, reset_after_reply };

std::string input_text;  // the current input, for failure messages

[[noreturn]] void fail(const char* format, ...) {
    std::va_list args;
    va_start(args, format);
    std::fputs("fuzz_server: ", stderr);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::string shown;
    for (unsigned char c : input_text.substr(0, 512))
        shown += c >= 0x20 && c < 0x7f ? std::string(1, static_cast<char>(c))
                                       : "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) +
                                             "0123456789abcdef"[c & 15];
    std::fprintf(stderr, "\nfuzz_server: input (%zu bytes): %s\n", input_text.size(),
                 shown.c_str());
    std::abort();
}

const char* config_text = R"(
[log]
level = "debug"
[ping]
listen = ["127.0.0.1:0"]
idle_timeout = "2s"
max_line = 1024
[ack]
listen = ["127.0.0.1:0"]
reply = "ACK {seq} {bytes} {{{message}}}"
framing = "line"
max_line = 256
idle_timeout = "2s"
[sensor]
listen = ["127.0.0.1:0"]
data_file = "readings.jsonl"
durability = "write"
max_line = 512
idle_timeout = "2s"
[files]
listen = ["127.0.0.1:0"]
root = "www"
listing = true
header_timeout = "2s"
idle_timeout = "2s"
send_timeout = "2s"
)";

// Checks whole lines appended to a file since the last call, then cuts the file when it grows
// large (both files are opened O_APPEND, so the writer carries on at the new end).
class line_checker {
  public:
    line_checker(fs::path path, void (*check)(std::string_view line))
        : path_(std::move(path)), check_(check) {}

    void poll() {
        std::error_code ec;
        auto size = fs::file_size(path_, ec);
        if (ec || size == offset_) return;
        if (size < offset_) offset_ = 0;
        std::ifstream in(path_, std::ios::binary);
        in.seekg(static_cast<std::streamoff>(offset_));
        std::string chunk(size - offset_, '\0');
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        chunk.resize(static_cast<std::size_t>(in.gcount()));
        auto end = chunk.rfind('\n');
        if (end == std::string::npos) return;
        for (std::size_t from = 0; from <= end;) {
            auto nl = chunk.find('\n', from);
            check_(std::string_view(chunk).substr(from, nl - from));
            from = nl + 1;
        }
        offset_ += end + 1;
        if (offset_ > max_kept_file_bytes) {
            fs::resize_file(path_, 0, ec);
            offset_ = 0;
        }
    }

  private:
    fs::path path_;
    void (*check_)(std::string_view line);
    std::uintmax_t offset_ = 0;
};

void check_log_line(std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ts") || !j.contains("event"))
        fail("a log line is not one JSON object: %.*s", static_cast<int>(line.size()), line.data());
    if (j["event"] == "error" && j.contains("what")) {
        const auto& what = j["what"];
        if (what == "session" || what == "accept loop" || what == "worker failed")
            fail("an exception escaped: %.*s", static_cast<int>(line.size()), line.data());
    }
}

void check_reading_line(std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("format"))
        fail("a stored reading is not one JSON object: %.*s", static_cast<int>(line.size()),
             line.data());
}

// The daemon core as netd runs it, minus main(): config from a file, services started, workers
// with one SO_REUSEPORT listener each per service, logging to a file.
class server {
  public:
    server() {
        fs::create_directories(dir_ / "www" / "sub");
        fs::create_directories(dir_ / "outside");
        std::ofstream(dir_ / "www" / "index.html") << "<!doctype html><title>netd</title>\n";
        std::ofstream(dir_ / "www" / "a.txt") << std::string(3000, 'a') << "\n";
        std::ofstream(dir_ / "www" / "sub" / "b.css") << "body { color: black }\n";
        std::ofstream(dir_ / "www" / ".hidden") << dotfile_marker << "\n";
        std::ofstream(dir_ / "outside" / "secret.txt") << outside_marker << "\n";
        fs::create_symlink("../outside", dir_ / "www" / "escape");
        fs::create_symlink("../outside/secret.txt", dir_ / "www" / "secret.txt");
        fs::create_symlink(dir_ / "outside", dir_ / "www" / "absolute");
        std::ofstream(dir_ / "netd.toml") << config_text;

        auto loaded = netd::load_config((dir_ / "netd.toml").string());
        if (!loaded.cfg) fail("config: %s", loaded.errors.front().c_str());
        cfg_ = loaded.cfg;
        std::string error;
        if (!netd::log::open((dir_ / "netd.log").string(), netd::log::level::debug, error))
            fail("log: %s", error.c_str());
        for (const auto& sc : cfg_->services)
            if (!sc.impl->start(error)) fail("start %s: %s", sc.name.data(), error.c_str());

        constexpr unsigned threads = 2;
        for (unsigned i = 0; i < threads; ++i)
            workers_.push_back(std::make_unique<netd::worker>(shared_, [] {}));
        std::vector<std::vector<netd::listener_spec>> specs(threads);
        for (const auto& sc : cfg_->services) {
            netd::listen_group group;
            if (!netd::listen_on(sc.listen.at(0), threads, group, error))
                fail("listen: %s", error.c_str());
            ports_.push_back(static_cast<std::uint16_t>(
                std::stoi(group.bound.substr(group.bound.rfind(':') + 1))));
            // The key names the listener across reloads; app.cpp makes each port 0 its own.
            const std::string key = std::string(sc.name) + " " + sc.listen[0].text();
            for (unsigned i = 0; i < threads; ++i)
                specs[i].push_back(
                    {key, sc.name, sc.impl, sc.allow, std::exchange(group.fds[i], -1), group.v6});
        }
        for (unsigned i = 0; i < threads; ++i) {
            workers_[i]->start();
            workers_[i]->configure(std::move(specs[i]));
        }
    }

    // Registry order: ping, ack, sensor, files.
    std::uint16_t port(service_index s) const { return ports_.at(s); }
    std::size_t open_connections() const { return shared_.open_connections.load(); }

    void check_files() {
        log_.poll();
        readings_.poll();
    }

    void stop() {
        for (auto& w : workers_)
            w->stop();
        for (auto& w : workers_)
            w->force_stop();
        for (auto& w : workers_)
            w->join();
        netd::log::close();
        check_files();
        fs::remove_all(dir_);
    }

  private:
    static fs::path make_dir() {
        char tmpl[] = "/tmp/netd-fuzz-server-XXXXXX";
        if (!::mkdtemp(tmpl)) fail("mkdtemp: %s", std::strerror(errno));
        return tmpl;
    }

    fs::path dir_ = make_dir();
    std::shared_ptr<const netd::config> cfg_;
    netd::shared_state shared_;
    std::vector<std::unique_ptr<netd::worker>> workers_;
    std::vector<std::uint16_t> ports_;
    line_checker log_{dir_ / "netd.log", check_log_line};
    line_checker readings_{dir_ / "readings.jsonl", check_reading_line};
};

server& the_server() {
    static server* s = [] {
        // As netd's app does: sendfile(2) to a connection the client reset raises SIGPIPE (it
        // has no MSG_NOSIGNAL), which would end the fuzzer with exit status 141.
        std::signal(SIGPIPE, SIG_IGN);
        auto* created = new server;  // never destroyed: worker threads outlive static destructors
        std::atexit([] { the_server().stop(); });
        return created;
    }();
    return *s;
}

struct exchange_result {
    std::string reply;
    bool eof = false;    // the server closed cleanly (FIN), so `reply` is all it sent
    bool reset = false;  // the connection was reset (by either side)
};

// False once `until` has passed. libFuzzer's -timeout alarm interrupts poll (EINTR): go on.
bool wait_for(int fd, short events, clock_type::time_point until) {
    for (;;) {
        auto left = std::chrono::duration_cast<milliseconds>(until - clock_type::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, static_cast<int>(left) + 1);
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) fail("poll: %s", std::strerror(errno));
    }
}

void abortive_close(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

// One connection: sends `payload` (in `pieces` parts, 1 ms apart), then ends as `how` says and
// reads what comes back until the server closes or the deadline passes.
exchange_result exchange(std::uint16_t port, std::string_view payload, ending how) {
    exchange_result r;
    const auto until = clock_type::now() + reply_deadline;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int error = errno;
        socklen_t len = sizeof error;
        if ((error == EINPROGRESS || error == EINTR) && wait_for(fd, POLLOUT, until))
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) fail("connect to port %u: %s", port, std::strerror(error));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    auto read_some = [&] {
        char buf[16384];
        for (;;) {
            auto n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                r.reply.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0) r.eof = true;
            if (n < 0 && errno != EAGAIN && errno != EINTR) r.reset = true;
            return;
        }
    };

    const std::size_t parts = how == ending::pieces ? std::min<std::size_t>(4, payload.size()) : 1;
    for (std::size_t i = 0; i < parts && !r.eof && !r.reset; ++i) {
        auto part = payload.substr(i * payload.size() / parts,
                                   (i + 1) * payload.size() / parts - i * payload.size() / parts);
        if (i > 0) std::this_thread::sleep_for(milliseconds(1));
        while (!part.empty() && !r.eof && !r.reset) {
            auto n = ::send(fd, part.data(), part.size(), MSG_NOSIGNAL);
            if (n > 0) {
                part.remove_prefix(static_cast<std::size_t>(n));
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                r.reset = true;  // the server closed first (it stops reading after an error)
            } else {
                read_some();  // never block on a full send buffer while replies pile up
                if (!wait_for(fd, POLLIN | POLLOUT, until)) fail("send timed out");
            }
        }
    }
    if (how == ending::reset_now) {
        abortive_close(fd);
        return r;
    }
    ::shutdown(fd, SHUT_WR);
    while (!r.eof && !r.reset) {
        read_some();
        if (how == ending::reset_after_reply && !r.reply.empty()) {
            abortive_close(fd);
            return r;
        }
        if (r.eof || r.reset) break;
        if (!wait_for(fd, POLLIN, until)) {
            ::close(fd);
            fail("no close within %lld ms (got %zu bytes)",
                 static_cast<long long>(reply_deadline.count()), r.reply.size());
        }
    }
    ::close(fd);
    return r;
}

std::vector<std::string_view> lines_of(std::string_view reply) {
    std::vector<std::string_view> lines;
    if (!reply.empty() && reply.back() != '\n')
        fail("a line service's reply does not end in a newline");
    while (!reply.empty()) {
        auto nl = reply.find('\n');
        lines.push_back(reply.substr(0, nl));
        reply.remove_prefix(nl + 1);
    }
    return lines;
}

bool number_at(std::string_view& s, std::uint64_t& v) {
    std::size_t digits = 0;
    v = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9')
        v = v * 10 + static_cast<std::uint64_t>(s[digits++] - '0');
    s.remove_prefix(digits);
    return digits > 0;
}

void check_ping(std::string_view reply) {
    for (auto line : lines_of(reply)) {
        bool time = line.size() == 27 && line.back() == 'Z' && line[10] == 'T';
        if (!(line == "pong" || line == "Unknown command" || line == "ERR line too long" ||
              line.starts_with("stamp ") || time))
            fail("ping replied '%.*s'", static_cast<int>(line.size()), line.data());
    }
}

// "ACK {seq} {bytes} {{{message}}}": numbered 1, 2, 3..., and {bytes} is the message's length.
void check_ack(std::string_view reply) {
    std::uint64_t expected = 1;
    for (auto line : lines_of(reply)) {
        if (line == "ERR line too long") continue;
        auto rest = line;
        std::uint64_t seq = 0, bytes = 0;
        bool ok = rest.starts_with("ACK ") && (rest.remove_prefix(4), number_at(rest, seq)) &&
                  rest.starts_with(" ") && (rest.remove_prefix(1), number_at(rest, bytes)) &&
                  rest.starts_with(" {") && rest.ends_with("}") && rest.size() - 3 == bytes;
        if (!ok || seq != expected++)
            fail("ack replied '%.*s' (expected seq %llu)", static_cast<int>(line.size()),
                 line.data(), static_cast<unsigned long long>(expected - 1));
    }
}

// "ack N", "nack N reason" or "pong", with N counting readings 1, 2, 3... in order.
void check_sensor(std::string_view reply) {
    std::uint64_t expected = 1;
    for (auto line : lines_of(reply)) {
        if (line == "pong") continue;
        auto rest = line;
        std::uint64_t seq = 0;
        bool ok = false;
        if (rest.starts_with("ack ")) {
            rest.remove_prefix(4);
            ok = number_at(rest, seq) && rest.empty();
        } else if (rest.starts_with("nack ")) {
            rest.remove_prefix(5);
            ok = number_at(rest, seq) && rest.size() > 1 && rest[0] == ' ';
        }
        if (!ok || seq != expected++)
            fail("sensor replied '%.*s' (expected seq %llu)", static_cast<int>(line.size()),
                 line.data(), static_cast<unsigned long long>(expected - 1));
    }
}

void check_http(std::string_view reply) {
    if (!reply.empty() && !reply.starts_with("HTTP/1.1 "))
        fail("files replied without a status line: %.*s",
             static_cast<int>(std::min<std::size_t>(reply.size(), 200)), reply.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    auto& srv = the_server();
    input_text.assign(reinterpret_cast<const char*>(data), size);
    const auto service = static_cast<service_index>(data[0] & 3);
    const auto how = static_cast<ending>((data[0] >> 2) & 3);
    const std::string_view payload = std::string_view(input_text).substr(1);

    auto r = exchange(srv.port(service), payload, how);
    // Markers could only come back by being served, unless the input carries them itself.
    for (auto marker : {outside_marker, dotfile_marker})
        if (r.reply.find(marker) != std::string::npos &&
            payload.find(marker) == std::string_view::npos)
            fail("served a file it must not: the reply has '%s'", marker.data());
    const bool complete = r.eof && !r.reset && how != ending::reset_after_reply;
    if (complete) {
        switch (service) {
            case ping:
                check_ping(r.reply);
                break;
            case ack:
                check_ack(r.reply);
                break;
            case sensor:
                check_sensor(r.reply);
                break;
            case files:
                check_http(r.reply);
                break;
        }
    }

    auto probe = exchange(srv.port(ping), "ping\n", ending::half_close);
    if (probe.reply != "pong\n") fail("a fresh ping got '%s'", probe.reply.c_str());

    // Every so often: no session outlives its client, and the log and data file are valid.
    static unsigned runs = 0;
    if (++runs % 64 == 0) {
        const auto until = clock_type::now() + session_end_deadline;
        while (srv.open_connections() > 0 && clock_type::now() < until)
            std::this_thread::sleep_for(milliseconds(5));
        if (srv.open_connections() > 0)
            fail("%zu sessions still open with no client", srv.open_connections());
    }
    srv.check_files();
    return 0;
}
