"""netctl send and netctl sensor against a real netd, stand-in servers and a closed port.

The tests that need netd's ack and sensor services skip themselves when the netd under test
does not have them yet (its --check-config rejects [ack] / [sensor]).
"""

import collections
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from netd_harness import (NETCTL, NETD, SANITIZER_MARKS, SCALE, Netd, NetdTestCase,
                          SilentServer, free_port, render_config, require_netctl, run_netctl,
                          write_atomically)

REPLY = re.compile(r"^(?P<reply>.*)  \(rtt (?P<rtt>\d+) us\)$")
ACK = re.compile(r"^ack (?P<server_seq>\d+) (?P<key>seq|line)=(?P<id>\d+) rtt=(?P<rtt>\d+) us"
                 r"(?P<note>( \(resent\)| \(late\))*)$")
NACK = re.compile(r"^nack (?P<server_seq>\d+) (seq|line)=(?P<id>\d+) rtt=\d+ us: (?P<reason>.*)$")
TOTALS = re.compile(r"^(?P<sent>\d+) sent, (?P<acked>\d+) acked, (?P<nacked>\d+) nacked, "
                    r"(?P<lost>\d+) lost(?: \(\+(?P<late>\d+) late\))?, (?P<resent>\d+) resent, "
                    r"(?P<reconnects>\d+) reconnects, "
                    r"time (?P<ms>\d+)ms$")
RTT = re.compile(r"^ack rtt min/avg/max/mdev = (\d+)/(\d+)/(\d+)/(\d+) us$")
PCT = re.compile(r"^ack rtt p50/p95/p99 = (\d+)/(\d+)/(\d+) us, jitter (\d+) us$")

_support = None


def netd_has_ack_and_sensor():
    """Whether this netd accepts [ack] and [sensor] tables (asked once, via --check-config)."""
    global _support
    if _support is None:
        d = tempfile.mkdtemp(prefix="netd-st-probe-")
        try:
            path = os.path.join(d, "netd.toml")
            write_atomically(path, render_config({
                "ack": {"listen": ["127.0.0.1:0"]},
                "sensor": {"listen": ["127.0.0.1:0"], "data_file": "readings.jsonl"}}))
            r = subprocess.run([NETD, "--check-config", "-c", path], capture_output=True,
                               timeout=10 * SCALE)
            _support = r.returncode == 0
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return _support


def ack_tables(**ack):
    """Two workers and the ack service alone on a free loopback port, plus overrides. (One
    service per netd: two services both on port 0 would each need a port of their own.)"""
    tables = {"daemon": {"threads": 2, "shutdown_grace": "10s"},
              "ack": {"listen": ["127.0.0.1:0"]}}
    tables["ack"].update(ack)
    return tables


def sensor_tables(data_file="readings.jsonl", **sensor):
    """Two workers and the sensor service alone on a free loopback port, plus overrides."""
    tables = {"daemon": {"threads": 2, "shutdown_grace": "10s"},
              "sensor": {"listen": ["127.0.0.1:0"], "data_file": data_file}}
    tables["sensor"].update(sensor)
    return tables


def read_records(path):
    """The data file's records; every line must be one complete JSON object."""
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        raise AssertionError(f"{path} ends in a cut-off line: {data[-200:]!r}")
    return [json.loads(line) for line in data.splitlines()]


class LineQueue:
    """A running netctl's stdout, line by line, read in a thread so every wait has a deadline."""

    def __init__(self, stream):
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_for(self, pattern, count, timeout=10):
        """Waits until `count` lines matching pattern have been seen; returns all lines so far."""
        end = time.monotonic() + timeout * SCALE
        while sum(1 for x in self.lines if pattern.match(x)) < count:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {count} lines like "
                                     f"{pattern.pattern!r}; got {self.lines}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"netctl ended before {count} lines like "
                                     f"{pattern.pattern!r}; got {self.lines}")
            self.lines.append(line)
        return self.lines


class StandInSensor:
    """A sensor service stand-in on loopback: acks each reading, or nacks every `nack_every`-th
    with `reason`. One connection at a time, which is all netctl makes."""

    def __init__(self, nack_every=0, reason="disk full", delay_first=0.0):
        self.delay_first = delay_first  # seconds before answering the first reading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.nack_every, self.reason = nack_every, reason
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.05)
                buf, seq = b"", 0
                while not self._stop.is_set():
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        continue
                    if not chunk:
                        break
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    out = b""
                    for _ in lines:
                        seq += 1
                        if seq == 1 and self.delay_first:
                            time.sleep(self.delay_first)
                        nack = self.nack_every and seq % self.nack_every == 0
                        out += (f"nack {seq} {self.reason}\n" if nack else f"ack {seq}\n").encode()
                    conn.sendall(out)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class NetctlCase(NetdTestCase):
    def setUp(self):
        super().setUp()
        require_netctl(self)

    def need_services(self):
        if not netd_has_ack_and_sensor():
            self.skipTest("this netd has no ack and sensor services yet "
                          "(--check-config rejects [ack]/[sensor])")

    def check_clean(self, stderr):
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, stderr)

    def one_error_line(self, r):
        self.check_clean(r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("netctl: "), lines[0])
        return lines[0]

    def summary(self, lines, target):
        """The text summary at the end of the output: (totals match, rtt lines)."""
        i = lines.index(f"--- {target} netd sensor statistics ---")
        self.assertEqual(lines[i - 1], "")
        totals = TOTALS.match(lines[i + 1])
        self.assertTrue(totals, lines[i + 1])
        return totals, lines[i + 2:]

    def spawn(self, args):
        proc = subprocess.Popen([NETCTL, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

        def cleanup():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.addCleanup(cleanup)
        return proc


class NetctlSendTest(NetctlCase):
    def test_send_prints_each_reply_with_its_rtt_and_exits_0(self):
        self.need_services()
        netd = self.start_netd(ack_tables())
        addr = netd.addrs["ack"][0]
        r = run_netctl(["send", addr, "hello", "Hello from client"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        replies = [REPLY.match(x) for x in r.stdout.splitlines()]
        self.assertTrue(all(replies), r.stdout)
        self.assertEqual([m["reply"] for m in replies], ["ACK 1 5", "ACK 2 17"])
        close = netd.wait_event("conn_close", service="ack")[0]
        self.assertEqual(close["messages"], 2)

    def test_send_json_and_the_reply_template(self):
        self.need_services()
        netd = self.start_netd(ack_tables(reply="got {message} as #{seq}"))
        r = run_netctl(["send", netd.addrs["ack"][0], "hi there", "", "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        replies, summary = objs[:-1], objs[-1]
        self.assertEqual([(o["type"], o["message"], o["reply"]) for o in replies],
                         [("reply", "hi there", "got hi there as #1"), ("reply", "", "got  as #2")])
        self.assertTrue(all(isinstance(o["rtt_us"], int) and o["rtt_us"] >= 0 for o in replies))
        self.assertEqual((summary["type"], summary["sent"], summary["answered"], summary["ok"]),
                         ("summary", 2, 2, True))
        rtts = [o["rtt_us"] for o in replies]
        self.assertEqual((summary["min_us"], summary["max_us"]), (min(rtts), max(rtts)))

    def test_send_over_long_message_gets_the_error_reply_and_exits_1(self):
        self.need_services()
        netd = self.start_netd(ack_tables(max_line=16))
        r = run_netctl(["send", netd.addrs["ack"][0], "x" * 100, "next"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERR line too long", self.one_error_line(r))
        # --json: the error reply is a reply marked as one, and the summary says not ok.
        r = run_netctl(["send", netd.addrs["ack"][0], "x" * 100, "next", "--json"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERR line too long", self.one_error_line(r))
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual([(o["type"], o.get("error")) for o in objs],
                         [("reply", True), ("summary", None)])
        self.assertEqual((objs[1]["sent"], objs[1]["answered"], objs[1]["ok"]), (1, 1, False))

    def test_send_to_a_silent_server_exits_1_after_timeout(self):
        with SilentServer() as server:
            started = time.monotonic()
            r = run_netctl(["send", f"127.0.0.1:{server.port}", "a", "b", "-W", "0.2"])
            took = time.monotonic() - started
            j = run_netctl(["send", f"127.0.0.1:{server.port}", "a", "b", "-W", "0.2", "--json"])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("no reply", self.one_error_line(r))
        self.assertLess(took, 5 * SCALE)
        self.assertEqual(j.returncode, 1)
        objs = [json.loads(x) for x in j.stdout.splitlines()]
        self.assertEqual([o["type"] for o in objs], ["timeout", "summary"])
        self.assertEqual((objs[1]["sent"], objs[1]["answered"], objs[1]["ok"]), (1, 0, False))
        self.assertIsNone(objs[1]["min_us"])

    def test_send_to_a_closed_port_exits_2(self):
        port = free_port()
        r = run_netctl(["send", f"127.0.0.1:{port}", "hello", "x"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"127.0.0.1:{port}", self.one_error_line(r))

    def test_send_usage_errors_exit_2(self):
        for args in ([], ["a\nb"], ["x\r"], ["-W", "0", "x"], ["--bogus", "x"]):
            with self.subTest(args=args):
                r = run_netctl(["send", *args])
                self.assertEqual(r.returncode, 2)
                self.one_error_line(r)


class NetctlSensorTest(NetctlCase):
    def test_sensor_count_10_stores_10_readings_prints_10_acks_and_a_summary(self):
        self.need_services()
        netd = self.start_netd(sensor_tables())
        addr = netd.addrs["sensor"][0]
        r = run_netctl(["sensor", addr, "-c", "10", "-i", "0.1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        acks = [ACK.match(x) for x in lines[:10]]
        self.assertTrue(all(acks), lines)
        self.assertEqual([int(a["id"]) for a in acks], list(range(1, 11)))
        self.assertEqual([int(a["server_seq"]) for a in acks], list(range(1, 11)))
        totals, rest = self.summary(lines, addr)
        self.assertEqual([totals[k] for k in ("sent", "acked", "nacked", "lost", "resent",
                                              "reconnects")], ["10", "10", "0", "0", "0", "0"])
        self.assertGreaterEqual(int(totals["ms"]), 850)  # nine intervals of 100ms
        mn, avg, mx, mdev = map(int, RTT.match(rest[0]).groups())
        self.assertTrue(mn <= avg <= mx)
        self.assertTrue(PCT.match(rest[1]), rest[1])
        records = read_records(os.path.join(netd.tmp, "readings.jsonl"))
        self.assertEqual(len(records), 10)
        self.assertEqual([x["data"]["seq"] for x in records], list(range(1, 11)))
        self.assertEqual(len({x["data"]["sensor"] for x in records}), 1)
        self.assertRegex(records[0]["data"]["sensor"], r"^netctl-.+-\d+$")
        for key in ("temperature", "humidity", "pressure"):
            self.assertIsInstance(records[0]["data"][key], (int, float))

    def test_sensor_from_file_sends_each_non_empty_line_as_is(self):
        self.need_services()
        netd = self.start_netd(sensor_tables())
        path = os.path.join(netd.tmp, "in.txt")
        with open(path, "w") as f:
            f.write('{"id":"a","t":1}\n\nweather,room=lab temp=21.5 1700000000000000000\r\n'
                    "ping\nt=2 h=40\nsome raw text")
        r = run_netctl(["sensor", netd.addrs["sensor"][0], "--from", path, "-i", "10ms"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("skipped 'ping'", self.one_error_line(r))
        acks = [m for m in map(ACK.match, r.stdout.splitlines()) if m]
        self.assertEqual([(a["key"], int(a["id"])) for a in acks],
                         [("line", 1), ("line", 3), ("line", 5), ("line", 6)])
        records = read_records(os.path.join(netd.tmp, "readings.jsonl"))
        self.assertEqual([x["format"] for x in records], ["json", "influx", "kv", "raw"])
        self.assertEqual(records[3]["raw"], "some raw text")

    def test_sensor_from_stdin_with_count_and_json(self):
        self.need_services()
        netd = self.start_netd(sensor_tables())
        r = subprocess.run([NETCTL, "sensor", netd.addrs["sensor"][0], "--from", "-", "-c", "2",
                            "-i", "10ms", "--json"], input="a=1\nb=2\nc=3\n",
                           capture_output=True, text=True, timeout=15 * SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual([(o["type"], o.get("line")) for o in objs],
                         [("ack", 1), ("ack", 2), ("summary", None)])
        self.assertTrue(all(isinstance(o["rtt_us"], int) for o in objs[:2]))
        s = objs[2]
        self.assertEqual((s["sent"], s["acked"], s["nacked"], s["lost"]), (2, 2, 0, 0))
        self.assertEqual(s["target"], netd.addrs["sensor"][0])
        self.assertEqual(len(read_records(os.path.join(netd.tmp, "readings.jsonl"))), 2)

    def test_sensor_over_long_reading_is_nacked_by_netd_and_exits_1(self):
        self.need_services()
        netd = self.start_netd(sensor_tables(max_line=32))
        r = subprocess.run([NETCTL, "sensor", netd.addrs["sensor"][0], "--from", "-", "-i",
                            "10ms"], input="t=1\n" + "x" * 100 + "\nt=3\n",
                           capture_output=True, text=True, timeout=15 * SCALE)
        self.assertEqual(r.returncode, 1, r.stderr)
        nacks = [m for m in map(NACK.match, r.stdout.splitlines()) if m]
        self.assertEqual([(int(n["id"]), n["reason"]) for n in nacks], [(2, "line too long")])
        totals, _ = self.summary(r.stdout.splitlines(), netd.addrs["sensor"][0])
        self.assertEqual((totals["acked"], totals["nacked"], totals["lost"]), ("2", "1", "0"))

    def restart_mid_run(self, how):
        """Streams 40 readings; after 5 acks stops netd (SIGTERM or SIGKILL) and starts it again
        on the same port and data file. Every reading must end up stored at least once."""
        self.need_services()
        shared = tempfile.mkdtemp(prefix="netd-st-data-")
        self.addCleanup(lambda: shutil.rmtree(shared, ignore_errors=True))
        data_file = os.path.join(shared, "readings.jsonl")
        addr = f"127.0.0.1:{free_port()}"
        tables = sensor_tables(data_file, listen=[addr])
        first = self.start_netd(tables)
        proc = self.spawn(["sensor", addr, "-c", "40", "-i", "0.03", "--retry-for", "20s"])
        out = LineQueue(proc.stdout)
        out.wait_for(ACK, 5)
        if how == signal.SIGKILL:
            first.proc.kill()
            first.proc.wait(timeout=10 * SCALE)
        else:
            self.assertEqual(first.stop(how), 0)
        second = Netd(self, tables).start()
        try:
            proc.wait(timeout=30 * SCALE)  # stdout belongs to `out`, so not communicate()
        except subprocess.TimeoutExpired:
            self.fail("netctl did not finish after netd came back")
        err = proc.stderr.read()
        self.assertEqual(proc.returncode, 0, err)
        self.check_clean(err)
        self.assertIn("reconnecting", err)
        lines = out.wait_for(TOTALS, 1)
        self.assertTrue(any(x.startswith(f"reconnected to {addr}") for x in lines), lines)
        totals = TOTALS.match(next(x for x in lines if TOTALS.match(x)))
        self.assertEqual((totals["sent"], totals["acked"], totals["lost"]), ("40", "40", "0"))
        self.assertGreaterEqual(int(totals["reconnects"]), 1)
        self.assertEqual(second.stop(), 0)
        seqs = collections.Counter(r["data"]["seq"] for r in read_records(data_file))
        self.assertEqual(sorted(seqs), list(range(1, 41)))  # duplicates allowed, gaps not
        return totals

    def test_sensor_reconnects_and_resends_when_netd_is_restarted_with_sigterm(self):
        self.restart_mid_run(signal.SIGTERM)

    def test_sensor_reconnects_and_resends_when_netd_is_killed(self):
        self.restart_mid_run(signal.SIGKILL)

    def test_sensor_without_count_stops_on_ctrl_c_with_the_summary(self):
        self.need_services()
        netd = self.start_netd(sensor_tables())
        addr = netd.addrs["sensor"][0]
        proc = self.spawn(["sensor", addr, "-i", "0.05"])
        out = LineQueue(proc.stdout)
        out.wait_for(ACK, 2)
        proc.send_signal(signal.SIGINT)
        lines = out.wait_for(PCT, 1)
        proc.wait(timeout=5 * SCALE)
        self.assertEqual(proc.returncode, 0)  # a first Ctrl-C waits for the acks in flight
        totals, _ = self.summary(lines, addr)
        self.assertEqual(totals["sent"], totals["acked"])

    def test_sensor_counts_nacks_from_a_stand_in_server(self):
        with StandInSensor(nack_every=2, reason="disk full") as server:
            r = run_netctl(["sensor", f"127.0.0.1:{server.port}", "-c", "3", "-i", "20ms"])
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(ACK.match(lines[0]) and ACK.match(lines[2]), lines)
        nack = NACK.match(lines[1])
        self.assertEqual((nack["id"], nack["reason"]), ("2", "disk full"))
        totals, _ = self.summary(lines, f"127.0.0.1:{server.port}")
        self.assertEqual((totals["acked"], totals["nacked"], totals["lost"]), ("2", "1", "0"))

    def test_sensor_json_nack_and_timeout_objects(self):
        with StandInSensor(nack_every=1, reason="no space left") as server:
            r = run_netctl(["sensor", f"127.0.0.1:{server.port}", "-c", "1", "--json"])
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual((objs[0]["type"], objs[0]["seq"], objs[0]["reason"]),
                         ("nack", 1, "no space left"))
        with SilentServer() as server:
            r = run_netctl(["sensor", f"127.0.0.1:{server.port}", "-c", "1", "-W", "0.2",
                            "--json"])
        self.assertEqual(r.returncode, 1)
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual(objs[0], {"type": "timeout", "seq": 1})
        self.assertEqual((objs[1]["type"], objs[1]["lost"], objs[1]["late"], objs[1]["min_us"]),
                         ("summary", 1, 0, None))

    def test_sensor_marks_an_ack_after_its_timeout_late_and_counts_it(self):
        # Reading 1's ack comes at 2.5 W, after its timeout; reading 2 leaves at 4 W, well after
        # that, and is answered at once.
        w = 0.2 * SCALE
        with StandInSensor(delay_first=2.5 * w) as server:
            addr = f"127.0.0.1:{server.port}"
            r = run_netctl(["sensor", addr, "-c", "3", "-i", f"{4 * w:.3f}", "-W", f"{w:.3f}"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "timeout for seq=1")
        acks = [ACK.match(x) for x in lines[1:4]]
        self.assertTrue(all(acks), lines)
        self.assertEqual([(m["id"], m["note"]) for m in acks],
                         [("1", " (late)"), ("2", ""), ("3", "")])
        self.assertIn("0 lost (+1 late), ", "\n".join(lines))
        totals, _ = self.summary(lines, addr)
        self.assertEqual((totals["sent"], totals["acked"], totals["lost"], totals["late"]),
                         ("3", "3", "0", "1"))

    def test_sensor_counts_a_reading_never_acked_as_lost(self):
        with SilentServer() as server:
            r = run_netctl(["sensor", f"127.0.0.1:{server.port}", "-c", "2", "-i", "0.05",
                            "-W", "0.2"])
        self.assertEqual(r.returncode, 1)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:2], ["timeout for seq=1", "timeout for seq=2"])
        totals, rest = self.summary(lines, f"127.0.0.1:{server.port}")
        self.assertEqual((totals["sent"], totals["acked"], totals["lost"]), ("2", "0", "2"))
        self.assertEqual(rest, [])

    def test_sensor_gives_up_when_every_connection_is_dropped(self):
        with SilentServer(close_at_once=True) as server:
            started = time.monotonic()
            r = run_netctl(["sensor", f"127.0.0.1:{server.port}", "-c", "3", "-i", "0.05",
                            "--retry-for", "1s"])
            took = time.monotonic() - started
        self.assertEqual(r.returncode, 1)
        self.check_clean(r.stderr)
        self.assertIn("giving up", r.stderr.splitlines()[-1])
        self.assertLess(took, 10 * SCALE)

    def test_sensor_to_a_closed_port_exits_2(self):
        port = free_port()
        r = run_netctl(["sensor", f"127.0.0.1:{port}", "-c", "1"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertIn("refused", self.one_error_line(r).lower())

    def test_sensor_usage_errors_exit_2(self):
        for args in (["-c", "0"], ["-i", "0"], ["-W", "soon"], ["--from", "/nonexistent"],
                     ["--retry-for", "-1s"], ["--bogus"], ["a", "b"]):
            with self.subTest(args=args):
                r = run_netctl(["sensor", *args])
                self.assertEqual(r.returncode, 2)
                self.one_error_line(r)


if __name__ == "__main__":
    unittest.main()
