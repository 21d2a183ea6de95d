"""The ping service on the wire, driven by nc and by raw sockets like the classic examples."""

import datetime
import select
import shutil
import socket
import struct
import subprocess
import threading
import time
import unittest

from netd_harness import (SCALE, LineReader, NetdTestCase, connect, deadline, exchange,
                          has_ipv6_loopback, parse_rfc3339_us, ping_config, read_until_closed,
                          split_addr)


def assert_time_near_now(test, text, slack_s=60):
    t = parse_rfc3339_us(text)
    now = datetime.datetime.now(datetime.timezone.utc)
    test.assertLess(abs((now - t).total_seconds()), slack_s, f"server time {text} is not now")


class NcTest(NetdTestCase):
    def setUp(self):
        super().setUp()
        if shutil.which("nc") is None:
            self.skipTest("nc (netcat-openbsd) is not installed")

    def test_echo_ping_piped_to_nc_q1_prints_pong(self):
        netd = self.start_netd()
        out = subprocess.run(f"echo ping | nc -q1 127.0.0.1 {netd.port}", shell=True,
                             capture_output=True, timeout=10 * SCALE)
        self.assertEqual(out.stdout, b"pong\n")
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_echo_ping_piped_to_plain_nc_prints_pong(self):
        # SPEC's exact line: `echo ping | nc 127.0.0.1 7000`. Plain nc keeps the connection open
        # after stdin ends, so read its first line with a deadline and then stop it.
        netd = self.start_netd()
        nc = subprocess.Popen(f"echo ping | exec nc 127.0.0.1 {netd.port}", shell=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (nc.kill(), nc.wait(), nc.stdout.close(), nc.stderr.close()))
        ready, _, _ = select.select([nc.stdout], [], [], 5 * SCALE)
        self.assertTrue(ready, "nc printed nothing within 5s")
        self.assertEqual(nc.stdout.readline(), b"pong\n")

    def test_printf_ping_without_newline_to_nc_N_prints_pong(self):
        # The unterminated rest before EOF is one last message.
        netd = self.start_netd()
        out = subprocess.run(f"printf ping | nc -N 127.0.0.1 {netd.port}", shell=True,
                             capture_output=True, timeout=10 * SCALE)
        self.assertEqual(out.stdout, b"pong\n")


class ClassicClientTest(NetdTestCase):
    """Clients like the classic Python socket examples: one bare message per send(), no newline."""

    def test_bare_ping_without_newline_gets_pong(self):
        netd = self.start_netd()
        with connect(netd.port) as s:
            s.sendall(b"ping")
            self.assertEqual(s.recv(1024), b"pong\n")

    def test_bare_get_time_without_newline_gets_rfc3339_utc_microseconds(self):
        netd = self.start_netd()
        with connect(netd.port) as s:
            s.sendall(b"get_time")
            reply = s.recv(1024)
        self.assertTrue(reply.endswith(b"\n"), reply)
        assert_time_near_now(self, reply[:-1].decode())

    def test_classic_client_sends_several_bare_messages_on_one_connection(self):
        netd = self.start_netd()
        with connect(netd.port) as s:
            for _ in range(3):
                s.sendall(b"ping")
                self.assertEqual(s.recv(1024), b"pong\n")
            s.sendall(b"get_time")
            assert_time_near_now(self, s.recv(1024).decode().rstrip("\n"))
            s.sendall(b"hello")
            self.assertEqual(s.recv(1024), b"Unknown command\n")
        close = netd.conn_close_for(s)
        self.assertEqual(close["messages"], 5)

    def test_framing_line_does_not_answer_bare_messages_until_newline(self):
        netd = self.start_netd(ping_config(framing="line"))
        with connect(netd.port) as s:
            s.sendall(b"ping")
            s.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                s.recv(1024)  # no reply: the line is not complete yet
            s.settimeout(5 * SCALE)
            s.sendall(b"\n")
            self.assertEqual(LineReader(s).line(), b"pong")


class LineProtocolTest(NetdTestCase):
    def test_ping_get_time_stamp_and_unknown_commands(self):
        netd = self.start_netd()
        with connect(netd.port) as s:
            r = LineReader(s)
            s.sendall(b"ping\n")
            self.assertEqual(r.line(), b"pong")
            s.sendall(b"get_time\n")
            assert_time_near_now(self, r.line().decode())
            before_us = time.time_ns() // 1000
            s.sendall(b"stamp tok-42\n")
            word, token, t2, t3 = r.line().decode().split(" ")
            after_us = time.time_ns() // 1000
            self.assertEqual((word, token), ("stamp", "tok-42"))
            self.assertLessEqual(int(t2), int(t3))
            # Same host, same clock: the server's stamps fall inside our send/receive window
            # (with a little slack for clock granularity).
            self.assertGreaterEqual(int(t2), before_us - 1000)
            self.assertLessEqual(int(t3), after_us + 1000)
            for bad in (b"PING", b"pingx", b"stamp", b"stamp ", b"", b"hello world"):
                s.sendall(bad + b"\n")
                self.assertEqual(r.line(), b"Unknown command", bad)

    def test_surrounding_whitespace_is_ignored(self):
        netd = self.start_netd()
        self.assertEqual(exchange(netd.port, b"  ping \t\n"), [b"pong"])
        reply = exchange(netd.port, b"stamp   abc  \n")[0].split(b" ")
        self.assertEqual(reply[:2], [b"stamp", b"abc"])

    def test_pipelined_lines_are_answered_in_order_in_one_go(self):
        netd = self.start_netd()
        requests = [b"ping", b"stamp 1", b"nope", b"get_time", b"stamp 2", b"ping"] * 20
        with connect(netd.port) as s:
            s.sendall(b"".join(r + b"\n" for r in requests))
            replies = LineReader(s).lines(len(requests))
        for req, rep in zip(requests, replies):
            if req == b"ping":
                self.assertEqual(rep, b"pong")
            elif req.startswith(b"stamp"):
                self.assertTrue(rep.startswith(req + b" "), (req, rep))
            elif req == b"nope":
                self.assertEqual(rep, b"Unknown command")
            else:
                parse_rfc3339_us(rep.decode())
        close = netd.conn_close_for(s)
        self.assertEqual(close["messages"], len(requests))

    def test_crlf_line_endings_are_accepted_and_replies_end_in_lf(self):
        netd = self.start_netd()
        with connect(netd.port) as s:
            s.sendall(b"ping\r\nstamp x\r\n")
            data = b""
            end = deadline(5)
            while data.count(b"\n") < 2 and time.monotonic() < end:
                data += s.recv(1024)
        first, second, _ = data.split(b"\n")
        self.assertEqual(first, b"pong")
        self.assertNotIn(b"\r", data)
        self.assertTrue(second.startswith(b"stamp x "), second)

    def test_line_split_across_segments_is_one_message_once_line_framed(self):
        # Under framing = "auto" a bare first segment is a classic client's message (SPEC), so
        # the connection sends a whole line first; from then on it is line-framed for good.
        netd = self.start_netd()
        with connect(netd.port) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            r = LineReader(s)
            s.sendall(b"ping\n")
            self.assertEqual(r.line(), b"pong")
            self.send_in_pieces(s, [b"pi", b"ng\nget_", b"time\n"])
            self.assertEqual(r.line(), b"pong")
            parse_rfc3339_us(r.line().decode())

    def test_framing_line_joins_a_first_line_split_across_segments(self):
        netd = self.start_netd(ping_config(framing="line"))
        with connect(netd.port) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.send_in_pieces(s, [b"pi", b"ng", b"\n"])
            self.assertEqual(LineReader(s).line(), b"pong")

    @staticmethod
    def send_in_pieces(s, pieces):
        for piece in pieces:
            s.sendall(piece)
            time.sleep(0.01)  # not for correctness: just to make separate segments likely

    def test_line_longer_than_max_line_gets_err_and_close(self):
        netd = self.start_netd(ping_config(max_line=16))
        with connect(netd.port) as s:
            s.sendall(b"x" * 100 + b"\n")
            # The ERR line must arrive; closing with unread input may end in a reset after it.
            data, _ = read_until_closed(s)
        self.assertEqual(data, b"ERR line too long\n")
        self.assertEqual(netd.conn_close_for(s)["reason"], "line too long")

    def test_line_of_exactly_max_line_bytes_is_accepted(self):
        netd = self.start_netd(ping_config(max_line=16))
        line = b"stamp " + b"t" * 10  # 16 bytes
        with connect(netd.port) as s:
            s.sendall(line + b"\r\n")  # the \r does not count
            self.assertTrue(LineReader(s).line().startswith(line + b" "))
            s.sendall(b"ping\n")
            self.assertEqual(LineReader(s).line(), b"pong")

    def test_unterminated_input_past_max_line_gets_err(self):
        netd = self.start_netd(ping_config(max_line=16))
        with connect(netd.port) as s:
            s.sendall(b"ping\n")  # line-framed from here on
            r = LineReader(s)
            self.assertEqual(r.line(), b"pong")
            s.sendall(b"y" * 64)  # no newline ever
            data, _ = read_until_closed(s)
        self.assertEqual(r.buf + data, b"ERR line too long\n")

    def test_idle_connection_is_closed_after_idle_timeout(self):
        netd = self.start_netd(ping_config(idle_timeout="300ms"))
        with connect(netd.port) as s:
            sent_at = time.monotonic()  # netd's idle clock starts after this
            s.sendall(b"ping\n")
            self.assertEqual(LineReader(s).line(), b"pong")
            data, how = read_until_closed(s, timeout=5)
            idle_for = time.monotonic() - sent_at
        self.assertEqual((data, how), (b"", "eof"))
        self.assertGreaterEqual(idle_for, 0.29)  # not before the timeout (1ms timer slack)
        close = netd.conn_close_for(s)
        self.assertEqual(close["reason"], "idle timeout")
        self.assertEqual(close["messages"], 1)

    def test_activity_keeps_a_connection_past_idle_timeout(self):
        netd = self.start_netd(ping_config(idle_timeout="600ms"))
        with connect(netd.port) as s:
            r = LineReader(s)
            start = time.monotonic()
            while time.monotonic() - start < 1.5:  # 2.5 idle timeouts in all
                s.sendall(b"ping\n")
                self.assertEqual(r.line(), b"pong")
                time.sleep(0.1)
        self.assertEqual(netd.conn_close_for(s)["reason"], "eof")


class LoadTest(NetdTestCase):
    def test_many_concurrent_connections_are_all_served(self):
        netd = self.start_netd()
        socks = []
        try:
            for _ in range(200):
                socks.append(connect(netd.port))
            for i, s in enumerate(socks):
                s.sendall(b"stamp c%d\n" % i)
            for i, s in enumerate(socks):
                self.assertTrue(LineReader(s).line().startswith(b"stamp c%d " % i))
        finally:
            for s in socks:
                s.close()
        netd.wait_event("conn_close", count=200, timeout=10)

    def test_a_long_pipeline_is_answered_completely_and_in_order(self):
        netd = self.start_netd()
        count = 20000
        with connect(netd.port) as s:
            sender = threading.Thread(
                target=lambda: s.sendall(b"".join(b"stamp %d\n" % i for i in range(count))))
            sender.start()
            r = LineReader(s)
            for i in range(count):
                line = r.line()
                if not line.startswith(b"stamp %d " % i):
                    self.fail(f"reply {i} is {line!r}")
            sender.join(10 * SCALE)
        self.assertEqual(netd.conn_close_for(s)["messages"], count)

    def test_peer_that_never_reads_is_cut_off_by_the_write_timeout(self):
        netd = self.start_netd(ping_config(idle_timeout="500ms"))
        with connect(netd.port) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(0.05)
            chunk = b"ping\n" * 20000
            end = deadline(10)
            # Keep sending and never read: netd's replies back up until its write blocks.
            while time.monotonic() < end:
                try:
                    s.send(chunk)
                except socket.timeout:
                    if netd.events("conn_close"):
                        break
                except (BrokenPipeError, ConnectionResetError):
                    break
        close = netd.wait_event("conn_close")[0]
        self.assertEqual(close["reason"], "write timeout")

    def test_client_reset_is_logged_as_reset(self):
        netd = self.start_netd()
        with connect(netd.port) as s:
            s.sendall(b"ping\n")
            LineReader(s).line()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.assertEqual(netd.conn_close_for(s)["reason"], "reset")


class ListenAddressTest(NetdTestCase):
    def test_ipv6_loopback_listener_answers(self):
        if not has_ipv6_loopback():
            self.skipTest("this host has no ::1")
        netd = self.start_netd(ping_config(listen=["[::1]:0"]))
        host, port = split_addr(netd.addrs["ping"][0])
        self.assertEqual(host, "::1")
        self.assertRegex(netd.addrs["ping"][0], r"^\[::1\]:\d+$")
        with connect(port, "::1") as s:
            s.sendall(b"ping\n")
            self.assertEqual(LineReader(s).line(), b"pong")
        self.assertRegex(netd.conn_close_for(s)["peer"], r"^\[::1\]:\d+$")

    def test_port_only_listener_takes_ipv4_and_ipv6(self):
        # Every address, but only loopback peers may use it while the test runs.
        netd = self.start_netd(ping_config(listen=[":0"], allow=["127.0.0.0/8", "::1/128"]))
        port = netd.port
        self.assertEqual(exchange(port, b"ping\n"), [b"pong"])
        # An IPv4 peer on the dual-stack socket is logged as IPv4, not ::ffff:127.0.0.1.
        line = netd.wait_event("conn_close")[0]
        self.assertRegex(line["peer"], r"^127\.0\.0\.1:\d+$")
        if has_ipv6_loopback():
            self.assertEqual(exchange(port, b"ping\n", host="::1"), [b"pong"])


if __name__ == "__main__":
    unittest.main()
