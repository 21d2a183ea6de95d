"""The control socket ([daemon] control): JSON requests for status and reload, one per line."""

import json
import os
import socket
import stat

from netd_harness import (LineReader, NetdTestCase, Netd, connect, exchange, ping_config,
                          write_atomically)


def ask(path, *requests, timeout=5):
    """Sends each request (a dict or raw bytes) as one line; returns the parsed replies."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        reader = LineReader(s)
        replies = []
        for r in requests:
            s.sendall(r if isinstance(r, bytes) else json.dumps(r).encode() + b"\n")
            replies.append(json.loads(reader.line(timeout=timeout)))
        return replies


class ControlSocketTest(NetdTestCase):
    def start_with_control(self, tables=None):
        tables = tables or ping_config()
        tables.setdefault("daemon", {})["control"] = "control.sock"
        netd = Netd(self, tables).start()
        return netd, os.path.join(netd.tmp, "control.sock")

    def test_status_counts_open_and_closed_connections(self):
        tables = ping_config()
        tables["sensor"] = {"listen": ["127.0.0.1:0"], "data_file": "readings.jsonl"}
        netd, path = self.start_with_control(tables)
        self.assertEqual(exchange(netd.port, b"ping\nping\n", replies=2), [b"pong", b"pong"])
        held = connect(netd.port)  # still open when status is asked
        self.addCleanup(held.close)
        held.sendall(b"ping\n")
        self.assertEqual(LineReader(held).line(), b"pong")
        sensor_port = int(netd.addrs["sensor"][0].rsplit(":", 1)[1])
        self.assertEqual(exchange(sensor_port, b"t=1\nt=2\nt=3\n", replies=3),
                         [b"ack 1", b"ack 2", b"ack 3"])
        netd.wait_event("conn_close", count=2)

        (st,) = ask(path, {"cmd": "status"})
        self.assertTrue(st["ok"])
        self.assertEqual(st["pid"], netd.proc.pid)
        self.assertEqual(st["config"], netd.config_path)
        self.assertGreater(st["uptime_us"], 0)
        ping = next(s for s in st["services"] if s["name"] == "ping")
        self.assertEqual(ping["listen"], netd.addrs["ping"])
        self.assertEqual(ping["connections"], 2)
        self.assertEqual(ping["open"], 1)
        self.assertEqual(ping["messages"], 3)  # two closed, one from the open connection
        self.assertEqual(ping["errors"], 0)
        (store,) = st["sensor_stores"]
        self.assertEqual(store["readings"], 3)
        self.assertEqual(store["pending"], 0)
        self.assertTrue(store["last_write"])
        self.assertEqual(store["error"], "")

    def test_socket_is_only_for_owner_and_group(self):
        _, path = self.start_with_control()
        mode = os.stat(path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)

    def test_reload_reports_outcome_and_keeps_old_config_on_error(self):
        netd, path = self.start_with_control()
        (ok,) = ask(path, {"cmd": "reload"})
        self.assertTrue(ok["ok"], ok)
        good = open(netd.config_path).read()
        write_atomically(netd.config_path, good + "\n[ping]\nbogus = 1\n")
        (bad,) = ask(path, {"cmd": "reload"})
        self.assertFalse(bad["ok"])
        self.assertTrue(bad["errors"])
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])

    def test_bad_requests_get_an_error_and_the_connection_stays_usable(self):
        _, path = self.start_with_control()
        junk, unknown, st = ask(path, b"not json\n", {"cmd": "frobnicate"}, {"cmd": "status"})
        self.assertFalse(junk["ok"])
        self.assertFalse(unknown["ok"])
        self.assertIn("frobnicate", unknown["error"])
        self.assertTrue(st["ok"])

    def test_over_long_request_is_refused(self):
        _, path = self.start_with_control()
        (reply,) = ask(path, b"x" * 10000)
        self.assertEqual(reply, {"ok": False, "error": "request too long"})

    def test_stale_socket_is_replaced_and_live_one_refuses_second_netd(self):
        tables = ping_config()
        tables["daemon"] = {"control": "control.sock"}
        first = Netd(self, tables)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(os.path.join(first.tmp, "control.sock"))
        stale.close()  # a socket file nobody listens on: what a crash leaves
        first.start()
        (st,) = ask(os.path.join(first.tmp, "control.sock"), {"cmd": "status"})
        self.assertEqual(st["pid"], first.proc.pid)

        tables2 = ping_config()
        tables2["daemon"] = {"control": os.path.join(first.tmp, "control.sock")}
        second = Netd(self, tables2).start(wait=False)
        self.assertEqual(second.wait_exit(), 1)
        self.assertIn("is in use", second.stderr())

    def test_socket_file_is_removed_at_stop(self):
        netd, path = self.start_with_control()
        netd.stop()
        self.assertFalse(os.path.exists(path))
