"""Signals and the service manager: SIGHUP reload, SIGTERM/SIGINT graceful stop, and the
systemd notifications sent to NOTIFY_SOCKET."""

import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

from netd_harness import (SCALE, LineReader, NetdTestCase, connect, deadline, exchange,
                          ping_config, poll_until, read_until_closed, split_addr)


class ClientLoop(threading.Thread):
    """Connects, pings and disconnects in a loop until stopped, counting every outcome."""

    def __init__(self, port, host="127.0.0.1"):
        super().__init__(daemon=True)
        self.port, self.host = port, host
        self.done = 0
        self.refused = 0
        self.failures = []
        self.stop_flag = threading.Event()

    def run(self):
        end = deadline(30)  # a bound even if the test forgets to stop us
        while not self.stop_flag.is_set() and time.monotonic() < end:
            try:
                with connect(self.port, self.host, timeout=5) as s:
                    s.sendall(b"ping\n")
                    reply = LineReader(s).line(timeout=5)
                if reply == b"pong":
                    self.done += 1
                else:
                    self.failures.append(f"reply {reply!r}")
            except ConnectionRefusedError:
                self.refused += 1
            except (OSError, AssertionError) as e:
                self.failures.append(repr(e))

    def wait_for(self, count, timeout=10):
        target = self.done + count
        poll_until(lambda: self.done >= target or not self.is_alive(), timeout,
                   f"{count} more client round trips")

    def finish(self):
        self.stop_flag.set()
        self.join(10 * SCALE)


class ReloadTest(NetdTestCase):
    def test_sighup_reloads_without_refusing_any_connection(self):
        netd = self.start_netd()
        client = ClientLoop(netd.port)
        client.start()
        self.addCleanup(client.finish)
        client.wait_for(20)
        for i in range(5):
            # A real change each time (not the listen address), so every reload does work.
            netd.rewrite_config(ping_config(idle_timeout=f"{30 + i}s", max_line=1024 + i))
            line = netd.reload()
            self.assertIn("config", line)
            client.wait_for(10)
        client.finish()
        self.assertEqual(client.refused, 0, "connections refused during reload")
        self.assertEqual(client.failures, [])
        self.assertGreaterEqual(client.done, 70)
        # An unchanged address keeps its socket: no second `listening` line for it.
        self.assertEqual(len(netd.events("listening")), 1)
        self.assertEqual(len(netd.events("reload", ok=True)), 5)

    def test_bad_config_on_reload_is_logged_and_the_old_one_keeps_running(self):
        netd = self.start_netd(ping_config(max_line=64))
        netd.rewrite_config(text='[ping]\nlisten = ["127.0.0.1:0"]\nenable = true\n')
        line = netd.reload(expect_ok=False)
        self.assertEqual(line["level"], "error")
        self.assertEqual(len(line["errors"]), 1)
        self.assertIn("did you mean 'enabled'?", line["errors"][0])
        self.assertIn(":3:1:", line["errors"][0])
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])
        # Still the old settings: max_line 64.
        with connect(netd.port) as s:
            s.sendall(b"x" * 100 + b"\n")
            self.assertEqual(read_until_closed(s)[0], b"ERR line too long\n")
        # Fixed file: the next reload takes it.
        netd.rewrite_config(ping_config())
        netd.reload()
        self.assertEqual(exchange(netd.port, b"stamp " + b"y" * 90 + b"\n")[0][:6], b"stamp ")

    def test_reload_whose_new_address_is_taken_keeps_the_old_config(self):
        netd = self.start_netd()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            netd.rewrite_config(ping_config(listen=["127.0.0.1:0", f"127.0.0.1:{port}"]))
            line = netd.reload(expect_ok=False)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", line["why"])
        self.assertIn("Address already in use", line["why"])
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])

    def test_reload_adding_a_listen_address_starts_it_and_logs_listening(self):
        netd = self.start_netd()
        old_port = netd.port
        netd.rewrite_config(ping_config(listen=["127.0.0.1:0", "127.0.0.2:0"]))
        netd.reload()
        added = netd.wait_event("listening", count=2)[1]
        self.assertEqual(added["service"], "ping")
        host, port = split_addr(added["addr"])
        self.assertEqual(host, "127.0.0.2")
        self.assertNotEqual(port, 0)
        self.assertEqual(exchange(port, b"ping\n", host="127.0.0.2"), [b"pong"])
        self.assertEqual(exchange(old_port, b"ping\n"), [b"pong"])
        self.assertEqual(len(netd.events("listening")), 2)  # the old one was not re-bound

        # And taking the first address away closes it while the second one keeps serving.
        netd.rewrite_config(ping_config(listen=["127.0.0.2:0"]))
        netd.reload()

        def old_closed():
            try:
                exchange(old_port, b"ping\n", timeout=1)
                return False
            except (ConnectionRefusedError, ConnectionResetError):
                return True
            except (AssertionError, OSError):
                return False  # accepted just before the close; try again
        poll_until(old_closed, 5, f"127.0.0.1:{old_port} to stop listening")
        self.assertEqual(exchange(port, b"ping\n", host="127.0.0.2"), [b"pong"])

    def test_reload_applies_new_settings_to_new_connections(self):
        netd = self.start_netd(ping_config(max_line=1024))
        self.assertEqual(exchange(netd.port, b"stamp " + b"z" * 100 + b"\n")[0][:6], b"stamp ")
        netd.rewrite_config(ping_config(max_line=32))
        netd.reload()
        with connect(netd.port) as s:
            s.sendall(b"stamp " + b"z" * 100 + b"\n")
            self.assertEqual(read_until_closed(s)[0], b"ERR line too long\n")


class StopTest(NetdTestCase):
    def test_sigterm_with_an_idle_connection_exits_0_quickly(self):
        tables = ping_config()
        tables["daemon"]["shutdown_grace"] = "30s"
        netd = self.start_netd(tables)
        with connect(netd.port) as s:
            s.sendall(b"ping\n")
            self.assertEqual(LineReader(s).line(), b"pong")
            netd.wait_event("conn_open")
            started = time.monotonic()
            status = netd.stop(timeout=10)
            took = time.monotonic() - started
            data, how = read_until_closed(s)
        self.assertEqual(status, 0)
        self.assertLess(took, 5, "an idle connection held up the stop")
        self.assertEqual((data, how), (b"", "eof"))
        begin = netd.events("stop", phase="begin")
        self.assertEqual(len(begin), 1)
        self.assertEqual(begin[0]["signal"], "SIGTERM")
        self.assertEqual(begin[0]["open_connections"], 1)
        self.assertEqual(netd.conn_close_for(s)["reason"], "shutdown")
        lines = netd.log_lines()
        self.assertEqual(lines[-1]["event"], "stop")
        self.assertEqual(lines[-1]["phase"], "done")
        self.assertEqual(lines[-1]["status"], 0)

    def test_sigint_stops_gracefully_too(self):
        netd = self.start_netd()
        self.assertEqual(netd.stop(signal.SIGINT), 0)
        self.assertEqual(netd.events("stop", phase="begin")[0]["signal"], "SIGINT")

    def test_sigterm_mid_exchange_lets_the_exchange_finish(self):
        tables = ping_config()
        tables["daemon"]["shutdown_grace"] = "30s"
        netd = self.start_netd(tables)
        with connect(netd.port) as s:
            # A request under way: its line is not complete yet. Sending it in one segment
            # with a whole line means that once the pong is here, netd has read it too.
            s.sendall(b"ping\nstamp half")
            r = LineReader(s)
            self.assertEqual(r.line(), b"pong")
            netd.send_signal(signal.SIGTERM)
            netd.wait_event("stop", phase="begin")
            with self.assertRaises(socket.timeout):  # listeners close at once ...
                s.settimeout(0.2)
                s.recv(1)
            s.settimeout(5 * SCALE)
            self.assertTrue(netd.alive())  # ... but netd waits for this request
            s.sendall(b"way\n")
            self.assertTrue(r.line().startswith(b"stamp halfway "))
            data, how = read_until_closed(s)  # then it ends the connection
        self.assertEqual((r.buf + data, how), (b"", "eof"))
        self.assertEqual(netd.wait_exit(), 0)
        close = netd.conn_close_for(s)
        self.assertEqual(close["messages"], 2)
        self.assertEqual(close["reason"], "shutdown")

    # A request whose bytes reached netd's socket before SIGTERM, but that netd has not read
    # yet, is cut (with a reset, as input is left unread) instead of finished: about one such
    # request in five. Two places treat "nothing read yet" as idle: session::request_stop()
    # (idle_ while bytes wait in the socket) and line_service::serve()'s stopping check
    # (have == 0 right after a write, before the next read). Both need socket.available() == 0.
    def test_sigterm_finishes_a_request_whose_bytes_arrived_just_before(self):
        tables = ping_config()
        tables["daemon"]["shutdown_grace"] = "30s"
        for attempt in range(40):  # a race: repeat it so that it shows
            netd = self.start_netd(tables)
            with connect(netd.port) as s:
                r = LineReader(s)
                s.sendall(b"ping\n")
                self.assertEqual(r.line(), b"pong")
                s.sendall(b"stamp late")  # has reached netd's socket when the signal is sent
                netd.send_signal(signal.SIGTERM)
                netd.wait_event("stop", phase="begin")
                try:
                    s.sendall(b"\n")
                    reply = r.line()
                except (ConnectionResetError, BrokenPipeError, AssertionError) as e:
                    self.fail(f"attempt {attempt}: request cut off by the stop: {e!r}")
                self.assertTrue(reply.startswith(b"stamp late "), reply)
            self.assertEqual(netd.wait_exit(), 0)

    # daemon/app.cpp: a SIGTERM that lands after the last worker ended finds the default action
    # restored (~app destroyed the signal_set), so netd dies of it: status 143, not 0 (about 2
    # in 5 attempts here). A burst of them can also re-arm wait_signal() after worker_done()
    # cancelled it, and then control_.run() never returns: netd hangs with no workers left.
    # Fix: no wait_signal() once running_ == 0, and SIG_IGN for the signals once the set is gone.
    def test_second_sigterm_at_the_end_of_a_stop_still_exits_0(self):
        rng = random.Random(1)
        for attempt in range(20):
            netd = self.start_netd()
            netd.send_signal(signal.SIGTERM)
            # A second SIGTERM somewhere in the next 2ms: an impatient operator, a supervisor.
            until = time.monotonic() + rng.uniform(0, 0.002)
            while time.monotonic() < until:
                pass
            if netd.proc.poll() is None:
                netd.send_signal(signal.SIGTERM)
            self.assertEqual(netd.wait_exit(timeout=5), 0, f"attempt {attempt}")

    def test_listeners_close_at_the_start_of_a_stop(self):
        tables = ping_config()
        tables["daemon"]["shutdown_grace"] = "30s"
        netd = self.start_netd(tables)
        port = netd.port
        with connect(port) as s:
            s.sendall(b"ping\npi")  # an unfinished request keeps netd in its grace period
            self.assertEqual(LineReader(s).line(), b"pong")
            netd.send_signal(signal.SIGTERM)
            netd.wait_event("stop", phase="begin")

            def refused():
                try:
                    connect(port, timeout=1).close()
                    return False
                except ConnectionRefusedError:
                    return True
            poll_until(refused, 5, "the listener to close")
            s.sendall(b"ng\n")
            self.assertEqual(LineReader(s).line(), b"pong")
        self.assertEqual(netd.wait_exit(), 0)

    def test_stuck_request_is_cut_when_shutdown_grace_expires(self):
        tables = ping_config()
        tables["daemon"]["shutdown_grace"] = "300ms"
        netd = self.start_netd(tables)
        with connect(netd.port) as s:
            s.sendall(b"ping\nnever finished")
            self.assertEqual(LineReader(s).line(), b"pong")
            started = time.monotonic()
            status = netd.stop(timeout=10)
            took = time.monotonic() - started
            read_until_closed(s)
        self.assertEqual(status, 0)
        self.assertGreaterEqual(took, 0.25)
        self.assertEqual(len(netd.events("stop", phase="grace expired")), 1)
        self.assertEqual(netd.conn_close_for(s)["reason"], "shutdown grace expired")


    def test_second_sigterm_forces_the_stop(self):
        tables = ping_config()
        tables["daemon"]["shutdown_grace"] = "30s"
        netd = self.start_netd(tables)
        with connect(netd.port) as s:
            s.sendall(b"ping\nunfinished")
            self.assertEqual(LineReader(s).line(), b"pong")
            netd.send_signal(signal.SIGTERM)
            netd.wait_event("stop", phase="begin")
            self.assertTrue(netd.alive())
            started = time.monotonic()
            self.assertEqual(netd.stop(timeout=5), 0)
            self.assertLess(time.monotonic() - started, 5)
            read_until_closed(s)
        self.assertEqual(len(netd.events("stop", phase="forced")), 1)


class ReloadLogTest(NetdTestCase):
    def test_reload_moves_the_log_to_a_new_path_and_level(self):
        notify = NotifySocket(self)
        netd = self.start_netd(env={"NOTIFY_SOCKET": notify.path})
        self.assertEqual(notify.fields(), {"READY": "1"})
        tables = ping_config()
        tables["log"] = {"path": "moved.log", "level": "warn"}
        tables["daemon"]["max_connections"] = 1
        netd.rewrite_config(tables)
        # At level warn the `reload ok` line is not logged; READY=1 says the reload is done.
        netd.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING", notify.fields())
        self.assertEqual(notify.fields(), {"READY": "1"})
        self.assertTrue(os.path.exists(netd.log_path()))
        # Connections (info) are not logged any more, a rejection (warn) is, in the new file.
        with connect(netd.port) as held:
            held.sendall(b"ping\n")
            self.assertEqual(LineReader(held).line(), b"pong")
            with connect(netd.port) as extra:
                self.assertEqual(read_until_closed(extra)[0], b"ERR too many connections\n")
            netd.wait_event("conn_reject", reason="too many connections")
        self.assertEqual(netd.events("conn_open"), [])
        self.assertEqual(netd.events("conn_close"), [])
        self.assertEqual(netd.events("conn_open", path=netd.stdout_path), [])


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, test):
        self.dir = tempfile.mkdtemp(prefix="netd-st-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        test.addCleanup(self.close)

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def next(self, timeout=5):
        self.sock.settimeout(timeout * SCALE)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError(f"no notification within {timeout * SCALE:.1f}s") from None

    def fields(self, timeout=5):
        msg = self.next(timeout)
        return dict(line.split("=", 1) for line in msg.split("\n") if line)


class NotifyTest(NetdTestCase):
    def test_ready_reloading_ready_stopping_are_sent_to_notify_socket(self):
        notify = NotifySocket(self)
        netd = self.start_netd(env={"NOTIFY_SOCKET": notify.path}, wait=False)
        self.assertEqual(notify.fields(), {"READY": "1"})
        netd.wait_listening()
        # READY means every listener is bound: the service answers now.
        self.assertEqual(exchange(netd.port, b"ping\n"), [b"pong"])

        before = time.monotonic()
        netd.send_signal(signal.SIGHUP)
        reloading = notify.fields()
        after = time.monotonic()
        self.assertEqual(reloading["RELOADING"], "1")
        # MONOTONIC_USEC is CLOCK_MONOTONIC, as systemd wants; Python's monotonic() is the same.
        usec = int(reloading["MONOTONIC_USEC"])
        self.assertGreaterEqual(usec, int(before * 1e6) - 1000)
        self.assertLessEqual(usec, int(after * 1e6) + 1000)
        self.assertEqual(notify.fields(), {"READY": "1"})
        netd.wait_event("reload", ok=True)

        # A failed reload is announced and ended the same way.
        netd.rewrite_config(text="[ping]\nlisten = 7\n")
        netd.send_signal(signal.SIGHUP)
        self.assertEqual(notify.fields()["RELOADING"], "1")
        self.assertEqual(notify.fields(), {"READY": "1"})
        netd.wait_event("reload", ok=False)

        netd.send_signal(signal.SIGTERM)
        self.assertEqual(notify.fields(), {"STOPPING": "1"})
        self.assertEqual(netd.wait_exit(), 0)

    def test_abstract_notify_socket_gets_ready(self):
        name = f"netd-st-{os.getpid()}-{time.monotonic_ns()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("\0" + name)
            sock.settimeout(5 * SCALE)
            netd = self.start_netd(env={"NOTIFY_SOCKET": "@" + name}, wait=False)
            self.assertEqual(sock.recv(4096), b"READY=1")
            netd.wait_listening()
            self.assertEqual(netd.stop(), 0)
            self.assertEqual(sock.recv(4096), b"STOPPING=1")

    def test_no_notify_socket_means_no_notifications_and_no_errors(self):
        netd = self.start_netd(env={"NOTIFY_SOCKET": ""})
        self.assertEqual(netd.stop(), 0)
        self.assertEqual(netd.stderr(), "")


if __name__ == "__main__":
    unittest.main()
