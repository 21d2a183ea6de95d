#include "reading.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include "json_escape.hpp"
#include "ping.hpp"
#include "timefmt.hpp"

// A hand-written validator rather than nlohmann: it keeps each number's and string's exact text,
// appends straight into the caller's buffer (no DOM, no allocation once warm), bounds depth
// without recursion, and keeps nlohmann out of the library that netctl also links.

namespace netd::proto {
namespace {

constexpr auto npos = std::string_view::npos;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Integers, and doubles in their shortest text that reads back the same ("21.5", "40", "1e+21").
template <class T>
void append_number(std::string& out, T v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

// The whole of `text` as an integer of type T, or nothing.
template <class T>
std::optional<T> whole_integer(std::string_view text) {
    T v{};
    auto end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc{} || p != end || text.empty()) return std::nullopt;
    return v;
}

// ---- numbers

// Length of the JSON number (RFC 8259) at the start of s, or 0.
std::size_t json_number_length(std::string_view s) {
    std::size_t j = 0;
    auto digits = [&] {
        auto from = j;
        while (j < s.size() && is_digit(s[j]))
            ++j;
        return j - from;
    };
    if (j < s.size() && s[j] == '-') ++j;
    if (j < s.size() && s[j] == '0')
        ++j;
    else if (digits() == 0)
        return 0;
    if (j < s.size() && s[j] == '.') {
        ++j;
        if (digits() == 0) return 0;
    }
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        ++j;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (digits() == 0) return 0;
    }
    return j;
}

// Whether the whole of s is an InfluxDB float: -?(d+(.d*)?|.d+)([eE][+-]?d+)?. Stricter than
// from_chars, which would also take "nan" and "inf".
bool is_influx_float(std::string_view s) {
    std::size_t j = 0;
    auto digits = [&] {
        auto from = j;
        while (j < s.size() && is_digit(s[j]))
            ++j;
        return j - from;
    };
    if (j < s.size() && s[j] == '-') ++j;
    auto whole = digits();
    std::size_t frac = 0;
    if (j < s.size() && s[j] == '.') {
        ++j;
        frac = digits();
    }
    if (whole == 0 && frac == 0) return false;
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        ++j;
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        if (digits() == 0) return false;
    }
    return j == s.size();
}

// For a decimal number that from_chars found out of range: whether it overflowed (|x| huge)
// rather than underflowed (|x| tiny). Compares the decimal exponent of the first significant
// digit with 0; out-of-range values are hundreds of orders of magnitude from there.
bool overflows(std::string_view s) {
    std::size_t j = 0;
    if (j < s.size() && s[j] == '-') ++j;
    std::int64_t order = 0;
    bool significant = false;
    for (; j < s.size() && is_digit(s[j]); ++j) {
        significant = significant || s[j] != '0';
        if (significant) ++order;
    }
    if (j < s.size() && s[j] == '.') {
        for (++j; j < s.size() && is_digit(s[j]); ++j) {
            if (!significant && s[j] != '0') significant = true;
            if (!significant) --order;
        }
    }
    std::int64_t exponent = 0;
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        ++j;
        bool negative = j < s.size() && s[j] == '-';
        if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
        for (; j < s.size() && is_digit(s[j]); ++j)
            exponent = std::min<std::int64_t>(exponent * 10 + (s[j] - '0'), 1'000'000'000'000);
        if (negative) exponent = -exponent;
    }
    return order + exponent > 0;
}

// Reads a decimal number whose syntax was checked. Fails only on overflow: nlohmann and most
// JSON readers reject a number beyond double range, while underflow reads as 0 everywhere.
bool read_double(std::string_view text, double& value) {
    auto end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, value);
    if (ec == std::errc::result_out_of_range) {
        if (overflows(text)) return false;
        value = text.front() == '-' ? -0.0 : 0.0;
        return true;
    }
    return ec == std::errc{} && p == end;
}

// ---- JSON text

int hex_digit(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The \uXXXX code unit at s[i] (pointing at the backslash), or -1.
long json_u_escape(std::string_view s, std::size_t i) {
    if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return -1;
    long v = 0;
    for (std::size_t k = i + 2; k < i + 6; ++k) {
        int d = hex_digit(s[k]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

// Index just past the JSON string that starts with the quote at s[i], or npos if it is not a
// valid one. Surrogate escapes must pair up, as strict readers (nlohmann, Python) require.
std::size_t json_string_end(std::string_view s, std::size_t i) {
    for (++i; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') return i + 1;
        if (c < 0x20) return npos;
        if (c >= 0x80) {
            auto n = utf8_sequence_length(s, i);
            if (n == 0) return npos;
            i += n;
        } else if (c != '\\') {
            ++i;
        } else if (i + 1 < s.size() && std::string_view("\"\\/bfnrt").find(s[i + 1]) != npos) {
            i += 2;
        } else {
            long unit = json_u_escape(s, i);
            if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return npos;
            i += 6;
            if (unit >= 0xD800 && unit <= 0xDBFF) {
                long low = json_u_escape(s, i);
                if (low < 0xDC00 || low > 0xDFFF) return npos;
                i += 6;
            }
        }
    }
    return npos;
}

// Whether the valid JSON string body `body` (without quotes) decodes to the ASCII `word`, so
// that "s\u0065q" is the same key to us as to any JSON reader.
bool json_string_is(std::string_view body, std::string_view word) {
    std::size_t k = 0;
    for (std::size_t i = 0; i < body.size(); ++k) {
        char c = body[i];
        if (c == '\\') {
            long unit = json_u_escape(body, i);
            if (unit >= 0) {
                c = unit < 0x80 ? static_cast<char>(unit) : '\0';
                i += 6;
            } else {
                constexpr std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
                c = to[from.find(body[i + 1])];
                i += 2;
            }
        } else {
            ++i;
        }
        if (k >= word.size() || c != word[k]) return false;
    }
    return k == word.size();
}

// Validates the JSON object `s` and appends it without insignificant whitespace. Iterative: the
// open containers are a bit stack, so nesting costs no recursion.
bool append_compact_json(std::string_view s, parsed_reading& r) {
    static_assert(max_json_depth <= 64);
    auto& out = r.data;
    std::uint64_t arrays = 0;  // bit d: the container at depth d + 1 is an array
    int depth = 0;
    std::size_t i = 0;
    bool top_seq = false;  // the next value belongs to a top-level "seq"
    enum class want { value, key, next } state = want::value;
    auto skip_ws = [&] {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            ++i;
    };
    auto in_array = [&] { return (arrays >> (depth - 1)) & 1; };
    if (s.empty() || s[0] != '{') return false;
    do {
        skip_ws();
        if (i == s.size()) return false;
        char c = s[i];
        if (state == want::key) {
            auto end = c == '"' ? json_string_end(s, i) : npos;
            if (end == npos) return false;
            if (depth == 1 && json_string_is(s.substr(i + 1, end - i - 2), "seq")) {
                top_seq = true;
                r.client_seq.reset();
            }
            out.append(s.substr(i, end - i));
            i = end;
            skip_ws();
            if (i == s.size() || s[i] != ':') return false;
            out += ':';
            ++i;
            state = want::value;
        } else if (state == want::next) {
            if (c == ',') {
                state = in_array() ? want::value : want::key;
            } else if (c == (in_array() ? ']' : '}')) {
                --depth;
            } else {
                return false;
            }
            out += c;
            ++i;
        } else if (c == '{' || c == '[') {
            top_seq = false;
            if (depth == max_json_depth) return false;
            arrays = c == '[' ? arrays | (std::uint64_t{1} << depth)
                              : arrays & ~(std::uint64_t{1} << depth);
            ++depth;
            out += c;
            ++i;
            skip_ws();
            if (i < s.size() && s[i] == (c == '[' ? ']' : '}')) {  // empty container
                out += s[i++];
                --depth;
                state = want::next;
            } else {
                state = c == '[' ? want::value : want::key;
            }
        } else {
            std::size_t n = 0;
            if (c == '"') {
                auto end = json_string_end(s, i);
                n = end == npos ? 0 : end - i;
            } else if (c == '-' || is_digit(c)) {
                n = json_number_length(s.substr(i));
                double ignored;
                if (n > 0 && !read_double(s.substr(i, n), ignored)) return false;
                if (n > 0 && top_seq) r.client_seq = whole_integer<std::int64_t>(s.substr(i, n));
            } else {
                for (std::string_view word : {"true", "false", "null"})
                    if (s.substr(i, word.size()) == word) n = word.size();
            }
            if (n == 0) return false;
            out.append(s.substr(i, n));
            i += n;
            top_seq = false;
            state = want::next;
        }
    } while (depth > 0);
    skip_ws();
    return i == s.size();
}

// ---- escaped text (line protocol names and quoted strings)

// Appends `text` JSON-escaped, without quotes.
void append_json_body(std::string& out, std::string_view text) {
    if (text.empty()) return;
    auto at = out.size();
    append_json_string(out, text);
    out.pop_back();
    out.erase(at, 1);  // moves only this piece: linear overall
}

// Whether s[i] is a backslash that escapes the next byte: one of `escapable`, or another
// backslash (line protocol: "with two contiguous backslashes, the first is an escape").
bool is_escape(std::string_view s, std::size_t i, std::string_view escapable) {
    return s[i] == '\\' && i + 1 < s.size() &&
           (s[i + 1] == '\\' || escapable.find(s[i + 1]) != npos);
}

// Appends `text` as a JSON string with its escaping backslashes removed; any other backslash
// is literal.
void append_unescaped(std::string& out, std::string_view text, std::string_view escapable) {
    out += '"';
    std::size_t from = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (is_escape(text, i, escapable)) {
            append_json_body(out, text.substr(from, i - from));
            from = ++i;  // the escaped byte starts the next piece and is not itself an escape
        }
    }
    append_json_body(out, text.substr(from));
    out += '"';
}

// Index of the first byte at or after i that is one of `stops` and not escaped, or s.size().
std::size_t scan_name(std::string_view s, std::size_t i, std::string_view stops,
                      std::string_view escapable) {
    for (; i < s.size(); ++i) {
        if (is_escape(s, i, escapable))
            ++i;
        else if (stops.find(s[i]) != npos)
            return i;
    }
    return s.size();
}

// Index of the closing quote of the string whose opening quote is s[i] (\" and \\ escape), or
// npos.
std::size_t closing_quote(std::string_view s, std::size_t i) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '"') return i;
        if (s[i] == '\\') ++i;
    }
    return npos;
}

// ---- InfluxDB line protocol

constexpr std::string_view name_escapes = ",= ";  // tag keys, tag values, field keys
constexpr std::string_view measurement_escapes = ", ";

// Appends the JSON of the field value at s[i] and moves i past it.
bool append_field_value(std::string_view s, std::size_t& i, std::string& out,
                        std::optional<std::int64_t>* seq) {
    if (seq) seq->reset();
    if (i < s.size() && s[i] == '"') {
        auto close = closing_quote(s, i);
        if (close == npos) return false;
        append_unescaped(out, s.substr(i + 1, close - i - 1), "\"");
        i = close + 1;
        return i == s.size() || s[i] == ',' || s[i] == ' ';
    }
    auto end = std::min(s.find_first_of(", ", i), s.size());
    auto v = s.substr(i, end - i);
    i = end;
    if (v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE") {
        out += "true";
    } else if (v == "f" || v == "F" || v == "false" || v == "False" || v == "FALSE") {
        out += "false";
    } else if (!v.empty() && v.back() == 'i') {
        auto n = whole_integer<std::int64_t>(v.substr(0, v.size() - 1));
        if (!n) return false;
        append_number(out, *n);
        if (seq) *seq = n;
    } else if (!v.empty() && v.back() == 'u') {
        auto n = whole_integer<std::uint64_t>(v.substr(0, v.size() - 1));
        if (!n) return false;
        append_number(out, *n);
        if (seq && *n <= std::uint64_t(std::numeric_limits<std::int64_t>::max()))
            *seq = std::int64_t(*n);
    } else {
        double d;
        if (!is_influx_float(v) || !read_double(v, d)) return false;
        // An integral value below 2^53 is stored as an integer ("100000", not the shorter
        // "1e+05" that readers take for a float). Stored as an integer, it is a seq (`seq=7`:
        // clients forget the i suffix): client_seq is always what the data shows.
        auto at = out.size();
        if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
            char buf[32];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
            out.append(buf, end);
        } else {
            append_number(out, d);
        }
        if (seq) *seq = whole_integer<std::int64_t>(std::string_view(out).substr(at));
    }
    return true;
}

bool parse_influx(std::string_view s, parsed_reading& r) {
    auto& out = r.data;
    auto i = scan_name(s, 0, ", ", measurement_escapes);
    auto measurement = s.substr(0, i);
    // '#' starts a comment line; '=' means the "measurement" is really a key=value pair.
    if (measurement.empty() || measurement[0] == '#' || measurement.find('=') != npos) return false;
    out += "{\"measurement\":";
    append_unescaped(out, measurement, measurement_escapes);
    out += ",\"tags\":{";
    for (bool first = true; i < s.size() && s[i] == ','; first = false) {
        auto key_end = scan_name(s, ++i, ",= ", name_escapes);
        if (key_end == i || key_end == s.size() || s[key_end] != '=') return false;
        auto value_end = scan_name(s, key_end + 1, ",= ", name_escapes);
        if (value_end == key_end + 1 || (value_end < s.size() && s[value_end] == '=')) return false;
        auto key = s.substr(i, key_end - i);
        auto value = s.substr(key_end + 1, value_end - key_end - 1);
        if (!first) out += ',';
        append_unescaped(out, key, name_escapes);
        out += ':';
        append_unescaped(out, value, name_escapes);
        if (key == "seq") r.client_seq = whole_integer<std::int64_t>(value);
        i = value_end;
    }
    if (i == s.size() || s[i] != ' ') return false;
    while (i < s.size() && s[i] == ' ')
        ++i;
    out += "},\"fields\":{";
    for (bool first = true;; first = false) {
        auto key_end = scan_name(s, i, ",= ", name_escapes);
        if (key_end == i || key_end == s.size() || s[key_end] != '=') return false;
        auto key = s.substr(i, key_end - i);
        if (!first) out += ',';
        append_unescaped(out, key, name_escapes);
        out += ':';
        i = key_end + 1;
        if (!append_field_value(s, i, out, key == "seq" ? &r.client_seq : nullptr)) return false;
        if (i == s.size() || s[i] != ',') break;
        ++i;
    }
    out += '}';
    if (i < s.size()) {
        while (i < s.size() && s[i] == ' ')
            ++i;
        auto ts = whole_integer<std::int64_t>(s.substr(i));
        if (!ts) return false;
        out += ",\"timestamp\":";
        append_number(out, *ts);
    }
    out += '}';
    return true;
}

// ---- key=value pairs

bool is_kv_separator(char c) {
    return c == ' ' || c == ',' || c == '\t';
}

bool parse_kv(std::string_view s, parsed_reading& r) {
    auto& out = r.data;
    out += '{';
    std::size_t i = 0;
    bool any = false;
    for (;;) {
        while (i < s.size() && is_kv_separator(s[i]))
            ++i;
        if (i == s.size()) break;
        auto key_begin = i;
        while (i < s.size() && s[i] != '=' && !is_kv_separator(s[i]))
            ++i;
        if (i == key_begin || i == s.size() || s[i] != '=') return false;
        auto key = s.substr(key_begin, i - key_begin);
        bool is_seq = key == "seq";
        if (is_seq) r.client_seq.reset();
        if (any) out += ',';
        any = true;
        append_json_string(out, key);
        out += ':';
        ++i;
        if (i < s.size() && s[i] == '"') {
            auto close = closing_quote(s, i);
            if (close == npos) return false;
            append_unescaped(out, s.substr(i + 1, close - i - 1), "\"");
            i = close + 1;
            if (i < s.size() && !is_kv_separator(s[i])) return false;
            continue;
        }
        auto value_begin = i;
        while (i < s.size() && !is_kv_separator(s[i]))
            ++i;
        auto value = s.substr(value_begin, i - value_begin);
        double ignored;
        if (value == "true" || value == "false") {
            out += value;
        } else if (!value.empty() && json_number_length(value) == value.size() &&
                   read_double(value, ignored)) {
            out += value;
            if (is_seq) r.client_seq = whole_integer<std::int64_t>(value);
        } else {
            append_json_string(out, value);
        }
    }
    out += '}';
    return any;
}

}  // namespace

std::string_view format_name(reading_format f) {
    switch (f) {
        case reading_format::json:
            return "json";
        case reading_format::influx:
            return "influx";
        case reading_format::kv:
            return "kv";
        case reading_format::raw:
            break;
    }
    return "raw";
}

void parse_reading(std::string_view message, parsed_reading& out) {
    auto text = trim(message);
    auto attempt = [&](reading_format f, bool (*parse)(std::string_view, parsed_reading&)) {
        out.data.clear();
        out.client_seq.reset();
        out.format = f;
        return parse(text, out);
    };
    if (!text.empty() && text[0] == '{') {
        if (attempt(reading_format::json, append_compact_json)) return;
    } else if (!text.empty()) {
        if (attempt(reading_format::influx, parse_influx)) return;
        if (attempt(reading_format::kv, parse_kv)) return;
    }
    out.data.clear();
    out.client_seq.reset();
    out.format = reading_format::raw;
    append_json_string(out.data, message);
}

void append_record(std::string& out, const parsed_reading& r, std::int64_t ts_us,
                   std::string_view peer, std::uint64_t seq) {
    bool raw = r.format == reading_format::raw;
    out += "{\"ts\":\"";
    append_rfc3339(out, ts_us);
    out += "\",\"peer\":";
    append_json_string(out, peer);
    out += ",\"seq\":";
    append_number(out, seq);
    out += ",\"format\":\"";
    out += format_name(r.format);
    out += raw ? "\",\"raw\":" : "\",\"data\":";
    if (r.data.empty())  // a parsed_reading that never went through parse_reading
        out += raw ? "\"\"" : "{}";
    else
        out += r.data;
    out += "}\n";
}

}  // namespace netd::proto
