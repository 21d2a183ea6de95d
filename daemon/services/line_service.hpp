#pragma once
// The connection loop shared by the line services (ping, ack, sensor): framing, pipelining,
// max_line, idle_timeout, graceful stop. A line service only turns a message into a reply.
#include <chrono>
#include <cstdint>
#include <string>

#include "proto/framing.hpp"
#include "service.hpp"

namespace netd {

struct line_conn;

struct line_settings {
    std::chrono::microseconds idle_timeout = std::chrono::seconds(60);
    std::size_t max_line_bytes = 65536;
    proto::framing framing = proto::framing::auto_detect;
};

/// Reads idle_timeout, max_line and framing from a line service's table.
line_settings read_line_settings(table_reader& table);

class line_service : public service {
  public:
    explicit line_service(line_settings settings) : settings_(settings) {}

    asio::awaitable<void> serve(session& s) final;
    wake on_wake(session& s) final;
    std::string_view overload_reply() const final { return "ERR too many connections\n"; }

    /// What a line service keeps per connection.
    struct session_state {
        std::uint64_t count = 0;  ///< messages answered so far
    };

  protected:
    /// Appends the reply to one message (with its "\n"). received_us: when its bytes arrived.
    virtual void on_message(session_state& state, std::string_view message,
                            std::int64_t received_us, std::string& out) = 0;

  private:
    line_conn& conn_of(session& s) const;
    bool answer(line_conn& conn, session& s, std::string& out);

    line_settings settings_;
};

}  // namespace netd
