"""The files service (HTTP/1.1 static files) from the outside: curl, wget and raw sockets against
a temp root that holds a symlink inside and several out of the root, dotfiles, a 20 MiB random
file, a directory without index and a file whose name is HTML. Nothing from outside the root
may ever come back, whatever the request target looks like.

curl and wget are installed with apt-get when missing (as root); else their tests are skipped.
"""

import email.utils
import hashlib
import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from netd_harness import SCALE, NetdTestCase, connect, deadline, poll_until, split_addr

# ---------------------------------------------------------------------------------------------
# Client tools

_tool_lock = threading.Lock()
_tool_state = {}  # program -> None (present) or why it is missing


def ensure_program(program, package=None):
    """Returns None when `program` is on PATH, installing Debian package `package` (default: the
    program's name) with apt-get when it is missing and we are root; else a reason to skip."""
    package = package or program
    with _tool_lock:
        if program in _tool_state:
            return _tool_state[program]
        why = None
        if shutil.which(program) is None:
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                why = f"{program} is missing (apt-get install {package}, as root)"
            else:
                env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
                cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
                try:
                    # Without a package list, update once and try again.
                    if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode:
                        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                                       timeout=300)
                        subprocess.run(cmd, env=env, capture_output=True, timeout=900)
                except subprocess.TimeoutExpired:
                    pass
                if shutil.which(program) is None:
                    why = f"{program} is missing and 'apt-get install {package}' did not install it"
        _tool_state[program] = why
        return why


def require_program(test, program, package=None):
    why = ensure_program(program, package)
    if why:
        test.skipTest(why)


# The clients must talk to netd, not to a proxy from the environment, nor read ~/.curlrc.
CLIENT_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


# ---------------------------------------------------------------------------------------------
# The root the tests serve, built once for the module

MARKER = "OUTSIDE-THE-ROOT-" + os.urandom(8).hex()  # in every file outside the root
HELLO = b"hello from netd's files service\n"
HELLO_MTIME = 1704164645  # Tue, 02 Jan 2024 03:04:05 GMT
HELLO_LAST_MODIFIED = "Tue, 02 Jan 2024 03:04:05 GMT"
RANGE_DATA = bytes(i % 251 for i in range(10000))
BIG_SIZE = 20 * 1024 * 1024
WEIRD_NAME = '<b>&"x.txt'  # a name that is HTML
WEIRD_DATA = b"weird name, plain content\n"
HTML_DIR = '<i>&"dir'  # a directory whose name is HTML
HTML_DIR_URL = "/%3Ci%3E%26%22dir"

BASE = ROOT = None
BIG_SHA256 = None


def _write(path, data, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def setUpModule():
    global BASE, ROOT, BIG_SHA256
    BASE = tempfile.mkdtemp(prefix="netd-files-")
    ROOT = os.path.join(BASE, "root")
    secret = (MARKER + "\n").encode()
    # Outside the root: next to it, and in a sibling directory.
    _write(os.path.join(BASE, "secret.txt"), secret)
    _write(os.path.join(BASE, "outside", "secret.txt"), secret)
    _write(os.path.join(BASE, "root-sibling", "secret.txt"), secret)  # shares the root's prefix
    files = {
        "index.html": b"<!DOCTYPE html><html><body><h1>test root</h1></body></html>\n",
        "page.html": b"<!DOCTYPE html><p>page</p>\n",
        "style.css": b"body { color: #123; }\n",
        "data.json": b'{"ok": true}\n',
        "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(32),
        "noext": b"no extension\n",
        "range.bin": RANGE_DATA,
        "empty.txt": b"",
        "sp ace.txt": b"space\n",
        "100%.txt": b"percent\n",
        "caf\u00e9.txt": b"unicode name\n",
        ".hidden": secret,
        ".git/config": secret,
        "docs/a.txt": b"document a\n",
        "docs/b.json": b'{"b": 2}\n',
        "docs/" + WEIRD_NAME: WEIRD_DATA,
        "docs/.dotfile": secret,
        "docs/sub/c.txt": b"document c\n",
        "site/index.html": b"<!DOCTYPE html><p>site index</p>\n",
        "sp dir/inner.txt": b"inner\n",
        "evil.com/x.txt": b"a directory named like a host\n",
        HTML_DIR + "/f.txt": b"in a directory named like HTML\n",
        "app.js": b"console.log('netd');\n",
        "pic.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    }
    for name, data in files.items():
        _write(os.path.join(ROOT, name), data)
    _write(os.path.join(ROOT, "hello.txt"), HELLO, mtime=HELLO_MTIME)
    big = os.urandom(BIG_SIZE)
    BIG_SHA256 = hashlib.sha256(big).hexdigest()
    _write(os.path.join(ROOT, "big.bin"), big)
    links = {
        "link-inside": "hello.txt",  # inside: served
        "link-docs": "docs",
        "link-outside": "../secret.txt",
        "link-outside-abs": os.path.join(BASE, "secret.txt"),
        "link-outside-dir": "../outside",
        "link-sibling": "../root-sibling/secret.txt",
        "link-etc": "/etc/passwd",
        "docs/link-up-out": "../../secret.txt",
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(ROOT, name))
    os.mkfifo(os.path.join(ROOT, "fifo"))  # opening it for reading would block until a writer


def tearDownModule():
    if BASE:
        shutil.rmtree(BASE, ignore_errors=True)


def files_config(root=None, daemon=None, **files):
    """Two workers and the files service on a free loopback port, plus overrides."""
    tables = {"daemon": {"threads": 2, "shutdown_grace": "10s"},
              "files": {"listen": ["127.0.0.1:0"], "root": root or ROOT, "index": "index.html",
                        "listing": True, "header_timeout": "1s", "idle_timeout": "2s"}}
    tables["daemon"].update(daemon or {})
    tables["files"].update(files)
    return tables


# ---------------------------------------------------------------------------------------------
# A small HTTP/1.1 client over a raw socket

class Response:
    def __init__(self, version, status, reason, headers, body, wire_bytes):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # [(name, value)] as sent
        self.body = body
        self.wire_bytes = wire_bytes  # head and body as they came over the socket

    def header(self, name):
        """The value of the one header `name` (case-insensitive); None when absent."""
        found = self.all(name)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} {name} headers: {self.headers}")
        return found[0] if found else None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.headers} body {self.body[:80]!r}>"


class HttpConn:
    """One connection. send() bytes, then response(method) for each request in order."""

    def __init__(self, port, timeout=5):
        self.sock = connect(port, timeout=timeout)
        self.peer = self.sock.peer
        self.buf = bytearray()
        self.eof = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends; a peer that already closed (it answered early and hung up) is not an error."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, end, what):
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {what} (have {bytes(self.buf[:300])!r})")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        except socket.timeout:
            raise AssertionError(f"timed out waiting for {what} "
                                 f"(have {bytes(self.buf[:300])!r})") from None
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self, method="GET", timeout=5):
        """Reads one response to a `method` request."""
        end = deadline(timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(end, "a response head"):
                raise AssertionError(f"connection closed before a response head "
                                     f"(have {bytes(self.buf)!r})")
        head = self._take(self.buf.index(b"\r\n\r\n") + 4)
        lines = head[:-4].decode("latin-1").split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise AssertionError(f"not a status line: {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or name != name.strip() or not name:
                raise AssertionError(f"malformed response header {line!r} in {head!r}")
            headers.append((name, value.strip(" \t")))
        r = Response(m[1], int(m[2]), m[3], headers, b"", len(head))
        if method == "HEAD" or r.status in (204, 304) or r.status < 200:
            return r
        if r.all("Transfer-Encoding"):
            r.body = self._chunked(end)
        elif r.all("Content-Length"):
            n = int(r.header("Content-Length"))
            while len(self.buf) < n:
                if not self._fill(end, f"{n} body bytes"):
                    raise AssertionError(f"closed after {len(self.buf)} of {n} body bytes")
            r.body = self._take(n)
        else:  # delimited by the close
            while self._fill(end, "the end of a close-delimited body"):
                pass
            r.body = self._take(len(self.buf))
        r.wire_bytes += len(r.body)
        return r

    def _chunked(self, end):
        body = bytearray()
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill(end, "a chunk size"):
                    raise AssertionError("closed inside a chunked body")
            line = self._take(self.buf.index(b"\r\n") + 2)
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                if not self._fill(end, "a chunk"):
                    raise AssertionError("closed inside a chunk")
            body += self._take(size)
            self._take(2)
            if size == 0:
                return bytes(body)

    def closed(self, timeout=5):
        """Reads until the peer closes; returns what came before (b"" for a clean close)."""
        end = deadline(timeout)
        while not self.eof:
            self._fill(end, "the server to close the connection")
        return self._take(len(self.buf))


def request_bytes(method, target, headers=(), version="HTTP/1.1", host="127.0.0.1"):
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http(port, target, method="GET", headers=(), version="HTTP/1.1"):
    """One request on a new connection; returns the response."""
    with HttpConn(port) as c:
        c.send(request_bytes(method, target, headers, version))
        return c.response(method)


def raw_exchange(port, data, timeout=5):
    """Sends raw bytes, reads everything until the server closes; returns (response, rest)."""
    with HttpConn(port, timeout) as c:
        c.send(data)
        r = c.response(timeout=timeout)
        return r, c.closed(timeout)


IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d{2}:\d{2}:\d{2} GMT$")


class _Links(html.parser.HTMLParser):
    """(href, text) of every <a> in a page, entities decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self._href, self._text = [], None, ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), ""

    def handle_data(self, data):
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def json_entries(obj):
    """Every object with a "name" anywhere in a JSON listing, whatever its exact shape."""
    if isinstance(obj, dict):
        found = [obj] if isinstance(obj.get("name"), str) else []
        for v in obj.values():
            found += json_entries(v)
        return found
    if isinstance(obj, list):
        return [e for v in obj for e in json_entries(v)]
    return []


class FilesTestCase(NetdTestCase):
    def start_files(self, tables=None):
        self.netd = self.start_netd(tables or files_config())
        self.port = split_addr(self.netd.addrs["files"][0])[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self.netd

    def setUp(self):
        super().setUp()
        self.netd = self.port = None

    def requests(self, **fields):
        """The `request` log lines so far with these field values. (Not through events()'s
        keywords: its `path` names the log file, and here it is a field.)"""
        return [x for x in self.netd.events("request", service="files")
                if all(x.get(k) == v for k, v in fields.items())]

    def wait_requests(self, count, timeout=5, **fields):
        """Waits for `count` request lines with these field values; returns them."""
        try:
            return poll_until(lambda: (lambda f: f if len(f) >= count else None)(
                self.requests(**fields)), timeout, f"{count} request line(s) with {fields}")
        except AssertionError as e:
            tail = "\n".join(json.dumps(x) for x in self.netd.log_lines()[-8:])
            raise AssertionError(f"{e}; the log ends with:\n{tail}") from None

    def assert_no_leak(self, data, what):
        self.assertNotIn(MARKER.encode(), data, f"{what}: bytes from outside the root")
        self.assertNotIn(b"root:x:0:0", data, f"{what}: /etc/passwd")

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="netd-files-client-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


# ---------------------------------------------------------------------------------------------
# GET and HEAD

class GetHeadTest(FilesTestCase):
    def test_get_file_has_body_type_length_date_last_modified_and_strong_etag(self):
        self.start_files()
        before = time.time()
        r = http(self.port, "/hello.txt")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.version, "HTTP/1.1")
        self.assertEqual(r.body, HELLO)
        self.assertEqual(r.header("Content-Length"), str(len(HELLO)))
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r)
        self.assertEqual(r.header("Last-Modified"), HELLO_LAST_MODIFIED)
        self.assertRegex(r.header("Date"), IMF_FIXDATE)
        date = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
        self.assertLess(abs(date - before), 5)
        etag = r.header("ETag")
        self.assertRegex(etag, r'^"[\x21\x23-\x7e]+"$', "a strong entity tag: no W/, quoted")
        self.assertEqual(r.header("Accept-Ranges"), "bytes")

    def test_content_type_from_the_extension(self):
        self.start_files()
        want = {"/index.html": "text/html", "/style.css": "text/css",
                "/data.json": "application/json", "/logo.png": "image/png",
                "/noext": "application/octet-stream", "/pic.svg": "image/svg+xml",
                "/app.js": ("text/javascript", "application/javascript")}
        for target, mime in want.items():
            with self.subTest(target=target):
                r = http(self.port, target)
                self.assertEqual(r.status, 200, r)
                got = r.header("Content-Type").split(";")[0].strip()
                self.assertIn(got, mime if isinstance(mime, tuple) else (mime,))

    def test_head_has_the_get_headers_and_no_body(self):
        self.start_files()
        get = http(self.port, "/range.bin")
        with HttpConn(self.port) as c:
            # A HEAD and then a GET on one connection: a body after the HEAD would be read as
            # the GET's status line.
            c.send(request_bytes("HEAD", "/range.bin") + request_bytes("GET", "/hello.txt"))
            head = c.response("HEAD")
            after = c.response()
        self.assertEqual(head.status, 200)
        for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified"):
            self.assertEqual(head.header(name), get.header(name), name)
        self.assertEqual(head.header("Content-Length"), str(len(RANGE_DATA)))
        self.assertEqual((after.status, after.body), (200, HELLO))

    def test_empty_file_is_200_with_content_length_0(self):
        self.start_files()
        r = http(self.port, "/empty.txt")
        self.assertEqual((r.status, r.body, r.header("Content-Length")), (200, b"", "0"))

    def test_missing_file_is_404_and_the_connection_stays_usable(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/no-such-file.txt"))
            r = c.response()
            self.assertEqual(r.status, 404, r)
            self.assertRegex(r.header("Date") or "", IMF_FIXDATE)
            c.send(request_bytes("GET", "/hello.txt"))
            self.assertEqual(c.response().body, HELLO)

    def test_percent_encoded_names_are_decoded_once(self):
        self.start_files()
        for target, body in {"/sp%20ace.txt": b"space\n", "/100%25.txt": b"percent\n",
                             "/caf%C3%A9.txt": b"unicode name\n",
                             "/%68ello.txt": HELLO}.items():
            with self.subTest(target=target):
                r = http(self.port, target)
                self.assertEqual((r.status, r.body), (200, body))
        # Decoded once only: "%2568" is the name "%68ello.txt", which does not exist.
        self.assertEqual(http(self.port, "/%2568ello.txt").status, 404)

    def test_query_string_is_not_part_of_the_file_name(self):
        self.start_files()
        r = http(self.port, "/hello.txt?v=1&x=%2e%2e")
        self.assertEqual((r.status, r.body), (200, HELLO))

    def test_directory_with_index_serves_the_index(self):
        self.start_files()
        r = http(self.port, "/site/")
        self.assertEqual((r.status, r.body), (200, b"<!DOCTYPE html><p>site index</p>\n"))
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        self.assertEqual(http(self.port, "/").status, 200)

    def test_fifo_in_the_root_is_refused_without_blocking_the_service(self):
        self.start_files(files_config(daemon={"threads": 1}))
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/fifo"))
            self.assertIn(c.response(timeout=3).status, (403, 404))
        self.assertEqual(http(self.port, "/hello.txt").body, HELLO)

    def test_symlink_inside_the_root_is_served(self):
        self.start_files()
        r = http(self.port, "/link-inside")
        self.assertEqual((r.status, r.body), (200, HELLO))
        self.assertEqual(http(self.port, "/link-docs/a.txt").body, b"document a\n")

    def test_content_length_0_on_get_is_not_a_body(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/hello.txt", [("Content-Length", "0")]))
            self.assertEqual(c.response().status, 200)
            c.send(request_bytes("GET", "/hello.txt"))
            self.assertEqual(c.response().status, 200)

    def test_absolute_form_target_is_accepted(self):
        # RFC 9112 3.2.2: "a server MUST accept the absolute-form in requests".
        self.start_files()
        r = http(self.port, f"http://127.0.0.1:{self.port}/hello.txt")
        self.assertEqual((r.status, r.body), (200, HELLO))

    def test_four_parallel_downloads_of_20_mib_are_byte_exact(self):
        self.start_files()
        results = [None] * 4

        def fetch(i):
            try:
                with HttpConn(self.port, timeout=60) as c:
                    c.send(request_bytes("GET", "/big.bin"))
                    results[i] = hashlib.sha256(c.response(timeout=60).body).hexdigest()
            except Exception as e:  # reported below
                results[i] = repr(e)
        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120 * SCALE)
        self.assertEqual(results, [BIG_SHA256] * 4)


class RedirectTest(FilesTestCase):
    def test_directory_without_trailing_slash_redirects_301_to_a_local_path(self):
        self.start_files()
        for target, location in {"/docs": "/docs/", "/site": "/site/",
                                 "/docs/sub": "/docs/sub/"}.items():
            with self.subTest(target=target):
                r = http(self.port, target)
                self.assertEqual(r.status, 301, r)
                self.assertEqual(r.header("Location"), location)
        self.assertEqual(http(self.port, "/docs", "HEAD").status, 301)

    def test_redirect_location_is_percent_encoded(self):
        self.start_files()
        r = http(self.port, "/sp%20dir")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/sp%20dir/")

    def test_double_slash_targets_never_redirect_to_another_host(self):
        # "//evil.com/" as a Location is a protocol-relative URL: an open redirect.
        self.start_files()
        for target in ["//evil.com", "///evil.com", "//evil.com/", "/.//evil.com",
                       "//evil.com/%2e%2e", "/%2Fevil.com", "/%5Cevil.com", "/\\evil.com",
                       "//evil.com?x", "//127.0.0.1@evil.com"]:
            with self.subTest(target=target):
                r = http(self.port, target)
                location = r.header("Location")
                if location is None:
                    self.assertIn(r.status, (200, 400, 403, 404), r)
                    continue
                self.assertEqual(r.status, 301, r)
                self.assertTrue(location.startswith("/") and not location.startswith("//")
                                and "\\" not in location, location)
                url = urllib.parse.urljoin(f"http://127.0.0.1:{self.port}{target}", location)
                self.assertEqual(urllib.parse.urlsplit(url).netloc, f"127.0.0.1:{self.port}",
                                 location)


# ---------------------------------------------------------------------------------------------
# Methods, versions, malformed requests, limits

class MethodVersionTest(FilesTestCase):
    def test_post_put_delete_are_405_with_allow_get_head(self):
        self.start_files()
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                with HttpConn(self.port) as c:
                    c.send(request_bytes(method, "/hello.txt", [("Content-Length", "0")]))
                    r = c.response()
                self.assertEqual(r.status, 405, r)
                allowed = {m.strip() for m in r.header("Allow").split(",")}
                self.assertTrue({"GET", "HEAD"} <= allowed, r.header("Allow"))
                self.assertNotIn(method, allowed)

    def test_unknown_method_is_501(self):
        self.start_files()
        for method in ("FROB", "get", "BREW"):  # methods are case-sensitive: "get" is unknown
            with self.subTest(method=method):
                self.assertEqual(http(self.port, "/hello.txt", method).status, 501)

    def test_http_2_and_3_are_505(self):
        self.start_files()
        for version in ("HTTP/2.0", "HTTP/3.0", "HTTP/9.9"):
            with self.subTest(version=version):
                r, _ = raw_exchange(self.port, request_bytes("GET", "/hello.txt", version=version))
                self.assertEqual(r.status, 505, r)

    def test_http_1_1_without_host_is_400(self):
        self.start_files()
        r, rest = raw_exchange(self.port, request_bytes("GET", "/hello.txt", host=None))
        self.assertEqual(r.status, 400, r)
        self.assertEqual(rest, b"")

    def test_two_host_headers_are_400(self):
        self.start_files()
        r, _ = raw_exchange(self.port, request_bytes("GET", "/hello.txt", [("Host", "other")]))
        self.assertEqual(r.status, 400, r)

    def test_http_1_0_without_host_is_served_and_closed(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/hello.txt", version="HTTP/1.0", host=None))
            r = c.response()
            self.assertEqual((r.status, r.body), (200, HELLO))
            self.assertNotIn("keep-alive", (r.header("Connection") or "").lower())
            self.assertEqual(c.closed(), b"")

    def test_connection_close_is_honoured_and_announced(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/hello.txt", [("Connection", "close")]))
            r = c.response()
            self.assertEqual((r.status, r.body), (200, HELLO))
            self.assertEqual((r.header("Connection") or "").lower(), "close")
            self.assertEqual(c.closed(), b"")


class MalformedTest(FilesTestCase):
    """Each of these is answered 400 (or its proper code) and the connection is closed."""

    def assert_rejected(self, data, statuses=(400,)):
        r, rest = raw_exchange(self.port, data)
        self.assertIn(r.status, statuses, f"{data[:120]!r} -> {r}")
        self.assertEqual(rest, b"", "nothing after the error response")
        return r

    def test_bare_cr_in_the_head_is_400(self):
        self.start_files()
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n")
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\rHost: x\r\n\r\n")

    def test_obs_fold_is_400(self):
        self.start_files()
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n")
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n")

    def test_whitespace_before_the_colon_is_400(self):
        self.start_files()
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost : x\r\n\r\n")
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n")

    def test_duplicate_content_length_is_400(self):
        self.start_files()
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                             b"Content-Length: 4\r\n\r\nabcd")

    def test_content_length_with_transfer_encoding_is_400(self):
        # The request-smuggling pair (RFC 9112 6.1): reject and close.
        self.start_files()
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")

    def test_transfer_encoding_not_ending_in_chunked_is_400(self):
        # RFC 9112 6.3: the body length cannot be known; "the server MUST respond with the 400
        # (Bad Request) status code and then close the connection".
        self.start_files()
        for coding in (b"identity", b"gzip", b"chunked, gzip"):
            with self.subTest(coding=coding):
                self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                     + coding + b"\r\n\r\n")

    def test_invalid_content_length_is_400(self):
        self.start_files()
        for value in (b"abc", b"-1", b"1 2", b"99999999999999999999999"):
            with self.subTest(value=value):
                self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                     + value + b"\r\n\r\n")

    def test_body_on_get_is_413_or_400_and_closes(self):
        self.start_files()
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
                             b"hello", (400, 413))
        self.assert_rejected(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                             b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n", (400, 411, 413, 501))

    def test_garbage_request_lines_are_400(self):
        self.start_files()
        for line in (b"GET\r\n\r\n", b"GET /hello.txt\r\n\r\n",
                     b"GET /hello.txt HTTP/1.1 extra", b"GET /hello.txt http/1.1",
                     b"GET /hello.txt HTTP/2",
                     b"GET ../secret.txt HTTP/1.1", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03"):
            with self.subTest(line=line):
                data = line if line.startswith(b"\x16") else line + b"\r\nHost: x\r\n\r\n"
                self.assert_rejected(data, (400, 501, 505))

    def test_request_line_over_8_kib_is_414(self):
        self.start_files()
        self.assertEqual(http(self.port, "/" + "a" * 7000).status, 404)  # long but allowed
        self.assert_rejected(request_bytes("GET", "/" + "a" * 9000), (414,))

    def test_head_over_32_kib_is_431(self):
        self.start_files()
        ok = http(self.port, "/hello.txt", headers=[(f"X-Fill-{i}", "v" * 900) for i in range(30)])
        self.assertEqual(ok.status, 200)  # about 28 KiB of headers
        self.assert_rejected(request_bytes("GET", "/hello.txt", [("X-Big", "v" * 40000)]), (431,))
        self.assert_rejected(request_bytes("GET", "/hello.txt",
                                           [(f"X-Fill-{i}", "v" * 900) for i in range(40)]),
                             (431,))

    def test_more_than_100_headers_is_431(self):
        self.start_files()
        hundred = [(f"X-H{i}", "v") for i in range(99)]  # and Host: 100 in all
        self.assertEqual(http(self.port, "/hello.txt", headers=hundred).status, 200)
        self.assert_rejected(request_bytes("GET", "/hello.txt", hundred + [("X-One-More", "v")]),
                             (431,))

    def test_every_log_line_stays_valid_after_garbage(self):
        # Also a check of the harness's cleanup: it parses every line netd wrote.
        self.start_files()
        for data in (b"\xff\xfe\x00\r\n\r\n", b'GET /"},{"event":"forged HTTP/1.1\r\n\r\n',
                     b"GET /%0a%0d%22 HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: a\nX: b\r\n\r\n"):
            with HttpConn(self.port) as c:
                c.send(data)
                try:
                    c.closed()
                except AssertionError:
                    pass  # a server that keeps a half-understood connection open is not wrong here
        self.assertEqual(self.netd.events("forged"), [])


class ConnectionTest(FilesTestCase):
    def test_three_pipelined_requests_in_one_send_get_three_responses_in_order(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/hello.txt") + request_bytes("HEAD", "/range.bin")
                   + request_bytes("GET", "/nope") + request_bytes("GET", "/data.json"))
            a, b, missing, d = (c.response(), c.response("HEAD"), c.response(), c.response())
        self.assertEqual((a.status, a.body), (200, HELLO))
        self.assertEqual((b.status, b.body, b.header("Content-Length")),
                         (200, b"", str(len(RANGE_DATA))))
        self.assertEqual(missing.status, 404)
        self.assertEqual((d.status, d.body), (200, b'{"ok": true}\n'))

    def test_pipelined_requests_ending_with_connection_close(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/hello.txt") + request_bytes("GET", "/style.css")
                   + request_bytes("GET", "/data.json", [("Connection", "close")]))
            bodies = [c.response().body for _ in range(3)]
            self.assertEqual(c.closed(), b"")
        self.assertEqual(bodies, [HELLO, b"body { color: #123; }\n", b'{"ok": true}\n'])

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        self.start_files()
        with HttpConn(self.port) as c:
            for _ in range(20):
                c.send(request_bytes("GET", "/hello.txt"))
                self.assertEqual(c.response().body, HELLO)
        lines = self.wait_requests(20)
        self.assertEqual(len({x["conn"] for x in lines}), 1)

    def test_idle_keep_alive_connection_is_closed_after_idle_timeout(self):
        self.start_files()  # idle_timeout = 2s
        with HttpConn(self.port, timeout=10) as c:
            c.send(request_bytes("GET", "/hello.txt"))
            self.assertEqual(c.response().status, 200)
            started = time.monotonic()
            rest = c.closed(timeout=2 + 3)
            took = time.monotonic() - started
        self.assertEqual(rest, b"", "an idle connection is closed without a response")
        self.assertGreater(took, 1.6, "closed before idle_timeout")
        self.assertLess(took, 2 * SCALE + 2)

    def test_request_head_that_does_not_arrive_within_header_timeout_gets_408(self):
        self.start_files()  # header_timeout = 1s
        with HttpConn(self.port, timeout=10) as c:
            started = time.monotonic()
            c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")  # no blank line
            r = c.response(timeout=1 + 4)  # reads with a deadline; no blind sleep
            took = time.monotonic() - started
            self.assertEqual(r.status, 408, r)
            self.assertEqual(c.closed(), b"")
        self.assertGreater(took, 0.8)
        self.assertLess(took, 1 * SCALE + 2)

    def test_slowloris_trickle_still_gets_408_after_header_timeout(self):
        # The whole head has a deadline, not each read: a byte every 200ms does not reset it.
        self.start_files()
        with HttpConn(self.port, timeout=10) as c:
            started = time.monotonic()
            c.send(b"GET /hello.txt HTTP/1.1\r\n")
            got = None
            for i in range(30):  # up to 6s of trickling
                c.sock.settimeout(0.2)
                try:
                    data = c.sock.recv(65536)
                except socket.timeout:
                    if not c.send(b"X-%d: y\r\n" % i):
                        break
                    continue
                except ConnectionResetError:
                    data = b""
                got = data
                break
            took = time.monotonic() - started
            self.assertIsNotNone(got, "no answer while the head trickled in for 6s")
            self.assertTrue(got.startswith(b"HTTP/1.1 408"), got[:100])
        self.assertLess(took, 1 * SCALE + 2)

    def test_second_request_head_also_has_header_timeout(self):
        self.start_files()
        with HttpConn(self.port, timeout=10) as c:
            c.send(request_bytes("GET", "/hello.txt"))
            self.assertEqual(c.response().status, 200)
            started = time.monotonic()
            c.send(b"GET /hello.txt HTTP/1.1\r\n")
            r = c.response(timeout=5)
            self.assertEqual(r.status, 408, r)
        self.assertLess(time.monotonic() - started, 1 * SCALE + 2)

    def test_connection_past_max_connections_gets_503_and_is_closed(self):
        self.start_files(files_config(daemon={"max_connections": 2}))
        held = [HttpConn(self.port), HttpConn(self.port)]
        try:
            for c in held:
                c.send(request_bytes("GET", "/hello.txt"))
                self.assertEqual(c.response().status, 200)
            with HttpConn(self.port) as third:
                r = third.response()
                self.assertEqual(r.status, 503, r)
                self.assertEqual(third.closed(), b"")
        finally:
            for c in held:
                c.close()

    def test_client_that_half_closes_after_its_request_still_gets_the_response(self):
        # `printf 'GET ...' | nc -N`: the request, then FIN. The answer must still come.
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("GET", "/range.bin"))
            c.sock.shutdown(socket.SHUT_WR)
            r = c.response()
            self.assertEqual((r.status, r.body), (200, RANGE_DATA))
            self.assertEqual(c.closed(), b"")

    def test_slow_reader_that_keeps_reading_is_not_cut_off(self):
        # send_timeout is for a client that reads nothing, not a limit on a whole response.
        self.start_files(files_config(send_timeout="1s"))
        size, rate = 10 * 1024 * 1024, 4 * 1024 * 1024  # bytes/s: about 2.5s in all
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.addCleanup(s.close)
        s.settimeout(10 * SCALE)
        s.connect(("127.0.0.1", self.port))
        s.sendall(request_bytes("GET", "/big.bin", [("Range", f"bytes=0-{size - 1}")]))
        data = bytearray()
        started = time.monotonic()
        head_len = None
        while head_len is None or len(data) - head_len < size:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if head_len is None and b"\r\n\r\n" in data:
                head_len = data.index(b"\r\n\r\n") + 4
            ahead = len(data) / rate - (time.monotonic() - started)  # keep to `rate`
            if ahead > 0:
                time.sleep(ahead)
        took = time.monotonic() - started
        self.assertTrue(data.startswith(b"HTTP/1.1 206"), bytes(data[:100]))
        self.assertEqual(len(data) - head_len, size, f"cut off after {took:.1f}s")
        with open(os.path.join(ROOT, "big.bin"), "rb") as f:
            self.assertEqual(hashlib.sha256(data[head_len:]).digest(),
                             hashlib.sha256(f.read(size)).digest())
        self.assertGreater(took, 1.5, "the transfer must outlast send_timeout to prove anything")

    def test_client_that_stops_reading_is_cut_off_after_send_timeout(self):
        self.start_files(files_config(send_timeout="1s"))
        s = connect(self.port, timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.addCleanup(s.close)
        s.sendall(request_bytes("GET", "/big.bin"))
        started = time.monotonic()
        close = self.netd.conn_close_for(s, timeout=1 + 10)
        took = time.monotonic() - started
        self.assertGreater(took, 0.8)
        self.assertLess(took, 1 * SCALE + 5)
        self.assertLess(close["bytes_out"], BIG_SIZE)


# ---------------------------------------------------------------------------------------------
# Nothing outside the root

# Targets that climb out of the root, or try to, in every spelling: each must be 400, 403 or
# 404, and no byte of a file outside the root may come back.
ESCAPES = [
    "/../secret.txt", "/../../../../../../etc/passwd", "/docs/../../secret.txt",
    "/./../secret.txt", "/docs/./../../secret.txt", "/docs/sub/../../../secret.txt",
    "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt", "/%2e./secret.txt",
    "/%2e%2e%2fsecret.txt", "/..%2fsecret.txt", "/..%2Fsecret.txt", "/docs%2f..%2f..%2fsecret.txt",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/..%5csecret.txt", "/..%5Csecret.txt",
    "/..\\secret.txt", "/docs/..\\..\\secret.txt", "/\\..\\secret.txt",
    "/%252e%252e/secret.txt", "/%c0%ae%c0%ae/secret.txt", "/..%c0%afsecret.txt",
    "/hello.txt%00.html", "/secret.txt%00", "/%00", "/../root-sibling/secret.txt",
    "/link-outside", "/link-outside-abs", "/link-outside-dir/secret.txt", "/link-outside-dir/",
    "/link-sibling", "/link-etc", "/docs/link-up-out", "/%2e%2e", "/..", "/../",
    "/..;/secret.txt", "/%2e%2e;/secret.txt", "/etc/passwd", "//etc/passwd",
]


class TraversalTest(FilesTestCase):
    def test_raw_escape_targets_are_refused_without_a_byte_from_outside(self):
        self.start_files()
        for target in ESCAPES + ["/\x00", "/..\x00/secret.txt"]:
            with self.subTest(target=target):
                with HttpConn(self.port) as c:
                    c.send(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                           .encode("latin-1"))
                    r = c.response()
                    data = bytes(r.body) + c.closed()
                self.assert_no_leak(data, target)
                self.assertIn(r.status, (400, 403, 404), f"{target} -> {r}")

    def test_dot_dot_inside_the_root_never_leaves_it(self):
        self.start_files()
        r = http(self.port, "/docs/../hello.txt")
        self.assertIn(r.status, (200, 400), r)  # normalised inside the root, or refused
        if r.status == 200:
            self.assertEqual(r.body, HELLO)

    def test_curl_path_as_is_escape_targets_are_refused(self):
        require_program(self, "curl")
        self.start_files()
        for target in ESCAPES:
            if "\\" in target and target.startswith("/\\"):
                continue  # curl would read "/\" as the start of another authority
            with self.subTest(target=target):
                out = subprocess.run(
                    ["curl", "-q", "-sS", "--noproxy", "*", "--path-as-is", "-g", "-o", "-",
                     "-w", "\n%{http_code}", "--max-time", "10", self.base_url + target],
                    capture_output=True, timeout=20 * SCALE, env=CLIENT_ENV)
                self.assert_no_leak(out.stdout, target)
                code = out.stdout.rsplit(b"\n", 1)[-1]
                self.assertIn(code, (b"400", b"403", b"404"), f"{target}: {out.stdout[-200:]!r} "
                                                              f"{out.stderr!r}")

    def test_dotfiles_are_404(self):
        self.start_files()
        for target in ("/.hidden", "/.git/config", "/.git/", "/.git", "/docs/.dotfile",
                       "/%2ehidden", "/docs/%2Edotfile", "/docs/../.hidden"):
            with self.subTest(target=target):
                r = http(self.port, target)
                self.assert_no_leak(r.body, target)
                self.assertIn(r.status, (400, 404) if ".." in target else (404,), r)

    def test_dotfiles_are_served_when_configured(self):
        self.start_files(files_config(dotfiles=True))
        r = http(self.port, "/.hidden")
        self.assertEqual((r.status, r.body), (200, (MARKER + "\n").encode()))
        self.assertIn(http(self.port, "/link-outside").status, (403, 404))


# ---------------------------------------------------------------------------------------------
# Directory listings

class ListingTest(FilesTestCase):
    def test_html_listing_escapes_names_and_links_to_each_entry(self):
        self.start_files()
        r = http(self.port, "/docs/")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/html"), r)
        self.assertNotIn(WEIRD_NAME.encode(), r.body, "the name must be HTML-escaped")
        self.assertNotIn(b"<b>", r.body)
        parser = _Links()
        parser.feed(r.body.decode("utf-8"))
        by_text = {text.rstrip("/"): href for href, text in parser.links}
        for name in ("a.txt", "b.json", "sub", WEIRD_NAME):
            self.assertIn(name, by_text, parser.links)
        self.assertFalse(any(".dotfile" in t or ".dotfile" in h for h, t in parser.links))
        # Each link, resolved against the listing's URL, names the file.
        for name, body in ((WEIRD_NAME, WEIRD_DATA), ("a.txt", b"document a\n")):
            url = urllib.parse.urljoin(f"{self.base_url}/docs/", by_text[name])
            path = urllib.parse.urlsplit(url).path
            self.assertEqual(urllib.parse.unquote(path), f"/docs/{name}")
            self.assertNotIn('"', path)
            got = http(self.port, path)
            self.assertEqual((got.status, got.body), (200, body))
        sub = urllib.parse.urljoin(f"{self.base_url}/docs/", by_text["sub"])
        self.assertTrue(sub.endswith("/docs/sub/"), sub)

    def test_json_listing_with_format_json(self):
        self.start_files()
        r = http(self.port, "/docs/?format=json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type").split(";")[0], "application/json")
        names = {e["name"].rstrip("/") for e in json_entries(json.loads(r.body))}
        self.assertTrue({"a.txt", "b.json", "sub", WEIRD_NAME} <= names, names)
        self.assertNotIn(".dotfile", names)

    def test_head_of_a_listing_has_no_body(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("HEAD", "/docs/") + request_bytes("GET", "/hello.txt"))
            head = c.response("HEAD")
            self.assertEqual(head.status, 200)
            self.assertEqual(c.response().body, HELLO)

    def test_root_listing_hides_dotfiles_and_links_out_of_the_root(self):
        self.start_files(files_config(index="no-such-index.html"))
        r = http(self.port, "/")
        self.assertEqual(r.status, 200)
        for shown in (b"hello.txt", b"link-inside", b"link-docs"):
            self.assertIn(shown, r.body)
        # What cannot be served is not listed (nor its size and time, which a stat through the
        # link would tell about a file outside the root).
        for hidden in (b".hidden", b".git", b"link-outside", b"link-sibling", b"link-etc"):
            self.assertNotIn(hidden, r.body)

    def test_listing_of_a_directory_named_like_html_escapes_its_title(self):
        self.start_files()
        r = http(self.port, HTML_DIR_URL)
        self.assertEqual((r.status, r.header("Location")), (301, HTML_DIR_URL + "/"))
        r = http(self.port, HTML_DIR_URL + "/")
        self.assertEqual(r.status, 200)
        self.assertNotIn(HTML_DIR.encode(), r.body)
        self.assertIn(b"f.txt", r.body)

    def test_no_listing_when_listing_is_off(self):
        self.start_files(files_config(listing=False))
        self.assertIn(http(self.port, "/docs/").status, (403, 404))
        self.assertEqual(http(self.port, "/site/").status, 200)  # an index is still served


# ---------------------------------------------------------------------------------------------
# Conditional requests and ranges

class ConditionalTest(FilesTestCase):
    def test_if_none_match_with_the_etag_is_304_without_a_body(self):
        self.start_files()
        etag = http(self.port, "/hello.txt").header("ETag")
        with HttpConn(self.port) as c:
            for value in (etag, f'"nope", {etag}', "*", "W/" + etag):
                with self.subTest(value=value):
                    c.send(request_bytes("GET", "/hello.txt", [("If-None-Match", value)]))
                    r = c.response("HEAD")  # a 304 has no body, whatever the method
                    self.assertEqual(r.status, 304, r)
                    self.assertEqual(r.header("ETag"), etag)
            c.send(request_bytes("GET", "/hello.txt"))
            self.assertEqual(c.response().body, HELLO, "a 304 carried a body")

    def test_if_none_match_with_another_etag_is_200(self):
        self.start_files()
        r = http(self.port, "/hello.txt", headers=[("If-None-Match", '"something-else"')])
        self.assertEqual((r.status, r.body), (200, HELLO))

    def test_if_modified_since(self):
        self.start_files()
        same = http(self.port, "/hello.txt", headers=[("If-Modified-Since", HELLO_LAST_MODIFIED)])
        self.assertEqual(same.status, 304)
        later = http(self.port, "/hello.txt",
                     headers=[("If-Modified-Since", "Wed, 03 Jan 2024 00:00:00 GMT")])
        self.assertEqual(later.status, 304)
        earlier = http(self.port, "/hello.txt",
                       headers=[("If-Modified-Since", "Mon, 01 Jan 2024 00:00:00 GMT")])
        self.assertEqual((earlier.status, earlier.body), (200, HELLO))
        bad = http(self.port, "/hello.txt", headers=[("If-Modified-Since", "yesterday")])
        self.assertEqual(bad.status, 200)

    def test_if_none_match_takes_precedence_over_if_modified_since(self):
        # RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
        self.start_files()
        r = http(self.port, "/hello.txt", headers=[("If-None-Match", '"other"'),
                                                   ("If-Modified-Since", HELLO_LAST_MODIFIED)])
        self.assertEqual(r.status, 200)

    def test_etag_and_last_modified_change_when_the_file_changes(self):
        self.start_files()
        path = os.path.join(ROOT, f"changing-{os.getpid()}-{id(self)}.txt")
        self.addCleanup(os.unlink, path)
        _write(path, b"one\n", mtime=HELLO_MTIME)
        target = "/" + os.path.basename(path)
        first = http(self.port, target)
        _write(path, b"two!\n", mtime=HELLO_MTIME + 60)
        second = http(self.port, target)
        self.assertEqual(second.body, b"two!\n")
        self.assertNotEqual(first.header("ETag"), second.header("ETag"))
        self.assertNotEqual(first.header("Last-Modified"), second.header("Last-Modified"))
        r = http(self.port, target, headers=[("If-None-Match", first.header("ETag"))])
        self.assertEqual((r.status, r.body), (200, b"two!\n"))


class RangeTest(FilesTestCase):
    def ranged(self, spec, extra=(), target="/range.bin"):
        return http(self.port, target, headers=[("Range", spec), *extra])

    def test_single_ranges_are_206_with_content_range(self):
        self.start_files()
        n = len(RANGE_DATA)
        for spec, first, last in (("bytes=0-99", 0, 99), ("bytes=0-0", 0, 0),
                                  ("bytes=9990-", 9990, n - 1), ("bytes=-10", n - 10, n - 1),
                                  ("bytes=9000-20000", 9000, n - 1), ("bytes=100-100", 100, 100),
                                  ("bytes=5000-5099", 5000, 5099)):
            with self.subTest(spec=spec):
                r = self.ranged(spec)
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.header("Content-Range"), f"bytes {first}-{last}/{n}")
                self.assertEqual(r.header("Content-Length"), str(last - first + 1))
                self.assertEqual(r.body, RANGE_DATA[first:last + 1])

    def test_suffix_longer_than_the_file_is_the_whole_file(self):
        self.start_files()
        r = self.ranged("bytes=-20000")
        self.assertIn(r.status, (200, 206))
        self.assertEqual(r.body, RANGE_DATA)
        if r.status == 206:
            self.assertEqual(r.header("Content-Range"), f"bytes 0-9999/{len(RANGE_DATA)}")

    def test_unsatisfiable_range_is_416_with_bytes_star_length(self):
        self.start_files()
        for spec in ("bytes=10000-", "bytes=20000-30000", "bytes=-0"):
            with self.subTest(spec=spec):
                r = self.ranged(spec)
                self.assertEqual(r.status, 416, r)
                self.assertEqual(r.header("Content-Range"), f"bytes */{len(RANGE_DATA)}")
        # An empty file has no byte to serve: 416, or (RFC 9110 15.5.17) the whole, empty file.
        r = self.ranged("bytes=0-", target="/empty.txt")
        self.assertIn((r.status, r.header("Content-Range"), r.body),
                      [(416, "bytes */0", r.body), (200, None, b"")])

    def test_several_ranges_are_answered_with_the_whole_file(self):
        self.start_files()
        for spec in ("bytes=0-1,5-6", "bytes=0-99,50-149", "bytes=-5,0-0"):
            with self.subTest(spec=spec):
                r = self.ranged(spec)
                self.assertEqual((r.status, r.body), (200, RANGE_DATA))
                self.assertIsNone(r.header("Content-Range"))

    def test_foreign_range_units_are_ignored(self):
        # RFC 9110 14.2: an origin server MUST ignore a range unit it does not understand.
        self.start_files()
        for spec in ("items=0-5", "lines=1-2", "bytes0-5"):
            with self.subTest(spec=spec):
                r = self.ranged(spec)
                self.assertEqual((r.status, r.body), (200, RANGE_DATA))

    def test_invalid_byte_ranges_are_ignored_or_refused(self):
        # RFC 9110 14.2: a server MAY ignore or reject an invalid ranges-specifier.
        self.start_files()
        for spec in ("bytes=abc", "bytes=5-2", "bytes=", "bytes=0-1-2", "bytes=--5",
                     "bytes=99999999999999999999999-"):
            with self.subTest(spec=spec):
                r = self.ranged(spec)
                if r.status == 416:
                    self.assertEqual(r.header("Content-Range"), f"bytes */{len(RANGE_DATA)}")
                else:
                    self.assertEqual((r.status, r.body), (200, RANGE_DATA))

    def test_if_range_with_the_current_validator_is_206_else_200(self):
        self.start_files()
        full = http(self.port, "/hello.txt")
        etag, last_modified = full.header("ETag"), full.header("Last-Modified")
        for value, status in ((etag, 206), ('"stale"', 200), ("W/" + etag, 200),
                              (last_modified, 206), ("Mon, 01 Jan 2024 00:00:00 GMT", 200)):
            with self.subTest(if_range=value):
                r = self.ranged("bytes=0-4", [("If-Range", value)], target="/hello.txt")
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.body, HELLO[:5] if status == 206 else HELLO)

    def test_head_with_range_has_the_206_headers_and_no_body(self):
        self.start_files()
        with HttpConn(self.port) as c:
            c.send(request_bytes("HEAD", "/range.bin", [("Range", "bytes=10-19")])
                   + request_bytes("GET", "/hello.txt"))
            r = c.response("HEAD")
            self.assertEqual((r.status, r.header("Content-Range")), (206, "bytes 10-19/10000"))
            self.assertEqual(c.response().body, HELLO)

    def test_range_deep_in_the_big_file(self):
        self.start_files()
        with open(os.path.join(ROOT, "big.bin"), "rb") as f:
            f.seek(BIG_SIZE - 1_000_000)
            want = f.read(500_000)
        r = self.ranged(f"bytes={BIG_SIZE - 1_000_000}-{BIG_SIZE - 500_001}", target="/big.bin")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, want)


# ---------------------------------------------------------------------------------------------
# The request log

class RequestLogTest(FilesTestCase):
    def test_one_request_line_per_request_with_its_fields(self):
        self.start_files()
        etag = http(self.port, "/hello.txt").header("ETag")
        asked = [("GET", "/hello.txt", (), 200), ("HEAD", "/range.bin", (), 200),
                 ("GET", "/nope.txt", (), 404),
                 ("GET", "/range.bin", [("Range", "bytes=0-9")], 206),
                 ("GET", "/hello.txt", [("If-None-Match", etag)], 304),
                 ("GET", "/docs", (), 301)]
        got = []
        with HttpConn(self.port) as c:
            for method, target, headers, _ in asked:
                c.send(request_bytes(method, target, [("User-Agent", "netd-test/1"), *headers]))
                got.append(c.response(method))
            peer = c.peer
        self.assertEqual([r.status for r in got], [a[3] for a in asked])
        lines = self.wait_requests(len(asked), peer=peer)
        time.sleep(0.2)  # one line per request: none comes late either
        lines = self.requests(peer=peer)
        self.assertEqual(len(lines), len(asked), lines)
        conn = self.netd.wait_event("conn_open", service="files", peer=peer)[0]["conn"]
        for line, (method, target, _, status), r in zip(lines, asked, got):
            with self.subTest(target=target, method=method):
                self.assertEqual(line["level"], "info")
                self.assertEqual((line["method"], line["path"], line["status"]),
                                 (method, target, status))
                self.assertEqual(line["ua"], "netd-test/1")
                self.assertEqual(line["conn"], conn)
                self.assertIsInstance(line["duration_us"], int)
                self.assertGreaterEqual(line["duration_us"], 0)
                # Body bytes or bytes on the wire: either is a fair reading of "bytes".
                self.assertIn(line["bytes"], (len(r.body), r.wire_bytes), r)

    def test_hostile_user_agents_are_escaped_in_the_log(self):
        self.start_files()
        agents = [b'quote " and backslash \\ and tab\t.', b'"},{"event":"forged","x":"',
                  b"\xff\xfe not utf-8 \xc3\x28", b"\xe2\x80\xa8 line separator \xe2\x80\xa9",
                  b"ua-" + b"x" * 6000]
        peers = []
        for ua in agents:
            with HttpConn(self.port) as c:
                c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: " + ua + b"\r\n\r\n")
                self.assertEqual(c.response().status, 200)
                peers.append(c.peer)
        for peer, ua in zip(peers, agents):
            line = self.wait_requests(1, peer=peer)[0]  # parsed: valid JSON, strict UTF-8
            self.assertIsInstance(line["ua"], str)
            if ua.isascii() and len(ua) < 1000:
                self.assertEqual(line["ua"], ua.decode())
        self.assertEqual(self.netd.events("forged"), [])

    def test_curl_user_agent_is_logged(self):
        require_program(self, "curl")
        self.start_files()
        out = subprocess.run(["curl", "-q", "-sS", "--noproxy", "*", "-o", "/dev/null",
                              self.base_url + "/hello.txt", self.base_url + "/style.css"],
                             capture_output=True, timeout=20 * SCALE, env=CLIENT_ENV)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = self.wait_requests(2)
        self.assertRegex(lines[0]["ua"], r"^curl/\d")
        self.assertEqual([x["path"] for x in lines], ["/hello.txt", "/style.css"])
        self.assertEqual(lines[0]["conn"], lines[1]["conn"], "curl reused the connection")


# ---------------------------------------------------------------------------------------------
# Real clients

class CurlTest(FilesTestCase):
    def setUp(self):
        super().setUp()
        require_program(self, "curl")

    def curl(self, *args, timeout=60):
        return subprocess.run(["curl", "-q", "-sS", "--noproxy", "*", *args],
                              capture_output=True, timeout=timeout * SCALE, env=CLIENT_ENV,
                              cwd=self.tmpdir())

    def test_download_of_20_mib_is_byte_exact(self):
        self.start_files()
        out = os.path.join(self.tmpdir(), "big.bin")
        r = self.curl("-o", out, "-w", "%{http_code} %{size_download}", self.base_url + "/big.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"200 {BIG_SIZE}".encode())
        self.assertEqual(sha256_file(out), BIG_SHA256)
        line = self.wait_requests(1, path="/big.bin")[0]
        self.assertEqual((line["method"], line["status"]), ("GET", 200))
        self.assertGreaterEqual(line["bytes"], BIG_SIZE)

    def test_http_1_0_download_is_byte_exact(self):
        self.start_files()
        out = os.path.join(self.tmpdir(), "big.bin")
        r = self.curl("-0", "-o", out, self.base_url + "/big.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha256_file(out), BIG_SHA256)

    def test_resume_with_C_dash_fetches_the_rest(self):
        self.start_files()
        out = os.path.join(self.tmpdir(), "big.bin")
        with open(os.path.join(ROOT, "big.bin"), "rb") as src, open(out, "wb") as dst:
            dst.write(src.read(7_000_000))
        r = self.curl("-C", "-", "-o", out, "-w", "%{http_code}", self.base_url + "/big.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"206")
        self.assertEqual(sha256_file(out), BIG_SHA256)
        line = self.wait_requests(1, path="/big.bin")[0]
        self.assertEqual(line["status"], 206)
        self.assertGreaterEqual(line["bytes"], BIG_SIZE - 7_000_000)
        self.assertLess(line["bytes"], BIG_SIZE)

    def test_head_with_I(self):
        self.start_files()
        r = self.curl("-I", "-w", "%{size_download}", self.base_url + "/big.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, size = r.stdout.rpartition(b"\r\n\r\n")
        self.assertEqual(size, b"0")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(f"content-length: {BIG_SIZE}".encode(), head.lower())
        self.assertEqual(self.wait_requests(1)[0]["method"], "HEAD")

    def test_conditional_with_remote_time_and_etag(self):
        self.start_files()
        d = self.tmpdir()
        url = self.base_url + "/hello.txt"
        first, etag_file = os.path.join(d, "hello.txt"), os.path.join(d, "etag")
        r = self.curl("-R", "--etag-save", etag_file, "-o", first, url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(int(os.stat(first).st_mtime), HELLO_MTIME)  # -R: from Last-Modified
        # -z FILE: If-Modified-Since from the file's time.
        r = self.curl("-z", first, "-o", os.path.join(d, "again"), "-w", "%{http_code}", url)
        self.assertEqual(r.stdout, b"304")
        r = self.curl("--etag-compare", etag_file, "-o", os.path.join(d, "again"), "-w",
                      "%{http_code}", url)
        self.assertEqual(r.stdout, b"304")
        r = self.curl("-H", 'If-None-Match: "other"', "-o", "-", url)
        self.assertEqual(r.stdout, HELLO)

    def test_ranges_with_r(self):
        self.start_files()
        url = self.base_url + "/range.bin"
        r = self.curl("-r", "100-199", "-o", "-", "-w", "\n%{http_code}", url)
        self.assertEqual(r.stdout, RANGE_DATA[100:200] + b"\n206")
        r = self.curl("-r", "0-1,5-6", "-o", "-", "-w", "\n%{http_code}", url)
        self.assertEqual(r.stdout, RANGE_DATA + b"\n200")

    def test_directory_redirect_is_followed_to_the_listing(self):
        self.start_files()
        r = self.curl("-L", "-o", "-", "-w", "\n%{http_code} %{num_redirects} %{url_effective}",
                      self.base_url + "/docs")
        body, _, tail = r.stdout.rpartition(b"\n")
        self.assertEqual(tail.decode(), f"200 1 {self.base_url}/docs/")
        self.assertIn(b"a.txt", body)


class WgetTest(FilesTestCase):
    def setUp(self):
        super().setUp()
        require_program(self, "wget")

    def wget(self, *args, cwd, timeout=60):
        return subprocess.run(["wget", "--no-config", "--no-proxy", "-q", "--tries=1",
                               "--timeout=20", *args], capture_output=True,
                              timeout=timeout * SCALE, env=CLIENT_ENV, cwd=cwd)

    def test_download_of_20_mib_is_byte_exact(self):
        self.start_files()
        d = self.tmpdir()
        r = self.wget("-O", "out.bin", self.base_url + "/big.bin", cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha256_file(os.path.join(d, "out.bin")), BIG_SHA256)
        self.assertRegex(self.wait_requests(1)[0]["ua"], r"^Wget/")

    def test_continue_with_c_fetches_the_rest(self):
        self.start_files()
        d = self.tmpdir()
        with open(os.path.join(ROOT, "big.bin"), "rb") as src, \
                open(os.path.join(d, "big.bin"), "wb") as dst:
            dst.write(src.read(12_345_678))
        r = self.wget("-c", self.base_url + "/big.bin", cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sha256_file(os.path.join(d, "big.bin")), BIG_SHA256)
        self.assertEqual(self.wait_requests(1, path="/big.bin")[-1]["status"], 206)

    def test_recursive_fetch_follows_the_listing(self):
        self.start_files()
        d = self.tmpdir()
        r = self.wget("-r", "-np", "-nH", "-l", "3", "--restrict-file-names=unix",
                      self.base_url + "/docs/", cwd=d, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name, body in (("a.txt", b"document a\n"), ("b.json", b'{"b": 2}\n'),
                           ("sub/c.txt", b"document c\n"), (WEIRD_NAME, WEIRD_DATA)):
            with self.subTest(name=name):
                with open(os.path.join(d, "docs", name), "rb") as f:
                    self.assertEqual(f.read(), body)
        fetched = [os.path.relpath(os.path.join(p, f), d) for p, _, fs in os.walk(d) for f in fs]
        self.assertTrue(all(x.startswith("docs" + os.sep) for x in fetched), fetched)
        self.assertFalse(any(".dotfile" in x for x in fetched), fetched)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


if __name__ == "__main__":
    unittest.main()
