"""netctl status, reload and selftest against a real netd with a control socket: the text and
--json output, -c and -s, the errors (no socket configured, nobody listening, no permission),
a reload with a broken config, and selftest with every service up, one down, one silent."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from netd_harness import (NETCTL, SCALE, LineReader, Netd, NetdTestCase, SilentServer, connect,
                          exchange, free_port, ping_config, render_config, require_netctl,
                          run_netctl, split_addr, write_atomically)

HEADLINE = re.compile(r"^netd (?P<version>\S+), pid (?P<pid>\d+), "
                      r"up (?P<up>\d+[dhms]( \d+[hms])?) \(since \d{4}-\d\d-\d\dT[\d:.]+Z\)$")
CHECK = re.compile(r"^(?P<name>ping|ack|sensor|files|control) +(?P<target>\S+) +"
                   r"(?P<result>ok +(?P<rtt>\d+) us.*|FAILED +(?P<error>.+)"
                   r"|skipped \((?P<why>.+)\))$")
INDEX = b"<!doctype html><title>netd</title><p>hello from the selftest's files root\n"


class NetctlControlTestCase(NetdTestCase):
    def setUp(self):
        super().setUp()
        require_netctl(self)

    def start_with_control(self, tables=None, files_root=False):
        """netd with control = "control.sock" (relative: resolved against the config's
        directory, the temp dir); files_root: a www/ with index.html for [files]."""
        tables = tables or ping_config()
        tables.setdefault("daemon", {})["control"] = "control.sock"
        netd = Netd(self, tables)
        if files_root:
            os.mkdir(os.path.join(netd.tmp, "www"))
            with open(os.path.join(netd.tmp, "www", "index.html"), "wb") as f:
                f.write(INDEX)
        netd.start()
        self.socket_path = os.path.join(netd.tmp, "control.sock")
        return netd

    def assert_error(self, result, status, *fragments):
        """Exit status, nothing on stdout, one 'netctl: ' line on stderr holding the fragments."""
        self.assertEqual(result.returncode, status, (result.stdout, result.stderr))
        self.assertEqual(result.stdout, "")
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("netctl: "), lines[0])
        for f in fragments:
            self.assertIn(f, lines[0])
        return lines[0]

    def temp_config(self, tables):
        """A config file only netctl reads (no netd runs on it)."""
        d = tempfile.mkdtemp(prefix="netd-ctl-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "netd.toml")
        write_atomically(path, render_config(tables))
        return path


def all_services(ports):
    """ping, ack, sensor and files on fixed free loopback ports (selftest needs real ports)."""
    return {"daemon": {"threads": 2},
            "ping": {"listen": [f"127.0.0.1:{ports[0]}"]},
            "ack": {"listen": [f"127.0.0.1:{ports[1]}"]},
            "sensor": {"listen": [f"127.0.0.1:{ports[2]}"], "data_file": "readings.jsonl"},
            "files": {"listen": [f"127.0.0.1:{ports[3]}"], "root": "www", "index": "index.html",
                      "listing": False}}


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


class NetctlControlStatusTest(NetctlControlTestCase):
    def traffic(self, netd):
        self.assertEqual(exchange(netd.port, b"ping\nping\n", replies=2), [b"pong", b"pong"])
        sensor_port = split_addr(netd.addrs["sensor"][0])[1]
        self.assertEqual(exchange(sensor_port, b"t=1\nt=2\nt=3\n", replies=3),
                         [b"ack 1", b"ack 2", b"ack 3"])
        netd.wait_event("conn_close", count=2)

    def start_with_sensor(self):
        tables = ping_config()
        tables["sensor"] = {"listen": ["127.0.0.1:0"], "data_file": "readings.jsonl"}
        return self.start_with_control(tables)

    def test_status_prints_version_uptime_services_and_sensor_store(self):
        netd = self.start_with_sensor()
        self.traffic(netd)
        held = connect(netd.port)  # still open while status is asked
        self.addCleanup(held.close)
        held.sendall(b"ping\n")
        self.assertEqual(LineReader(held).line(), b"pong")

        r = run_netctl(["status", "-c", netd.config_path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        lines = r.stdout.splitlines()
        head = HEADLINE.match(lines[0])
        self.assertTrue(head, lines[0])
        self.assertEqual(int(head["pid"]), netd.proc.pid)
        self.assertEqual(lines[1], f"config: {netd.config_path}")
        self.assertRegex(lines[2], r"^2 threads, 1 connection open of max \d+$")
        header = next(i for i, x in enumerate(lines) if x.startswith("service "))
        self.assertEqual(lines[header].split(), ["service", "listen", "open", "conns", "messages",
                                                 "bytes", "in", "bytes", "out", "errors"])
        rows = {x.split()[0]: x.split() for x in lines[header + 1:header + 3]}
        # name, listen, open, connections, messages, bytes in (2 cells), bytes out (2), errors
        self.assertEqual(rows["ping"][:5], ["ping", netd.addrs["ping"][0], "1", "2", "3"])
        self.assertEqual(rows["ping"][5:], ["15", "B", "15", "B", "0"])
        self.assertEqual(rows["sensor"][:5], ["sensor", netd.addrs["sensor"][0], "0", "1", "3"])
        store = lines.index(f"sensor data {os.path.join(netd.tmp, 'readings.jsonl')}")
        self.assertRegex(lines[store + 1],
                         r"^  3 readings in \d+ batch(es)? \(avg [\d.]+, max \d per batch\), "
                         r"0 pending, last write \d{4}-\d\d-\d\dT[\d:.]+Z$")
        self.assertEqual(len(lines), store + 2, r.stdout)

    def test_status_json_is_the_raw_reply(self):
        netd = self.start_with_sensor()
        self.traffic(netd)
        r = run_netctl(["status", "-c", netd.config_path, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
        st = json.loads(r.stdout)
        self.assertTrue(st["ok"])
        self.assertEqual(st["pid"], netd.proc.pid)
        self.assertEqual(st["config"], netd.config_path)
        self.assertEqual([s["name"] for s in st["services"]], ["ping", "sensor"])
        ping = st["services"][0]
        self.assertEqual((ping["connections"], ping["messages"]), (1, 2))
        self.assertEqual(st["sensor_stores"][0]["readings"], 3)

    def test_socket_option_and_relative_control_path(self):
        netd = self.start_with_control()
        r = run_netctl(["status", "-s", self.socket_path, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["pid"], netd.proc.pid)
        # control = "control.sock" is relative to the config's directory, not to the cwd.
        r = subprocess.run([NETCTL, "status", "-c", "netd.toml",
                            "--json"], cwd=netd.tmp, capture_output=True, text=True,
                           timeout=15 * SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["pid"], netd.proc.pid)
        r = subprocess.run([NETCTL, "status", "-c",
                            os.path.join(os.path.basename(netd.tmp), "netd.toml")],
                           cwd=os.path.dirname(netd.tmp), capture_output=True, text=True,
                           timeout=15 * SCALE)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_both_c_and_s_is_a_usage_error(self):
        netd = self.start_with_control()
        r = run_netctl(["status", "-c", netd.config_path, "-s", self.socket_path])
        self.assert_error(r, 2, "not both")
        self.assert_error(run_netctl(["status", "extra"]), 2, "unexpected argument 'extra'")

    def test_no_control_socket_configured_exits_2_and_says_so(self):
        netd = self.start_netd()  # no [daemon] control
        for command in ("status", "reload"):
            r = run_netctl([command, "-c", netd.config_path])
            self.assert_error(r, 2, netd.config_path, "no control socket", "[daemon] control")

    def test_netd_not_running_exits_2_naming_the_socket(self):
        path = self.temp_config({"daemon": {"control": "control.sock"},
                                 "ping": {"listen": ["127.0.0.1:0"]}})
        sock = os.path.join(os.path.dirname(path), "control.sock")
        r = run_netctl(["status", "-c", path])
        self.assert_error(r, 2, f"no control socket at {sock}", "is netd running?")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(sock)
        stale.close()  # the file stays and nobody listens: what a crash leaves
        r = run_netctl(["status", "-s", sock])
        self.assert_error(r, 2, f"connection refused on {sock}", "not running")
        r = run_netctl(["reload", "-c", path])
        self.assert_error(r, 2, "connection refused")

    def test_missing_config_exits_2(self):
        r = run_netctl(["status", "-c", "/nonexistent/netd.toml"])
        self.assert_error(r, 2, "cannot read /nonexistent/netd.toml: No such file or directory")

    def test_permission_denied_names_the_fix(self):
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            self.skipTest("needs root and setpriv to run netctl as another user")
        netd = self.start_with_control()
        os.chmod(netd.tmp, 0o755)  # the directory is open; the 0660 socket is not
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            NETCTL, "status", "-s", self.socket_path],
                           capture_output=True, text=True, timeout=15 * SCALE)
        self.assert_error(r, 2, f"permission denied on {self.socket_path}",
                          "run as root or a member of group netd")


class NetctlControlReloadTest(NetctlControlTestCase):
    def test_reload_prints_the_new_config_summary(self):
        netd = self.start_with_control()
        r = run_netctl(["reload", "-c", netd.config_path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertRegex(r.stdout, rf"^reloaded: {re.escape(netd.config_path)}: 1 service "
                                   r"\(ping on 127\.0\.0\.1:0\), .*\n$")
        netd.wait_event("reload", ok=True)
        r = run_netctl(["reload", "-s", self.socket_path, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        reply = json.loads(r.stdout)
        self.assertTrue(reply["ok"])
        self.assertIn(netd.config_path, reply["config"])

    def test_reload_with_a_broken_config_exits_1_with_each_error_and_keeps_running(self):
        netd = self.start_with_control()
        good = open(netd.config_path).read()
        write_atomically(netd.config_path,
                         good.replace("[ping]\n", "[ping]\nbogus = 1\nframing = \"sideways\"\n"))
        r = run_netctl(["reload", "-c", netd.config_path])
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 3, r.stderr)
        self.assertRegex(lines[0], rf"^netctl: reload: {re.escape(netd.config_path)}:\d+:\d+: "
                                   r".*'bogus'")
        self.assertRegex(lines[1], rf"^netctl: reload: {re.escape(netd.config_path)}:\d+:\d+: "
                                   r".*sideways")
        self.assertEqual(lines[2], "netctl: reload failed: netd keeps running its previous config")
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])
        self.assertTrue(netd.alive())

        r = run_netctl(["reload", "-s", self.socket_path, "--json"])
        self.assertEqual(r.returncode, 1)
        reply = json.loads(r.stdout)
        self.assertFalse(reply["ok"])
        self.assertEqual(len(reply["errors"]), 2)


class NetctlControlSelftestTest(NetctlControlTestCase):
    def start_all(self):
        ports = free_ports(4)
        netd = self.start_with_control(all_services(ports), files_root=True)
        return netd, ports

    def checks(self, stdout):
        """{name: match} of the check lines; asserts every line before the summary is one."""
        lines = stdout.splitlines()
        self.assertEqual(lines[-2], "", stdout)
        found = {}
        for line in lines[:-2]:
            m = CHECK.match(line)
            self.assertTrue(m, f"not a check line: {line!r}")
            found[m["name"]] = m
        return found, lines[-1]

    def test_every_service_passes_and_the_test_reading_is_recognisable(self):
        netd, ports = self.start_all()
        started = time.time()
        r = run_netctl(["selftest", "-c", netd.config_path])
        self.assertEqual(r.returncode, 0, (r.stdout, r.stderr))
        self.assertEqual(r.stderr, "")
        checks, summary = self.checks(r.stdout)
        self.assertEqual(list(checks), ["ping", "ack", "sensor", "files", "control"])
        for name, port in zip(["ping", "ack", "sensor", "files"], ports):
            self.assertEqual(checks[name]["target"], f"127.0.0.1:{port}")
            self.assertTrue(checks[name]["rtt"], checks[name].group(0))
        self.assertEqual(checks["control"]["target"], self.socket_path)
        data_file = os.path.join(netd.tmp, "readings.jsonl")
        self.assertIn(f"(test reading in {data_file})", checks["sensor"].group(0))
        self.assertEqual(summary, "5 ok")

        with open(data_file) as f:
            stored = [json.loads(x) for x in f]
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]["format"], "json")
        self.assertIs(stored[0]["data"]["netctl_selftest"], True)
        self.assertAlmostEqual(stored[0]["data"]["ts_us"] / 1e6, started, delta=30)
        (get,) = netd.wait_event("request", service="files")
        self.assertEqual((get["method"], get["path"], get["status"]), ("GET", "/", 200))
        self.assertIn("selftest", get["ua"])
        # The probes end their connections cleanly: netd counts no errors.
        st = json.loads(run_netctl(["status", "-c", netd.config_path, "--json"]).stdout)
        self.assertEqual({s["name"]: (s["connections"], s["errors"]) for s in st["services"]},
                         {"ping": (1, 0), "ack": (1, 0), "sensor": (1, 0), "files": (1, 0)})

    def test_json_prints_a_check_per_service_then_the_summary(self):
        netd, ports = self.start_all()
        r = run_netctl(["selftest", "-c", netd.config_path, "--json"])
        self.assertEqual(r.returncode, 0, (r.stdout, r.stderr))
        objs = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual([o["service"] for o in objs[:-1]],
                         ["ping", "ack", "sensor", "files", "control"])
        for o in objs[:-1]:
            self.assertEqual((o["type"], o["result"]), ("check", "ok"), o)
            self.assertIsInstance(o["rtt_us"], int)
        self.assertEqual(objs[1]["target"], f"127.0.0.1:{ports[1]}")
        self.assertEqual(objs[2]["data_file"], os.path.join(netd.tmp, "readings.jsonl"))
        self.assertEqual(objs[-1], {"type": "summary", "ok": 5, "failed": 0, "skipped": 0})

    def test_a_stopped_netd_fails_every_check(self):
        netd, ports = self.start_all()
        self.assertEqual(netd.stop(), 0)
        r = run_netctl(["selftest", "-c", netd.config_path])
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        checks, summary = self.checks(r.stdout)
        for name in ("ping", "ack", "sensor", "files"):
            self.assertEqual(checks[name]["error"], "cannot connect: Connection refused")
        self.assertIn("no control socket at", checks["control"]["error"])
        self.assertEqual(summary, "0 ok, 5 failed")
        self.assertEqual(r.stderr, "netctl: selftest: 5 of 5 checks failed: "
                                   "ping, ack, sensor, files, control\n")

    def test_one_service_down_fails_naming_it(self):
        netd, ports = self.start_all()
        tables = all_services(ports)
        closed = free_port()
        tables["ack"]["listen"] = [f"127.0.0.1:{closed}"]
        tables["sensor"]["data_file"] = os.path.join(netd.tmp, "readings.jsonl")
        del tables["files"]  # netctl does not need its root
        path = self.temp_config(tables)
        r = run_netctl(["selftest", "-c", path])
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        checks, summary = self.checks(r.stdout)
        self.assertEqual([m["name"] for m in checks.values() if m["error"]], ["ack"])
        self.assertEqual(checks["ack"]["target"], f"127.0.0.1:{closed}")
        self.assertEqual(summary, "2 ok, 1 failed")
        self.assertEqual(r.stderr, "netctl: selftest: 1 of 3 checks failed: ack\n")

    def test_wildcard_addresses_are_probed_on_loopback_and_port_0_is_skipped(self):
        port = free_port()
        tables = {"daemon": {"threads": 1}, "ping": {"listen": [f":{port}"]},
                  "ack": {"listen": ["127.0.0.1:0"]}}
        netd = Netd(self, tables).start()
        r = run_netctl(["selftest", "-c", netd.config_path])
        self.assertEqual(r.returncode, 0, (r.stdout, r.stderr))
        checks, summary = self.checks(r.stdout)
        self.assertEqual(checks["ping"]["target"], f"127.0.0.1:{port}")
        self.assertTrue(checks["ping"]["rtt"])
        self.assertEqual(checks["ack"]["target"], "127.0.0.1:0")
        self.assertEqual(checks["ack"]["why"], "port 0")
        self.assertEqual(summary, "1 ok, 1 skipped")

    def test_a_silent_service_fails_at_the_deadline(self):
        with SilentServer() as silent:
            path = self.temp_config({"ping": {"listen": [f"127.0.0.1:{silent.port}"]},
                                     "files": {"listen": [f"127.0.0.1:{silent.port}"],
                                               "root": "www"}})
            started = time.monotonic()
            r = run_netctl(["selftest", "-c", path, "-W", "300ms"])
            took = time.monotonic() - started
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        checks, _ = self.checks(r.stdout)
        self.assertEqual(checks["ping"]["error"], "no reply within 300ms")
        self.assertEqual(checks["files"]["error"], "no reply within 300ms")
        self.assertLess(took, 3 * SCALE)

    def test_files_error_status_fails(self):
        ports = free_ports(1)
        tables = {"daemon": {"threads": 1},
                  "files": {"listen": [f"127.0.0.1:{ports[0]}"], "root": "www",
                            "index": "index.html", "listing": False}}
        netd = Netd(self, tables)
        os.mkdir(os.path.join(netd.tmp, "www"))  # no index.html and no listing: 404
        netd.start()
        r = run_netctl(["selftest", "-c", netd.config_path])
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        checks, _ = self.checks(r.stdout)
        self.assertRegex(checks["files"]["error"], r"^GET / answered 40\d ")

    def test_config_errors_exit_2(self):
        r = run_netctl(["selftest", "-c", "/nonexistent/netd.toml"])
        self.assert_error(r, 2, "cannot read /nonexistent/netd.toml")
        d = tempfile.mkdtemp(prefix="netd-ctl-")
        self.addCleanup(shutil.rmtree, d, True)
        bad = os.path.join(d, "netd.toml")
        write_atomically(bad, "[ping]\nlisten = [\"127.0.0.1:7000\"\n")
        self.assert_error(run_netctl(["selftest", "-c", bad]), 2, f"{bad}:")
        write_atomically(bad, "[ping]\nlisten = [\"nowhere:7000\"]\n")
        self.assert_error(run_netctl(["selftest", "-c", bad]), 2, f"{bad}:2:", "nowhere")
        write_atomically(bad, "[ping]\nenabled = false\nlisten = [\"127.0.0.1:7000\"]\n")
        self.assert_error(run_netctl(["selftest", "-c", bad]), 2, "nothing to check")
        self.assert_error(run_netctl(["selftest", "-W", "0"]), 2, "must be more than 0")
