"""The Debian package: packaging/build-deb.sh builds it from the source tree (dpkg-buildpackage
-us -uc -b, a few minutes), then its file list, control fields, conffiles and maintainer scripts
are checked, lintian must report no error, and, as root, `dpkg -i` must leave a netd user and an
/etc/netd/netd.toml that `netd --check-config` accepts, and `dpkg --purge` must clean up.

NETD_TEST_SKIP_DEB=1 skips all of it; NETD_TEST_SKIP_DEB_INSTALL=1 only the dpkg -i part.
"""

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import pkgtest
from pkgtest import run

SKIP = os.environ.get("NETD_TEST_SKIP_DEB") == "1"
SKIP_INSTALL = os.environ.get("NETD_TEST_SKIP_DEB_INSTALL") == "1"


def dpkg(*args):
    """dpkg, waiting (up to 2 minutes) while someone else holds its lock."""
    end = time.monotonic() + 120
    while True:
        p = run(["dpkg", *args], timeout=300, check=False)
        if p.returncode == 0 or "lock" not in p.stderr or time.monotonic() > end:
            return p
        time.sleep(2)


def installed(package):
    p = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return p.returncode == 0 and "installed" in p.stdout.split()


@unittest.skipIf(SKIP, "NETD_TEST_SKIP_DEB=1")
class DebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pkgtest.need("dpkg-buildpackage", "dpkg-dev")
        pkgtest.need("dh", "debhelper")
        cls.out = os.path.join(pkgtest.BUILDDIR, "packaging-deb")
        shutil.rmtree(cls.out, ignore_errors=True)
        started = time.monotonic()
        p = subprocess.run([os.path.join(pkgtest.PACKAGING, "build-deb.sh"), cls.out],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=1500)
        cls.build_seconds = time.monotonic() - started
        if p.returncode != 0:
            raise AssertionError(f"build-deb.sh exited {p.returncode}:\n{p.stdout[-6000:]}")
        print(f"\nbuild-deb.sh: {cls.build_seconds:.0f}s")
        cls.version = pkgtest.project_version()
        debs = glob.glob(os.path.join(cls.out, f"netd_{cls.version}_*.deb"))
        if len(debs) != 1:
            raise AssertionError(f"expected one netd_{cls.version}_*.deb in {cls.out}: {debs}")
        cls.deb = debs[0]
        cls.control = tempfile.mkdtemp(prefix="netd-deb-control-")
        run(["dpkg-deb", "-e", cls.deb, cls.control])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.control, ignore_errors=True)

    def script(self, name):
        with open(os.path.join(self.control, name)) as f:
            return f.read()

    def test_file_list(self):
        p = run(["dpkg-deb", "-c", self.deb])
        files = {line.split()[-1][1:] for line in p.stdout.splitlines() if line.startswith("-")}
        p = run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"], check=False)
        unitdir = p.stdout.strip() or "/usr/lib/systemd/system"
        self.assertEqual(files, {
            "/etc/logrotate.d/netd",
            "/etc/netd/netd.toml",
            f"{unitdir}/netd.service",
            f"{unitdir}/netd.socket",
            "/usr/bin/netctl",
            "/usr/lib/sysusers.d/netd.conf",
            "/usr/lib/tmpfiles.d/netd.conf",
            "/usr/sbin/netd",
            "/usr/share/bash-completion/completions/netctl",
            "/usr/share/doc/netd/changelog.gz",
            "/usr/share/doc/netd/copyright",
            "/usr/share/man/man1/netctl.1.gz",
            "/usr/share/man/man5/netd.toml.5.gz",
            "/usr/share/man/man8/netd.8.gz",
            "/usr/share/netd/www/index.html",
        })

    def test_control_fields(self):
        def field(name):
            return run(["dpkg-deb", "-f", self.deb, name]).stdout.strip()

        self.assertEqual(field("Package"), "netd")
        self.assertEqual(field("Version"), self.version, "debian/changelog vs meson.build")
        depends = field("Depends")
        self.assertIn("systemd | systemd-standalone-sysusers | systemd-sysusers", depends)
        self.assertRegex(depends, r"libtomlplusplus")  # shlibs found the shared library

    def test_conffiles(self):
        self.assertEqual(set(self.script("conffiles").split()),
                         {"/etc/netd/netd.toml", "/etc/logrotate.d/netd"})

    def test_maintainer_scripts(self):
        for name in ("postinst", "prerm", "postrm"):
            run(["sh", "-n", os.path.join(self.control, name)])
        postinst = self.script("postinst")
        # The user first, then the directories it owns, then the service.
        order = [postinst.find(s) for s in ("systemd-sysusers", "systemd-tmpfiles",
                                            "deb-systemd-helper enable 'netd.service'",
                                            "deb-systemd-invoke $_dh_action 'netd.service'")]
        self.assertTrue(all(i >= 0 for i in order) and order == sorted(order), postinst)
        self.assertRegex(postinst, r"systemd-sysusers .* netd\.conf")
        self.assertRegex(postinst, r"systemd-tmpfiles .*--create netd\.conf")
        self.assertIn("deb-systemd-invoke stop 'netd.service'", self.script("prerm"))
        # netd.socket is opt-in: installing neither starts it nor enables it unless the admin
        # had (dh_installsystemd --no-enable: only "was-enabled" units are enabled again).
        self.assertIn("deb-systemd-helper debian-installed 'netd.socket'", postinst)
        self.assertNotRegex(postinst, r"deb-systemd-invoke \S+ 'netd.socket'")
        postrm = self.script("postrm")
        self.assertIn("rm -rf /var/lib/netd /var/log/netd", postrm)
        self.assertIn("deb-systemd-helper purge 'netd.service'", postrm)

    def test_lintian_has_no_errors(self):
        pkgtest.need("lintian", "lintian")
        changes = glob.glob(os.path.join(self.out, "netd_*.changes"))
        p = run(["lintian", "--display-info", *changes], timeout=600, check=False)
        tags = [l for l in p.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]
        print("\nlintian:\n  " + ("\n  ".join(tags) or "(nothing)"))
        errors = [t for t in tags if t.startswith("E: ")]
        self.assertEqual(errors, [], p.stdout + p.stderr)
        self.assertNotIn("lintian: ", p.stderr.replace("running with root privileges", ""),
                         "lintian itself failed")

    def test_packaged_unit(self):
        root = tempfile.mkdtemp(prefix="netd-deb-root-")
        self.addCleanup(shutil.rmtree, root, True)
        run(["dpkg-deb", "-x", self.deb, root])
        unit = glob.glob(os.path.join(root, "**", "systemd", "system", "netd.service"),
                         recursive=True)
        self.assertEqual(len(unit), 1)
        score, output = pkgtest.security_score(unit[0])
        self.assertLessEqual(score, pkgtest.SCORE_LIMIT, output)
        work = os.path.join(root, "verify")
        os.mkdir(work)
        self.assertEqual(pkgtest.verify_unit(unit[0], root, work), (0, ""))

    @unittest.skipUnless(os.geteuid() == 0, "dpkg -i needs root")
    @unittest.skipIf(SKIP_INSTALL, "NETD_TEST_SKIP_DEB_INSTALL=1")
    def test_install_and_purge(self):
        if installed("netd"):
            self.skipTest("a netd package is installed on this machine: not replacing it")
        self.addCleanup(lambda: installed("netd") and dpkg("--purge", "netd"))
        p = dpkg("-i", self.deb)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        user = pwd.getpwnam("netd")
        self.assertEqual((user.pw_dir, user.pw_shell), ("/var/lib/netd", "/usr/sbin/nologin"))
        for d in ("/var/lib/netd", "/var/log/netd"):
            st = os.stat(d)
            self.assertEqual((st.st_uid, st.st_mode & 0o777), (user.pw_uid, 0o750), d)
        self.assertTrue(os.path.isfile("/var/lib/netd/www/index.html"))
        p = run(["/usr/sbin/netd", "--check-config", "-c", "/etc/netd/netd.toml"])
        self.assertRegex(p.stdout, r"^config OK")
        # As the service runs it: the user netd must be able to read all of it.
        p = run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                 "--clear-groups", "/usr/sbin/netd", "--check-config"])
        self.assertRegex(p.stdout, r"^config OK")
        run(["/usr/bin/netctl", "--version"])
        self.assertTrue(os.path.exists("/usr/share/man/man8/netd.8.gz"))

        p = dpkg("--purge", "netd")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for gone in ("/usr/sbin/netd", "/etc/netd", "/var/lib/netd", "/var/log/netd",
                     "/lib/systemd/system/netd.service"):
            self.assertFalse(os.path.exists(gone), f"{gone} left after purge")
