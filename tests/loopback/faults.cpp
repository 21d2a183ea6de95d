#include "faults.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <mutex>
#include <string>
#include <vector>

namespace netd::test {
namespace {

struct rule {
    std::string suffix;
    int left;
};
std::mutex mutex;
std::vector<rule> rules;

std::string path_of(int fd) {
    char buf[PATH_MAX];
    auto link = "/proc/self/fd/" + std::to_string(fd);
    auto n = ::readlink(link.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// Whether this call is to fail; consumes one armed failure.
bool take_fault(int fd) {
    std::lock_guard lock(mutex);
    if (rules.empty()) return false;
    auto path = path_of(fd);
    for (auto& r : rules)
        if (r.left > 0 && path.size() >= r.suffix.size() &&
            path.compare(path.size() - r.suffix.size(), r.suffix.size(), r.suffix) == 0) {
            --r.left;
            return true;
        }
    return false;
}

}  // namespace

void fail_fdatasync(std::string suffix, int count) {
    std::lock_guard lock(mutex);
    rules.push_back({std::move(suffix), count});
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

extern "C" int fdatasync(int fd) {
    using fn = int (*)(int);
    static const auto real = reinterpret_cast<fn>(::dlsym(RTLD_NEXT, "fdatasync"));
    if (netd::test::take_fault(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}
