#!/usr/bin/env python3
"""Runs netd's packaging tests (issue 5) against a meson build directory.

    python3 tests/packaging/run.py --builddir build [install|unit|deb ...]

install: `meson install --destdir` and what it installed (file list, man pages, bash
         completion, sysusers/tmpfiles, the installed netd.toml running netd);
unit:    the systemd unit: `systemd-analyze security --offline=true` score and `verify`;
deb:     packaging/build-deb.sh, the .deb's files and maintainer scripts, lintian, and, as
         root, dpkg -i / --purge. Slow (a few minutes): NETD_TEST_SKIP_DEB=1 skips it, and
         NETD_TEST_SKIP_DEB_INSTALL=1 only its dpkg -i part.

Exit status: 0 all passed (skips allowed), 1 a test failed, 2 usage error.
"""

import argparse
import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GROUPS = ("install", "unit", "deb")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--builddir", default=os.path.join(REPO, "build"),
                   help="the meson build directory (default: build)")
    p.add_argument("--netd", help="the netd binary (default: BUILDDIR/daemon/netd)")
    p.add_argument("--netctl", help="the netctl binary (default: BUILDDIR/client/netctl)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    p.add_argument("groups", nargs="*", metavar="GROUP",
                   help="install, unit or deb (default: all three)")
    args = p.parse_args()
    for group in args.groups:
        if group not in GROUPS:
            p.error(f"unknown group {group!r}: expected one of {', '.join(GROUPS)}")

    builddir = os.path.abspath(args.builddir)
    if not os.path.isfile(os.path.join(builddir, "build.ninja")):
        print(f"run.py: {builddir} is not a meson build directory", file=sys.stderr)
        return 2
    # pkgtest reads these when it is imported, so set them before discovery.
    os.environ["NETD_SOURCE"] = REPO
    os.environ["NETD_BUILDDIR"] = builddir
    os.environ["NETD_BIN"] = os.path.abspath(args.netd or os.path.join(builddir, "daemon", "netd"))
    os.environ["NETCTL_BIN"] = os.path.abspath(
        args.netctl or os.path.join(builddir, "client", "netctl"))

    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for group in args.groups or GROUPS:
        suite.addTests(loader.loadTestsFromName(f"test_{group}"))
    started = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1).run(suite)
    print(f"packaging tests: {result.testsRun} run, {len(result.failures)} failed, "
          f"{len(result.errors)} errors, {len(result.skipped)} skipped "
          f"in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
