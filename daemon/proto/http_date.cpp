#include "http_date.hpp"

#include <algorithm>
#include <array>
#include <charconv>

// Civil-date arithmetic instead of gmtime_r/timegm: no time zone state, no locale, and the same
// answer for every time_t a file system can report.

namespace netd::proto::http {
namespace {

constexpr std::array<std::string_view, 7> short_days = {"Sun", "Mon", "Tue", "Wed",
                                                        "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_days = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
    std::int64_t year;
    unsigned month, day;
};

constexpr civil civil_from_days(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).day == 1 && civil_from_days(11017).month == 3);

unsigned days_in_month(std::int64_t y, unsigned m) {
    if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
    return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

char* put_digits(char* p, std::int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

char* put(char* p, std::string_view s) {
    return std::copy(s.begin(), s.end(), p);
}

// A cursor over the date text; every take_* fails on anything but the exact shape.
struct scanner {
    std::string_view s;
    std::size_t i = 0;

    bool literal(std::string_view lit) {
        if (s.substr(i, lit.size()) != lit) return false;
        i += lit.size();
        return true;
    }
    bool number(int width, int& out) {
        if (s.size() - i < static_cast<std::size_t>(width)) return false;
        out = 0;
        for (int k = 0; k < width; ++k, ++i) {
            char c = s[i];
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return true;
    }
    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names, int& index) {
        for (std::size_t k = 0; k < N; ++k)
            if (literal(names[k])) {
                index = static_cast<int>(k);
                return true;
            }
        return false;
    }
    // time-of-day = hour ":" minute ":" second
    bool time_of_day(int& h, int& m, int& sec) {
        return number(2, h) && literal(":") && number(2, m) && literal(":") && number(2, sec);
    }
    bool done() const { return i == s.size(); }
};

struct fields {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

std::optional<std::time_t> to_time(const fields& f) {
    if (f.month < 0 || f.month > 11 || f.day < 1 ||
        static_cast<unsigned>(f.day) > days_in_month(f.year, static_cast<unsigned>(f.month + 1)))
        return std::nullopt;
    // second 60 is a leap second in the grammar (RFC 9110 5.6.7); it counts as the next one.
    if (f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;
    auto days =
        days_from_civil(f.year, static_cast<unsigned>(f.month + 1), static_cast<unsigned>(f.day));
    return static_cast<std::time_t>(days * 86400 + f.hour * 3600 + f.minute * 60 + f.second);
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<std::time_t> imf_fixdate(std::string_view text) {
    scanner sc{text};
    fields f;
    int weekday = 0;
    if (sc.one_of(short_days, weekday) && sc.literal(", ") && sc.number(2, f.day) &&
        sc.literal(" ") && sc.one_of(months, f.month) && sc.literal(" ") && sc.number(4, f.year) &&
        sc.literal(" ") && sc.time_of_day(f.hour, f.minute, f.second) && sc.literal(" GMT") &&
        sc.done())
        return to_time(f);
    return std::nullopt;
}

// "Sunday, 06-Nov-94 08:49:37 GMT". Two-digit years are read as curl and most servers do:
// 70-99 is 19xx, 00-69 is 20xx (a fixed pivot keeps the function pure).
std::optional<std::time_t> rfc850_date(std::string_view text) {
    scanner sc{text};
    fields f;
    int weekday = 0;
    if (sc.one_of(long_days, weekday) && sc.literal(", ") && sc.number(2, f.day) &&
        sc.literal("-") && sc.one_of(months, f.month) && sc.literal("-") && sc.number(2, f.year) &&
        sc.literal(" ") && sc.time_of_day(f.hour, f.minute, f.second) && sc.literal(" GMT") &&
        sc.done()) {
        f.year += f.year < 70 ? 2000 : 1900;
        return to_time(f);
    }
    return std::nullopt;
}

// "Sun Nov  6 08:49:37 1994"
std::optional<std::time_t> asctime_date(std::string_view text) {
    scanner sc{text};
    fields f;
    int weekday = 0;
    if (!(sc.one_of(short_days, weekday) && sc.literal(" ") && sc.one_of(months, f.month) &&
          sc.literal(" ")))
        return std::nullopt;
    if (!(sc.literal(" ") ? sc.number(1, f.day) : sc.number(2, f.day))) return std::nullopt;
    if (sc.literal(" ") && sc.time_of_day(f.hour, f.minute, f.second) && sc.literal(" ") &&
        sc.number(4, f.year) && sc.done())
        return to_time(f);
    return std::nullopt;
}

}  // namespace

void append_http_date(std::string& out, std::time_t t) {
    // Years 0000..9999, so the text is always 29 bytes.
    constexpr std::int64_t earliest = -62167219200;  // 0000-01-01T00:00:00Z
    constexpr std::int64_t latest = 253402300799;    // 9999-12-31T23:59:59Z
    const auto secs = std::clamp<std::int64_t>(t, earliest, latest);
    const auto days = floor_div(secs, 86400);
    const auto of_day = secs - days * 86400;
    const auto date = civil_from_days(days);
    const auto weekday = static_cast<std::size_t>(((days % 7) + 11) % 7);  // 1970-01-01: Thu

    char buf[29];
    char* p = put(buf, short_days[weekday]);
    p = put(p, ", ");
    p = put_digits(p, date.day, 2);
    *p++ = ' ';
    p = put(p, months[date.month - 1]);
    *p++ = ' ';
    p = put_digits(p, date.year, 4);
    *p++ = ' ';
    p = put_digits(p, of_day / 3600, 2);
    *p++ = ':';
    p = put_digits(p, of_day / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, of_day % 60, 2);
    p = put(p, " GMT");
    out.append(buf, p);
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
    if (text.size() > 3 && text[3] == ',') return imf_fixdate(text);
    if (text.size() > 3 && text[3] == ' ') return asctime_date(text);
    return rfc850_date(text);
}

std::string make_etag(std::uint64_t size, std::int64_t mtime_ns) {
    char digits[16];
    std::string tag(1, '"');
    tag.append(digits, std::to_chars(digits, digits + sizeof digits, size, 16).ptr);
    tag += '-';
    auto ns = static_cast<std::uint64_t>(mtime_ns);
    tag.append(digits, std::to_chars(digits, digits + sizeof digits, ns, 16).ptr);
    tag += '"';
    return tag;
}

bool etag_list_matches(std::string_view header, std::string_view etag) {
    auto opaque = [](std::string_view tag) {
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        return tag;
    };
    const auto wanted = opaque(etag);
    auto is_sep = [](char c) { return c == ' ' || c == '\t' || c == ','; };

    std::size_t b = 0, e = header.size();
    while (b < e && (header[b] == ' ' || header[b] == '\t'))
        ++b;
    while (e > b && (header[e - 1] == ' ' || header[e - 1] == '\t'))
        --e;
    if (header.substr(b, e - b) == "*") return true;

    // #entity-tag; an element that is not a quoted tag is skipped up to the next comma.
    std::size_t i = b;
    while (i < e) {
        while (i < e && is_sep(header[i]))
            ++i;
        if (i == e) break;
        if (header.substr(i, 2) == "W/") i += 2;
        if (i < e && header[i] == '"') {
            auto close = header.find('"', i + 1);
            if (close == std::string_view::npos || close >= e) return false;
            if (header.substr(i, close - i + 1) == wanted) return true;
            i = close + 1;
        } else {
            auto comma = header.find(',', i);
            if (comma == std::string_view::npos) break;
            i = comma + 1;
        }
    }
    return false;
}

}  // namespace netd::proto::http
