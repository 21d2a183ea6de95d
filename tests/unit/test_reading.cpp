#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "proto/json_escape.hpp"
#include "proto/reading.hpp"

using namespace netd::proto;

namespace {

parsed_reading parse(std::string_view message) {
    parsed_reading r;
    parse_reading(message, r);
    return r;
}

// The stored data of a reading that must have been classified as `f`.
std::string data_as(reading_format f, std::string_view message) {
    auto r = parse(message);
    CHECK_MESSAGE(r.format == f, "message: ", message, " stored as ", format_name(r.format));
    return r.data;
}

std::string json_data(std::string_view m) {
    return data_as(reading_format::json, m);
}
std::string influx_data(std::string_view m) {
    return data_as(reading_format::influx, m);
}
std::string kv_data(std::string_view m) {
    return data_as(reading_format::kv, m);
}

// A raw reading stores the message, untrimmed, as a JSON string.
bool is_raw(std::string_view message) {
    auto r = parse(message);
    std::string quoted;
    append_json_string(quoted, message);
    return r.format == reading_format::raw && r.data == quoted && !r.client_seq;
}

std::optional<std::int64_t> seq_of(std::string_view message) {
    return parse(message).client_seq;
}

std::string record(std::string_view message, std::string_view peer = "127.0.0.1:5000") {
    std::string out;
    append_record(out, parse(message), 1'795'304'401'123'456, peer, 7);
    return out;
}

// Readings of every kind, used by the tests that check properties of all records.
const std::vector<std::string> samples = {
    R"({"temp":21.5,"seq":3})",
    R"( { "a" : [ 1 , { "b" : null } ] } )",
    R"({"s":"\ud83d\ude00 \u00e9 \"q\" \\"})",
    "weather,room=lab temp=21.5,hum=40i 1700000000000000000",
    R"(my\ m,t\=k=v\,w s="a \"b\" \\ c",b=t,u=5u)",
    "temp=21.5,hum=40",
    R"(msg="a, b" n=007 ok=true)",
    "",
    "   ",
    "hello world",
    "\xff\xfe\x01\"\\",
    R"({"a":1)",
    "[1,2]",
    "{\"a\":\"\xff\"}",
    "m s=\"\xc3\"",
    "k=\"\xe2\x82\"",
    "\t{\"a\":\r\n1}\r",
};

}  // namespace

TEST_CASE("reading: format names") {
    CHECK(format_name(reading_format::json) == "json");
    CHECK(format_name(reading_format::influx) == "influx");
    CHECK(format_name(reading_format::kv) == "kv");
    CHECK(format_name(reading_format::raw) == "raw");
}

// ---- JSON

TEST_CASE("reading json: stored compactly, numbers and strings keep their exact text") {
    CHECK(json_data(R"( { "temp" : 21.50 , "n": 1E+2, "s": "a b\u00e9\n", "ok" :true,)"
                    R"( "v":null, "a":[ 1, {"b": [ ]}, { } ] } )") ==
          R"({"temp":21.50,"n":1E+2,"s":"a b\u00e9\n","ok":true,"v":null,"a":[1,{"b":[]},{}]})");
    CHECK(json_data("{}") == "{}");
    CHECK(json_data("{\"t\":\"h\xc3\xa9llo \xe2\x82\xac\"}") ==
          "{\"t\":\"h\xc3\xa9llo \xe2\x82\xac\"}");
    // A classic client's message may hold CR/LF; JSON whitespace, so dropped: one line stays one.
    CHECK(json_data("{\"a\":\r\n1,\n\"b\":\t2}") == R"({"a":1,"b":2})");
    CHECK(json_data(R"({"a":1e-999,"b":-0,"c":0.5e+3})") == R"({"a":1e-999,"b":-0,"c":0.5e+3})");
}

TEST_CASE("reading json: an array, a scalar or a broken object is raw") {
    for (auto m : {"[1,2]",       "\"text\"",         "42",
                   "{",           "{\"a\":1",         "{\"a\":1}}",
                   "{\"a\":1} x", "{\"a\":1,}",       "{\"a\" 1}",
                   "{a:1}",       "{'a':1}",          "{\"a\":01}",
                   "{\"a\":1.}",  "{\"a\":.5}",       "{\"a\":+1}",
                   "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":tru}",
                   "{\"a\":\"x}", "{\"a\":\"\\x\"}",  "{\"a\":[1,]}",
                   "{\"a\":[1}",  "{\"a\":{]}",       "{\"a\":1,\"b\"}",
                   "{,}",         "{\"a\":1 2}",      "{\"a\":\"\\u12\"}",
                   "{x=1}"}) {
        CAPTURE(m);
        CHECK(is_raw(m));
    }
}

TEST_CASE("reading json: invalid UTF-8, raw control characters and lone surrogates are raw") {
    CHECK(is_raw("{\"a\":\"\xff\"}"));
    CHECK(is_raw("{\"a\":\"\xc3\"}"));          // truncated sequence
    CHECK(is_raw("{\"a\":\"\xc0\xaf\"}"));      // overlong
    CHECK(is_raw("{\"a\":\"\xed\xa0\x80\"}"));  // UTF-8-encoded surrogate
    CHECK(is_raw("{\"\xff\":1}"));              // in a key too
    CHECK(is_raw("{\"a\":\"tab\there\"}"));
    CHECK(is_raw(R"({"a":"\ud800"})"));
    CHECK(is_raw(R"({"a":"\udc00"})"));
    CHECK(is_raw(R"({"a":"\ud800\u0041"})"));
    CHECK(json_data(R"({"a":"\ud83d\ude00\u0000"})") == R"({"a":"\ud83d\ude00\u0000"})");
}

TEST_CASE("reading json: nesting up to max_json_depth is json, one level deeper is raw") {
    auto nested = [](int depth) {  // the top-level object counts as one level
        return "{\"a\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
    };
    CHECK(parse(nested(max_json_depth)).format == reading_format::json);
    CHECK(is_raw(nested(max_json_depth + 1)));
    CHECK(is_raw("{\"a\":" + std::string(1 << 20, '[')));  // no recursion to overflow
}

TEST_CASE("reading json: a number beyond double range is raw (strict readers reject it)") {
    CHECK(is_raw(R"({"a":1e999})"));
    CHECK(is_raw(R"({"a":-1e400})"));
    CHECK(is_raw(R"({"a":)" + std::string(400, '9') + "}"));
    CHECK(parse(R"({"a":)" + std::string(300, '9') + "}").format == reading_format::json);
    CHECK(parse(R"({"a":0.)" + std::string(400, '0') + "1}").format == reading_format::json);
}

TEST_CASE("reading json: client_seq comes from a top-level integer seq only") {
    CHECK(seq_of(R"({"seq":7,"t":1})") == 7);
    CHECK(seq_of(R"({ "seq" : -3 })") == -3);
    CHECK(seq_of(R"({"seq":9223372036854775807})") == INT64_MAX);
    CHECK_FALSE(seq_of(R"({"seq":9223372036854775808})"));  // still json, no client seq
    CHECK_FALSE(seq_of(R"({"seq":7.5})"));
    CHECK_FALSE(seq_of(R"({"seq":1e2})"));
    CHECK_FALSE(seq_of(R"({"seq":"7"})"));
    CHECK_FALSE(seq_of(R"({"seq":[7]})"));
    CHECK_FALSE(seq_of(R"({"seq":{"seq":7}})"));
    CHECK_FALSE(seq_of(R"({"x":{"seq":7}})"));
    CHECK_FALSE(seq_of(R"({"x":["seq",7]})"));
    CHECK_FALSE(seq_of(R"({"Seq":7})"));
    CHECK(seq_of(R"({"seq":1,"seq":2})") == 2);  // as readers see it: the last one
    CHECK_FALSE(seq_of(R"({"seq":1,"seq":null})"));
    CHECK_FALSE(seq_of(R"({"seq":7)"));  // raw
    // The key as a JSON reader decodes it.
    CHECK(seq_of(R"({"s\u0065q":5})") == 5);
    CHECK_FALSE(seq_of(R"({"seq":7,"\u0073eq":"x"})"));
    CHECK_FALSE(seq_of(R"({"seq\u0000":7})"));
    CHECK_FALSE(seq_of(R"({"se\u00e9":7})"));
}

// ---- InfluxDB line protocol

TEST_CASE("reading influx: the SPEC example becomes measurement, tags, fields and timestamp") {
    CHECK(influx_data("weather,room=lab temp=21.5,hum=40i 1700000000000000000") ==
          R"({"measurement":"weather","tags":{"room":"lab"},"fields":{"temp":21.5,"hum":40},)"
          R"("timestamp":1700000000000000000})");
}

TEST_CASE("reading influx: no tags gives an empty tags object, no timestamp omits it") {
    CHECK(influx_data("cpu usage=0.5") ==
          R"({"measurement":"cpu","tags":{},"fields":{"usage":0.5}})");
    CHECK(influx_data("cpu,host=a,dc=b usage=1 -5") ==
          R"({"measurement":"cpu","tags":{"host":"a","dc":"b"},"fields":{"usage":1},)"
          R"("timestamp":-5})");
    CHECK(influx_data("cpu  usage=1   5") ==  // runs of spaces between sections
          R"({"measurement":"cpu","tags":{},"fields":{"usage":1},"timestamp":5})");
}

TEST_CASE("reading influx: floats, integers, unsigned, strings and booleans") {
    // Floats are stored in the shortest text that reads back as the same double, integral
    // ones below 2^53 as plain integers.
    CHECK(influx_data("m a=21.5,b=-1e3,c=1,d=1.,e=.5,f=1E5,g=1e21,h=-0.0,i=0.1e-2,j=1e-999,"
                      "k=-.5,l=007.50") ==
          R"({"measurement":"m","tags":{},"fields":{"a":21.5,"b":-1000,"c":1,"d":1,"e":0.5,)"
          R"("f":100000,"g":1e+21,"h":-0,"i":0.001,"j":0,"k":-0.5,"l":7.5}})");
    CHECK(influx_data("m a=1e16,b=9007199254740993,c=123456789012345678") ==
          R"({"measurement":"m","tags":{},"fields":{"a":1e+16,"b":9007199254740992,)"
          R"("c":123456789012345680}})");
    CHECK(influx_data("m a=40i,b=-9223372036854775808i,c=18446744073709551615u,d=0u") ==
          R"({"measurement":"m","tags":{},"fields":{"a":40,"b":-9223372036854775808,)"
          R"("c":18446744073709551615,"d":0}})");
    CHECK(influx_data("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE") ==
          R"({"measurement":"m","tags":{},"fields":{"a":true,"b":true,"c":true,"d":true,)"
          R"("e":true,"f":false,"g":false,"h":false,"i":false,"j":false}})");
    CHECK(influx_data(R"(m s="text with spaces, commas and k=v",e="")") ==
          R"({"measurement":"m","tags":{},"fields":{"s":"text with spaces, commas and k=v",)"
          R"("e":""}})");
}

TEST_CASE("reading influx: escapes in measurement, tag keys and values, field keys, strings") {
    CHECK(influx_data(R"(my\ weather\,x,tag\ key=a\=b\,c\ d field\=k="say \"hi\" \\ ok" 1)") ==
          R"({"measurement":"my weather,x","tags":{"tag key":"a=b,c d"},)"
          R"("fields":{"field=k":"say \"hi\" \\ ok"},"timestamp":1})");
    // A backslash before anything else is literal; two backslashes are one.
    CHECK(influx_data(R"(m,path=C:\temp,two=a\\b s="C:\new",t="x\\y")") ==
          R"({"measurement":"m","tags":{"path":"C:\\temp","two":"a\\b"},)"
          R"("fields":{"s":"C:\\new","t":"x\\y"}})");
    CHECK(influx_data(R"(m\ ,a\ =b\  c\,=1)") ==
          R"({"measurement":"m ","tags":{"a ":"b "},"fields":{"c,":1}})");
    // Bytes that are not UTF-8 are escaped like any peer text.
    CHECK(influx_data("m\xff,t=\x01 s=\"\xc3\"") ==
          R"({"measurement":"m\u00ff","tags":{"t":"\u0001"},"fields":{"s":"\u00c3"}})");
}

TEST_CASE("reading influx: what is not line protocol falls through to key=value or raw") {
    // The "measurement" holds '=': these are key=value pairs.
    CHECK(parse("temp=21.5 hum=40").format == reading_format::kv);
    CHECK(parse("room=lab,temp=21.5").format == reading_format::kv);
    CHECK(parse(",room=lab temp=1").format == reading_format::kv);  // empty measurement
    for (auto m : {"weather",
                   "weather,room=lab",
                   "weather temp",
                   "weather temp=",
                   "weather temp=abc",
                   "weather temp=NaN",
                   "weather temp=nan",
                   "weather temp=inf",
                   "weather temp=Infinity",
                   "weather temp=1e999",
                   "weather temp=0x10",
                   "weather temp=+1",
                   "weather temp=1,",
                   "weather temp=1 hum=2",
                   "weather temp=1 17000x",
                   "weather temp=1 1 2",
                   "weather temp=1i2",
                   "weather temp=9223372036854775808i",
                   "weather temp=-1u",
                   "weather temp=1.5i",
                   "weather temp=\"open",
                   "weather temp=\"a\"b",
                   "weather,room= temp=1",
                   "weather,=lab temp=1",
                   "weather,room temp=1",
                   "weather,room=a=b temp=1",
                   "weather =1",
                   "#comment temp=1",
                   "weather temp=1 99999999999999999999"}) {
        CAPTURE(m);
        CHECK(is_raw(m));
    }
}

TEST_CASE("reading influx: client_seq from an integer seq field or tag") {
    CHECK(seq_of("m seq=7i") == 7);
    CHECK(seq_of("m seq=7u") == 7);
    CHECK(seq_of("m seq=7") == 7);  // a float with an exact integer value: clients forget the i
    CHECK(seq_of("m seq=1e1") == 10);
    CHECK(seq_of("m seq=9007199254740993") == 9007199254740992);  // what the float holds
    CHECK_FALSE(seq_of("m seq=1e17"));                            // stored as 1e+17
    CHECK(seq_of("m,seq=9 v=1") == 9);
    CHECK(seq_of("m,seq=9 seq=10i") == 10);    // the field comes last
    CHECK_FALSE(seq_of("m,seq=9 seq=\"x\""));  // so does a non-integer one
    CHECK_FALSE(seq_of("m seq=7.5"));
    CHECK_FALSE(seq_of("m seq=\"7\""));
    CHECK_FALSE(seq_of("m seq=t"));
    CHECK_FALSE(seq_of("m,seq=x v=1"));
    CHECK_FALSE(seq_of("m seq=18446744073709551615u"));
    CHECK_FALSE(seq_of("m sequence=7i"));
}

// ---- key=value

TEST_CASE("reading kv: pairs separated by commas and/or spaces become an object") {
    CHECK(kv_data("temp=21.5,hum=40") == R"({"temp":21.5,"hum":40})");
    CHECK(kv_data("temp=21.5 hum=40 room=lab") == R"({"temp":21.5,"hum":40,"room":"lab"})");
    CHECK(kv_data("a=1, b=2 ,,c=3\td=4") == R"({"a":1,"b":2,"c":3,"d":4})");
    CHECK(kv_data("x=a=b") == R"({"x":"a=b"})");  // the first '=' splits
    CHECK(kv_data("a= b=") == R"({"a":"","b":""})");
}

TEST_CASE("reading kv: only JSON numbers become numbers, and keep their text") {
    CHECK(kv_data("a=007 b=1. c=.5 d=+1 e=1e3 f=-0 g=nan h=inf i=0x10 j=1e999 k=1.50") ==
          R"({"a":"007","b":"1.","c":".5","d":"+1","e":1e3,"f":-0,"g":"nan","h":"inf",)"
          R"("i":"0x10","j":"1e999","k":1.50})");
    CHECK(kv_data("on=true off=false t=True n=null") ==
          R"({"on":true,"off":false,"t":"True","n":"null"})");
}

TEST_CASE("reading kv: quoted values may hold separators and are always strings") {
    CHECK(kv_data(R"(msg="a b, c=d" n="42" q="say \"hi\" \\" p=C:\path e="")") ==
          R"({"msg":"a b, c=d","n":"42","q":"say \"hi\" \\","p":"C:\\path","e":""})");
    CHECK(kv_data(R"(a=b"c k"=1)") == R"({"a":"b\"c","k\"":1})");  // quotes inside are text
    CHECK(kv_data("t=\"\xff\" \xc3\xa9=\x01") == R"({"t":"\u00ff","é":"\u0001"})");
}

TEST_CASE("reading kv: a token that is not key=value makes the reading raw") {
    for (auto m : {"=1", "a=1 =2", "a=1 b", "hello", "a=\"open", "a=\"x\"y", ",,,", "a=1,b",
                   "device1 temp=21.5 hum=40"}) {
        CAPTURE(m);
        CHECK(is_raw(m));
    }
}

TEST_CASE("reading kv: repeated keys are stored as sent, and readers keep the last") {
    auto r = parse("a=1 a=2 seq=3 seq=4");
    CHECK(r.data == R"({"a":1,"a":2,"seq":3,"seq":4})");
    auto j = nlohmann::json::parse(r.data);
    CHECK(j["a"] == 2);
    CHECK(r.client_seq == 4);
    CHECK(nlohmann::json::parse(json_data(R"({"a":1,"a":2})"))["a"] == 2);
}

TEST_CASE("reading kv: client_seq from an unquoted integer seq") {
    CHECK(seq_of("seq=7 t=1") == 7);
    CHECK(seq_of("t=1,seq=-2") == -2);
    CHECK_FALSE(seq_of("seq=\"7\""));
    CHECK_FALSE(seq_of("seq=7.0"));
    CHECK_FALSE(seq_of("seq=007"));  // not a JSON number, so stored as a string
    CHECK_FALSE(seq_of("seq=1 seq=x"));
    CHECK_FALSE(seq_of("seq=99999999999999999999"));
}

// ---- raw

TEST_CASE("reading raw: empty, whitespace-only and plain text are stored as sent") {
    CHECK(parse("").data == R"("")");
    CHECK(parse("").format == reading_format::raw);
    CHECK(parse("   ").data == R"("   ")");
    CHECK(parse("hello world").data == R"("hello world")");
    CHECK(parse("  {\"a\":1").data == R"("  {\"a\":1")");  // untrimmed
    CHECK(parse("\xff\t\"\\").data == R"("\u00ff\t\"\\")");
    CHECK_FALSE(parse("hello seq=1 x").client_seq);
}

// ---- the stored record

TEST_CASE("reading record: exact lines for an influx and a raw reading") {
    CHECK(record("weather,room=lab temp=21.5,hum=40i 1700000000000000000") ==
          R"({"ts":"2026-11-21T23:40:01.123456Z","peer":"127.0.0.1:5000","seq":7,)"
          R"("format":"influx","data":{"measurement":"weather","tags":{"room":"lab"},)"
          R"("fields":{"temp":21.5,"hum":40},"timestamp":1700000000000000000}})"
          "\n");
    CHECK(record("the text", "[::1]:6000") ==
          R"({"ts":"2026-11-21T23:40:01.123456Z","peer":"[::1]:6000","seq":7,)"
          R"("format":"raw","raw":"the text"})"
          "\n");
    CHECK(record("a=1").find(R"("format":"kv","data":{"a":1}})") != std::string::npos);
    CHECK(record("{\"a\" : 1}").find(R"("format":"json","data":{"a":1}})") != std::string::npos);
}

TEST_CASE("reading record: the peer is escaped and the record is appended") {
    std::string out = "before\n";
    append_record(out, parse("x"), 0, "a\"b\n\xff", 18446744073709551615u);
    CHECK(out ==
          "before\n"
          R"({"ts":"1970-01-01T00:00:00.000000Z","peer":"a\"b\n\u00ff",)"
          R"("seq":18446744073709551615,"format":"raw","raw":"x"})"
          "\n");
}

TEST_CASE("reading record: every record is one line of valid JSON with the expected keys") {
    for (const auto& m : samples) {
        CAPTURE(m);
        auto r = parse(m);
        auto line = record(m);
        REQUIRE(line.back() == '\n');
        CHECK(line.find('\n') == line.size() - 1);
        nlohmann::json j;
        REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
        REQUIRE(j.is_object());
        CHECK(j.size() == 5);
        CHECK(j["ts"] == "2026-11-21T23:40:01.123456Z");
        CHECK(j["peer"] == "127.0.0.1:5000");
        CHECK(j["seq"] == 7);
        CHECK(j["format"] == std::string(format_name(r.format)));
        if (r.format == reading_format::raw) {
            CHECK(j["raw"].is_string());
        } else {
            CHECK(j["data"].is_object());
        }
        if (r.format == reading_format::json) CHECK(j["data"] == nlohmann::json::parse(m));
    }
}

TEST_CASE("reading record: a parsed_reading that was never filled still gives valid JSON") {
    parsed_reading r;
    std::string out;
    append_record(out, r, 0, "p", 1);
    CHECK(nlohmann::json::parse(out)["raw"] == "");
    r.format = reading_format::kv;
    out.clear();
    append_record(out, r, 0, "p", 1);
    CHECK(nlohmann::json::parse(out)["data"] == nlohmann::json::object());
}

// ---- buffers and bounds

TEST_CASE("reading: the same reading parsed twice into one parsed_reading gives the same output") {
    parsed_reading r;
    for (const auto& m : samples) {
        CAPTURE(m);
        parse_reading(m, r);
        auto first = r;
        parse_reading("seq=99 other=1", r);  // leave different state behind
        parse_reading(m, r);
        CHECK(r.format == first.format);
        CHECK(r.data == first.data);
        CHECK(r.client_seq == first.client_seq);
    }
}

TEST_CASE("reading: one parsed_reading reuses its buffer once warm") {
    parsed_reading r;
    parse_reading(std::string(4096, 'x'), r);  // warm up: raw, 4 KiB
    auto buffer = r.data.data();
    auto capacity = r.data.capacity();
    for (int round = 0; round < 3; ++round) {
        for (const auto& m : samples) {
            parse_reading(m, r);
            CHECK(r.data.data() == buffer);
        }
    }
    CHECK(r.data.capacity() == capacity);
}

TEST_CASE("reading: 16 MiB readings of each kind finish (linear time, no recursion)") {
    constexpr std::size_t mib16 = 16u << 20;
    auto repeat = [&](std::string_view head, std::string_view unit, std::string_view tail) {
        std::string s(head);
        while (s.size() + unit.size() + tail.size() <= mib16)
            s += unit;
        return s += tail;
    };
    CHECK(is_raw("{\"a\":" + std::string(mib16, '[')));
    CHECK(parse(repeat("{\"a\":[", "1,", "1]}")).format == reading_format::json);
    CHECK(parse(repeat("{\"a\":\"", "\\u00e9", "\"}")).format == reading_format::json);
    CHECK(parse(repeat("{\"a\":0.", "0", "1}")).format == reading_format::json);
    CHECK(parse(repeat("m ", "f=1.5,", "g=2i 1")).format == reading_format::influx);
    CHECK(parse(repeat("m\\ ", "\\ ", " f=1")).format == reading_format::influx);
    CHECK(parse(repeat("m f=\"", "\\\"", "\"")).format == reading_format::influx);
    CHECK(parse(repeat("", "a=1 ", "b=x")).format == reading_format::kv);
    CHECK(parse(repeat("", "seq=1,", "")).client_seq == 1);
    CHECK(is_raw(repeat("", "a=1 ", "b")));
    CHECK(is_raw(repeat("", "\xff", "")));
}
