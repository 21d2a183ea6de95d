"""`meson install --destdir`: what it installs and whether each piece works from there.

The installed netd.toml names system paths (/var/lib/netd/...) that a test cannot use, so the
test that runs netd on it rewrites exactly those paths (and the listen addresses, to port 0)
and nothing else.
"""

import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import pkgtest
from pkgtest import run


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.destdir = tempfile.mkdtemp(prefix="netd-install-")
        run(["meson", "install", "-C", pkgtest.BUILDDIR, "--no-rebuild", "--quiet",
             "--destdir", cls.destdir], timeout=300)
        cls.layout = pkgtest.install_layout()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    def path(self, what):
        """Where `what` (a key of install_layout) is in the DESTDIR."""
        return self.destdir + self.layout[what]

    def read(self, what):
        with open(self.path(what)) as f:
            return f.read()

    # --- the file list --------------------------------------------------------------------

    def test_installs_exactly_the_expected_files(self):
        found = set()
        for dirpath, _, files in os.walk(self.destdir):
            for name in files:
                found.add(os.path.join(dirpath, name)[len(self.destdir):])
        expected = set(self.layout.values())
        self.assertEqual(found - expected, set(), "installed but not expected")
        self.assertEqual(expected - found, set(), "expected but not installed")
        for exe in ("netd", "netctl"):
            self.assertTrue(os.access(self.path(exe), os.X_OK), f"{exe} is not executable")
        run([self.path("netd"), "--version"])
        run([self.path("netctl"), "--version"])

    def test_unit_and_tmpfiles_name_the_installed_paths(self):
        unit = self.read("unit")
        netd, config = self.layout["netd"], self.layout["config"]
        self.assertIn(f"\nExecStart={netd} -c {config}\n", unit)
        self.assertIn(f"\nExecStartPre={netd} --check-config -c {config}\n", unit)
        sample_dir = os.path.dirname(self.layout["sample_page"])
        self.assertIn(f"C /var/lib/netd/www - - - - {sample_dir}\n", self.read("tmpfiles"))

    def test_logrotate_reopens_with_sigusr1(self):
        text = self.read("logrotate")
        self.assertRegex(text, r"(?m)^/var/log/netd/\*\.log \{")
        self.assertRegex(text, r"postrotate\s+systemctl kill --signal=SIGUSR1 netd\.service")
        if shutil.which("logrotate"):  # parses it without rotating anything
            run(["logrotate", "--debug", self.path("logrotate")])

    # --- man pages ------------------------------------------------------------------------

    def test_man_pages_render_without_warnings(self):
        for page in ("man_netd", "man_netctl", "man_config"):
            with self.subTest(page=page):
                p = run(["groff", "-man", "-Tutf8", "-ww", "-z", self.path(page)])
                self.assertEqual(p.stderr, "", f"groff warns about {page}")
                if shutil.which("man"):
                    p = run(["man", "--warnings", "-l", self.path(page)],
                            env={**os.environ, "MANWIDTH": "80", "MAN_DISABLE_SECCOMP": "1"})
                    self.assertEqual(p.stderr, "")
                    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
                        self.assertRegex(p.stdout, rf"(?m)^{section}$")
                    self.assertIn(f"netd {pkgtest.project_version()}", p.stdout)

    def test_man_netctl_describes_every_command(self):
        text = self.read("man_netctl")
        for command in pkgtest.netctl_commands():
            self.assertRegex(text, rf"(?m)^\.B netctl {command}\b",
                             f"netctl.1: no synopsis for 'netctl {command}'")
            self.assertRegex(text, rf"(?m)^\.TP\n\.B {command}$",
                             f"netctl.1: COMMANDS does not describe '{command}'")

    def test_man_config_describes_every_key(self):
        text = self.read("man_config")
        for table, keys in pkgtest.config_keys(os.path.join(pkgtest.SOURCE, "config",
                                                             "netd.toml")).items():
            self.assertRegex(text, rf"(?m)^\.SH .*\[{table}\]", f"netd.toml.5: no [{table}]")
            for key in keys:
                self.assertRegex(text, rf"(?m)^\.BR? {key}\b",
                                 f"netd.toml.5 does not describe [{table}] {key}")

    # --- /etc/netd/netd.toml --------------------------------------------------------------

    def test_installed_config_mentions_every_key(self):
        dev = pkgtest.config_keys(os.path.join(pkgtest.SOURCE, "config", "netd.toml"))
        installed = pkgtest.config_keys(self.path("config"))
        self.assertEqual(set(installed), set(dev), "tables of config/netd.toml")
        sections = pkgtest.toml_sections(self.read("config"))
        for table, keys in dev.items():
            for key in keys:
                self.assertRegex(sections[table], rf"\b{key}\b",
                                 f"/etc/netd/netd.toml does not mention [{table}] {key}")
        # Every key is explained: a comment on its line or on the lines just after it.
        lines = self.read("config").splitlines()
        for i, line in enumerate(lines):
            if re.match(r"^\w+\s*=", line) and not line.startswith(("enabled", "listen")):
                near = "\n".join(lines[i:i + 2])
                self.assertIn("#", near, f"netd.toml: no comment for {line!r}")

    def test_installed_config_runs_netd(self):
        """The installed config, with /var/lib/netd and /run/netd moved into a temp dir and
        every service on port 0: --check-config accepts it, netd starts (READY=1), serves the
        sample page, answers ping, stores a reading, and stops cleanly (STOPPING=1, exit 0)."""
        work = tempfile.mkdtemp(prefix="netd-config-")
        self.addCleanup(shutil.rmtree, work, True)
        state = os.path.join(work, "var/lib/netd")
        os.makedirs(os.path.join(state, "www"))
        shutil.copy(self.path("sample_page"), os.path.join(state, "www"))
        os.makedirs(os.path.join(work, "run/netd"))  # netd.service's RuntimeDirectory=
        text = self.read("config")
        self.assertIn('"/var/lib/netd/www"', text)
        self.assertIn('"/var/lib/netd/readings.jsonl"', text)
        text = text.replace('"/var/lib/netd/', f'"{state}/')
        text = text.replace('"/run/netd/', f'"{work}/run/netd/')
        config = os.path.join(work, "netd.toml")
        with open(config, "w") as f:
            f.write(text)
        p = run([self.path("netd"), "--check-config", "-c", config])
        self.assertRegex(p.stdout, r"^config OK")

        with open(config, "w") as f:
            f.write(re.sub(r"(?m)^listen = \[[^\]]*\]", 'listen = ["127.0.0.1:0"]', text))
        notify_path = os.path.join(work, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(notify_path)
        notify.settimeout(15)
        proc = subprocess.Popen([self.path("netd"), "-c", config], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "NOTIFY_SOCKET": notify_path})
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()

        try:
            self.assertIn("READY=1", notify.recv(4096).decode())
        except TimeoutError:
            proc.kill()
            self.fail(f"no READY=1 from netd; stderr:\n{proc.communicate()[1]}")
        addrs = {}
        end = time.monotonic() + 10
        while len(addrs) < 4 and time.monotonic() < end:
            try:
                event = json.loads(lines.get(timeout=1))
            except queue.Empty:
                continue
            if event.get("event") == "listening":
                addrs[event["service"]] = event["addr"]
        self.assertEqual(set(addrs), {"ping", "ack", "sensor", "files"})

        host, port = addrs["files"].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/")
        reply = conn.getresponse()
        with open(self.path("sample_page"), "rb") as f:
            self.assertEqual((reply.status, reply.read()), (200, f.read()))
        conn.close()
        for service, send, expect in (("ping", b"ping\n", b"pong\n"),
                                      ("sensor", b"temp=21.5\n", b"ack 1\n")):
            host, port = addrs[service].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(send)
                self.assertEqual(s.recv(64), expect)
        with open(os.path.join(state, "readings.jsonl")) as f:
            self.assertEqual(json.loads(f.readline())["data"], {"temp": 21.5})

        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=15), 0, proc.stderr.read())
        self.assertIn("STOPPING=1", notify.recv(4096).decode())

    # --- sysusers and tmpfiles ------------------------------------------------------------

    @unittest.skipUnless(os.geteuid() == 0, "needs root to create files owned by netd")
    def test_sysusers_and_tmpfiles_set_up_the_directories(self):
        pkgtest.need("systemd-sysusers", "systemd")
        # Both read their config from the root directory they are given, like a package's
        # postinst does with DPKG_ROOT: a copy of the DESTDIR, with an /etc for the user.
        root = tempfile.mkdtemp(prefix="netd-root-")
        self.addCleanup(shutil.rmtree, root, True)
        shutil.copytree(self.destdir, root, symlinks=True, dirs_exist_ok=True)
        os.makedirs(os.path.join(root, "etc"), exist_ok=True)
        run(["systemd-sysusers", f"--root={root}", "netd.conf"])
        run(["systemd-tmpfiles", f"--root={root}", "--create", "netd.conf"])
        with open(os.path.join(root, "etc/passwd")) as f:
            users = {l.split(":")[0]: l.rstrip("\n").split(":") for l in f}
        self.assertIn("netd", users)
        netd = users["netd"]
        self.assertEqual(netd[5:], ["/var/lib/netd", "/usr/sbin/nologin"])
        uid, gid = int(netd[2]), int(netd[3])
        self.assertLess(uid, 1000, "a system user")
        for d in ("var/lib/netd", "var/log/netd"):
            st = os.stat(os.path.join(root, d))
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (uid, gid, 0o750), d)
        page = os.path.join(root, "var/lib/netd/www/index.html")
        with open(page, "rb") as a, open(self.path("sample_page"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(os.stat(page).st_uid, 0, "the files root stays root's: netd reads it")
        # Again, after the admin replaced the page: tmpfiles must not copy over it.
        with open(page, "w") as f:
            f.write("mine")
        run(["systemd-tmpfiles", f"--root={root}", "--create", "netd.conf"])
        with open(page) as f:
            self.assertEqual(f.read(), "mine")

    # --- bash completion ------------------------------------------------------------------

    def complete(self, *words):
        """What the installed completion offers for `netctl WORDS...` (the last word is the
        one being completed)."""
        script = ('source "$1"; shift; complete -p netctl >/dev/null || exit 3;'
                  'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*";'
                  '_netctl netctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}";'
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        p = run(["bash", "--norc", "-c", script, "bash", self.path("completion"), "netctl",
                 *words], cwd=self.completion_dir)
        return [w for w in p.stdout.splitlines() if w]

    def test_bash_completion(self):
        self.completion_dir = tempfile.mkdtemp(prefix="netd-completion-")
        self.addCleanup(shutil.rmtree, self.completion_dir, True)
        open(os.path.join(self.completion_dir, "readings.txt"), "w").close()
        commands = pkgtest.netctl_commands()
        self.assertEqual(sorted(self.complete("")), sorted(commands))
        self.assertEqual(self.complete("pi"), ["ping"])
        self.assertEqual(self.complete("se"), [c for c in commands if c.startswith("se")])
        for command in commands:
            options = pkgtest.netctl_options(command)
            if options is None:
                continue  # not written yet: no --help to compare with
            with self.subTest(command=command):
                self.assertEqual(options - set(self.complete(command, "-")), set(),
                                 f"netctl {command} --help lists options the completion lacks")
        self.assertEqual(self.complete("sensor", "--f"), ["--from"])
        self.assertEqual(self.complete("sensor", "--from", "read"), ["readings.txt"])
        self.assertEqual(self.complete("ping", "-c", ""), [], "-c takes a number")
        self.assertEqual(self.complete("get", "-o", "r"), ["readings.txt"])
