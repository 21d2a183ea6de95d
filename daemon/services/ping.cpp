#include "ping.hpp"

#include "line_service.hpp"
#include "proto/ping.hpp"
#include "proto/timefmt.hpp"

namespace netd {
namespace {

class ping_service final : public line_service {
  public:
    using line_service::line_service;

  protected:
    void on_message(session_state&, std::string_view message, std::int64_t received_us,
                    std::string& out) override {
        proto::append_ping_reply(out, message, received_us, proto::unix_micros_now());
    }
};

}  // namespace

std::shared_ptr<service> make_ping_service(table_reader& table) {
    auto settings = read_line_settings(table);
    return std::make_shared<ping_service>(settings);
}

}  // namespace netd
