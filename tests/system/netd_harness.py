"""Black-box harness for netd's system tests: start the built binary on a temp config, read its
JSON-lines log, talk to it over loopback sockets, stop it and check how it exited.

Every wait here has a deadline (scaled by NETD_TEST_SCALE for slow builds such as the sanitizer
one) and every process a test starts is killed in the test's cleanup, even when it fails.
Binaries come from NETD_BIN / NETCTL_BIN (run.py sets them), else from ../../build.
"""

import datetime
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

NETD = os.environ.get("NETD_BIN") or os.path.join(REPO, "build", "daemon", "netd")
NETCTL = os.environ.get("NETCTL_BIN") or os.path.join(REPO, "build", "client", "netctl")
SCALE = float(os.environ.get("NETD_TEST_SCALE", "1"))
KNOWN_BUGS = os.environ.get("NETD_TEST_KNOWN_BUGS") == "1"
SANITIZED = os.environ.get("NETD_TEST_SANITIZED") == "1"


def known_bug(what):
    """Marks a test that shows a daemon bug not fixed yet: skipped unless NETD_TEST_KNOWN_BUGS=1
    (run.py --known-bugs). Once the bug is fixed, delete the decorator."""
    return unittest.skipUnless(KNOWN_BUGS, f"known daemon bug: {what}")

RFC3339_US = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
LEVELS = {"trace", "debug", "info", "warn", "error"}
# What a sanitizer build prints when it finds something; any of these on stderr fails the test.
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer")


def deadline(seconds):
    """A monotonic deadline `seconds` from now, scaled for slow builds."""
    return time.monotonic() + seconds * SCALE


def poll_until(check, timeout, what):
    """Calls check() until it returns something truthy; fails the test after `timeout` s."""
    end = deadline(timeout)
    delay = 0.002
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout * SCALE:.1f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def parse_rfc3339_us(text):
    """'2026-11-21T23:40:01.123456Z' -> aware datetime; AssertionError if not that exact form."""
    if not RFC3339_US.match(text):
        raise AssertionError(f"not RFC 3339 UTC with microseconds: {text!r}")
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def parse_log_line(raw):
    """One raw log line (bytes, no newline) -> dict, checking the contract every line keeps:
    strict UTF-8, one JSON object, no duplicate keys, first keys ts/level/event, ts RFC 3339 µs Z.
    """
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise AssertionError(f"log line is not valid JSON ({e}): {raw!r}") from None
    if not isinstance(obj, dict):
        raise AssertionError(f"log line is not a JSON object: {raw!r}")
    if list(obj)[:3] != ["ts", "level", "event"]:
        raise AssertionError(f"log line does not start with ts, level, event: {raw!r}")
    parse_rfc3339_us(obj["ts"])
    if obj["level"] not in LEVELS:
        raise AssertionError(f"log line has unknown level: {raw!r}")
    if not isinstance(obj["event"], str) or not obj["event"]:
        raise AssertionError(f"log line has no event name: {raw!r}")
    return obj


# ---------------------------------------------------------------------------------------------
# Config files

def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string of printable text is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {v!r}")


def render_config(tables):
    """{'ping': {'listen': [...]}, ...} -> TOML text, tables in the order given."""
    out = []
    for name, keys in tables.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in keys.items())
        out.append("")
    return "\n".join(out)


def ping_config(**ping):
    """The usual test config: two workers, ping on a free loopback port, plus overrides."""
    tables = {"daemon": {"threads": 2, "shutdown_grace": "10s"},
              "ping": {"listen": ["127.0.0.1:0"]}}
    tables["ping"].update(ping)
    return tables


def write_atomically(path, text):
    """Writes a file so that a SIGHUP racing with us never reads half of it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1"):
    """A port nobody listens on right now (used for 'connection refused')."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def split_addr(addr):
    """'127.0.0.1:4000' / '[::1]:4000' -> (host, port)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


# ---------------------------------------------------------------------------------------------
# The daemon under test

class Netd:
    """One netd process on a temp config. Use start(); the test's cleanup kills it if needed.

    Log lines go to the process's stdout (a file in the temp dir) unless the config sets
    [log] path; log_lines() reads whichever it is.
    """

    def __init__(self, test, tables, env=None, config_text=None):
        self.test = test
        self.tmp = tempfile.mkdtemp(prefix="netd-st-")
        self.config_path = os.path.join(self.tmp, "netd.toml")
        self.tables = tables
        write_atomically(self.config_path, config_text if config_text is not None
                         else render_config(tables))
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.stop_sent = False
        self.returncode = None
        self.addrs = {}  # service -> [bound address text] from the first `listening` lines
        self._cache = {}  # log path -> (bytes consumed, [parsed lines])
        test.addCleanup(self._cleanup)

    # -- process ---------------------------------------------------------------------------

    def start(self, wait=True, max_fds=None, max_file_bytes=None, inherit=None,
              listen_pid="own"):
        """Starts netd; wait: until it listens. max_fds: its RLIMIT_NOFILE; max_file_bytes: its
        RLIMIT_FSIZE (a stand-in for a full disk: writes past it fail with EFBIG).
        inherit: [(socket, name)] passed the way systemd does (descriptors 3, 4, ... and
        LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID); listen_pid="other" sets a pid that is not netd's.
        """
        inherit = inherit or []
        sources = [sock.fileno() for sock, _ in inherit]

        def child_setup():
            if max_fds is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))
            if max_file_bytes is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
            # Move the sockets out of the way first: a source may already sit on 3 or 4.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in sources]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
                os.close(fd)

        argv = [NETD, "-c", self.config_path]
        env = dict(self.env)
        if inherit:
            env["LISTEN_FDS"] = str(len(inherit))
            env["LISTEN_FDNAMES"] = ":".join(name for _, name in inherit)
            # LISTEN_PID must be netd's own pid: sh learns it and execs netd under it.
            pid = "$$" if listen_pid == "own" else "1"
            argv = ["/bin/sh", "-c", f'LISTEN_PID={pid} exec "$@"', "sh"] + argv
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=env, close_fds=not inherit,
                                         preexec_fn=child_setup if (max_fds or max_file_bytes
                                                                    or inherit) else None)
        if wait:
            self.wait_listening()
        return self

    def expected_listeners(self):
        return sum(len(t.get("listen", [])) for name, t in self.tables.items()
                   if name not in ("daemon", "log") and t.get("enabled", True))

    def wait_listening(self, timeout=10):
        """Waits for a `listening` line per configured address; fills self.addrs."""
        want = self.expected_listeners()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"netd exited with {self.proc.returncode} before listening; "
                                     f"stderr: {self.stderr()!r}")
            found = self.events("listening")
            return found if len(found) >= want else None

        for line in poll_until(ready, timeout, f"{want} 'listening' log lines"):
            self.addrs.setdefault(line["service"], []).append(line["addr"])

    @property
    def port(self):
        """The port of the first ping listener."""
        return split_addr(self.addrs["ping"][0])[1]

    def send_signal(self, signo):
        if signo in (signal.SIGTERM, signal.SIGINT):
            self.stop_sent = True
        self.proc.send_signal(signo)

    def wait_exit(self, timeout=10):
        """Waits for netd to exit and returns its status; fails (and kills it) on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"netd did not exit within {timeout * SCALE:.1f}s") from None
        self.check_stderr_clean()
        return self.returncode

    def stop(self, signo=signal.SIGTERM, timeout=10):
        """Sends SIGTERM (or signo) and returns the exit status."""
        self.send_signal(signo)
        return self.wait_exit(timeout)

    def cpu_seconds(self):
        """User + system CPU time netd has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def check_stderr_clean(self):
        text = self.stderr()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError(f"netd reported a sanitizer error:\n{text}")

    def _cleanup(self):
        if self.alive():
            # Stop it the normal way, so that every test also exercises a clean shutdown (and a
            # sanitizer build gets to run its leak check at exit). If the test already asked it
            # to stop, only wait: a second SIGTERM means "force" (or, in netd's last moments
            # after it let go of its signal handlers, kills it outright).
            if not self.stop_sent:
                self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(timeout=15 * SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("netd did not stop on SIGTERM at the end of the test")
            if status != 0:
                raise AssertionError(f"netd exited with {status} on SIGTERM at the end of the "
                                     f"test; stderr: {self.stderr()!r}")
        if self.proc is not None:
            self.check_stderr_clean()
        try:
            # Every line netd ever wrote must be valid and complete, also in tests that never
            # looked at the log.
            if self.proc is not None and self.proc.poll() is not None:
                for path in {self.stdout_path, self.log_path(), *self._cache}:
                    if os.path.exists(path):
                        self.log_lines(path)
                        with open(path, "rb") as f:
                            data = f.read()
                        if data and not data.endswith(b"\n"):
                            raise AssertionError(f"{path} ends in a cut-off line: {data[-200:]!r}")
        finally:
            if not os.environ.get("NETD_TEST_KEEP"):
                shutil.rmtree(self.tmp, ignore_errors=True)

    # -- log -------------------------------------------------------------------------------

    def log_path(self):
        path = self.tables.get("log", {}).get("path", "-")
        if path == "-":
            return self.stdout_path
        return path if os.path.isabs(path) else os.path.join(self.tmp, path)

    def log_lines(self, path=None):
        """Every complete log line so far, parsed and checked (see parse_log_line)."""
        path = path or self.log_path()
        used, parsed = self._cache.get(path, (0, []))
        try:
            with open(path, "rb") as f:
                f.seek(used)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a last line still being written is read next time
        for raw in data[:end].split(b"\n")[:-1]:
            parsed.append(parse_log_line(raw))
        self._cache[path] = (used + end, parsed)
        return list(parsed)

    def forget_log(self, path=None):
        """Drops what was read of a log file (it was renamed or replaced)."""
        self._cache.pop(path or self.log_path(), None)

    def events(self, event, path=None, **fields):
        return [line for line in self.log_lines(path) if line["event"] == event
                and all(line.get(k) == v for k, v in fields.items())]

    def wait_event(self, event, timeout=5, count=1, path=None, **fields):
        """Waits for `count` log lines with this event and these field values; returns them."""
        desc = f"{count} '{event}' log line(s) with {fields}"
        try:
            return poll_until(lambda: (lambda f: f if len(f) >= count else None)(
                self.events(event, path, **fields)), timeout, desc)
        except AssertionError as e:
            tail = "\n".join(json.dumps(x) for x in self.log_lines(path)[-8:])
            raise AssertionError(f"{e}; the log ends with:\n{tail}") from None

    def conn_close_for(self, client, timeout=5):
        """The conn_close line of the connection whose client side is `client` (a socket from
        connect(), or its peer text)."""
        peer = client if isinstance(client, str) else client.peer
        return self.wait_event("conn_close", timeout, peer=peer)[0]

    # -- config ----------------------------------------------------------------------------

    def rewrite_config(self, tables=None, text=None):
        if tables is not None:
            self.tables = tables
        write_atomically(self.config_path, text if text is not None else render_config(tables))

    def reload(self, timeout=5, expect_ok=True):
        """SIGHUP and wait for its `reload` line (the one with 'ok'); returns that line."""
        before = len([x for x in self.events("reload") if "ok" in x])
        self.send_signal(signal.SIGHUP)
        lines = poll_until(lambda: (lambda r: r if len(r) > before else None)(
            [x for x in self.events("reload") if "ok" in x]), timeout, "a 'reload' log line")
        line = lines[before]
        if expect_ok is not None and line["ok"] != expect_ok:
            raise AssertionError(f"reload ok={line['ok']}, expected {expect_ok}: {line}")
        return line


# ---------------------------------------------------------------------------------------------
# Clients

def addr_text(sockaddr):
    """('127.0.0.1', 4000) / ('::1', 4000, 0, 0) -> netd's form: 127.0.0.1:4000 / [::1]:4000."""
    host, port = sockaddr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ClientSocket(socket.socket):
    """A socket that remembers its local address as netd logs it (`peer`), even after close."""

    peer = None

    def connect(self, address):
        super().connect(address)
        self.peer = addr_text(self.getsockname())


def connect(port, host="127.0.0.1", timeout=5):
    """A connected TCP socket with a per-operation timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = ClientSocket(family, socket.SOCK_STREAM)
    s.settimeout(timeout * SCALE)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


class LineReader:
    """Reads '\\n'-terminated replies from a socket, each with a deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self, timeout=5):
        end = deadline(timeout)
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no reply line within {timeout * SCALE:.1f}s "
                                     f"(have {self.buf!r})")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a full reply line "
                                     f"(have {self.buf!r})")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def lines(self, n, timeout=5):
        return [self.line(timeout) for _ in range(n)]


def read_until_closed(sock, timeout=5):
    """Reads until the peer closes. Returns (data, how) with how 'eof' or 'reset'."""
    end = deadline(timeout)
    data = b""
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"peer did not close within {timeout * SCALE:.1f}s "
                                 f"(got {data!r})")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        except socket.timeout:
            continue
        if not chunk:
            return data, "eof"
        data += chunk


def exchange(port, request, host="127.0.0.1", replies=1, timeout=5):
    """Connects, sends request bytes, returns the reply lines (bytes, no newline)."""
    with connect(port, host, timeout) as s:
        s.sendall(request)
        return LineReader(s).lines(replies, timeout)


class SilentServer:
    """A TCP server on loopback that accepts and then never replies (or closes at once)."""

    def __init__(self, close_at_once=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.close_at_once = close_at_once
        self.accepted = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.close_at_once:
                conn.close()
            else:
                self.accepted.append(conn)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        for c in self.accepted:
            c.close()
        self.sock.close()


def run_netctl(args, timeout=15):
    """Runs netctl with a deadline; returns the CompletedProcess (text mode)."""
    return subprocess.run([NETCTL, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout * SCALE)


def require_netctl(test):
    if not (os.path.isfile(NETCTL) and os.access(NETCTL, os.X_OK)):
        test.skipTest(f"netctl binary not found at {NETCTL} (build it, or pass --netctl)")


class NetdTestCase(unittest.TestCase):
    """Base class: start_netd() returns a running daemon that cleanup always kills."""

    def setUp(self):
        if not (os.path.isfile(NETD) and os.access(NETD, os.X_OK)):
            self.fail(f"netd binary not found at {NETD} (build it, or pass --netd)")

    def start_netd(self, tables=None, env=None, wait=True):
        return Netd(self, tables if tables is not None else ping_config(), env=env).start(wait)
