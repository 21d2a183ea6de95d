#pragma once
// The `netctl sensor` run: readings out one per interval, acks back in order, timeouts, and
// after a dropped connection a reconnect with back-off that resends every reading not yet
// acknowledged (at-least-once: a reading whose ack was lost in the drop is stored twice).
#include <csignal>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "address.hpp"
#include "connect.hpp"
#include "duration.hpp"
#include "line_input.hpp"
#include "readings.hpp"
#include "stats.hpp"

namespace netd::netctl {

/// What `netctl sensor` was asked to do.
struct sensor_options {
    proto::host_port target;
    std::uint64_t count = 0;  ///< 0: until Ctrl-C (or the end of --from input)
    proto::usec interval = std::chrono::seconds(1);
    proto::usec timeout = std::chrono::seconds(2);     ///< per ack
    proto::usec retry_for = std::chrono::seconds(30);  ///< longest outage before giving up
    std::string from;                                  ///< FILE, "-" or empty: generate
    bool json = false;
};

/// netd's answer to one reading: `ack <seq>` or `nack <seq> <reason>`.
struct sensor_reply {
    bool ok = false;
    std::uint64_t seq = 0;
    std::string_view reason;
};

/// Parses one reply line; false if it is neither form.
bool parse_sensor_reply(std::string_view line, sensor_reply& out);

class sensor_session {
  public:
    /// Readings come from `input`, or are generated when it is null. `socket` is connected.
    sensor_session(tcp::socket socket, sensor_options options, std::unique_ptr<line_input> input);

    /// Runs until COUNT, the end of input, Ctrl-C, or giving up; prints the summary; returns
    /// the exit status.
    asio::awaitable<int> run();

  private:
    struct reading {
        std::uint64_t id = 0;  // seq= for a generated reading (its "seq"), line= for --from
        std::string wire;      // the line as sent, with its "\n"
        steady::time_point sent_at;
        unsigned sends = 0;
        bool overdue = false;        // this transmission's ack is later than -W
        bool reported_lost = false;  // "timeout for ..." was printed
    };
    enum class take { ready, wait, none };

    bool more_readings() const;
    std::size_t unacked() const { return in_flight_.size() + to_resend_.size(); }
    bool finished() const;
    steady::time_point next_deadline() const;
    take take_reading(std::string& text, std::uint64_t& id);
    asio::awaitable<void> send_new(std::string text, std::uint64_t id);
    asio::awaitable<bool> transmit(reading r);
    asio::awaitable<void> wait_event(bool want_input, steady::time_point wake_at);
    void take_replies();
    void on_reply(const sensor_reply& reply);
    void expire(steady::time_point now);
    void lose_connection(const std::string& why);
    asio::awaitable<void> reconnect();
    asio::awaitable<void> on_reconnected(unsigned attempts);
    void watch_signals();
    void report_summary(steady::duration elapsed);
    std::string label(std::uint64_t id) const;

    tcp::socket socket_;
    std::optional<line_reader> reader_;  // one per connection: bytes do not cross connections
    sensor_options options_;
    std::unique_ptr<line_input> input_;
    std::optional<reading_generator> generator_;
    std::string peer_;
    asio::steady_timer wake_;
    asio::signal_set signals_;

    std::deque<reading> in_flight_;  // sent on this connection, unanswered, in send order
    std::deque<reading> to_resend_;  // unanswered when a connection dropped, oldest first
    std::uint64_t taken_ = 0;        // readings generated or read so far
    std::uint64_t server_seq_ = 0;   // replies so far on this connection
    steady::time_point next_send_;
    bool connected_ = true;
    std::optional<steady::time_point> outage_since_;  // until a new connection answers
    proto::usec backoff_;
    unsigned attempts_ = 0;  // connect attempts in this outage

    std::uint64_t sent_ = 0, acked_ = 0, nacked_ = 0, resent_ = 0, reconnects_ = 0;
    std::uint64_t late_ = 0;  ///< replies that came after their reading was reported lost
    rtt_stats ack_rtts_;
    int interrupts_ = 0;       // Ctrl-C: 1 stop taking readings, 2 stop now
    bool input_done_ = false;  // the end of --from input, or it failed
    bool input_failed_ = false;
    bool gave_up_ = false;
    bool failed_ = false;  // the peer is not a sensor service
    bool window_full_said_ = false;
};

}  // namespace netd::netctl
