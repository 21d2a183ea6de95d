// libFuzzer target: whatever bytes a peer sends as a sensor reading, the stored record is one line
// of JSON that nlohmann's strict parser reads as an object with the expected keys, and it agrees
// with the reading: a json reading is exactly what nlohmann reads from the message (and every
// message nlohmann reads as a shallow enough object is a json reading), influx data has its
// shape, client_seq is the seq the data shows, and a reused parsed_reading behaves like a new one.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "json_escape.hpp"
#include "ping.hpp"
#include "reading.hpp"

namespace {

using nlohmann::json;
using namespace netd::proto;

void check(bool ok) {
    if (!ok) std::abort();
}

int depth(const json& j) {
    int deepest = 0;
    if (j.is_structured())
        for (const auto& child : j)
            deepest = std::max(deepest, depth(child));
    return j.is_structured() ? deepest + 1 : 0;
}

bool is_int64(const json& v) {
    return v.is_number_integer() &&
           !(v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(INT64_MAX));
}

bool equals_seq(const json& v, std::int64_t seq) {
    return is_int64(v) && v.get<std::int64_t>() == seq;
}

void check_influx(const json& data, std::optional<std::int64_t> seq) {
    check(data.size() == 3 || data.size() == 4);
    check(data["measurement"].is_string() && !data["measurement"].get<std::string>().empty());
    check(data["tags"].is_object() && data["fields"].is_object() && !data["fields"].empty());
    for (const auto& tag : data["tags"])
        check(tag.is_string() && !tag.get<std::string>().empty());
    for (const auto& field : data["fields"])
        check(field.is_number() || field.is_string() || field.is_boolean());
    if (data.size() == 4) check(data["timestamp"].is_number_integer());
    // client_seq is the last seq the data shows: a field (after the tags) or else a tag.
    if (data["fields"].contains("seq")) {
        const auto& field = data["fields"]["seq"];
        check(seq ? equals_seq(field, *seq) : !is_int64(field));
    } else if (data["tags"].contains("seq")) {
        auto tag = data["tags"]["seq"].get<std::string>();
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(tag.data(), tag.data() + tag.size(), v);
        bool integer = ec == std::errc{} && p == tag.data() + tag.size();
        check(seq ? integer && v == *seq : !integer);
    } else {
        check(!seq);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    std::string_view message(reinterpret_cast<const char*>(bytes), size);
    static parsed_reading reused;  // as a session keeps one across readings
    parsed_reading r;
    parse_reading(message, r);
    parse_reading(message, reused);
    check(reused.format == r.format && reused.data == r.data && reused.client_seq == r.client_seq);

    std::string line;
    append_record(line, r, 1'795'304'401'123'456, "127.0.0.1:5000", 42);
    check(line.find('\n') == line.size() - 1);
    auto record = json::parse(line, nullptr, false);
    check(!record.is_discarded() && record.is_object() && record.size() == 5);
    check(record["ts"] == "2026-11-21T23:40:01.123456Z");
    check(record["peer"] == "127.0.0.1:5000" && record["seq"] == 42);
    check(record["format"] == std::string(format_name(r.format)));

    auto trimmed = trim(message);
    if (r.format == reading_format::raw) {
        std::string quoted;
        append_json_string(quoted, message);
        check(r.data == quoted && record["raw"].is_string() && !r.client_seq);
    } else {
        check(record.contains("data") && record["data"].is_object());
    }
    const auto& data = record["data"];

    // Differential check of the JSON validator against nlohmann, both ways (nlohmann's lexer
    // takes a NUL byte for the end of input, so a NUL only gets the one-way check).
    auto direct = json::parse(trimmed, nullptr, false);
    bool json_object = !trimmed.empty() && trimmed[0] == '{' && !direct.is_discarded() &&
                       direct.is_object() && depth(direct) <= max_json_depth;
    if (trimmed.find('\0') == std::string_view::npos)
        check(json_object == (r.format == reading_format::json));
    else if (r.format == reading_format::json)
        check(json_object);
    if (r.format == reading_format::json) check(data == direct);
    if (r.format == reading_format::influx) check_influx(data, r.client_seq);
    // json and kv: client_seq is the top-level "seq" exactly when that is an int64.
    if (r.format == reading_format::json || r.format == reading_format::kv) {
        bool has_seq = data.contains("seq") && is_int64(data["seq"]);
        check(has_seq == r.client_seq.has_value());
        if (has_seq) check(equals_seq(data["seq"], *r.client_seq));
    }
    return 0;
}
