#include "ack.hpp"

#include "config_reader.hpp"
#include "line_service.hpp"
#include "proto/ack.hpp"

namespace netd {
namespace {

class ack_service final : public line_service {
  public:
    ack_service(line_settings settings, proto::ack_template reply)
        : line_service(settings), reply_(std::move(reply)) {}

  protected:
    void on_message(session_state& state, std::string_view message, std::int64_t,
                    std::string& out) override {
        reply_.append(out, ++state.count, message);
    }

  private:
    proto::ack_template reply_;
};

}  // namespace

std::shared_ptr<service> make_ack_service(table_reader& table) {
    auto settings = read_line_settings(table);
    std::string text = "ACK {seq} {bytes}";
    table.get("reply", text);
    auto parsed = proto::ack_template::parse(text);
    if (!parsed.ok()) table.error("reply", "'reply' in [ack]: " + parsed.error);
    return std::make_shared<ack_service>(settings, std::move(parsed.value));
}

}  // namespace netd
