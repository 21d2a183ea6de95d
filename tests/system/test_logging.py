"""netd's JSON-lines log: every line valid, the connection events and their fields, the log
file's reopen on SIGUSR1, conn_alive for long-lived connections."""

import datetime
import os
import signal
import socket
import time
import unittest

from netd_harness import (LineReader, Netd, NetdTestCase, connect, exchange, parse_rfc3339_us,
                          ping_config, read_until_closed, split_addr)

# What a hostile or broken peer may send: NUL, bytes that are not UTF-8, quotes, backslashes,
# terminal escapes, DEL, a lone CR, JSON-looking text and a U+2028 line separator.
HOSTILE = [
    b"\x00",
    b"ping\x00pong",
    b"\xff\xfe\xfd",
    b"\xc3\x28 \xe2\x82 \xf0\x9f",
    b'"},{"event":"forged',
    b"\\u0000\\",
    b"\x1b[31mred\x1b[0m\x07\x08",
    b"\x7f\x01\x02\x1f",
    b"lone\rcr",
    b"\xe2\x80\xa8sep",
    b"stamp \"'\\\xff",
    b"x" * 3000,
]


class LogFormatTest(NetdTestCase):
    def test_every_log_line_is_json_with_ts_level_event_first(self):
        netd = self.start_netd()
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])
        netd.wait_event("conn_close")
        self.assertEqual(netd.stop(), 0)
        lines = netd.log_lines()  # parse_log_line checks each one: JSON, key order, ts format
        self.assertGreaterEqual(len(lines), 6)
        now = datetime.datetime.now(datetime.timezone.utc)
        stamps = [parse_rfc3339_us(x["ts"]) for x in lines]
        for ts in stamps:
            self.assertLess(abs((now - ts).total_seconds()), 60)
        events = [x["event"] for x in lines]
        self.assertEqual(events[0], "start")
        self.assertEqual(events[-1], "stop")
        for e in ("listening", "conn_open", "conn_close"):
            self.assertIn(e, events)

    def test_start_line_names_version_config_threads_pid(self):
        netd = self.start_netd()
        start = netd.wait_event("start")[0]
        self.assertEqual(start["pid"], netd.proc.pid)
        self.assertEqual(start["threads"], 2)
        self.assertEqual(start["config"], netd.config_path)
        self.assertRegex(start["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(start["level"], "info")

    def test_listening_line_has_the_real_bound_address(self):
        netd = self.start_netd()
        host, port = split_addr(netd.addrs["ping"][0])
        self.assertEqual(host, "127.0.0.1")
        self.assertNotEqual(port, 0)

    def test_hostile_peer_bytes_keep_every_log_line_valid_json(self):
        netd = self.start_netd()
        peers = []
        for payload in HOSTILE:
            with self.subTest(payload=payload[:40]):
                # Line-framed: two messages, two replies.
                with connect(netd.port) as s:
                    s.sendall(payload + b"\n" + payload + b"\r\n")
                    replies = LineReader(s).lines(2)
                    # Same message, same answer (a stamp reply differs in its times only).
                    self.assertEqual(*[r.rsplit(b" ", 2)[0] if r.startswith(b"stamp ") else r
                                       for r in replies])
                peers.append(s.peer)
                # Bare, then the write side closed: one reply, then netd closes too.
                with connect(netd.port) as s:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    data, how = read_until_closed(s)
                    self.assertEqual((data.count(b"\n"), how), (1, "eof"), data)
                    self.assertTrue(data.endswith(b"\n"))
                peers.append(s.peer)
        for peer in peers:
            netd.conn_close_for(peer)  # each connection ends with its one conn_close line
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])
        self.assertEqual(netd.stop(), 0)
        netd.log_lines()  # raises on any line that is not one valid JSON object

    def test_stamp_token_with_quotes_and_backslashes_is_echoed_verbatim(self):
        netd = self.start_netd()
        token = b'"\\\'{}\xff\xc3\x28'
        reply = exchange(netd.port, b"stamp " + token + b"\n")[0]
        self.assertTrue(reply.startswith(b"stamp " + token + b" "), reply)


class ConnectionEventsTest(NetdTestCase):
    def test_conn_open_and_conn_close_fields_match_the_exchange(self):
        netd = self.start_netd()
        sent = b"ping\nget_time\r\nstamp abc\nbogus\n"
        with connect(netd.port) as s:
            started = time.monotonic()
            s.sendall(sent)
            r = LineReader(s)
            replies = r.lines(4)
            self.assertEqual(r.buf, b"")
            elapsed_us = (time.monotonic() - started) * 1e6
        received = sum(len(x) + 1 for x in replies)
        close = netd.conn_close_for(s)
        open_ = netd.wait_event("conn_open", peer=s.peer)[0]

        self.assertEqual(open_["service"], "ping")
        self.assertEqual(open_["local"], netd.addrs["ping"][0])
        self.assertEqual(open_["conn"], close["conn"])
        self.assertEqual(list(close)[3:], ["service", "conn", "peer", "duration_us", "messages",
                                           "bytes_in", "bytes_out", "rtt_us", "reason"])
        self.assertEqual(close["service"], "ping")
        self.assertEqual(close["messages"], 4)
        self.assertEqual(close["bytes_in"], len(sent))
        self.assertEqual(close["bytes_out"], received)
        self.assertEqual(close["reason"], "eof")
        for key in ("duration_us", "rtt_us", "conn"):
            self.assertIsInstance(close[key], int, key)
        self.assertGreaterEqual(close["rtt_us"], 0)
        self.assertGreaterEqual(close["duration_us"], 0)
        self.assertLess(close["duration_us"], elapsed_us + 5e6)

    def test_each_connection_gets_its_own_conn_id(self):
        netd = self.start_netd()
        peers = []
        for _ in range(5):
            with connect(netd.port) as s:
                s.sendall(b"ping\n")
                LineReader(s).line()
            peers.append(s.peer)
        ids = [netd.conn_close_for(p)["conn"] for p in peers]
        self.assertEqual(len(set(ids)), 5, ids)

    def test_conn_alive_is_logged_every_log_interval_for_an_open_connection(self):
        tables = ping_config()
        tables["log"] = {"log_interval": "1s"}
        netd = self.start_netd(tables)
        with connect(netd.port) as s:
            s.sendall(b"ping\nping\n")
            LineReader(s).lines(2)
            alive = netd.wait_event("conn_alive", timeout=5, peer=s.peer)[0]
            conn = netd.wait_event("conn_open", peer=s.peer)[0]["conn"]
        self.assertEqual(alive["conn"], conn)
        self.assertEqual(alive["service"], "ping")
        self.assertEqual(alive["messages"], 2)
        self.assertEqual(alive["bytes_in"], 10)
        self.assertEqual(alive["bytes_out"], 10)
        self.assertGreaterEqual(alive["duration_us"], 900_000)
        self.assertGreaterEqual(alive["rtt_us"], 0)
        self.assertNotIn("reason", alive)
        self.assertEqual(netd.conn_close_for(s)["reason"], "eof")

    def test_short_connection_logs_no_conn_alive(self):
        tables = ping_config()
        tables["log"] = {"log_interval": "1s"}
        netd = self.start_netd(tables)
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])
        netd.wait_event("conn_close")
        self.assertEqual(netd.stop(), 0)
        self.assertEqual(netd.events("conn_alive"), [])


class LogFileTest(NetdTestCase):
    def test_log_file_is_reopened_on_sigusr1_after_rename(self):
        tables = ping_config()
        tables["log"] = {"path": "netd.log"}
        netd = self.start_netd(tables)
        path = netd.log_path()
        self.assertEqual(os.path.dirname(path), netd.tmp)
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])
        netd.wait_event("conn_close")

        rotated = path + ".1"
        os.rename(path, rotated)  # what logrotate does
        netd.forget_log(path)
        netd.send_signal(signal.SIGUSR1)
        netd.wait_event("reopen", path=path)
        with connect(netd.port) as s:
            s.sendall(b"ping\n")
            LineReader(s).line()
        new_close = netd.conn_close_for(s)  # read from the new file at `path`
        self.assertEqual(new_close["reason"], "eof")

        old = netd.log_lines(rotated)
        self.assertIn("listening", [x["event"] for x in old])
        self.assertNotIn(s.peer, [x.get("peer") for x in old])
        self.assertEqual(netd.stop(), 0)
        self.assertEqual(netd.log_lines(path)[-1]["event"], "stop")

    def test_relative_log_path_resolves_against_the_config_directory(self):
        tables = ping_config()
        tables["log"] = {"path": "logs/netd.log"}
        netd = Netd(self, tables)
        os.makedirs(os.path.join(netd.tmp, "logs"))
        netd.start()
        self.assertTrue(os.path.exists(os.path.join(netd.tmp, "logs", "netd.log")))
        with open(netd.stdout_path, "rb") as f:
            self.assertEqual(f.read(), b"")  # nothing went to stdout


if __name__ == "__main__":
    unittest.main()
