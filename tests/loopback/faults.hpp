#pragma once
// Fault injection for the loopback tests: this binary replaces fdatasync(2), rename(2) and
// open(2) with versions that fail when a test asks them to, and otherwise call the C library's.
// The daemon's code is linked in unchanged; no hook in it.
#include <string>

namespace netd::test {

/// The next `count` fdatasync calls on a file whose path ends with `suffix` fail with EIO.
void fail_fdatasync(std::string suffix, int count = 1);

/// The next rename of a path ending with `suffix` fails with `err`.
void fail_rename(std::string suffix, int err);

/// The next open with O_CREAT of a path ending with `suffix` fails with `err`.
void fail_create(std::string suffix, int err);

/// Forgets every armed failure; returns how many armed failures were left unused.
int clear_faults();

}  // namespace netd::test
