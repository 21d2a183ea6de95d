"""A real browser on the sample site: headless Chromium loads www/ from netd's files service,
the page renders with its stylesheet and image, and netd logs each of those requests.

Chromium (Debian package `chromium`) is installed with apt-get when missing (as root); the test
is skipped, saying why, only when that fails. Each Chromium run is killed after 60 s.
"""

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib

from netd_harness import REPO, SCALE, NetdTestCase, poll_until, split_addr
from test_files import CLIENT_ENV, ensure_program

WWW = os.path.join(REPO, "www")
BROWSER_TIMEOUT = 60  # seconds, per Chromium run
# Colours from www/style.css and www/img/netd.png that a rendered page must show.
HEADER_BAND = (0x1D, 0x35, 0x57)  # header background (--band)
PAPER = (0xF7, 0xF5, 0xF0)  # body background (--paper)
LOGO_TEAL = (0x2A, 0x9D, 0x8F)  # the two outer nodes in img/netd.png


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def decode_png(data):
    """PNG bytes -> (width, height, [rows of (r, g, b)]) for 8-bit RGB/RGBA, non-interlaced."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG file")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace:
        raise AssertionError(f"unexpected PNG format: depth {depth} colour {colour} "
                             f"interlace {interlace}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif kind != 0:
            raise AssertionError(f"bad PNG filter {kind} in row {y}")
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def near(colour, want, slack=4):
    return all(abs(a - b) <= slack for a, b in zip(colour, want))


class BrowserTest(NetdTestCase):
    def setUp(self):
        super().setUp()
        why = ensure_program("chromium")
        self.chromium = find_chromium()
        if self.chromium is None:
            self.skipTest(f"no headless browser: {why}")
        self.work = tempfile.mkdtemp(prefix="netd-browser-")
        self.addCleanup(shutil.rmtree, self.work, True)

    def start_site(self):
        tables = {"daemon": {"threads": 2, "shutdown_grace": "10s"},
                  "files": {"listen": ["127.0.0.1:0"], "root": WWW, "index": "index.html",
                            "listing": True}}
        self.netd = self.start_netd(tables)
        port = split_addr(self.netd.addrs["files"][0])[1]
        return f"http://127.0.0.1:{port}/"

    def browse(self, *args):
        """Runs headless Chromium with `args`; returns its stdout. Killed (with every process it
        started) after BROWSER_TIMEOUT seconds."""
        argv = [self.chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--no-proxy-server", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={os.path.join(self.work, 'profile')}", *args]
        env = dict(CLIENT_ENV, HOME=self.work)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=self.work,
                                start_new_session=True)  # its own group: kill its helpers too
        try:
            out, err = proc.communicate(timeout=BROWSER_TIMEOUT * SCALE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self.fail(f"chromium did not finish within {BROWSER_TIMEOUT * SCALE:.0f}s")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # helpers that outlived the browser
            except ProcessLookupError:
                pass
        self.assertEqual(proc.returncode, 0, err.decode("utf-8", "replace")[-2000:])
        return out

    def wait_request(self, path, timeout=5):
        """The request log lines for `path` (a request field; events()'s own `path` keyword
        names the log file), once there is one."""
        return poll_until(lambda: [x for x in self.netd.events("request", service="files")
                                   if x["path"] == path], timeout, f"a request line for {path}")

    def test_dump_dom_of_the_sample_site(self):
        url = self.start_site()
        dom = self.browse("--dump-dom", url).decode("utf-8")
        self.assertIn("<h1>netd</h1>", dom)
        self.assertIn("netd's files service", dom)
        self.assertIn('href="style.css"', dom)
        self.assertIn('src="img/netd.png"', dom)
        page = self.wait_request("/")[0]
        self.assertEqual((page["method"], page["status"]), ("GET", 200))
        self.assertIn("Chrome", page["ua"])

    def test_screenshot_shows_the_stylesheet_and_the_image(self):
        url = self.start_site()
        shot = os.path.join(self.work, "shot.png")
        self.browse(f"--screenshot={shot}", "--window-size=800,600", url)
        # The browser fetched the page, its stylesheet and its image, each with a 200.
        for path in ("/", "/style.css", "/img/netd.png"):
            with self.subTest(path=path):
                lines = self.wait_request(path)
                self.assertIn(lines[0]["status"], (200, 304))
                self.assertEqual(lines[0]["method"], "GET")
                self.assertIn(200, [x["status"] for x in lines])
        with open(shot, "rb") as f:
            width, height, rows = decode_png(f.read())
        self.assertEqual((width, height), (800, 600))
        pixels = [p for row in rows for p in row]
        counts = {}
        for p in pixels:
            counts[p] = counts.get(p, 0) + 1
        self.assertGreater(len(counts), 50, "a page with text has many colours")
        share = lambda want: sum(n for p, n in counts.items() if near(p, want)) / len(pixels)
        # style.css: a dark header band across the top, light paper below it.
        self.assertGreater(share(HEADER_BAND), 0.08, "the header colour from style.css")
        self.assertGreater(share(PAPER), 0.3, "the page colour from style.css")
        self.assertTrue(near(rows[5][5], HEADER_BAND), rows[5][5])
        self.assertTrue(near(rows[height - 5][5], PAPER), rows[height - 5][5])
        # img/netd.png was decoded and drawn: its teal nodes are on the screen.
        self.assertGreater(sum(n for p, n in counts.items() if near(p, LOGO_TEAL)), 100,
                           "the logo's colour from img/netd.png")


if __name__ == "__main__":
    import unittest
    unittest.main()
