"""Socket activation: netd takes listening sockets passed the way systemd passes them
(descriptors from 3 on, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID) instead of binding its own."""

import socket

from netd_harness import (LineReader, NetdTestCase, Netd, connect, exchange, ping_config,
                          split_addr)


def listening_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


class ActivationTest(NetdTestCase):
    def sockets(self, n):
        socks = [listening_socket() for _ in range(n)]
        for s in socks:
            self.addCleanup(s.close)
        return socks

    def test_inherited_socket_matched_by_address_is_used_not_rebound(self):
        (ping_sock,) = self.sockets(1)
        port = ping_sock.getsockname()[1]
        # The test keeps its copy open: a bind of its own would fail with "in use", so a
        # working netd proves it took the inherited socket.
        netd = Netd(self, ping_config(listen=[f"127.0.0.1:{port}"]))
        netd.start(inherit=[(ping_sock, "whatever")])
        (line,) = netd.events("listening")
        self.assertEqual(line["addr"], f"127.0.0.1:{port}")
        self.assertIs(line["inherited"], True)
        self.assertEqual(exchange(port, b"ping\n"), [b"pong"])

    def test_connection_queued_before_start_is_served(self):
        # What socket activation is for: the service manager owns the port, so a client that
        # connects while netd is (re)starting waits in the backlog instead of being refused.
        (ping_sock,) = self.sockets(1)
        port = ping_sock.getsockname()[1]
        early = connect(port)
        self.addCleanup(early.close)
        early.sendall(b"ping\n")
        netd = Netd(self, ping_config(listen=[f"127.0.0.1:{port}"]))
        netd.start(inherit=[(ping_sock, "ping")])
        self.assertEqual(LineReader(early).line(), b"pong")

    def test_socket_matched_by_name_serves_that_service(self):
        ping_sock, ack_sock = self.sockets(2)
        ack_port = ack_sock.getsockname()[1]
        tables = ping_config(listen=["127.0.0.1:0"])
        tables["ack"] = {"listen": ["127.0.0.1:0"]}
        netd = Netd(self, tables)
        netd.start(inherit=[(ping_sock, "ping"), (ack_sock, "ack")])
        self.assertEqual(split_addr(netd.addrs["ack"][0])[1], ack_port)
        self.assertEqual(exchange(ack_port, b"hello\n"), [b"ACK 1 5"])
        ping_port = ping_sock.getsockname()[1]
        self.assertEqual(split_addr(netd.addrs["ping"][0])[1], ping_port)
        self.assertEqual(exchange(ping_port, b"ping\n"), [b"pong"])

    def test_unclaimed_socket_is_reported(self):
        ping_sock, stray = self.sockets(2)
        netd = Netd(self, ping_config(listen=[f"127.0.0.1:{ping_sock.getsockname()[1]}"]))
        netd.start(inherit=[(ping_sock, "ping"), (stray, "nobody")])
        (err,) = netd.wait_event("error", what="socket activation")
        self.assertIn("'nobody'", err["why"])
        self.assertIn("matches no listen address", err["why"])

    def test_sockets_for_another_pid_are_ignored(self):
        # LISTEN_PID names someone else: the descriptors are not netd's to take, so it binds
        # the address itself, and fails because the test still listens there.
        (ping_sock,) = self.sockets(1)
        port = ping_sock.getsockname()[1]
        netd = Netd(self, ping_config(listen=[f"127.0.0.1:{port}"]))
        netd.start(wait=False, inherit=[(ping_sock, "ping")], listen_pid="other")
        self.assertEqual(netd.wait_exit(), 1)
        self.assertIn("Address already in use", netd.stderr())
