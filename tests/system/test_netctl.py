"""netctl ping and netctl time against a real netd, a silent server and a closed port."""

import datetime
import json
import re
import signal
import subprocess
import time
import unittest

from netd_harness import (NETCTL, SCALE, NetdTestCase, SilentServer, free_port, has_ipv6_loopback,
                          parse_rfc3339_us, ping_config, require_netctl, run_netctl)

PROBE = re.compile(r"^pong from (?P<peer>\S+): seq=(?P<seq>\d+) rtt=(?P<rtt>\d+) us$")
TOTALS = re.compile(r"^(?P<sent>\d+) sent, (?P<received>\d+) received, (?P<loss>[\d.]+)% loss, "
                    r"time (?P<ms>\d+)ms$")
RTT = re.compile(r"^rtt min/avg/max/mdev = (\d+)/(\d+)/(\d+)/(\d+) us$")
PCT = re.compile(r"^rtt p50/p95/p99 = (\d+)/(\d+)/(\d+) us, jitter (\d+) us$")


class NetctlTestCase(NetdTestCase):
    def setUp(self):
        super().setUp()
        require_netctl(self)

    def assert_one_error_line(self, result):
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("netctl: "), lines[0])
        return lines[0]


class NetctlPingTest(NetctlTestCase):
    def test_ping_count_3_prints_a_line_per_probe_and_a_summary(self):
        netd = self.start_netd()
        target = f"127.0.0.1:{netd.port}"
        started = time.monotonic()
        r = run_netctl(["ping", target, "-c", "3", "-i", "0.1"])
        took = time.monotonic() - started
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        probes = [PROBE.match(x) for x in lines[:3]]
        self.assertTrue(all(probes), lines)
        self.assertEqual([int(p["seq"]) for p in probes], [1, 2, 3])
        self.assertTrue(all(p["peer"] == target for p in probes))
        rtts = [int(p["rtt"]) for p in probes]
        self.assertEqual(lines[3], "")
        self.assertEqual(lines[4], f"--- {target} netd ping statistics ---")
        totals = TOTALS.match(lines[5])
        self.assertTrue(totals, lines[5])
        self.assertEqual((totals["sent"], totals["received"], totals["loss"]), ("3", "3", "0"))
        self.assertGreaterEqual(int(totals["ms"]), 190)  # two intervals of 100ms
        mn, avg, mx, mdev = map(int, RTT.match(lines[6]).groups())
        self.assertEqual((mn, mx), (min(rtts), max(rtts)))
        self.assertTrue(mn <= avg <= mx and mdev >= 0)
        p50, p95, p99, jitter = map(int, PCT.match(lines[7]).groups())
        self.assertTrue(mn <= p50 <= p95 <= p99 <= mx and jitter >= 0)
        self.assertEqual(len(lines), 8, r.stdout)
        self.assertLess(took, 5)
        close = netd.wait_event("conn_close")[0]
        self.assertEqual(close["messages"], 3)
        self.assertEqual(close["reason"], "eof")

    def test_ping_without_count_stops_on_ctrl_c_with_the_summary(self):
        netd = self.start_netd()
        target = f"127.0.0.1:{netd.port}"
        proc = subprocess.Popen([NETCTL, "ping", target, "-i", "0.05"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Each probe line is flushed as it happens: wait for two, then press Ctrl-C.
            seen = []
            until = time.monotonic() + 5 * SCALE
            while len(seen) < 2 and time.monotonic() < until:
                line = proc.stdout.readline()
                if not line:
                    break
                if PROBE.match(line.rstrip("\n")):
                    seen.append(line)
            self.assertEqual(len(seen), 2, "no probe lines before the deadline")
            proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=5 * SCALE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines = rest.splitlines()
        self.assertIn(f"--- {target} netd ping statistics ---", lines, rest)
        totals = [m for m in map(TOTALS.match, lines) if m]
        self.assertEqual(len(totals), 1, rest)
        self.assertGreaterEqual(int(totals[0]["sent"]), 2)
        # A probe in flight at Ctrl-C counts as lost, as in ping(8): exit 0 or 1, never a crash.
        self.assertIn(proc.returncode, (0, 1), err)

    def test_ping_json_prints_one_object_per_probe_then_the_summary(self):
        netd = self.start_netd()
        r = run_netctl(["ping", f"127.0.0.1:{netd.port}", "-c", "3", "-i", "100ms", "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual(len(objs), 4)
        for i, o in enumerate(objs[:3], 1):
            self.assertEqual(o["type"], "probe")
            self.assertEqual(o["seq"], i)
            self.assertIsInstance(o["rtt_us"], int)
            self.assertGreaterEqual(o["rtt_us"], 0)
        s = objs[3]
        self.assertEqual(s["type"], "summary")
        self.assertEqual((s["sent"], s["received"], s["loss_pct"]), (3, 3, 0))
        self.assertEqual(s["target"], f"127.0.0.1:{netd.port}")
        rtts = [o["rtt_us"] for o in objs[:3]]
        self.assertEqual((s["min_us"], s["max_us"]), (min(rtts), max(rtts)))
        for key in ("avg_us", "mdev_us", "p50_us", "p95_us", "p99_us", "jitter_us", "time_ms"):
            self.assertIsInstance(s[key], (int, float), key)

    def test_ping_to_a_closed_port_exits_2_with_one_error_line(self):
        port = free_port()
        r = run_netctl(["ping", f"127.0.0.1:{port}", "-c", "1"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        line = self.assert_one_error_line(r)
        self.assertIn(f"127.0.0.1:{port}", line)
        self.assertIn("refused", line.lower())

    def test_ping_to_a_server_that_never_answers_exits_1_after_timeout(self):
        with SilentServer() as server:
            started = time.monotonic()
            r = run_netctl(["ping", f"127.0.0.1:{server.port}", "-c", "2", "-i", "0.05",
                            "-W", "0.2"])
            took = time.monotonic() - started
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:2], ["timeout for seq=1", "timeout for seq=2"])
        self.assertTrue(any(x.startswith("2 sent, 0 received, 100% loss") for x in lines),
                        r.stdout)
        self.assertFalse(any(x.startswith("rtt ") for x in lines), r.stdout)
        self.assertLess(took, 5)

    def test_ping_json_timeout_and_summary_when_no_answer(self):
        with SilentServer() as server:
            r = run_netctl(["ping", f"127.0.0.1:{server.port}", "-c", "1", "-W", "200ms",
                            "--json"])
        self.assertEqual(r.returncode, 1)
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual(objs[0], {"type": "probe", "seq": 1, "timeout": True})
        self.assertEqual(objs[-1]["type"], "summary")
        self.assertEqual((objs[-1]["sent"], objs[-1]["received"]), (1, 0))
        self.assertIsNone(objs[-1]["min_us"])

    def test_ping_to_a_server_that_closes_exits_1(self):
        with SilentServer(close_at_once=True) as server:
            r = run_netctl(["ping", f"127.0.0.1:{server.port}", "-c", "3", "-i", "0.05"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("0 received", r.stdout)
        self.assertTrue(r.stderr.startswith("netctl: "), r.stderr)

    def test_ping_usage_errors_exit_2(self):
        for args in (["-c", "0"], ["-i", "soon"], ["-W", "0"], ["--bogus"], ["a", "b"]):
            with self.subTest(args=args):
                r = run_netctl(["ping", *args])
                self.assertEqual(r.returncode, 2)
                self.assert_one_error_line(r)

    def test_ping_over_ipv6(self):
        if not has_ipv6_loopback():
            self.skipTest("this host has no ::1")
        netd = self.start_netd(ping_config(listen=["[::1]:0"]))
        r = run_netctl(["ping", netd.addrs["ping"][0], "-c", "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(f"pong from {netd.addrs['ping'][0]}: seq=1 "),
                        r.stdout)


class NetctlTimeTest(NetctlTestCase):
    def test_time_prints_server_time_rtt_processing_time_and_offset(self):
        netd = self.start_netd()
        r = run_netctl(["time", f"127.0.0.1:{netd.port}"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 4, r.stdout)
        m = re.match(r"^server time  (\S+)$", lines[0])
        server_time = parse_rfc3339_us(m[1])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - server_time).total_seconds()), 10)
        self.assertRegex(lines[1], r"^rtt          \d+ us$")
        self.assertRegex(lines[2], r"^server proc  \d+ us$")
        m = re.match(r"^offset       ([+-]\d+) us \(\+- (\d+) us\)$", lines[3])
        self.assertTrue(m, lines[3])
        # Same host, same clock: the offset is within its own error bound (plus slack).
        self.assertLessEqual(abs(int(m[1])), int(m[2]) + 2000)
        close = netd.wait_event("conn_close")[0]
        self.assertEqual(close["messages"], 5)

    def test_time_json_has_the_four_timestamps_and_results(self):
        netd = self.start_netd()
        r = run_netctl(["time", f"127.0.0.1:{netd.port}", "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1)
        j = json.loads(lines[0])
        self.assertEqual(j["type"], "time")
        parse_rfc3339_us(j["server_time"])
        self.assertTrue(j["t1_us"] <= j["t4_us"] and j["t2_us"] <= j["t3_us"], j)
        self.assertEqual(j["server_proc_us"], j["t3_us"] - j["t2_us"])
        self.assertEqual(j["rtt_us"], (j["t4_us"] - j["t1_us"]) - j["server_proc_us"])
        self.assertGreaterEqual(j["rtt_us"], 0)
        self.assertEqual(j["samples"], 5)
        self.assertLessEqual(abs(j["offset_us"]), j["uncertainty_us"] + 2000)

    def test_time_to_a_closed_port_exits_2(self):
        r = run_netctl(["time", f"127.0.0.1:{free_port()}"])
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r)

    def test_time_to_a_server_that_closes_exits_1(self):
        with SilentServer(close_at_once=True) as server:
            r = run_netctl(["time", f"127.0.0.1:{server.port}"])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assert_one_error_line(r)


if __name__ == "__main__":
    unittest.main()
