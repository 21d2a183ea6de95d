#pragma once
// Fault injection for the loopback tests: this binary replaces fdatasync(2) with one that fails
// with EIO when a test asks it to, and otherwise calls the C library's. The daemon's code is
// linked in unchanged; no hook in it.
#include <string>

namespace netd::test {

/// The next `count` fdatasync calls on a file whose path ends with `suffix` fail with EIO.
void fail_fdatasync(std::string suffix, int count = 1);

/// Forgets every armed failure; returns how many armed failures were left unused.
int clear_faults();

}  // namespace netd::test
