"""netd --check-config, config errors at start, and a listen port that is taken."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from netd_harness import (NETD, SCALE, Netd, NetdTestCase, ping_config, render_config,
                          write_atomically)

ERROR_LINE = re.compile(r"^netd: (?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


class CheckConfigTest(NetdTestCase):
    def write(self, text):
        d = tempfile.mkdtemp(prefix="netd-st-cfg-")
        self.addCleanup(lambda: shutil.rmtree(d, ignore_errors=True))
        path = os.path.join(d, "netd.toml")
        write_atomically(path, text)
        return path

    def check(self, path):
        return subprocess.run([NETD, "--check-config", "-c", path], capture_output=True,
                              text=True, timeout=10 * SCALE)

    def errors(self, result):
        """The stderr lines, each checked to be `netd: FILE:LINE:COL: message`."""
        lines = result.stderr.splitlines()
        for line in lines:
            self.assertRegex(line, ERROR_LINE)
        return [ERROR_LINE.match(x) for x in lines]

    def test_good_file_prints_a_one_line_summary_and_exits_0(self):
        path = self.write(render_config(ping_config()))
        r = self.check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertTrue(lines[0].startswith(f"config OK: {path}: "), lines[0])
        self.assertIn("ping on 127.0.0.1:0", lines[0])
        self.assertIn("2 threads", lines[0])

    def test_repository_default_config_is_valid(self):
        default = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "config", "netd.toml")
        if not os.path.exists(default):
            self.skipTest("no config/netd.toml in this checkout")
        r = self.check(default)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("config OK: "))

    def test_typo_names_file_line_column_and_suggests_the_fix(self):
        path = self.write('[ping]\nlisten = ["127.0.0.1:0"]\n\nenable = true\n')
        r = self.check(path)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, f"netd: {path}:4:1: unknown key 'enable' in [ping] "
                                   "(did you mean 'enabled'?)\n")

    def test_every_error_in_a_file_is_reported_in_one_run(self):
        path = self.write("\n".join([
            "[daemon]",
            'threads = "two"',                     # 2: wrong type
            'shutdown_grace = "5 parsecs"',        # 3: bad duration
            "[log]",
            'level = "loud"',                      # 5: not one of the levels
            "[ping]",
            "enable = true",                       # 7: typo
            'listen = ["127.0.0.1:99999"]',       # 8: bad port
            'idle_timeout = "soon"',               # 9: bad duration
            'allow = ["10.0.0.0/33"]',             # 10: bad CIDR
            "[pong]",                              # 11: unknown table
            "",
        ]))
        r = self.check(path)
        self.assertEqual(r.returncode, 2)
        errs = self.errors(r)
        self.assertEqual([int(m["line"]) for m in errs], [2, 3, 5, 7, 8, 9, 10, 11], r.stderr)
        self.assertTrue(all(m["file"] == path for m in errs))
        text = r.stderr
        self.assertIn("'threads' in [daemon] must be an integer", text)
        self.assertIn("did you mean 'enabled'?", text)
        self.assertIn("99999", text)
        self.assertIn("[pong]", text)

    def test_two_services_on_one_address_or_duplicate_listen_is_an_error(self):
        path = self.write('[ping]\nlisten = ["127.0.0.1:7000", "127.0.0.1:7000"]\n')
        r = self.check(path)
        self.assertEqual(r.returncode, 2)
        (m,) = self.errors(r)
        self.assertIn("listed twice", m["msg"])

    def test_syntax_error_names_line_and_column(self):
        path = self.write('[ping]\nlisten = ["127.0.0.1:0"\n')
        r = self.check(path)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(self.errors(r)), 1, r.stderr)

    def test_missing_config_file_exits_2(self):
        r = self.check("/nonexistent/netd.toml")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/netd.toml", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1)

    def test_unknown_argument_is_a_usage_error(self):
        r = subprocess.run([NETD, "--frobnicate"], capture_output=True, text=True,
                           timeout=10 * SCALE)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--frobnicate", r.stderr)

    def test_version_and_help_exit_0(self):
        for arg in ("--version", "--help"):
            r = subprocess.run([NETD, arg], capture_output=True, text=True, timeout=10 * SCALE)
            self.assertEqual(r.returncode, 0, arg)
            self.assertTrue(r.stdout, arg)


class StartFailureTest(NetdTestCase):
    def test_running_with_a_bad_config_exits_2_without_starting(self):
        netd = Netd(self, {}, config_text='[ping]\nlisten = ["127.0.0.1:0"]\nenable = true\n')
        netd.start(wait=False)
        self.assertEqual(netd.wait_exit(), 2)
        self.assertIn(":3:1: unknown key 'enable' in [ping] (did you mean 'enabled'?)",
                      netd.stderr())
        self.assertEqual(netd.log_lines(), [])

    def test_port_in_use_exits_1_naming_address_and_service(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            netd = Netd(self, ping_config(listen=[f"127.0.0.1:{port}"])).start(wait=False)
            self.assertEqual(netd.wait_exit(), 1)
        self.assertEqual(netd.stderr(), f"netd: cannot listen on 127.0.0.1:{port} for [ping]: "
                                        "Address already in use\n")

    def test_port_held_by_another_netd_exits_1(self):
        # netd's own sockets use SO_REUSEPORT; a second netd must still not share the port.
        first = self.start_netd()
        port = first.port
        second = Netd(self, ping_config(listen=[f"127.0.0.1:{port}"])).start(wait=False)
        self.assertEqual(second.wait_exit(), 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port} for [ping]: Address already in use",
                      second.stderr())
        self.assertTrue(first.alive())

    def test_fixed_port_is_free_again_after_a_clean_stop(self):
        first = self.start_netd()
        port = first.port
        self.assertEqual(first.stop(), 0)
        again = Netd(self, ping_config(listen=[f"127.0.0.1:{port}"])).start()
        self.assertEqual(again.port, port)


if __name__ == "__main__":
    unittest.main()
