#!/usr/bin/env python3
"""Runs netd's black-box system tests against built binaries.

    python3 tests/system/run.py --netd build/daemon/netd --netctl build/client/netctl

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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--netd", default=os.path.join(REPO, "build", "daemon", "netd"),
                   help="the netd binary (default: build/daemon/netd)")
    p.add_argument("--netctl", default=os.path.join(REPO, "build", "client", "netctl"),
                   help="the netctl binary; its tests are skipped if it does not exist")
    p.add_argument("--scale", type=float, default=None,
                   help="multiply every deadline, e.g. 3 for a sanitizer build")
    p.add_argument("--sanitized", action="store_true",
                   help="the binaries are ASan/UBSan builds (skips what the sanitizers break)")
    p.add_argument("--known-bugs", action="store_true",
                   help="also run the tests of daemon bugs not fixed yet (skipped by default)")
    p.add_argument("-k", dest="patterns", action="append", default=[],
                   help="only run tests whose name contains this substring (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    p.add_argument("-f", "--failfast", action="store_true", help="stop at the first failure")
    args = p.parse_args()

    netd = os.path.abspath(args.netd)
    if not (os.path.isfile(netd) and os.access(netd, os.X_OK)):
        print(f"run.py: no executable netd at {netd}", file=sys.stderr)
        return 2
    # The harness reads these when it is imported, so set them before discovery.
    os.environ["NETD_BIN"] = netd
    os.environ["NETCTL_BIN"] = os.path.abspath(args.netctl)
    if args.known_bugs:
        os.environ["NETD_TEST_KNOWN_BUGS"] = "1"
    if args.sanitized:
        os.environ["NETD_TEST_SANITIZED"] = "1"
    if args.scale is not None:
        os.environ["NETD_TEST_SCALE"] = str(args.scale)
    if not os.access(args.netctl, os.X_OK):
        print(f"run.py: no netctl at {args.netctl}: its tests will be skipped", file=sys.stderr)

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f"*{k}*" for k in args.patterns]
    suite = loader.discover(start_dir=HERE, pattern="test_*.py", top_level_dir=HERE)
    started = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1,
                                     failfast=args.failfast).run(suite)
    print(f"system tests: {result.testsRun} run, {len(result.failures)} failed, "
          f"{len(result.errors)} errors, {len(result.skipped)} skipped "
          f"in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0 if result.wasSuccessful() and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
