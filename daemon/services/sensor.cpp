#include "sensor.hpp"
#include "proto/append.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "config_reader.hpp"
#include "line_io.hpp"
#include "line_service.hpp"
#include "log.hpp"
#include "net/session.hpp"
#include "proto/ping.hpp"
#include "proto/reading.hpp"
#include "proto/seq_tracker.hpp"
#include "sensor_store.hpp"

namespace netd {
namespace {

using proto::append_uint;

using status = proto::line_framer::status;

// What each message of a batch gets back, in order, once the batch is stored (or not).
struct reply_item {
    enum kind { pong, reading, too_long } what;
    std::uint64_t seq;
};

// What a sensor connection keeps while parked, and logs in conn_alive and conn_close.
struct sensor_conn final : session::conn_state {
    sensor_conn(session& s, const line_settings& settings) : io(s, settings) {}

    void describe(log::line& line) const override {
        line.num("readings", readings).num("acks", acks).num("nacks", nacks);
        if (client_seqs.any())
            line.unum("gaps", client_seqs.gaps())
                .unum("duplicates", client_seqs.duplicates())
                .unum("out_of_order", client_seqs.out_of_order());
    }

    /// Frames every complete message buffered so far: readings become JSON lines in `batch`,
    /// and each message's reply is noted in `items`. Returns false if a classic client's
    /// over-long message lost the framing (nack it, then close).
    bool collect(session& s, std::string& batch, std::vector<reply_item>& items);
    /// Appends to `out` the replies to `items`, once their batch is stored (error empty) or not.
    void reply(const std::vector<reply_item>& items, const std::string& error, std::string& out);

    /// What a wake-up leaves behind: while the store has the batch (wake::hold), what its
    /// messages get back; then, for serve(), what the socket did not take at once.
    struct held_batch {
        std::vector<reply_item> items;
        std::string unsent;
        bool lost_framing = false;  ///< close after `unsent`
    };

    line_io io;
    proto::seq_tracker client_seqs;
    std::uint64_t seq = 0;
    std::int64_t readings = 0, acks = 0, nacks = 0;
    bool skipping = false;             ///< dropping the rest of an over-long line
    bool failed = false;               ///< for serve(): the connection broke while held
    std::uint32_t held_readings = 0;   ///< held with only readings (seq - n + 1 .. seq): no `held`
    std::unique_ptr<held_batch> held;  ///< only while a wake-up's work is unfinished
};

bool sensor_conn::collect(session& s, std::string& batch, std::vector<reply_item>& items) {
    thread_local proto::parsed_reading reading;  // reused: its buffers keep their capacity
    // Drops input through the next newline; true if it is still to come.
    auto skip_line = [this] {
        auto nl = io.pending().find('\n');
        io.skip(nl == std::string_view::npos ? io.pending().size() : nl + 1);
        return nl == std::string_view::npos;
    };
    // After an over-long line: drop bytes up to its end, then carry on with the next line.
    if (skipping) skipping = skip_line();
    // A record is the reading plus about 100 bytes (time, peer, seq): one allocation, not a
    // doubling per record.
    if (batch.empty()) batch.reserve(2 * io.pending().size() + 192);
    while (!skipping) {
        auto step = io.next();
        if (step.what == status::need_more) break;
        ++s.messages;
        if (step.what == status::too_long) {
            items.push_back({reply_item::too_long, ++seq});
            // A classic client's over-long message has no end we could find again: nack it
            // and close, as the other line services do.
            if (io.classic()) {
                io.skip(io.pending().size());
                return false;
            }
            skipping = skip_line();  // its newline may already be buffered
            continue;
        }
        if (proto::trim(step.message) == "ping") {  // the classic client's RTT probe
            items.push_back({reply_item::pong, 0});
            continue;
        }
        items.push_back({reply_item::reading, ++seq});
        proto::parse_reading(step.message, reading);
        proto::append_record(batch, reading, io.received_us(), s.peer, seq);
        if (reading.client_seq) client_seqs.observe(*reading.client_seq);
        ++readings;
    }
    return true;
}

void sensor_conn::reply(const std::vector<reply_item>& items, const std::string& error,
                        std::string& out) {
    for (const auto& item : items) {
        if (item.what == reply_item::pong) {
            out += "pong\n";
            continue;
        }
        bool ok = item.what == reply_item::reading && error.empty();
        out += ok ? "ack " : "nack ";
        append_uint(out, item.seq);
        if (!ok) {
            out += ' ';
            out += item.what == reply_item::too_long ? "line too long" : error;
        }
        out += '\n';
        ++(ok ? acks : nacks);
    }
}

class sensor_service final : public service {
  public:
    sensor_service(line_settings settings, std::filesystem::path data_file, durability mode)
        : settings_(settings), data_file_(std::move(data_file)), mode_(mode) {}

    bool start(std::string& error) override {
        store_ = sensor_store::open(data_file_, error);
        return store_ != nullptr;
    }

    std::string_view overload_reply() const override { return "ERR too many connections\n"; }
    asio::awaitable<void> serve(session& s) override;
    wake on_wake(session& s) override;

  private:
    sensor_conn& conn_of(session& s) const {
        if (!s.state) s.state = std::make_unique<sensor_conn>(s, settings_);
        return static_cast<sensor_conn&>(*s.state);
    }
    /// Hands the readings framed from the connection's input to the store and holds the
    /// connection (neither read nor in a coroutine) until the store's verdict: stored().
    void hand_over(session& s, sensor_conn& conn, std::string batch,
                   const std::vector<reply_item>& items, bool lost_framing);
    /// The store's verdict on a held connection's batch (on the connection's worker thread):
    /// sends the replies; returns how the connection goes on.
    wake stored(session& s, const std::string& error);

    line_settings settings_;
    std::filesystem::path data_file_;
    durability mode_;
    std::shared_ptr<sensor_store> store_;
};

// The common case, without a coroutine: the readings that woke the connection go to the store,
// and the connection is held (neither read nor ended) until the store's verdict, which sends
// the acks and parks it again. Anything unusual goes to serve().
wake sensor_service::on_wake(session& s) {
    auto& conn = conn_of(s);
    auto& io = conn.io;
    io.feed(s.take_woken());
    if (conn.skipping) return wake::serve;
    thread_local std::vector<reply_item> items;  // reused: no allocation per wake-up
    items.clear();
    std::string batch;
    bool lost_framing = !conn.collect(s, batch, items);
    if (batch.empty()) {
        // Pings, over-long lines or a partial line: nothing to wait for.
        auto& out = line_io::reply_buffer();
        conn.reply(items, {}, out);
        if (!io.try_write(out)) {
            conn.failed = true;
            return wake::serve;
        }
        if (out.empty() && !lost_framing && !conn.skipping && io.settle_idle()) return wake::park;
        conn.held.reset(new sensor_conn::held_batch{{}, out, lost_framing});
        return wake::serve;
    }
    hand_over(s, conn, std::move(batch), items, lost_framing);
    return wake::hold;
}

void sensor_service::hand_over(session& s, sensor_conn& conn, std::string batch,
                               const std::vector<reply_item>& items, bool lost_framing) {
    // Ten thousand connections may wait here at once: none holds an empty read buffer.
    conn.io.release_if_drained();
    // Acknowledged data is never dropped, so neither the idle deadline nor a graceful stop ends
    // a held connection: the writer always answers (a stuck disk is what shutdown_grace cannot
    // fix).
    s.expires_after(std::chrono::hours(24 * 365), "store");
    // What the messages get back once the batch is stored: usually only acks, which need no
    // list (see stored()).
    if (lost_framing || std::any_of(items.begin(), items.end(),
                                    [](auto& i) { return i.what != reply_item::reading; }))
        conn.held.reset(new sensor_conn::held_batch{items, {}, lost_framing});
    else
        conn.held_readings = static_cast<std::uint32_t>(items.size());
    // The tracked executor keeps the worker's io_context running until the verdict arrives.
    store_->submit(std::move(batch), mode_,
                   asio::prefer(s.socket.get_executor(), asio::execution::outstanding_work.tracked),
                   [this, sp = &s](const std::string& error) {
                       wake next = wake::serve;
                       try {
                           next = stored(*sp, error);
                       } catch (const std::exception& e) {
                           // A bug: end only this connection, as the worker does for serve().
                           log::line(log::level::error, "error")
                               .str("what", "session")
                               .unum("conn", sp->id)
                               .str("why", e.what());
                           sp->set_reason("internal error");
                           static_cast<sensor_conn&>(*sp->state).failed = true;
                       }
                       // Outside the try: the connection goes on exactly once.
                       sp->proceed(next);
                   });
}

wake sensor_service::stored(session& s, const std::string& error) {
    auto& conn = static_cast<sensor_conn&>(*s.state);
    auto& out = line_io::reply_buffer();
    bool lost_framing = false;
    if (conn.held) {
        conn.reply(conn.held->items, error, out);
        lost_framing = conn.held->lost_framing;
    } else {
        // The common case: acks (or nacks) for the readings seq - n + 1 .. seq, in order.
        thread_local std::vector<reply_item> items;
        items.clear();
        for (auto n = std::exchange(conn.held_readings, 0); n > 0; --n)
            items.push_back({reply_item::reading, conn.seq - n + 1});
        conn.reply(items, error, out);
    }
    if (!s.socket.is_open() || !conn.io.try_write(out)) {
        conn.failed = true;
        return wake::serve;
    }
    if (out.empty() && !lost_framing && !conn.skipping && conn.io.settle_idle()) {
        conn.held.reset();
        return wake::park;
    }
    // The rest is serve()'s: replies the socket did not take, the close after lost framing.
    if (!conn.held) conn.held = std::make_unique<sensor_conn::held_batch>();
    conn.held->items.clear();
    conn.held->unsent = out;
    conn.held->lost_framing = lost_framing;
    return wake::serve;
}

asio::awaitable<void> sensor_service::serve(session& s) {
    auto& conn = conn_of(s);
    auto& io = conn.io;
    if (conn.failed) co_return;
    // What on_wake() or the store's verdict began: the rest of the replies, the close after a
    // classic client's over-long line.
    if (conn.held) {
        auto held = std::move(conn.held);
        bool sent = co_await io.write(held->unsent);
        if (!sent) co_return;
        if (held->lost_framing) {
            s.set_reason("line too long");
            co_await s.linger();
            co_return;
        }
    }
    io.feed(s.take_woken());
    std::string out, batch;
    std::vector<reply_item> items;
    for (;;) {
        bool lost_framing = !conn.collect(s, batch, items);
        if (!batch.empty()) {
            // As from on_wake(): the store's verdict sends the replies and goes on.
            hand_over(s, conn, std::move(batch), items, lost_framing);
            s.hold();
            co_return;
        }
        conn.reply(items, {}, out);
        items.clear();
        if (!co_await io.write(out)) co_return;
        if (lost_framing) {
            s.set_reason("line too long");
            co_await s.linger();
            co_return;
        }
        auto got = co_await io.read();
        if (got == line_io::input::park) s.park();
        if (got != line_io::input::more) co_return;
    }
}

}  // namespace

std::shared_ptr<service> make_sensor_service(table_reader& table) {
    auto settings = read_line_settings(table);
    std::filesystem::path data_file;
    if (!table.get_path("data_file", data_file) && !table.has("data_file"))
        table.error("data_file",
                    "[sensor] needs 'data_file', e.g. data_file = \"var/readings.jsonl\"");
    std::string mode = "fsync";
    table.get_one_of("durability", mode, {"fsync", "write"});
    return std::make_shared<sensor_service>(
        settings, data_file, mode == "write" ? durability::write : durability::fsync);
}

}  // namespace netd
