#include "faults.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>  // rename
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace netd::test {
namespace {

enum class call { fdatasync, rename, create };

struct rule {
    call what;
    std::string suffix;
    int left;
    int err;
};
std::mutex mutex;
std::vector<rule> rules;

std::string path_of(int fd) {
    char buf[PATH_MAX];
    auto link = "/proc/self/fd/" + std::to_string(fd);
    auto n = ::readlink(link.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// The errno this call on `path` is to fail with, or 0; consumes one armed failure.
int take_fault(call what, std::string_view path) {
    std::lock_guard lock(mutex);
    for (auto& r : rules)
        if (r.what == what && r.left > 0 && path.ends_with(r.suffix)) {
            --r.left;
            return r.err;
        }
    return 0;
}

void arm(call what, std::string suffix, int count, int err) {
    std::lock_guard lock(mutex);
    rules.push_back({what, std::move(suffix), count, err});
}

bool armed(call what) {
    std::lock_guard lock(mutex);
    for (const auto& r : rules)
        if (r.what == what && r.left > 0) return true;
    return false;
}

template <typename Fn>
Fn real(const char* name) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

void fail_fdatasync(std::string suffix, int count) {
    arm(call::fdatasync, std::move(suffix), count, EIO);
}

void fail_rename(std::string suffix, int err) {
    arm(call::rename, std::move(suffix), 1, err);
}

void fail_create(std::string suffix, int err) {
    arm(call::create, std::move(suffix), 1, err);
}

int clear_faults() {
    std::lock_guard lock(mutex);
    int left = 0;
    for (const auto& r : rules)
        left += r.left;
    rules.clear();
    return left;
}

}  // namespace netd::test

using netd::test::call;

extern "C" int fdatasync(int fd) {
    static const auto libc = netd::test::real<int (*)(int)>("fdatasync");
    if (netd::test::armed(call::fdatasync))
        if (int err = netd::test::take_fault(call::fdatasync, netd::test::path_of(fd))) {
            errno = err;
            return -1;
        }
    return libc(fd);
}

extern "C" int rename(const char* from, const char* to) noexcept {
    static const auto libc = netd::test::real<int (*)(const char*, const char*)>("rename");
    if (int err = netd::test::take_fault(call::rename, from)) {
        errno = err;
        return -1;
    }
    return libc(from, to);
}

extern "C" int open(const char* path, int flags, ...) {
    static const auto libc = netd::test::real<int (*)(const char*, int, ...)>("open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list args;
        va_start(args, flags);
        mode = va_arg(args, mode_t);
        va_end(args);
    }
    if (flags & O_CREAT)
        if (int err = netd::test::take_fault(call::create, path)) {
            errno = err;
            return -1;
        }
    return libc(path, flags, mode);
}
