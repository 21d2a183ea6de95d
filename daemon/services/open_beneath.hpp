#pragma once
// openat2(2) with RESOLVE_BENEATH: the kernel refuses any path, "..", absolute symlink or
// symlink chain that would leave `dir_fd`. Linux >= 5.6; glibc 2.36 has no wrapper.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace netd {

/// Opens `path` (relative) beneath `dir_fd`; returns the descriptor, or -1 with errno (EXDEV
/// for an escape, ENOSYS on a kernel without openat2).
inline int open_beneath(int dir_fd, const char* path, std::uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, dir_fd, path, &how, sizeof how));
}

/// Owns a file descriptor.
class unique_fd {
  public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    ~unique_fd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

}  // namespace netd
