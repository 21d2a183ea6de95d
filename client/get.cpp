// netctl get: one file over HTTP/1.1, saved under its URL's name, with time to first byte,
// total time and throughput. The wire format is http_client (pure); this file is the I/O: the
// connection, redirects, the output file and its ".part", progress and the summary.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"
#include "connect.hpp"
#include "duration.hpp"
#include "http_client.hpp"

namespace netd::netctl {
namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::uint16_t default_port = 8080;
constexpr int max_redirects = 5;
constexpr std::size_t read_chunk_bytes = 64 * 1024;
constexpr auto progress_interval = 100ms;
constexpr std::string_view part_suffix = ".part";

constexpr std::string_view help_text =
    R"(usage: netctl get URL | HOST PORT PATH  [-o FILE] [-c] [-W TIMEOUT] [--json]

Downloads one file over HTTP/1.1 from netd's files service, or any HTTP/1.1 server, and
prints the status, the bytes received, the time to first byte and the total time in
microseconds (both counted from the start of the connect), and the throughput.

URL is http://HOST[:PORT]/PATH; HOST may be "[::1]"; a URL without a port means 8080, netd's
files default (not 80). The classic form "netctl get 127.0.0.1 8080 /index.html" is the same.
https is not supported.

The file is named after the URL's last path segment, percent-decoded ("index.html" for a
path ending in '/'), in the current directory. It is written to FILE.part and renamed to
FILE only once the whole body has arrived, so a FILE is always complete; a broken download
leaves FILE.part for -c to resume. An HTTP error's body is not saved.

netctl follows up to 5 redirects (301, 302, 303, 307, 308) to the same host and port; a
redirect to anywhere else is reported, not followed.

  -o FILE      save to FILE instead ("-": standard output; a directory: that name in it)
  -c           resume: with N bytes already in FILE.part (or FILE), ask for "Range: bytes=N-"
               and append; a server that sends the whole file (200) starts it afresh, and a
               file the server says is already complete (416 for N) is left as it is
  -W TIMEOUT   give up when no data arrives for this long, in seconds ("0.5") or with a unit
               ("500ms"); default 30s. Connecting may take up to 5s.
  --json       one JSON object: {"url","status","bytes","ttfb_us","total_us","bytes_per_s",
               "file","resumed_from","redirects"}
  -h, --help   show this help

A progress bar shows on standard error when it is a terminal and the size is known. With
"-o -" the summary goes to standard error, so standard output carries the body alone.

Exit status: 0 a 2xx status and the whole body saved (or already complete), 1 an HTTP error
status, a broken transfer or a bad response, 2 usage error or no connection.
)";

struct get_options {
    http::url url;
    std::string output;  // a path, or "-" for standard output
    bool resume = false;
    bool json = false;
    proto::usec idle_timeout = 30s;
};

std::int64_t micros(steady::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string quoted_path(std::string_view path) {
    return "'" + printable_text(path) + "'";
}

std::string errno_text(int err) {
    return std::strerror(err);
}

// Where the body goes: standard output, or PATH.part renamed to PATH once complete. A failed
// download keeps PATH.part (unless it is empty) for -c, and never leaves a short PATH.
class output_file {
  public:
    explicit output_file(std::string path)
        : path_(std::move(path)), part_(path_ + std::string(part_suffix)) {}
    ~output_file() { close(); }
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    bool to_stdout() const { return path_ == "-"; }
    const std::string& path() const { return path_; }

    /// Before connecting: checks that the directory is writable and, for -c, finds the bytes
    /// already there, so a bad -o fails before anything is asked of the server.
    proto::result<std::uint64_t> prepare(bool resume) {
        using r = proto::result<std::uint64_t>;
        if (to_stdout()) return {0, {}};
        auto slash = path_.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
        if (::access(dir.c_str(), W_OK | X_OK) != 0)
            return r::fail(fmt::format("cannot write to directory {}: {}", quoted_path(dir),
                                       errno_text(errno)));
        if (!resume) return {0, {}};
        struct stat st {};
        if (::stat(part_.c_str(), &st) == 0) {
            resume_from_part_ = true;
        } else if (::stat(path_.c_str(), &st) != 0) {
            return {0, {}};
        }
        if (!S_ISREG(st.st_mode))
            return r::fail(fmt::format("{} is not a regular file",
                                       quoted_path(resume_from_part_ ? part_ : path_)));
        have_ = static_cast<std::uint64_t>(st.st_size);
        return {have_, {}};
    }

    /// Opens for the body: from scratch, or appending to the bytes prepare() found.
    std::string open(bool append) {
        if (to_stdout()) {
            fd_ = STDOUT_FILENO;
            return {};
        }
        // -c on a complete-looking PATH: it becomes PATH.part until the rest has arrived.
        if (append && !resume_from_part_ && ::rename(path_.c_str(), part_.c_str()) != 0)
            return fmt::format("cannot rename {} to {}: {}", quoted_path(path_), quoted_path(part_),
                               errno_text(errno));
        const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
        fd_ = ::open(part_.c_str(), flags, 0666);
        if (fd_ < 0)
            return fmt::format("cannot open {}: {}", quoted_path(part_), errno_text(errno));
        written_ = append ? have_ : 0;
        return {};
    }

    /// Writes all of data; the error text if it could not.
    std::string write(std::string_view data) {
        while (!data.empty()) {
            auto n = ::write(fd_, data.data(), data.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0)
                return fmt::format("cannot write {}: {}",
                                   to_stdout() ? "standard output" : quoted_path(part_),
                                   errno_text(errno));
            data.remove_prefix(static_cast<std::size_t>(n));
            written_ += static_cast<std::uint64_t>(n);
        }
        return {};
    }

    /// The whole body is written: PATH.part becomes PATH.
    std::string commit() {
        if (to_stdout()) return {};
        if (close() != 0)
            return fmt::format("cannot write {}: {}", quoted_path(part_), errno_text(errno));
        if (::rename(part_.c_str(), path_.c_str()) != 0)
            return fmt::format("cannot rename {} to {}: {}", quoted_path(part_), quoted_path(path_),
                               errno_text(errno));
        return {};
    }

    /// The server says the bytes there are the whole file (416 for bytes=N-).
    std::string commit_as_complete() {
        if (to_stdout() || !resume_from_part_) return {};
        if (::rename(part_.c_str(), path_.c_str()) != 0)
            return fmt::format("cannot rename {} to {}: {}", quoted_path(part_), quoted_path(path_),
                               errno_text(errno));
        return {};
    }

    /// The download failed: what is left, for the error line ("" if nothing).
    std::string abandon() {
        if (to_stdout() || fd_ < 0) return {};
        close();
        if (written_ == 0) {
            ::unlink(part_.c_str());
            return {};
        }
        return fmt::format("; {} bytes kept in {}, resume with -c", written_, quoted_path(part_));
    }

  private:
    int close() {
        int rc = 0;
        if (fd_ >= 0 && fd_ != STDOUT_FILENO) rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

    std::string path_, part_;
    int fd_ = -1;
    bool resume_from_part_ = false;
    std::uint64_t have_ = 0;     // bytes there before this run (-c)
    std::uint64_t written_ = 0;  // bytes in the file now
};

class get_session {
  public:
    get_session(asio::any_io_executor executor, get_options options)
        : options_(std::move(options)),
          out_(options_.output),
          socket_(executor),
          timer_(executor),
          chunk_(read_chunk_bytes) {}

    asio::awaitable<int> run();

  private:
    asio::awaitable<int> request(const http::url& u);
    asio::awaitable<int> read_head();
    asio::awaitable<int> read_body();
    asio::awaitable<std::error_code> read_chunk(std::size_t& n);
    bool take_body(std::string_view data);
    int fail(std::string what, int status = exit_failure);
    std::string broken_text(std::error_code ec) const;
    void progress(bool final);
    void report(bool already_complete);
    std::FILE* report_stream() const { return out_.to_stdout() ? stderr : stdout; }

    get_options options_;
    output_file out_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    std::vector<char> chunk_;
    std::string buf_;  // the response head, then what is left of the body in it
    std::string peer_;
    http::response resp_;
    http::chunked_decoder chunked_;
    std::string pending_;          // chunked: bytes read but not decoded yet (a split size line)
    std::uint64_t have_ = 0;       // bytes already in the file (-c)
    std::uint64_t received_ = 0;   // body bytes this run
    std::uint64_t remaining_ = 0;  // Content-Length framing
    std::string body_error_;
    bool progress_on_ = false;
    int redirects_ = 0;
    steady::time_point start_, first_byte_, end_, last_progress_;
};

asio::awaitable<int> get_session::run() {
    auto prepared = out_.prepare(options_.resume);
    if (!prepared.ok()) {
        print_error(prepared.error);
        co_return exit_usage;
    }
    have_ = prepared.value;
    start_ = steady::now();
    http::url current = options_.url;
    for (;;) {
        if (int status = co_await request(current); status >= 0) co_return status;
        if (auto code = resp_.status;
            code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
            if (resp_.location.empty()) break;
            auto next = http::resolve_location(current, resp_.location);
            if (!next.ok())
                co_return fail(fmt::format("{} redirected to {}: {}", peer_,
                                           quoted_peer_text(resp_.location), next.error));
            if (!http::same_origin(current, next.value))
                co_return fail(fmt::format("{} redirected to {}, another server: not followed",
                                           peer_, quoted_peer_text(next.value.text())));
            if (++redirects_ > max_redirects)
                co_return fail(fmt::format("more than {} redirects, the last to {}: not followed",
                                           max_redirects, quoted_peer_text(next.value.text())));
            current = std::move(next.value);
            continue;
        }
        break;
    }
    const auto what = fmt::format("HTTP {} {} from {} for {}", resp_.status,
                                  printable_text(resp_.reason.substr(0, 80)), peer_,
                                  printable_text(current.target));
    http::resume_action action = http::resume_action::overwrite;
    if (have_ > 0 && (resp_.status / 100 == 2 || resp_.status == 416)) {
        auto verdict = http::decide_resume(resp_, have_);
        if (verdict.action == http::resume_action::fail) co_return fail(verdict.error);
        action = verdict.action;
    } else if (resp_.status / 100 != 2) {
        end_ = steady::now();
        have_ = 0;  // nothing was resumed
        if (options_.json) report(false);
        if (resp_.status >= 400) co_return fail(what);
        co_return fail(what + (resp_.location.empty() ? " without a Location" : "") +
                       ": not followed");
    } else if (resp_.status == 206) {
        co_return fail(what + " to a request without Range");
    }
    if (action == http::resume_action::already_complete) {
        end_ = steady::now();
        if (auto e = out_.commit_as_complete(); !e.empty()) co_return fail(e);
        report(true);
        co_return exit_ok;
    }
    if (auto e = out_.open(action == http::resume_action::append); !e.empty()) co_return fail(e);
    if (action != http::resume_action::append) have_ = 0;
    co_return co_await read_body();
}

// Sends one request and reads its head: -1 to go on with resp_, else the exit status.
asio::awaitable<int> get_session::request(const http::url& u) {
    std::error_code ignored;
    socket_.close(ignored);
    buf_.clear();
    const proto::host_port target{u.host, u.port};
    if (auto ec = co_await connect(socket_, target, steady::now() + connect_timeout))
        co_return fail(connect_error_text(target, ec), exit_no_connection);
    peer_ = peer_text(socket_, target);
    const auto head = http::build_request(u, "netctl/" NETD_VERSION, have_);
    if (auto ec = co_await write_all(socket_, head, steady::now() + options_.idle_timeout))
        co_return fail(fmt::format("cannot send the request to {}: {}", peer_, ec.message()));
    co_return co_await read_head();
}

asio::awaitable<int> get_session::read_head() {
    for (;;) {
        auto parsed = http::parse_response_head(buf_, resp_);
        if (parsed.status == http::parse_status::complete) {
            // An interim 1xx (103 Early Hints, a stray 100) comes before the real answer.
            if (resp_.status >= 100 && resp_.status < 200 && resp_.status != 101) {
                buf_.erase(0, parsed.head_bytes);
                continue;
            }
            if (resp_.status == 101) co_return fail(fmt::format("{} switched protocols", peer_));
            buf_.erase(0, parsed.head_bytes);
            co_return -1;
        }
        if (parsed.status == http::parse_status::error)
            co_return fail(fmt::format("bad response from {}: {} (it starts {})", peer_,
                                       parsed.error,
                                       quoted_peer_text(buf_.substr(0, buf_.find('\n')))));
        const bool first = buf_.empty();
        std::size_t n = 0;
        if (auto ec = co_await read_chunk(n)) {
            if (ec == asio::error::timed_out)
                co_return fail(fmt::format("no response from {} within {}", peer_,
                                           proto::format_duration(options_.idle_timeout)));
            if (ec == asio::error::eof)
                co_return fail(fmt::format(
                    "{} closed the connection {}", peer_,
                    first ? "without a response" : "in the middle of the response head"));
            co_return fail(fmt::format("connection to {} failed: {}", peer_, ec.message()));
        }
        if (first) first_byte_ = steady::now();
        buf_.append(chunk_.data(), n);
    }
}

asio::awaitable<int> get_session::read_body() {
    const auto framing = resp_.framing();
    remaining_ = resp_.content_length.value_or(0);
    progress_on_ = framing == http::body_framing::content_length && ::isatty(STDERR_FILENO) == 1;
    bool done = framing == http::body_framing::none ||
                (framing == http::body_framing::content_length && remaining_ == 0);
    if (!done) done = take_body(buf_);
    std::error_code ec;
    while (!done && body_error_.empty()) {
        std::size_t n = 0;
        ec = co_await read_chunk(n);
        if (ec == asio::error::eof && framing == http::body_framing::until_close) {
            done = true;
        } else if (ec) {
            break;
        } else {
            done = take_body({chunk_.data(), n});
        }
        progress(false);
    }
    end_ = steady::now();
    progress(true);
    if (!body_error_.empty()) co_return fail(body_error_ + out_.abandon());
    if (!done) co_return fail(broken_text(ec) + out_.abandon());
    if (auto e = out_.commit(); !e.empty()) co_return fail(e + out_.abandon());
    report(false);
    co_return exit_ok;
}

// Takes body bytes as they are framed; true once the body is complete (or has failed).
bool get_session::take_body(std::string_view data) {
    auto write = [&](std::string_view d) {
        received_ += d.size();
        if (body_error_.empty()) body_error_ = out_.write(d);
        return body_error_.empty();
    };
    switch (resp_.framing()) {
        case http::body_framing::content_length: {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
            remaining_ -= n;
            return !write(data.substr(0, n)) || remaining_ == 0;
        }
        case http::body_framing::until_close:
            return !write(data);
        case http::body_framing::chunked: {
            // Decode straight from the read; only a split size line waits in pending_.
            std::string_view in = data;
            if (!pending_.empty()) {
                pending_.append(data);
                in = pending_;
            }
            std::size_t used = 0;
            bool finished = false;
            for (;;) {
                auto step = chunked_.next(in.substr(used));
                used += step.consumed;
                if (step.status == http::parse_status::error) {
                    body_error_ = fmt::format("bad chunked body from {}: {} after {} bytes", peer_,
                                              step.error, received_);
                    return true;
                }
                if (!step.data.empty() && !write(step.data)) return true;
                if (step.status == http::parse_status::complete) {
                    finished = true;
                    break;
                }
                if (step.consumed == 0) break;
            }
            pending_ = std::string(in.substr(used));
            return finished;
        }
        case http::body_framing::none:
            return true;
    }
    return true;
}

asio::awaitable<std::error_code> get_session::read_chunk(std::size_t& n) {
    timer_.expires_after(options_.idle_timeout);
    auto got = co_await (socket_.async_read_some(asio::buffer(chunk_), use_tuple) ||
                         timer_.async_wait(use_tuple));
    if (got.index() == 1) co_return asio::error::timed_out;
    auto [ec, bytes] = std::get<0>(got);
    n = bytes;
    co_return ec;
}

std::string get_session::broken_text(std::error_code ec) const {
    std::string got = fmt::format("{} bytes", received_);
    if (resp_.framing() == http::body_framing::content_length)
        got = fmt::format("{} of {} bytes", received_, *resp_.content_length);
    if (ec == asio::error::timed_out)
        return fmt::format("no data from {} for {}, after {}", peer_,
                           proto::format_duration(options_.idle_timeout), got);
    if (ec == asio::error::eof)
        return fmt::format("{} closed the connection after {}: download incomplete", peer_, got);
    return fmt::format("connection to {} failed after {}: {}", peer_, got, ec.message());
}

int get_session::fail(std::string what, int status) {
    if (progress_on_) fmt::print(stderr, "\r\033[K");
    progress_on_ = false;
    print_error(what);
    return status;
}

double rate(std::uint64_t bytes, steady::duration d) {
    const auto us = std::max<std::int64_t>(micros(d), 1);
    return static_cast<double>(bytes) * 1e6 / static_cast<double>(us);
}

void get_session::progress(bool final) {
    if (!progress_on_) return;
    const auto now = steady::now();
    if (final) {
        fmt::print(stderr, "\r\033[K");  // the summary line says it all
        std::fflush(stderr);
        progress_on_ = false;
        return;
    }
    if (now - last_progress_ < progress_interval) return;
    last_progress_ = now;
    const auto total = have_ + *resp_.content_length;
    fmt::print(stderr, "\r{}",
               http::progress_text(have_ + received_, total, rate(received_, now - start_)));
    std::fflush(stderr);
}

void get_session::report(bool already_complete) {
    const auto total_us = micros(end_ - start_);
    const auto ttfb_us = micros(first_byte_ - start_);
    const bool saved = resp_.status / 100 == 2 || already_complete;
    const double bytes_per_s = rate(received_, end_ - start_);
    std::string text;
    if (options_.json) {
        nlohmann::ordered_json j{{"url", options_.url.text()},
                                 {"status", resp_.status},
                                 {"bytes", received_},
                                 {"ttfb_us", ttfb_us},
                                 {"total_us", total_us},
                                 {"bytes_per_s", static_cast<std::uint64_t>(bytes_per_s)},
                                 {"file", saved ? nlohmann::ordered_json(out_.path()) : nullptr},
                                 {"resumed_from", have_},
                                 {"redirects", redirects_}};
        text = json_text(j);
    } else if (already_complete) {
        text = fmt::format("{} is already complete ({} bytes), nothing to download",
                           quoted_path(out_.path()), have_);
    } else {
        text = fmt::format("{} {} from {}: {} bytes", resp_.status,
                           printable_text(resp_.reason.substr(0, 80)), peer_, received_);
        if (have_ > 0) text += fmt::format(" (resumed at {})", have_);
        text += fmt::format(", ttfb {} us, total {} us, {}, ", ttfb_us, total_us,
                            http::format_rate(bytes_per_s));
        text += out_.to_stdout() ? "written to standard output"
                                 : fmt::format("saved to {}", quoted_path(out_.path()));
    }
    auto* stream = report_stream();
    std::fwrite(text.data(), 1, text.size(), stream);
    std::fputc('\n', stream);
    std::fflush(stream);
}

asio::awaitable<int> get_main(get_options options) {
    get_session session(co_await asio::this_coro::executor, std::move(options));
    co_return co_await session.run();
}

}  // namespace

int get_command(std::span<char* const> args) {
    static constexpr option_spec spec[] = {{"-o", true}, {"-c"}, {"-W", true},
                                           {"--json"},   {"-h"}, {"--help"}};
    auto parsed = parse_args(args, spec);
    if (!parsed.ok()) return usage_error("get", parsed.error);
    const auto& a = parsed.value;
    if (a.has("-h") || a.has("--help")) {
        fmt::print("{}", help_text);
        return exit_ok;
    }
    const auto& p = a.positional;
    proto::result<http::url> url;
    if (p.size() == 1)
        url = http::parse_url(p[0], default_port);
    else if (p.size() == 3)
        url = http::make_url(p[0], p[1], p[2]);
    else
        return usage_error("get", p.empty() ? "missing URL (or HOST PORT PATH)"
                                            : "expected URL or HOST PORT PATH");
    if (!url.ok()) return usage_error("get", url.error);

    get_options options;
    options.url = std::move(url.value);
    options.resume = a.has("-c");
    options.json = a.has("--json");
    const auto name = http::file_name_for(options.url.target);
    if (auto o = a.value("-o")) {
        if (o->empty()) return usage_error("get", "-o needs a FILE, or '-' for standard output");
        options.output = std::string(*o);
        struct stat st {};
        if (options.output != "-" && ::stat(options.output.c_str(), &st) == 0 &&
            S_ISDIR(st.st_mode))
            options.output += (options.output.ends_with('/') ? "" : "/") + name;
    } else {
        options.output = name;
    }
    if (options.resume && options.output == "-")
        return usage_error("get", "-c cannot resume a download to standard output");
    if (auto v = a.value("-W")) {
        auto timeout = proto::parse_interval(*v);
        if (!timeout.ok()) return usage_error("get", timeout.error);
        if (timeout.value <= proto::usec::zero())
            return usage_error("get", fmt::format("timeout '{}' must be more than 0", *v));
        options.idle_timeout = timeout.value;
    }
    return run_command([options] { return get_main(options); });
}

}  // namespace netd::netctl
