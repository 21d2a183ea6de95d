"""netctl get against a stand-in HTTP server (Python's http.server), so these tests do not
depend on netd's files service: byte-exact downloads, Content-Length, chunked and
close-delimited bodies, -o, -c resume, redirects, errors and exit statuses.
"""

import hashlib
import json
import os
import pty
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from netd_harness import (NETCTL, SANITIZER_MARKS, SCALE, free_port, has_ipv6_loopback,
                          require_netctl)

SUMMARY = re.compile(
    r"^(?P<status>\d{3}) (?P<reason>.*) from (?P<peer>\S+): (?P<bytes>\d+) bytes"
    r"( \(resumed at (?P<resumed>\d+)\))?, ttfb (?P<ttfb>\d+) us, total (?P<total>\d+) us, "
    r"(?P<rate>[\d.]+ [kMG]?B/s), "
    r"(saved to '(?P<file>[^']*)'|written to standard output)$")
JSON_KEYS = ["url", "status", "bytes", "ttfb_us", "total_us", "bytes_per_s", "file",
             "resumed_from", "redirects"]
BIG = 3 * 1024 * 1024 + 17
CHUNK_SIZES = [1, 1000, 4093, 65536, 777, 16]


class _Handler(BaseHTTPRequestHandler):
    """/files/NAME (Range: bytes=N-; ?norange ignores it), /chunked/NAME, /close/NAME (no
    Content-Length), /stall, /missing, /r/... redirects. A name in server.drop_once gets its
    full Content-Length and then half the body before the connection drops."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        stand_in = self.server.stand_in
        stand_in.requests.append((self.path, self.headers))
        self.close_connection = True
        path, _, query = self.path.partition("?")
        kind, _, name = path[1:].partition("/")
        name = urllib.parse.unquote(name)
        data = stand_in.files.get(name)
        if kind == "r":
            return self.redirect(name)
        if kind == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"abc")
            stand_in.release.wait(30)
            return
        if data is None:
            return self.reply(404, b"no such file\n")
        if kind == "files":
            return self.serve_file(name, data, "norange" in query)
        if kind == "chunked":
            return self.serve_chunked(data)
        if kind == "close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            return
        self.reply(404, b"no such route\n")

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def serve_file(self, name, data, ignore_range):
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start, status, headers = 0, 200, []
        if m and not ignore_range:
            start = int(m[1])
            if start >= len(data):
                return self.reply(416, b"", [("Content-Range", f"bytes */{len(data)}")])
            status = 206
            headers = [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")]
        body = data[start:]
        if name in self.server.stand_in.drop_once:
            self.server.stand_in.drop_once.discard(name)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.reply(status, body, headers)

    def serve_chunked(self, data):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        pos, i = 0, 0
        while pos < len(data):
            size = CHUNK_SIZES[i % len(CHUNK_SIZES)]
            piece = data[pos:pos + size]
            ext = ";name=value" if i == 2 else ""
            self.wfile.write(f"{len(piece):X}{ext}\r\n".encode() + piece + b"\r\n")
            pos, i = pos + size, i + 1
        self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")

    def redirect(self, name):
        port = self.server.server_address[1]
        routes = {
            "abs-path": (301, "/files/small.txt"),
            "sub/rel": (302, "rel2"),  # relative: /r/sub/rel2
            "sub/rel2": (307, f"http://127.0.0.1:{port}/files/small.txt"),
            "see-other": (303, "/files/small.txt"),
            "away": (302, f"http://127.0.0.1:{self.server.stand_in.other_port}/files/small.txt"),
        }
        if name.startswith("loop"):
            routes[name] = (302, f"/r/loop{int(name[4:]) + 1}")
        if name not in routes:
            return self.reply(404, b"no such redirect\n")
        status, location = routes[name]
        self.reply(status, b"moved\n", [("Location", location)])


class StandInServer:
    def __init__(self, files, host="127.0.0.1"):
        server_class = ThreadingHTTPServer
        if ":" in host:
            class V6Server(ThreadingHTTPServer):
                address_family = socket.AF_INET6
            server_class = V6Server
        self.httpd = server_class((host, 0), _Handler)
        self.httpd.stand_in = self
        self.port = self.httpd.server_address[1]
        self.files = files
        self.requests = []
        self.drop_once = set()
        self.other_port = free_port()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class NetctlGetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = random.Random(20261121)
        cls.big = rng.randbytes(BIG)
        cls.files = {"big.bin": cls.big, "small.txt": b"hello, netctl\n", "a b.txt": b"spaced\n"}

    def setUp(self):
        require_netctl(self)
        self.server = StandInServer(dict(self.files))
        self.addCleanup(self.server.close)
        self.dir = tempfile.mkdtemp(prefix="netctl-get-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def get(self, *args, binary=False, timeout=20):
        r = subprocess.run([NETCTL, "get", *args], cwd=self.dir, stdin=subprocess.DEVNULL,
                           capture_output=True, text=not binary, timeout=timeout * SCALE)
        err = r.stderr.decode(errors="replace") if binary else r.stderr
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, err)
        return r

    def path(self, name):
        return os.path.join(self.dir, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def assert_one_error_line(self, r, *fragments):
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("netctl: "), lines[0])
        for f in fragments:
            self.assertIn(f, lines[0])
        return lines[0]

    def summary(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        m = SUMMARY.match(lines[0])
        self.assertTrue(m, lines[0])
        return m

    def assert_no_files(self):
        self.assertEqual(os.listdir(self.dir), [])

    # -- downloads ---------------------------------------------------------------------------

    def test_3mb_file_is_saved_byte_exact_under_its_url_name_with_a_summary(self):
        r = self.get(self.server.url("/files/big.bin"))
        m = self.summary(r)
        self.assertEqual(r.stderr, "")  # no progress bar into a pipe
        self.assertEqual(sha256(self.read("big.bin")), sha256(self.big))
        self.assertEqual(sorted(os.listdir(self.dir)), ["big.bin"])  # no .part left
        self.assertEqual((m["status"], m["reason"], int(m["bytes"])), ("200", "OK", BIG))
        self.assertEqual(m["peer"], f"127.0.0.1:{self.server.port}")
        self.assertEqual(m["file"], "big.bin")
        self.assertLessEqual(int(m["ttfb"]), int(m["total"]))

    def test_request_is_proper_http_1_1(self):
        self.summary(self.get(self.server.url("/files/small.txt")))
        path, headers = self.server.requests[0]
        self.assertEqual(path, "/files/small.txt")
        self.assertEqual(headers["Host"], f"127.0.0.1:{self.server.port}")
        self.assertRegex(headers["User-Agent"], r"^netctl/\S+$")
        self.assertEqual(headers["Accept"], "*/*")
        self.assertEqual(headers["Connection"], "close")
        self.assertIsNone(headers.get("Range"))

    def test_classic_host_port_path_form(self):
        m = self.summary(self.get("127.0.0.1", str(self.server.port), "/files/small.txt"))
        self.assertEqual(m["file"], "small.txt")
        self.assertEqual(self.read("small.txt"), self.files["small.txt"])

    def test_percent_encoded_name_is_decoded(self):
        self.summary(self.get(self.server.url("/files/a%20b.txt")))
        self.assertEqual(self.read("a b.txt"), b"spaced\n")

    def test_dash_o_saves_to_the_named_file(self):
        m = self.summary(self.get(self.server.url("/files/big.bin"), "-o", "copy.bin"))
        self.assertEqual(m["file"], "copy.bin")
        self.assertEqual(sorted(os.listdir(self.dir)), ["copy.bin"])
        self.assertEqual(sha256(self.read("copy.bin")), sha256(self.big))

    def test_dash_o_dash_writes_the_body_alone_to_stdout(self):
        r = self.get(self.server.url("/files/big.bin"), "-o", "-", binary=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha256(r.stdout), sha256(self.big))
        self.assertTrue(SUMMARY.match(r.stderr.decode().rstrip("\n")), r.stderr)
        self.assertIn(b"written to standard output", r.stderr)
        self.assert_no_files()

    def test_chunked_body_is_decoded_byte_exact(self):
        m = self.summary(self.get(self.server.url("/chunked/big.bin")))
        self.assertEqual(int(m["bytes"]), BIG)
        self.assertEqual(sha256(self.read("big.bin")), sha256(self.big))

    def test_body_delimited_by_close_is_saved(self):
        self.summary(self.get(self.server.url("/close/big.bin")))
        self.assertEqual(sha256(self.read("big.bin")), sha256(self.big))

    def test_json_is_one_object_with_the_fields(self):
        r = self.get(self.server.url("/files/big.bin"), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        j = json.loads(lines[0])
        self.assertEqual(list(j), JSON_KEYS)
        self.assertEqual(j["url"], self.server.url("/files/big.bin"))
        self.assertEqual((j["status"], j["bytes"], j["file"]), (200, BIG, "big.bin"))
        self.assertEqual((j["resumed_from"], j["redirects"]), (0, 0))
        self.assertTrue(0 < j["ttfb_us"] <= j["total_us"], j)
        self.assertGreater(j["bytes_per_s"], 0)
        self.assertAlmostEqual(j["bytes_per_s"], BIG * 1e6 / j["total_us"], delta=2)

    @unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback")
    def test_ipv6_literal_url(self):
        v6 = StandInServer(dict(self.files), host="::1")
        self.addCleanup(v6.close)
        m = self.summary(self.get(f"http://[::1]:{v6.port}/files/small.txt"))
        self.assertEqual(m["peer"], f"[::1]:{v6.port}")
        self.assertEqual(v6.requests[0][1]["Host"], f"[::1]:{v6.port}")
        self.assertEqual(self.read("small.txt"), self.files["small.txt"])

    def test_progress_bar_only_on_a_terminal(self):
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([NETCTL, "get", self.server.url("/files/big.bin")],
                                    cwd=self.dir, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            slave = None
            out, _ = proc.communicate(timeout=20 * SCALE)
            tty = b""
            while True:
                try:
                    piece = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not piece:
                    break
                tty += piece
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        self.assertEqual(proc.returncode, 0, tty)
        self.assertRegex(tty, rb"\r\s*\d+% \[#* *\] ")
        self.assertTrue(tty.endswith(b"\r\x1b[K"), tty[-40:])  # cleared before the summary
        self.assertTrue(SUMMARY.match(out.decode().rstrip("\n")), out)

    # -- resume ------------------------------------------------------------------------------

    def test_resume_appends_to_a_partial_file(self):
        with open(self.path("big.bin"), "wb") as f:
            f.write(self.big[:1000000])
        m = self.summary(self.get("-c", self.server.url("/files/big.bin")))
        self.assertEqual(self.server.requests[0][1]["Range"], "bytes=1000000-")
        self.assertEqual((m["status"], int(m["resumed"])), ("206", 1000000))
        self.assertEqual(int(m["bytes"]), BIG - 1000000)
        self.assertEqual(sha256(self.read("big.bin")), sha256(self.big))
        self.assertEqual(sorted(os.listdir(self.dir)), ["big.bin"])

    def test_truncated_body_exits_1_leaves_only_a_part_file_that_resume_completes(self):
        self.server.drop_once.add("big.bin")
        r = self.get(self.server.url("/files/big.bin"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assert_one_error_line(r, f"{BIG // 2} of {BIG} bytes", "big.bin.part", "-c")
        self.assertFalse(os.path.exists(self.path("big.bin")))  # nothing claims to be complete
        self.assertEqual(self.read("big.bin.part"), self.big[:BIG // 2])

        r = self.get("-c", "--json", self.server.url("/files/big.bin"))
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual((j["status"], j["resumed_from"], j["bytes"]),
                         (206, BIG // 2, BIG - BIG // 2))
        self.assertEqual(self.server.requests[-1][1]["Range"], f"bytes={BIG // 2}-")
        self.assertEqual(sha256(self.read("big.bin")), sha256(self.big))
        self.assertEqual(sorted(os.listdir(self.dir)), ["big.bin"])

    def test_resume_of_a_complete_file_reports_it_and_exits_0(self):
        with open(self.path("small.txt"), "wb") as f:
            f.write(self.files["small.txt"])
        r = self.get("-c", self.server.url("/files/small.txt"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("'small.txt' is already complete", r.stdout)
        self.assertEqual(self.read("small.txt"), self.files["small.txt"])

    def test_resume_when_the_server_ignores_range_starts_afresh(self):
        with open(self.path("big.bin"), "wb") as f:
            f.write(b"x" * 5000)  # not even the right bytes: a 200 replaces them all
        m = self.summary(self.get("-c", self.server.url("/files/big.bin?norange=1")))
        self.assertEqual((m["status"], m["resumed"], int(m["bytes"])), ("200", None, BIG))
        self.assertEqual(sha256(self.read("big.bin")), sha256(self.big))

    def test_resume_to_stdout_is_a_usage_error(self):
        r = self.get("-c", "-o", "-", self.server.url("/files/small.txt"))
        self.assertEqual(r.returncode, 2)
        self.assert_one_error_line(r, "standard output")

    # -- redirects ---------------------------------------------------------------------------

    def test_same_host_redirects_are_followed(self):
        for path, hops in [("/r/abs-path", 1), ("/r/sub/rel", 2), ("/r/see-other", 1)]:
            with self.subTest(path=path):
                r = self.get(self.server.url(path), "-o", "out.txt", "--json")
                self.assertEqual(r.returncode, 0, r.stderr)
                j = json.loads(r.stdout)
                self.assertEqual((j["status"], j["redirects"]), (200, hops))
                self.assertEqual(self.read("out.txt"), self.files["small.txt"])
        self.assertIn("/r/sub/rel2", [p for p, _ in self.server.requests])

    def test_redirect_to_another_port_is_not_followed(self):
        r = self.get(self.server.url("/r/away"))
        self.assertEqual(r.returncode, 1)
        self.assert_one_error_line(r, "another server", "not followed")
        self.assert_no_files()

    def test_redirect_loop_stops_after_5(self):
        r = self.get(self.server.url("/r/loop0"))
        self.assertEqual(r.returncode, 1)
        self.assert_one_error_line(r, "more than 5 redirects")
        self.assertEqual(len(self.server.requests), 6)
        self.assert_no_files()

    # -- errors ------------------------------------------------------------------------------

    def test_404_exits_1_with_one_line_and_saves_nothing(self):
        r = self.get(self.server.url("/files/missing.bin"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assert_one_error_line(r, "HTTP 404", "/files/missing.bin")
        self.assert_no_files()

    def test_404_with_json_still_prints_the_object(self):
        r = self.get(self.server.url("/files/missing.bin"), "--json")
        self.assertEqual(r.returncode, 1)
        j = json.loads(r.stdout)
        self.assertEqual((j["status"], j["file"]), (404, None))
        self.assert_one_error_line(r, "HTTP 404")

    def test_refused_port_exits_2(self):
        port = free_port()
        r = self.get(f"http://127.0.0.1:{port}/x")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assert_one_error_line(r, f"cannot connect to 127.0.0.1:{port}")
        self.assert_no_files()

    def test_usage_errors_exit_2(self):
        for args, fragment in [(["https://127.0.0.1/x"], "https is not supported"),
                               (["ftp://h/x"], "unsupported scheme"),
                               (["127.0.0.1", "8080"], "expected URL or HOST PORT PATH"),
                               ([], "missing URL"),
                               (["127.0.0.1", "0", "/"], "bad port"),
                               (["-W", "0", self.server.url("/")], "must be more than 0"),
                               ([self.server.url("/x"), "-o", "no/such/dir/x"], "cannot write")]:
            with self.subTest(args=args):
                r = self.get(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assert_one_error_line(r, fragment)
        self.assertEqual(self.server.requests, [])

    def test_idle_timeout_ends_a_stalled_body(self):
        started = time.monotonic()
        r = self.get(self.server.url("/stall"), "-W", "300ms")
        self.assertEqual(r.returncode, 1)
        self.assert_one_error_line(r, "no data from", "300ms", "3 of 10 bytes")
        self.assertLess(time.monotonic() - started, 5 * SCALE)
        self.assertEqual(os.listdir(self.dir), ["stall.part"])

    def test_a_server_that_is_not_http_is_a_clear_error(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)

            def answer():
                conn, _ = listener.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(b"Unknown command\n")
                    time.sleep(2)  # and keeps the connection open, as netd's ping service
            t = threading.Thread(target=answer, daemon=True)
            t.start()
            started = time.monotonic()
            r = self.get(f"http://127.0.0.1:{listener.getsockname()[1]}/")
            took = time.monotonic() - started
            t.join(5)
        self.assertEqual(r.returncode, 1)
        self.assert_one_error_line(r, "not an HTTP/1.x response", "'Unknown command'")
        self.assertLess(took, 1.5 * SCALE)  # at once, not after -W


if __name__ == "__main__":
    unittest.main()
