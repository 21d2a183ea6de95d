#!/usr/bin/env python3
"""Soak test: mixed load on all four services of one netd for a long time, with slow clients.

    tests/bench/soak.py [--minutes 10] [--interval 10] [--keep] [--json FILE]

What it does (10 minutes by default; --minutes 1 for a quick check):
  1. installs netd's build dependencies with apt-get if they are missing (as root on Debian 12)
     and builds netd (ninja target daemon/netd in $NETD_BUILD_DIR, default build/, set up with
     meson if needed); or takes $NETD_BIN;
  2. starts netd (threads = 2, every service on a free loopback port, its log to a file, readings
     with durability = "fsync") in a temporary directory under $BENCH_TMPDIR (default: the build
     dir, a real disk);
  3. runs, all at once, for --minutes: ping clients (ping, stamp, get_time, pipelined, new
     connection every few hundred messages), an ack client (random lengths, replies checked),
     sensor clients (JSON, InfluxDB and key=value readings, each with a unique sensor+seq; every
     ack recorded), HTTP clients (keep-alive GETs, HEADs, byte ranges checked byte for byte,
     If-None-Match 304s, 404s, a 16 MiB download now and then), and slow clients: slowloris heads
     (a byte every 0.5 s, cut at header_timeout = 2s with a 408), dribbled lines that then pause
     (cut at idle_timeout), downloads that are never read (cut at send_timeout) and downloads
     reset with SO_LINGER 0;
  4. samples netd's RSS (VmRSS), open descriptors (/proc/PID/fd) and CPU time every --interval
     seconds;
  5. stops the clients, waits for netd's descriptors to return to where they were before the
     load, stops netd with SIGTERM and checks:
       - netd stayed up and exited 0, and wrote nothing to stderr;
       - neither RSS nor descriptors grew: the mean of the last third of the samples is within
         10% + 4 MiB (RSS) and + 8 (descriptors) of the mean of the first third, and idle
         descriptors after the load equal those before it (the sample at t=0, before the
         clients connected, is left out of the thirds);
       - every log line is JSON and none is an error (level "error" or event "error");
       - the clients saw no wrong answer and no unexpected error (a cut or a late answer
         during or just after a stall of the soak process itself, which the machine's other
         load or a paused VM causes, is reported but not counted: the client was idle then);
       - every acknowledged reading is in the data file, which is valid JSON lines;
       - the slow clients were cut as configured (408s, idle/send timeouts in conn_close);
  6. prints a summary and writes everything as JSON to --json (default
     $BENCH_TMPDIR/soak.json); stops netd (also when interrupted) and removes the temporary
     directory unless --keep or a check failed.

Exit status: 0 passed; 1 a check failed; 2 usage or setup error.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_PACKAGES = ["g++", "meson", "ninja-build", "pkg-config", "libasio-dev",
                  "libtomlplusplus-dev", "libfmt-dev", "nlohmann-json3-dev", "doctest-dev"]
HEADER_TIMEOUT, LINE_IDLE, SEND_TIMEOUT = 2, 5, 2  # seconds, as in the config below
STALL = 1.5  # seconds without CPU for this process that count as a stall of the machine
STALL_AFTERMATH = LINE_IDLE + 10  # client errors up to this long after one are put down to it
SMALL = b"soak: a small file\n"
MID_SIZE = 1 << 20
MID = bytes(i % 251 for i in range(MID_SIZE))
BIG_SIZE = 16 << 20


def die(msg):
    print(f"soak.py: {msg}", file=sys.stderr)
    sys.exit(2)


def say(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Setup: packages, build, netd

def ensure_netd():
    if os.environ.get("NETD_BIN"):
        netd = os.path.realpath(os.environ["NETD_BIN"])
        if not os.access(netd, os.X_OK):
            die(f"NETD_BIN '{netd}' is not an executable")
        return netd
    missing = [p for p in BUILD_PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout.find("install ok installed") < 0]
    if missing:
        if os.geteuid() != 0:
            die(f"missing packages (run as root, or install them): {' '.join(missing)}")
        say(f"== installing: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       env=env, stdout=subprocess.DEVNULL, check=True)
    build = os.environ.get("NETD_BUILD_DIR") or os.path.join(REPO, "build")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        say(f"== meson setup {build}")
        subprocess.run(["meson", "setup", build, REPO, "-Dtests=false"], check=True,
                       stdout=subprocess.DEVNULL)
    say(f"== building netd in {build}")
    # Only the daemon target, so half-edited code elsewhere does not stop the soak.
    if subprocess.run(["ninja", "-C", build, "daemon/netd"], stdout=subprocess.DEVNULL).returncode:
        die("netd did not build; try NETD_BUILD_DIR=/tmp/soak-build (its own meson setup)")
    return os.path.join(build, "daemon", "netd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, netd, work):
        self.work = work
        self.log = os.path.join(work, "netd.log")
        self.data = os.path.join(work, "readings.jsonl")
        self.ports = {name: free_port() for name in ("ping", "ack", "sensor", "files")}
        root = os.path.join(work, "www")
        os.makedirs(root)
        with open(os.path.join(root, "small.txt"), "wb") as f:
            f.write(SMALL)
        with open(os.path.join(root, "mid.bin"), "wb") as f:
            f.write(MID)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(os.urandom(BIG_SIZE))
        p = self.ports
        self.config = os.path.join(work, "netd.toml")
        with open(self.config, "w") as f:
            f.write(f"""[daemon]
threads = 2
shutdown_grace = "10s"
[log]
level = "info"
path = "{self.log}"
[ping]
listen = ["127.0.0.1:{p['ping']}"]
idle_timeout = "{LINE_IDLE}s"
[ack]
listen = ["127.0.0.1:{p['ack']}"]
idle_timeout = "{LINE_IDLE}s"
[sensor]
listen = ["127.0.0.1:{p['sensor']}"]
idle_timeout = "{LINE_IDLE}s"
data_file = "{self.data}"
durability = "fsync"
[files]
listen = ["127.0.0.1:{p['files']}"]
root = "{root}"
header_timeout = "{HEADER_TIMEOUT}s"
idle_timeout = "5s"
send_timeout = "{SEND_TIMEOUT}s"
""")
        self.stderr_path = os.path.join(work, "netd.stderr")
        self.proc = subprocess.Popen([netd, "-c", self.config], stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(work, "netd.stdout"), "wb"),
                                     stderr=open(self.stderr_path, "wb"))
        end = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                die(f"netd exited with {self.proc.returncode}: {self.stderr()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", p["ping"]), timeout=1) as s:
                    s.sendall(b"ping\n")
                    if s.recv(16) == b"pong\n":
                        break
            except OSError:
                pass
            if time.monotonic() > end:
                die("netd did not answer a ping within 10 s")
            time.sleep(0.1)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def rss(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


# ---------------------------------------------------------------------------------------------
# The clients

class Soak:
    def __init__(self, daemon, tail):
        self.d = daemon
        self.tail = tail
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []  # (client, message, monotonic time): every unexpected thing a client saw
        self.stalls = []  # (start, end) monotonic: this process got no CPU for a while
        self.acked = set()  # (sensor, seq)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def error(self, who, what):
        with self.lock:
            self.errors.append((who, str(what)[:300], time.monotonic()))
        self.count("client_errors")

    def heartbeat(self):
        """Notes every time this process was not scheduled for STALL seconds or more (a busy
        or paused machine). The clients stall too then, and a timeout that fires meanwhile is
        netd doing its job: a client that did not send for idle_timeout *is* idle."""
        last = time.monotonic()
        while not self.stop.wait(0.1):
            now = time.monotonic()
            if now - last >= STALL:
                with self.lock:
                    self.stalls.append((last, now))
            last = now

    # What a stall can cause: a connection cut by a timeout (EOF, reset) or a cut that came
    # late by the client's clock. Never a wrong answer.
    TIMING = re.compile(r"-> b''|after [0-9.]+s|closed before|closed after|not cut|"
                        r"Connection|Broken pipe|timed out")

    def excused(self, who, what, at):
        """Whether a client error came during or just after a stall of the machine, and is of
        the kind a stall causes."""
        return bool(self.TIMING.search(what)) and any(
            start <= at <= end + STALL_AFTERMATH for start, end in self.stalls)

    def run_worker(self, name, fn, *args):
        def loop():
            rng = random.Random(name)
            while not self.stop.is_set():
                try:
                    fn(rng, *args)
                except Exception as e:  # a wrong answer or an unexpected socket error
                    self.error(name, f"{type(e).__name__}: {e}")
                    self.stop.wait(0.5)
        t = threading.Thread(target=loop, name=name, daemon=True)
        t.start()
        return t

    def conn(self, service, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.d.ports[service]), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def pause(self, seconds=0.002):
        self.stop.wait(seconds)

    # -- line services -------------------------------------------------------------------------

    def ping_client(self, rng):
        with self.conn("ping") as s:
            f = s.makefile("rb")
            for _ in range(rng.randint(50, 500)):
                if self.stop.is_set():
                    return
                batch = [rng.choice((b"ping", b"stamp t%d" % rng.randint(0, 10**9), b"get_time"))
                         for _ in range(rng.randint(1, 10))]
                s.sendall(b"".join(m + b"\n" for m in batch))
                for m in batch:
                    reply = f.readline()
                    if m == b"ping":
                        ok = reply == b"pong\n"
                    elif m.startswith(b"stamp "):
                        ok = reply.startswith(m + b" ") and len(reply.split()) == 4
                    else:
                        ok = re.match(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\n$", reply)
                    if not ok:
                        raise AssertionError(f"{m!r} -> {reply!r}")
                self.count("ping_messages", len(batch))
                self.pause()
        self.count("ping_connections")

    def ack_client(self, rng):
        with self.conn("ack") as s:
            f = s.makefile("rb")
            for seq in range(1, rng.randint(20, 300)):
                if self.stop.is_set():
                    return
                msg = bytes(rng.choice(b"abcdefghij klmnopqrstuvwxyz0123456789")
                            for _ in range(rng.randint(1, 2000))).strip() or b"x"
                s.sendall(msg + b"\n")
                reply = f.readline()
                if reply != b"ACK %d %d\n" % (seq, len(msg)):
                    raise AssertionError(f"ack {seq} of {len(msg)} bytes -> {reply!r}")
                self.count("ack_messages")
                self.pause()
        self.count("ack_connections")

    def sensor_client(self, rng, sensor, state):
        with self.conn("sensor") as s:
            f = s.makefile("rb")
            for _ in range(rng.randint(20, 200)):
                if self.stop.is_set():
                    return
                batch = []
                for _ in range(rng.randint(1, 20)):
                    state["seq"] += 1
                    batch.append(state["seq"])
                s.sendall(b"".join(self._lines(sensor, batch, rng)))
                for seq in batch:
                    reply = f.readline()
                    if not reply.startswith(b"ack "):
                        raise AssertionError(f"reading {sensor}/{seq} -> {reply!r}")
                    with self.lock:
                        self.acked.add((sensor, seq))
                self.count("sensor_acked", len(batch))
                self.pause(0.005)
        self.count("sensor_connections")

    @staticmethod
    def _lines(sensor, seqs, rng):
        for seq in seqs:
            v = round(rng.uniform(-20, 40), 2)
            kind = seq % 3
            if kind == 0:
                yield json.dumps({"sensor": sensor, "seq": seq, "temp": v}).encode() + b"\n"
            elif kind == 1:
                yield b"soak,sensor=%s seq=%di,temp=%s %d\n" % (sensor.encode(), seq,
                                                                 str(v).encode(), time.time_ns())
            else:
                yield b"sensor=%s seq=%d temp=%s\n" % (sensor.encode(), seq, str(v).encode())

    # -- files -----------------------------------------------------------------------------------

    @staticmethod
    def read_response(s, buf, head_only=False):
        """(status, headers dict, body, rest) of one response on a blocking socket."""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(1 << 16)
            if not chunk:
                raise AssertionError(f"closed before a response head ({buf[:100]!r})")
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (x.partition(":") for x in lines[1:])}
        n = 0 if head_only or status == 304 else int(headers.get("content-length", "0"))
        parts, have = [buf], len(buf)
        while have < n:
            chunk = s.recv(1 << 20)
            if not chunk:
                raise AssertionError(f"closed after {have} of {n} body bytes")
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        return status, headers, data[:n], data[n:]

    def files_client(self, rng):
        with self.conn("files") as s:
            buf = b""
            etag = None
            for _ in range(rng.randint(1, 100)):
                if self.stop.is_set():
                    return
                kind = rng.randrange(100)
                extra, method = "", "GET"
                if kind < 40:
                    path, want = "/small.txt", (200, SMALL)
                elif kind < 60:
                    a = rng.randrange(MID_SIZE)
                    b = min(MID_SIZE - 1, a + rng.randrange(1, 200_000))
                    path, extra, want = "/mid.bin", f"Range: bytes={a}-{b}\r\n", (206, MID[a:b + 1])
                elif kind < 70:
                    n = rng.randint(1, 5000)
                    path, extra, want = "/mid.bin", f"Range: bytes=-{n}\r\n", (206, MID[-n:])
                elif kind < 80 and etag:
                    path, extra, want = "/small.txt", f"If-None-Match: {etag}\r\n", (304, b"")
                elif kind < 88:
                    path, method, want = "/mid.bin", "HEAD", (200, b"")
                elif kind < 95:
                    path, want = f"/missing-{rng.randrange(1000)}", (404, None)
                elif kind < 98:
                    path, want = "/mid.bin", (200, MID)
                else:
                    path, want = "/big.bin", (200, BIG_SIZE)
                s.sendall(f"{method} {path} HTTP/1.1\r\nHost: soak\r\nUser-Agent: soak/1\r\n"
                          f"{extra}\r\n".encode())
                status, headers, body, buf = self.read_response(s, buf, method == "HEAD")
                if status != want[0]:
                    raise AssertionError(f"{method} {path} {extra.strip()} -> {status}")
                if isinstance(want[1], bytes) and body != want[1]:
                    raise AssertionError(f"{method} {path} {extra.strip()}: wrong body "
                                         f"({len(body)} bytes)")
                if isinstance(want[1], int) and len(body) != want[1]:
                    raise AssertionError(f"{path}: {len(body)} of {want[1]} bytes")
                if path == "/small.txt" and status == 200:
                    etag = headers.get("etag")
                self.count("http_requests")
                self.count("http_bytes", len(body))
                self.pause()
        self.count("http_connections")

    # -- slow clients ----------------------------------------------------------------------------

    def slowloris(self, rng):
        """A head a byte every 0.5 s: netd must answer 408 and close at header_timeout."""
        with self.conn("files") as s:
            s.settimeout(0.5)
            started = time.monotonic()
            head = b"GET /small.txt HTTP/1.1\r\nHost: soak\r\nX-Slow: " + b"z" * 100
            got = b""
            for i in range(len(head)):
                if self.stop.is_set():
                    return
                if i < 4:  # a byte every 0.5 s for the first 2 s... then only wait
                    s.send(head[i:i + 1])
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    continue
                got += chunk
                if not chunk or got.endswith(b"\n") and b"408" in got:
                    break
            took = time.monotonic() - started
            if not got.startswith(b"HTTP/1.1 408 "):
                raise AssertionError(f"slowloris head got {got[:60]!r} after {took:.1f}s")
            if not HEADER_TIMEOUT - 0.1 < took < HEADER_TIMEOUT + 3:
                raise AssertionError(f"slowloris head cut after {took:.1f}s")
            self.count("slow_408")

    def dribbler(self, rng):
        """A line a byte every 1 s (within idle_timeout), then silence: cut at idle_timeout."""
        with self.conn(rng.choice(("ping", "ack", "sensor"))) as s:
            s.sendall(b"ping\n")
            s.settimeout(LINE_IDLE + 5)
            first = s.recv(64)
            for b in b"abc":
                if self.stop.wait(1):
                    return
                s.send(bytes([b]))
            started = time.monotonic()
            try:
                rest = s.recv(64)
            except ConnectionResetError:
                rest = b""
            took = time.monotonic() - started
            if rest or not LINE_IDLE - 0.1 < took < LINE_IDLE + 3 or not first.endswith(b"\n"):
                raise AssertionError(f"dribbler: {first!r} then {rest!r} after {took:.1f}s")
            self.count("slow_idle_cut")

    def non_reader(self, rng):
        """Asks for 16 MiB and reads nothing: netd must cut it send_timeout after it stalls.
        (The client cannot see the cut: the kernel still delivers what netd had queued before
        it closed, for as long as the client opens its window. netd's conn_close says it.)"""
        with socket.socket() as s:
            # The port first, so the watch is in place before netd can log this connection.
            s.bind(("127.0.0.1", 0))
            peer = "%s:%d" % s.getsockname()[:2]
            watch = self.tail.watch("files", peer)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.settimeout(10)
                s.connect(("127.0.0.1", self.d.ports["files"]))
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
                started = time.monotonic()
                while not watch[0].wait(0.2):
                    if self.stop.is_set():
                        return
                    if time.monotonic() - started > SEND_TIMEOUT + 10:
                        raise AssertionError("a client that reads nothing was not cut")
                took = time.monotonic() - started
                if watch[2]["reason"] != "send timeout" or not SEND_TIMEOUT - 0.1 < took:
                    raise AssertionError(f"non-reader ended with {watch[2]['reason']!r} after "
                                         f"{took:.1f}s")
                self.count("slow_send_cut")
            finally:
                self.tail.unwatch("files", peer)
                # Drop what the kernel still holds for us rather than let it trickle.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def resetter(self, rng):
        """Resets a download in the middle (SO_LINGER 0)."""
        s = self.conn(rng.choice(("files", "files", "ping")))
        try:
            if s.getpeername()[1] == self.d.ports["files"]:
                s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: soak\r\n\r\n")
            else:
                s.sendall(b"ping\n" * 50_000)
            s.recv(65536)
        finally:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        self.count("slow_resets")
        self.stop.wait(rng.uniform(0.5, 2))


# ---------------------------------------------------------------------------------------------
# Checks

def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def thirds(samples, key):
    """Means of the first and the last third of the samples, leaving out the one taken at t=0
    (before the clients had connected and every code path had run once)."""
    samples = samples[1:] or samples
    n = max(1, len(samples) // 3)
    return mean([s[key] for s in samples[:n]]), mean([s[key] for s in samples[-n:]])


class LogTail:
    """Reads netd's log as it grows: checks every line, counts conn_close reasons and request
    statuses, and tells waiting clients how netd ended their connection."""

    def __init__(self, path):
        self.path, self.pos, self.rest = path, 0, b""
        self.lines, self.reasons, self.statuses, self.problems = 0, {}, {}, []
        self.lock = threading.Lock()
        # (service, peer) -> [threading.Event, conn id once its conn_open is read, conn_close].
        # A peer address alone is not enough: over minutes the client's ports are reused, and a
        # port that just ended a ping connection may be the next files connection's.
        self.watched = {}

    def watch(self, service, peer):
        with self.lock:
            self.watched[(service, peer)] = [threading.Event(), None, None]
            return self.watched[(service, peer)]

    def unwatch(self, service, peer):
        with self.lock:
            self.watched.pop((service, peer), None)

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return
        self.pos += len(data)
        data = self.rest + data
        end = data.rfind(b"\n") + 1
        self.rest = data[end:]
        for raw in data[:end].split(b"\n")[:-1]:
            self.line(raw)

    def line(self, raw):
        self.lines += 1
        try:
            x = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.problem(f"not JSON: {raw[:200]!r}")
            return
        if list(x)[:3] != ["ts", "level", "event"]:
            self.problem(f"does not start with ts, level, event: {raw[:200]!r}")
        event = x.get("event")
        if x.get("level") == "error" or event == "error":
            self.problem(f"error line: {raw[:300]!r}")
        elif event in ("conn_reject", "log_dropped"):
            self.problem(f"unexpected: {raw[:300]!r}")
        elif event == "conn_open":
            with self.lock:
                w = self.watched.get((x["service"], x["peer"]))
                if w:
                    w[1] = x["conn"]
        elif event == "conn_close":
            key = f"{x['service']}: {x['reason']}"
            self.reasons[key] = self.reasons.get(key, 0) + 1
            with self.lock:
                w = self.watched.get((x["service"], x["peer"]))
                if w and w[1] == x["conn"]:
                    w[2] = x
                    w[0].set()
        elif event == "request":
            self.statuses[x["status"]] = self.statuses.get(x["status"], 0) + 1

    def problem(self, text):
        if len(self.problems) < 20:
            self.problems.append(text)


def check_data(path, acked):
    """(stored readings, acked but missing, duplicates, problems) of the sensor data file."""
    seen, dups, problems = set(), 0, []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        problems.append("data file ends in a torn line")
    for raw in data.split(b"\n")[:-1]:
        try:
            r = json.loads(raw)
        except ValueError:
            problems.append(f"data line not JSON: {raw[:200]!r}")
            continue
        d = r.get("data") or {}
        if r["format"] == "influx":
            key = (d["tags"]["sensor"], d["fields"]["seq"])
        elif r["format"] in ("json", "kv"):
            key = (str(d.get("sensor")), d.get("seq"))
        else:
            problems.append(f"reading stored as {r['format']}: {raw[:200]!r}")
            continue
        if key in seen:
            dups += 1
        seen.add(key)
    missing = acked - seen
    return len(seen), sorted(missing)[:20], len(missing), dups, problems[:20]


# ---------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10, help="how long the load runs (10)")
    p.add_argument("--interval", type=float, default=10,
                   help="seconds between samples of RSS and descriptors (10)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", help="where to write the results (default $BENCH_TMPDIR/soak.json)")
    args = p.parse_args()
    if args.minutes <= 0 or args.interval <= 0:
        die("--minutes and --interval must be positive")

    netd_bin = ensure_netd()
    base = os.environ.get("BENCH_TMPDIR") or os.environ.get("NETD_BUILD_DIR") or \
        os.path.join(REPO, "build")
    os.makedirs(base, exist_ok=True)
    work = tempfile.mkdtemp(prefix="soak.", dir=os.path.realpath(base))
    results_path = args.json or os.path.join(os.path.realpath(base), "soak.json")
    keep = args.keep
    daemon = None

    def on_signal(signo, _):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        daemon = Daemon(netd_bin, work)
        time.sleep(0.5)  # let the start-up settle before the baseline (nothing to wait on)
        idle_fds_before = daemon.fds()
        say(f"== netd {netd_bin} pid {daemon.pid}, ports {daemon.ports}, in {work}")
        say(f"== {args.minutes:g} min of mixed load; a sample every {args.interval:g}s")
        tail = LogTail(daemon.log)
        tail_stop = threading.Event()

        def tail_loop():
            while not tail_stop.wait(0.3):
                tail.poll()
        tailer = threading.Thread(target=tail_loop, name="log-tail", daemon=True)
        tailer.start()
        soak = Soak(daemon, tail)
        workers = [soak.run_worker(f"ping-{i}", soak.ping_client) for i in range(2)]
        workers.append(soak.run_worker("ack-0", soak.ack_client))
        for i in range(2):
            sensor = f"soak-{os.getpid()}-{i}"
            workers.append(soak.run_worker(f"sensor-{i}", soak.sensor_client, sensor, {"seq": 0}))
        workers += [soak.run_worker(f"files-{i}", soak.files_client) for i in range(2)]
        workers += [soak.run_worker(f"slowloris-{i}", soak.slowloris) for i in range(8)]
        workers += [soak.run_worker(f"dribbler-{i}", soak.dribbler) for i in range(3)]
        workers += [soak.run_worker(f"nonreader-{i}", soak.non_reader) for i in range(2)]
        workers.append(soak.run_worker("resetter-0", soak.resetter))
        beat = threading.Thread(target=soak.heartbeat, name="heartbeat", daemon=True)
        beat.start()
        workers.append(beat)

        samples = []
        started = time.monotonic()
        end = started + args.minutes * 60
        next_sample = started
        while True:
            now = time.monotonic()
            if not daemon.alive():
                soak.error("soak", f"netd died with status {daemon.proc.returncode}")
                break
            if now >= next_sample:
                with soak.lock:
                    counts = dict(soak.counts)
                sample = {"t": round(now - started, 1), "rss": daemon.rss(), "fds": daemon.fds(),
                          "cpu_s": round(daemon.cpu(), 2), **counts}
                samples.append(sample)
                say(f"  t={sample['t']:6.0f}s rss {sample['rss'] / 2**20:6.1f} MiB "
                    f"fds {sample['fds']:4d} cpu {sample['cpu_s']:7.1f}s  "
                    f"ping {counts.get('ping_messages', 0)} ack {counts.get('ack_messages', 0)} "
                    f"acked {counts.get('sensor_acked', 0)} http "
                    f"{counts.get('http_requests', 0)} 408 {counts.get('slow_408', 0)} "
                    f"errors {counts.get('client_errors', 0)}")
                next_sample += args.interval
                if now >= end:
                    break
            time.sleep(max(0.0, min(next_sample, end) - time.monotonic()) if now < end else 0)
        soak.stop.set()
        for t in workers:
            t.join(30)
        stuck = [t.name for t in workers if t.is_alive()]

        # Idle again: netd's descriptors return to where they were (connections close as their
        # clients go; a non-reader's is cut at send_timeout).
        idle_fds_after = None
        settle_end = time.monotonic() + SEND_TIMEOUT + LINE_IDLE + 10
        while daemon.alive() and time.monotonic() < settle_end:
            idle_fds_after = daemon.fds()
            if idle_fds_after == idle_fds_before:
                break
            time.sleep(0.2)
        rss_end = daemon.rss() if daemon.alive() else 0
        status = daemon.stop()
        stderr = daemon.stderr()

        tail_stop.set()
        tailer.join(10)
        tail.poll()
        lines, reasons, statuses, log_problems = tail.lines, tail.reasons, tail.statuses, \
            tail.problems
        stored, missing_some, missing, dups, data_problems = check_data(daemon.data, soak.acked)
        rss_first, rss_last = thirds(samples, "rss")
        fds_first, fds_last = thirds(samples, "fds")
        counts = soak.counts
        excused = [e for e in soak.errors if soak.excused(*e)]
        errors = [e for e in soak.errors if not soak.excused(*e)]
        checks = {
            "netd exited 0 on SIGTERM": status == 0,
            "netd wrote nothing to stderr": stderr.strip() == "",
            "no client saw a wrong answer or an unexpected error (but for stalls of the "
            "machine)": not errors,
            "every client stopped": not stuck,
            "RSS did not grow (last third vs first third: +10% + 4 MiB)":
                rss_last <= rss_first * 1.10 + (4 << 20),
            "descriptors did not grow (last third vs first third: + 8)":
                fds_last <= fds_first + 8,
            "idle descriptors after the load equal those before": idle_fds_after == idle_fds_before,
            "every log line is JSON, no error lines": not log_problems,
            "every acknowledged reading is in the data file": missing == 0 and not data_problems,
            "slow heads got 408": counts.get("slow_408", 0) > 0,
            "dribbled lines were cut at idle_timeout": counts.get("slow_idle_cut", 0) > 0,
            "non-readers were cut at send_timeout":
                counts.get("slow_send_cut", 0) > 0 and reasons.get("files: send timeout", 0) > 0,
        }
        passed = all(checks.values())
        result = {
            "benchmark": "soak", "passed": passed, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "minutes": args.minutes, "netd": netd_bin,
            "version": subprocess.run([netd_bin, "--version"], capture_output=True,
                                      text=True).stdout.strip(),
            "machine": f"{os.cpu_count()} CPUs, kernel {os.uname().release}",
            "checks": checks, "counts": counts,
            "client_errors": [e[:2] for e in errors[:20]],
            "client_errors_during_stalls": [e[:2] for e in excused[:20]],
            "stalls_s": [(round(a - started, 1), round(b - a, 1)) for a, b in soak.stalls],
            "stuck_clients": stuck,
            "rss_bytes": {"first_sample": samples[0]["rss"],
                          "after_warmup": samples[min(1, len(samples) - 1)]["rss"],
                          "last_sample": samples[-1]["rss"],
                          "first_third_mean": round(rss_first), "last_third_mean": round(rss_last),
                          "max": max(s["rss"] for s in samples), "idle_after": rss_end},
            "fds": {"idle_before": idle_fds_before, "idle_after": idle_fds_after,
                    "first_third_mean": round(fds_first, 1), "last_third_mean": round(fds_last, 1),
                    "max": max(s["fds"] for s in samples)},
            "readings": {"acked": len(soak.acked), "stored": stored, "acked_missing": missing,
                         "missing_examples": missing_some, "duplicates": dups},
            "log": {"lines": lines, "conn_close_reasons": reasons, "request_statuses": statuses,
                    "problems": log_problems},
            "data_problems": data_problems, "samples": samples,
        }
        with open(results_path, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")

        say("")
        warm = samples[min(1, len(samples) - 1)]
        say(f"RSS  {samples[0]['rss'] / 2**20:.1f} MiB at start, {warm['rss'] / 2**20:.1f} at "
            f"t={warm['t']:.0f}s, {samples[-1]['rss'] / 2**20:.1f} at the end (thirds: "
            f"{rss_first / 2**20:.1f} -> {rss_last / 2**20:.1f}, max "
            f"{result['rss_bytes']['max'] / 2**20:.1f})")
        say(f"fds  {warm['fds']} at t={warm['t']:.0f}s -> {samples[-1]['fds']} at the end under "
            f"load (thirds: {fds_first:.1f} -> {fds_last:.1f}); idle {idle_fds_before} before, "
            f"{idle_fds_after} after")
        say(f"readings: {len(soak.acked)} acked, {stored} stored, {missing} acked but missing, "
            f"{dups} duplicates")
        say(f"load: {counts.get('ping_messages', 0)} pings, {counts.get('ack_messages', 0)} acks, "
            f"{counts.get('http_requests', 0)} HTTP requests "
            f"({counts.get('http_bytes', 0) / 2**30:.1f} GiB); slow clients: "
            f"{counts.get('slow_408', 0)} 408s, {counts.get('slow_idle_cut', 0)} idle cuts, "
            f"{counts.get('slow_send_cut', 0)} send-timeout cuts, "
            f"{counts.get('slow_resets', 0)} resets")
        say(f"log: {lines} lines; conn_close reasons {json.dumps(reasons, sort_keys=True)}")
        for a, b in soak.stalls:
            say(f"stall: this process got no CPU for {b - a:.1f}s at t={a - started:.0f}s")
        for who, what, _ in excused[:10]:
            say(f"client error during a stall (not counted): {who}: {what}")
        for who, what, _ in errors[:10]:
            say(f"client error: {who}: {what}")
        for what in log_problems + data_problems:
            say(f"problem: {what}")
        for name, ok in checks.items():
            say(f"  {'ok  ' if ok else 'FAIL'} {name}")
        say(f"results: {results_path}")
        say("soak: PASSED" if passed else "soak: FAILED")
        keep = keep or not passed
        return 0 if passed else 1
    except KeyboardInterrupt:
        say("soak.py: interrupted")
        return 1
    finally:
        if daemon is not None and daemon.alive():
            daemon.stop(10)
        if keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
