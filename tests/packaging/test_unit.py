"""packaging/netd.service, checked offline: no systemd PID 1 is needed.

`systemd-analyze verify` wants the unit's programs to exist, so it runs on the unit that
`meson install --destdir` installed, with the DESTDIR put in front of its Exec paths and its
man pages (Documentation=) looked up in the DESTDIR.
"""

import glob
import os
import re
import shutil
import tempfile
import unittest

import pkgtest
from pkgtest import run

UNIT = os.path.join(pkgtest.PACKAGING, "netd.service")


def directives(text):
    """{key: [values]} of a unit file's lines, in order."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)=(.*)$", line)
        if m:
            found.setdefault(m.group(1), []).append(m.group(2))
    return found


class UnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(UNIT) as f:
            cls.text = f.read()
        cls.d = directives(cls.text)

    def test_security_score(self):
        score, output = pkgtest.security_score(UNIT)
        print(f"\nsystemd-analyze security --offline=true packaging/netd.service: {score}")
        self.assertLessEqual(score, pkgtest.SCORE_LIMIT, output)

    def test_verify_is_clean(self):
        destdir = tempfile.mkdtemp(prefix="netd-verify-")
        self.addCleanup(shutil.rmtree, destdir, True)
        run(["meson", "install", "-C", pkgtest.BUILDDIR, "--no-rebuild", "--quiet",
             "--destdir", destdir], timeout=300)
        unit = destdir + pkgtest.install_layout()["unit"]
        work = os.path.join(destdir, "verify")
        os.mkdir(work)
        status, output = pkgtest.verify_unit(unit, destdir, work)
        self.assertEqual((status, output), (0, ""), "systemd-analyze verify")
        # The socket unit next to its service (verify_unit left the service's copy in work).
        socket_unit = destdir + pkgtest.install_layout()["socket_unit"]
        status, output = pkgtest.verify_unit(socket_unit, destdir, work)
        self.assertEqual((status, output), (0, ""), "systemd-analyze verify netd.socket")

    def test_socket_unit_listens_where_the_installed_config_does(self):
        # netd matches inherited sockets to services by address: the two lists must agree.
        with open(os.path.join(pkgtest.PACKAGING, "netd.socket")) as f:
            sock = directives(f.read())
        with open(os.path.join(pkgtest.PACKAGING, "netd.toml")) as f:
            listens = re.findall(r'(?m)^listen = \["([^"]+)"\]', f.read())
        self.assertEqual(len(listens), 4)
        self.assertEqual(sorted(sock["ListenStream"]), sorted(listens))
        self.assertEqual(sock["WantedBy"], ["sockets.target"])

    def test_service_contract(self):
        d = self.d
        self.assertEqual(d["Type"], ["notify"])
        self.assertEqual(d["ExecStart"], ["/usr/sbin/netd -c /etc/netd/netd.toml"])
        self.assertEqual(d["ExecStartPre"], ["/usr/sbin/netd --check-config -c /etc/netd/netd.toml"])
        self.assertEqual(d["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(d["RestartPreventExitStatus"], ["2"], "a config error is not retried")
        for key in ("StateDirectory", "LogsDirectory", "ConfigurationDirectory", "User"):
            self.assertEqual(d[key], ["netd"], key)
        self.assertEqual(d["AmbientCapabilities"], ["CAP_NET_BIND_SERVICE"])
        self.assertEqual(d["CapabilityBoundingSet"], ["CAP_NET_BIND_SERVICE"])
        self.assertIn("man:netd(8)", d["Documentation"][0])

    def test_watchdog_only_if_netd_sends_keepalives(self):
        sends = any("WATCHDOG=1" in open(f, errors="replace").read()
                    for f in glob.glob(os.path.join(pkgtest.SOURCE, "daemon", "**", "*.cpp"),
                                       recursive=True))
        if "WatchdogSec" in self.d:
            self.assertTrue(sends, "WatchdogSec= set but netd never sends WATCHDOG=1")

    def test_stop_timeout_covers_shutdown_grace(self):
        # TimeoutStopSec must leave netd its shutdown_grace (installed config) before SIGKILL.
        stop = int(self.d["TimeoutStopSec"][0])
        with open(os.path.join(pkgtest.PACKAGING, "netd.toml")) as f:
            grace = re.search(r'(?m)^shutdown_grace = "(\d+)s"', f.read())
        self.assertIsNotNone(grace)
        self.assertGreater(stop, int(grace.group(1)))

    def test_user_and_directories_agree(self):
        with open(os.path.join(pkgtest.PACKAGING, "netd.sysusers")) as f:
            self.assertRegex(f.read(), r"(?m)^u netd - .* /var/lib/netd$")
        with open(os.path.join(pkgtest.PACKAGING, "netd.tmpfiles")) as f:
            tmpfiles = f.read()
        self.assertRegex(tmpfiles, r"(?m)^d /var/lib/netd 0750 netd netd -$")
        self.assertRegex(tmpfiles, r"(?m)^d /var/log/netd 0750 netd netd -$")
        self.assertEqual(self.d["StateDirectoryMode"], ["0750"])
        self.assertEqual(self.d["LogsDirectoryMode"], ["0750"])
