#include "files.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "config_reader.hpp"
#include "files_listing.hpp"
#include "http_reply.hpp"
#include "log.hpp"
#include "net/session.hpp"
#include "open_beneath.hpp"
#include "proto/http_date.hpp"
#include "proto/http_path.hpp"
#include "proto/http_range.hpp"
#include "proto/http_request.hpp"
#include "proto/mime.hpp"

namespace netd {
namespace {

namespace http = proto::http;
using asio::experimental::as_tuple;
using std::chrono::seconds;

struct files_settings {
    std::filesystem::path root;
    std::string index = "index.html";
    bool listing = false;
    bool dotfiles = false;
    usec header_timeout = seconds(10);
    usec idle_timeout = seconds(15);
    usec send_timeout = seconds(30);
    http::limits limits;
};

// What the watchdog sends when a request head is too slow, and what a connection past
// max_connections gets: both are sent without blocking, so they are fixed and small.
constexpr std::string_view timeout_reply =
    "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 20\r\nConnection: close\r\n\r\n408 Request Timeout\n";
constexpr std::string_view overload_text =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 24\r\nConnection: close\r\nRetry-After: 1\r\n\r\n503 Service Unavailable\n";

// The read buffer starts small (most heads are a few hundred bytes) and grows up to the head
// limit only for clients that send big heads.
constexpr std::size_t initial_buffer_bytes = 2048;
// Buffers of idle connections wait here for the next connection on this thread with data.
constexpr std::size_t max_pooled_buffers = 16;
thread_local std::vector<std::string> buffer_pool;
// Pipelined replies without a file body are gathered up to this much before a write.
constexpr std::size_t max_gathered_bytes = 64 * 1024;
// A body this long goes out before the connection yields to its neighbours on the thread.
constexpr std::uint64_t fair_share_bytes = 4 * 1024 * 1024;

class files_service final : public service {
  public:
    explicit files_service(files_settings settings) : settings_(std::move(settings)) {}

    bool start(std::string& error) override {
        root_.reset(::open(settings_.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root_) {
            error =
                "cannot open files root " + settings_.root.string() + ": " + std::strerror(errno);
            return false;
        }
        unique_fd probe(open_beneath(root_.get(), ".", O_PATH));
        if (!probe) {
            error = errno == ENOSYS ? "the files service needs openat2 (Linux 5.6 or later)"
                                    : "cannot open files root " + settings_.root.string() + ": " +
                                          std::strerror(errno);
            return false;
        }
        return true;
    }

    asio::awaitable<void> serve(session& s) override;
    std::string_view overload_reply() const override { return overload_text; }

    const files_settings& settings() const { return settings_; }
    int root_fd() const { return root_.get(); }

  private:
    files_settings settings_;
    unique_fd root_;
};

// What one request is answered with: the head (and any small body) is in the connection's
// output buffer; a file body is sent from `file` after it.
struct response {
    int status = 0;
    std::uint64_t body_bytes = 0;  // for the log: what the response carries
    unique_fd file;
    std::uint64_t file_offset = 0, file_bytes = 0;
    bool keep_alive = true;
};

// One HTTP connection: reads heads, answers them in order, and ends with one conn_close.
class connection {
  public:
    // A connection is made afresh each time the session wakes: between requests it is parked
    // and holds nothing. No byte received yet means it still waits for its first request.
    connection(const files_service& svc, session& s)
        : svc_(svc), cfg_(svc.settings()), s_(s), first_(s.bytes_in == 0) {}
    ~connection() { release_buffer(); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Takes the bytes that woke the parked session.
    void feed(std::string_view bytes);
    asio::awaitable<void> run();

  private:
    enum class head_status { ready, error, closed, parked };
    asio::awaitable<head_status> read_head(http::request& req, http::parse_result& parsed);
    // The read buffer is held only while a head is being received (see release_buffer).
    bool make_room();
    void release_buffer();
    response answer(const http::request& req);
    void answer_file(const http::request& req, response& r, unique_fd fd, const struct stat& st,
                     std::string_view name);
    void answer_directory(const http::request& req, response& r, unique_fd fd,
                          const http::safe_path& path);
    void simple(response& r, const http::request& req, int status, std::string_view extra = {});
    void log_request(const http::request& req, const response& r);

    asio::awaitable<bool> send(std::string_view data, int flags);
    asio::awaitable<bool> flush(bool more);
    asio::awaitable<bool> send_file(response& r);

    const files_service& svc_;
    const files_settings& cfg_;
    session& s_;
    std::string in_, out_;
    std::size_t have_ = 0, used_ = 0;
    bool eof_ = false, first_;
    session::clock::time_point request_started_{};
};

asio::awaitable<void> files_service::serve(session& s) {
    // Reads are tried after the socket reports data and writes go straight to send(2) and
    // sendfile(2): none of them may block.
    std::error_code ignored;
    if (!s.socket.non_blocking()) s.socket.non_blocking(true, ignored);
    connection c(*this, s);
    c.feed(s.take_woken());
    co_await c.run();
}

void connection::feed(std::string_view bytes) {
    if (bytes.empty()) return;
    make_room();  // the smallest buffer holds the wake buffer's bytes
    std::memcpy(in_.data() + have_, bytes.data(), bytes.size());
    have_ += bytes.size();
    s_.bytes_in += bytes.size();
    request_started_ = session::clock::now();
    first_ = false;
    // The deadline armed at park time was for waiting; the head (and, as on the read path, the
    // reply until send_timeout takes over) has header_timeout from its first byte.
    s_.expires_after(cfg_.header_timeout, "header timeout", timeout_reply);
}

asio::awaitable<void> connection::run() {
    for (;;) {
        http::request req;
        http::parse_result parsed;
        auto got = co_await read_head(req, parsed);
        if (got == head_status::parked) s_.park();
        if (got == head_status::closed || got == head_status::parked) co_return;
        ++s_.messages;
        response r;
        if (got == head_status::error) {
            r.keep_alive = false;
            simple(r, req, parsed.error_status);
            log_request(req, r);
        } else {
            r = answer(req);
            log_request(req, r);
        }
        used_ += parsed.head_bytes;
        if (r.file) {
            if (!co_await flush(true) || !co_await send_file(r)) co_return;
        } else if (!r.keep_alive || used_ == have_ || out_.size() >= max_gathered_bytes) {
            // Pipelined requests already buffered are answered before the write, in one write.
            if (!co_await flush(false)) co_return;
        }
        if (!r.keep_alive) {
            s_.set_reason(got == head_status::error ? "bad request" : "close");
            co_await s_.linger();
            co_return;
        }
    }
}

asio::awaitable<connection::head_status> connection::read_head(http::request& req,
                                                               http::parse_result& parsed) {
    bool head_deadline_set = false;
    if (have_ > used_) request_started_ = session::clock::now();  // pipelined: already here
    for (;;) {
        std::string_view pending(in_.data() + used_, have_ - used_);
        if (!pending.empty()) {
            parsed = http::parse_request(pending, cfg_.limits, req);
            if (parsed.status == http::parse_status::complete) co_return head_status::ready;
            if (parsed.status == http::parse_status::error) co_return head_status::error;
            if (eof_) {  // the peer stopped sending mid-head
                s_.set_reason("eof in request head");
                co_return head_status::closed;
            }
        } else if (eof_ || (s_.stopping() && first_ == false)) {
            s_.set_reason(eof_ ? "eof" : "shutdown");
            co_return head_status::closed;
        }
        // Before waiting for the client, send what it is owed.
        if (!out_.empty() && !co_await flush(false)) co_return head_status::closed;
        if (used_ > 0) {
            std::memmove(in_.data(), in_.data() + used_, have_ - used_);
            have_ -= used_;
            used_ = 0;
        }
        // Nothing half-received: the connection is idle and gives its buffer back.
        if (have_ == 0) release_buffer();
        if (have_ == 0) {
            // Waiting for a request: the first has header_timeout, the next ones idle_timeout.
            s_.expires_after(first_ ? cfg_.header_timeout : cfg_.idle_timeout,
                             first_ ? "header timeout" : "idle timeout");
            co_return head_status::parked;  // the worker waits for the next request
        } else if (!head_deadline_set) {
            // The whole head within header_timeout of its first byte: not reset by each byte.
            s_.expires_after(cfg_.header_timeout, "header timeout", timeout_reply);
            head_deadline_set = true;
        }
        std::error_code ec;
        std::size_t n = 0;
        for (;;) {
            auto [wec] = co_await s_.socket.async_wait(asio::ip::tcp::socket::wait_read,
                                                       as_tuple(asio::use_awaitable));
            if (wec) {
                ec = wec;
                break;
            }
            if (!make_room()) {
                // The parser stops at the limits, so a full buffer at the limit is an
                // oversized head.
                parsed = {http::parse_status::error, 0, 431, "head too large"};
                s_.set_idle(false);
                co_return head_status::error;
            }
            n = s_.socket.read_some(asio::buffer(in_.data() + have_, in_.size() - have_), ec);
            if (ec != asio::error::would_block && ec != asio::error::try_again) break;
        }
        s_.set_idle(false);
        if (ec == asio::error::eof) {
            eof_ = true;
            continue;
        }
        if (ec) {
            s_.set_reason(ec);
            co_return head_status::closed;
        }
        if (have_ == 0) request_started_ = session::clock::now();
        have_ += n;
        s_.bytes_in += n;
        first_ = false;
        if (!head_deadline_set) {
            s_.expires_after(cfg_.header_timeout, "header timeout", timeout_reply);
            head_deadline_set = true;
        }
    }
}

bool connection::make_room() {
    if (in_.empty() && !buffer_pool.empty()) {
        in_ = std::move(buffer_pool.back());
        buffer_pool.pop_back();
    }
    if (in_.empty()) in_.resize(initial_buffer_bytes);
    if (have_ < in_.size()) return true;
    if (in_.size() > cfg_.limits.max_head_bytes) return false;
    in_.resize(std::min(in_.size() * 2, cfg_.limits.max_head_bytes + 1));
    return true;
}

void connection::release_buffer() {
    if (in_.size() == initial_buffer_bytes && buffer_pool.size() < max_pooled_buffers)
        buffer_pool.push_back(std::move(in_));
    std::string().swap(in_);
    have_ = used_ = 0;
}

void connection::simple(response& r, const http::request& req, int status, std::string_view extra) {
    r.status = status;
    r.body_bytes = http_reply::append_simple(out_, status, req.verb == http::method::head,
                                             r.keep_alive, req.version_minor, extra);
}

response connection::answer(const http::request& req) {
    response r;
    r.keep_alive = req.keep_alive && !s_.stopping();
    if (req.verb != http::method::get && req.verb != http::method::head) {
        r.keep_alive = r.keep_alive && !req.has_body;  // its body is not read
        simple(r, req, 405, "Allow: GET, HEAD\r\n");
        return r;
    }
    if (req.has_body) {
        // netd never reads a request body: say so and close rather than parse it as a request.
        r.keep_alive = false;
        simple(r, req, 413);
        return r;
    }
    auto path = http::resolve_target(req.target, cfg_.dotfiles);
    if (path.what == http::safe_path::verdict::bad_request) {
        simple(r, req, 400);
        return r;
    }
    if (path.what == http::safe_path::verdict::not_found) {
        simple(r, req, 404);
        return r;
    }
    const char* rel = path.relative.empty() ? "." : path.relative.c_str();
    unique_fd fd(open_beneath(svc_.root_fd(), rel, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    if (!fd) {
        int err = errno;
        // EXDEV: a symlink that leads out of the root; ELOOP: a symlink loop. Neither exists
        // as far as a client can tell.
        simple(
            r, req,
            err == EACCES || err == EPERM ? 403
            : err == ENOENT || err == ENOTDIR || err == EXDEV || err == ELOOP || err == ENAMETOOLONG
                ? 404
                : 500);
        return r;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        simple(r, req, 500);
        return r;
    }
    if (S_ISDIR(st.st_mode)) {
        answer_directory(req, r, std::move(fd), path);
    } else if (S_ISREG(st.st_mode) && !path.trailing_slash) {
        answer_file(req, r, std::move(fd), st, path.relative);
    } else {
        simple(r, req, 404);  // a FIFO, a device, or "file.txt/"
    }
    return r;
}

void connection::answer_directory(const http::request& req, response& r, unique_fd fd,
                                  const http::safe_path& path) {
    if (!path.trailing_slash && !path.relative.empty()) {
        // The Location is always a path on this server: "/" + the normalised, re-encoded path,
        // which never starts with "//", so it cannot point at another host.
        std::string extra = "Location: /";
        http::append_url_path(extra, path.relative);
        extra.push_back('/');
        if (!path.query.empty()) {
            extra.push_back('?');
            extra.append(path.query);
        }
        extra.append("\r\n");
        simple(r, req, 301, extra);
        return;
    }
    if (!cfg_.index.empty()) {
        unique_fd index(open_beneath(fd.get(), cfg_.index.c_str(), O_RDONLY | O_NONBLOCK));
        struct stat st {};
        if (index && ::fstat(index.get(), &st) == 0 && S_ISREG(st.st_mode)) {
            answer_file(req, r, std::move(index), st, cfg_.index);
            return;
        }
    }
    if (!cfg_.listing) {
        simple(r, req, 403);
        return;
    }
    bool json = path.query == "format=json";
    std::string body;
    std::string url_path = "/" + path.relative + (path.relative.empty() ? "" : "/");
    if (!files_listing::append(body,
                               json ? files_listing::format::json : files_listing::format::html,
                               svc_.root_fd(), fd.get(), path.relative, url_path, cfg_.dotfiles)) {
        simple(r, req, 500);
        return;
    }
    r.status = 200;
    http_reply::begin(out_, 200);
    http_reply::header(out_, "Content-Type",
                       json ? "application/json" : "text/html; charset=utf-8");
    http_reply::header(out_, "Content-Length", body.size());
    http_reply::header(out_, "Cache-Control", "no-cache");
    http_reply::end(out_, r.keep_alive, req.version_minor);
    if (req.verb == http::method::get) {
        out_.append(body);
        r.body_bytes = body.size();
    }
}

void connection::answer_file(const http::request& req, response& r, unique_fd fd,
                             const struct stat& st, std::string_view name) {
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::int64_t mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    auto etag = http::make_etag(size, mtime_ns);
    std::string last_modified;
    http::append_http_date(last_modified, st.st_mtim.tv_sec);

    // RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it.
    bool not_modified = false;
    if (!req.if_none_match.empty()) {
        not_modified = http::etag_list_matches(req.if_none_match, etag);
    } else if (!req.if_modified_since.empty()) {
        auto since = http::parse_http_date(req.if_modified_since);
        not_modified = since && st.st_mtim.tv_sec <= *since;
    }
    if (not_modified) {
        r.status = 304;
        http_reply::begin(out_, 304);
        http_reply::header(out_, "ETag", etag);
        http_reply::header(out_, "Last-Modified", last_modified);
        http_reply::end(out_, r.keep_alive, req.version_minor);
        return;
    }

    http::range_result range;
    if (!req.range.empty()) {
        // If-Range: the range applies only to the representation the client already has.
        bool current = true;
        if (!req.if_range.empty()) {
            if (req.if_range.front() == '"')
                current = req.if_range == etag;
            else
                current = req.if_range == last_modified;
        }
        if (current) range = http::parse_range(req.range, size);
    }
    std::uint64_t first = 0, count = size;
    if (range.what == http::range_result::kind::unsatisfiable) {
        std::string extra = "Content-Range: bytes */" + std::to_string(size) + "\r\n";
        simple(r, req, 416, extra);
        return;
    }
    r.status = 200;
    if (range.what == http::range_result::kind::partial) {
        r.status = 206;
        first = range.first;
        count = range.last - range.first + 1;
    }
    http_reply::begin(out_, r.status);
    http_reply::header(out_, "Content-Type", http::mime_type(name));
    http_reply::header(out_, "Content-Length", count);
    if (r.status == 206) {
        out_.append("Content-Range: bytes ");
        out_.append(std::to_string(first) + "-" + std::to_string(first + count - 1) + "/" +
                    std::to_string(size));
        out_.append("\r\n");
    }
    http_reply::header(out_, "Last-Modified", last_modified);
    http_reply::header(out_, "ETag", etag);
    out_.append("Accept-Ranges: bytes\r\n");
    http_reply::end(out_, r.keep_alive, req.version_minor);
    if (req.verb == http::method::get && count > 0) {
        r.file = std::move(fd);
        r.file_offset = first;
        r.file_bytes = count;
        r.body_bytes = count;
    }
}

void connection::log_request(const http::request& req, const response& r) {
    auto duration = std::chrono::duration_cast<std::chrono::microseconds>(session::clock::now() -
                                                                          request_started_);
    log::line(log::level::info, "request")
        .str("service", s_.service_name)
        .peer_str("method", req.method_text, 32)
        .peer_str("path", req.target, 1024)
        .num("status", r.status)
        .unum("bytes", r.body_bytes)
        .num("duration_us", duration.count())
        .str("peer", s_.peer)
        .peer_str("ua", req.user_agent, 256)
        .unum("conn", s_.id);
}

asio::awaitable<bool> connection::send(std::string_view data, int flags) {
    int fd = s_.socket.native_handle();
    while (!data.empty()) {
        auto n = ::send(fd, data.data(), data.size(), flags | MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            s_.bytes_out += static_cast<std::uint64_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            // Asio's system category (not std's): set_reason() then names a reset "reset".
            s_.set_reason(std::error_code(errno, asio::system_category()));
            co_return false;
        }
        // A client that stops reading is cut off send_timeout after its last progress.
        s_.expires_after(cfg_.send_timeout, "send timeout");
        auto [ec] = co_await s_.socket.async_wait(asio::ip::tcp::socket::wait_write,
                                                  as_tuple(asio::use_awaitable));
        if (ec) {
            s_.set_reason(ec);
            co_return false;
        }
    }
    co_return true;
}

asio::awaitable<bool> connection::flush(bool more) {
    // MSG_MORE: the head waits for the first bytes of the file body, so a small response is one
    // segment (sendfile's last chunk pushes it out).
    bool ok = co_await send(out_, more ? MSG_MORE : 0);
    out_.clear();
    co_return ok;
}

asio::awaitable<bool> connection::send_file(response& r) {
    int sock = s_.socket.native_handle();
    auto offset = static_cast<off_t>(r.file_offset);
    std::uint64_t left = r.file_bytes, since_yield = 0;
    while (left > 0) {
        auto n = ::sendfile(sock, r.file.get(), &offset, std::min<std::uint64_t>(left, 1 << 30));
        if (n > 0) {
            left -= static_cast<std::uint64_t>(n);
            s_.bytes_out += static_cast<std::uint64_t>(n);
            since_yield += static_cast<std::uint64_t>(n);
            if (since_yield >= fair_share_bytes && left > 0) {
                // A fast reader of a big file must not starve the other connections.
                since_yield = 0;
                co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
                if (!s_.socket.is_open()) co_return false;
            }
            continue;
        }
        if (n == 0) {
            // The file shrank under us: the promised Content-Length cannot be kept.
            s_.set_reason("file truncated while sending");
            co_return false;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            // Asio's system category (not std's): set_reason() then names a reset "reset".
            s_.set_reason(std::error_code(errno, asio::system_category()));
            co_return false;
        }
        s_.expires_after(cfg_.send_timeout, "send timeout");
        auto [ec] = co_await s_.socket.async_wait(asio::ip::tcp::socket::wait_write,
                                                  as_tuple(asio::use_awaitable));
        if (ec) {
            s_.set_reason(ec);
            co_return false;
        }
    }
    r.file.reset();
    co_return true;
}

}  // namespace

std::shared_ptr<service> make_files_service(table_reader& table) {
    files_settings s;
    bool ok = true;
    if (!table.get_path("root", s.root)) {
        if (!table.has("root")) table.error("root", "[files] needs 'root', the directory to serve");
        ok = false;
    } else {
        std::error_code ec;
        if (!std::filesystem::is_directory(s.root, ec)) {
            table.error("root", "files root " + s.root.string() + " is not a directory");
            ok = false;
        }
    }
    if (table.get("index", s.index) && s.index.find('/') != std::string::npos) {
        table.error("index", "'index' in [files] is a file name, without '/'");
        ok = false;
    }
    table.get("listing", s.listing);
    table.get("dotfiles", s.dotfiles);
    table.get_duration("header_timeout", s.header_timeout, std::chrono::milliseconds(1));
    table.get_duration("idle_timeout", s.idle_timeout, std::chrono::milliseconds(1));
    table.get_duration("send_timeout", s.send_timeout, std::chrono::milliseconds(1));
    if (!ok) return nullptr;
    return std::make_shared<files_service>(std::move(s));
}

}  // namespace netd
