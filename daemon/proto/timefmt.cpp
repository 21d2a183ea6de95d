#include "timefmt.hpp"

#include <ctime>

namespace netd::proto {
namespace {

char* put_digits(char* p, long value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

}  // namespace

void append_rfc3339(std::string& out, std::int64_t unix_us) {
    std::int64_t secs = unix_us / 1'000'000, micros = unix_us % 1'000'000;
    if (micros < 0) {
        micros += 1'000'000;
        secs -= 1;
    }
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    char* p = buf;
    p = put_digits(p, tm.tm_year + 1900L, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, static_cast<long>(micros), 6);
    *p++ = 'Z';
    out.append(buf, p);
}

}  // namespace netd::proto
