"""Shared helpers of the packaging tests: where things are, how to run a command with a deadline,
what `meson install` puts where for this build directory, and the drift checks' sources of truth
(netctl's own --help, the developer config/netd.toml).

run.py sets the environment this reads: NETD_SOURCE, NETD_BUILDDIR, NETD_BIN, NETCTL_BIN.
"""

import json
import os
import re
import shutil
import subprocess
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("NETD_SOURCE") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("NETD_BUILDDIR") or os.path.join(SOURCE, "build")
NETD = os.environ.get("NETD_BIN") or os.path.join(BUILDDIR, "daemon", "netd")
NETCTL = os.environ.get("NETCTL_BIN") or os.path.join(BUILDDIR, "client", "netctl")
PACKAGING = os.path.join(SOURCE, "packaging")
SCORE_LIMIT = 2.5  # issue 5: `systemd-analyze security --offline=true` at most this


def run(cmd, timeout=120, check=True, **kw):
    """Runs cmd, returns the CompletedProcess with text stdout/stderr; fails on a nonzero exit
    (when check) with both streams in the message."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def need(program, package):
    """The path of program, or an AssertionError saying which Debian package has it (never a
    skip: a missing tool must not pass for a tested package)."""
    path = shutil.which(program)
    if not path:
        raise AssertionError(f"{program} not found: apt-get install {package} "
                             "(scripts/dev.sh installs it)")
    return path


def meson_options():
    """This build directory's options, name -> value."""
    p = run(["meson", "introspect", "--buildoptions", BUILDDIR])
    return {o["name"]: o["value"] for o in json.loads(p.stdout)}


def project_version():
    p = run(["meson", "introspect", "--projectinfo", BUILDDIR])
    return json.loads(p.stdout)["version"]


def join(prefix, path):
    """meson's prefix / option: an absolute option wins."""
    return os.path.normpath(os.path.join(prefix, path))


def install_layout():
    """Where `meson install` puts each file for this build directory, as absolute paths of the
    target system (the same rules as packaging/meson.build)."""
    o = meson_options()
    prefix = o["prefix"]
    unitdir = join(prefix, "lib/systemd/system")
    if prefix == "/usr" and shutil.which("pkg-config"):
        p = run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"], check=False)
        if p.returncode == 0 and p.stdout.strip():
            unitdir = p.stdout.strip()
    datadir = join(prefix, o["datadir"])
    mandir = join(prefix, o["mandir"])
    sysconfdir = join(prefix, o["sysconfdir"])
    return {
        "netd": join(join(prefix, o["sbindir"]), "netd"),
        "netctl": join(join(prefix, o["bindir"]), "netctl"),
        "config": join(sysconfdir, "netd/netd.toml"),
        "logrotate": join(sysconfdir, "logrotate.d/netd"),
        "unit": join(unitdir, "netd.service"),
        "socket_unit": join(unitdir, "netd.socket"),
        "sysusers": join(prefix, "lib/sysusers.d/netd.conf"),
        "tmpfiles": join(prefix, "lib/tmpfiles.d/netd.conf"),
        "sample_page": join(datadir, "netd/www/index.html"),
        "completion": join(datadir, "bash-completion/completions/netctl"),
        "man_netd": join(mandir, "man8/netd.8"),
        "man_netctl": join(mandir, "man1/netctl.1"),
        "man_config": join(mandir, "man5/netd.toml.5"),
    }


def netctl_commands():
    """netctl's subcommands as its --help lists them ("  NAME   ARGS...")."""
    p = run([NETCTL, "--help"])
    names = re.findall(r"^  ([a-z][a-z-]*)\s", p.stdout, re.M)
    if not names:
        raise AssertionError(f"no commands found in netctl --help:\n{p.stdout}")
    return names


def netctl_options(command):
    """The options `netctl COMMAND --help` lists, or None when the command has no help (not
    written yet)."""
    p = run([NETCTL, command, "--help"], check=False)
    if p.returncode != 0:
        return None
    opts = set()
    for m in re.finditer(r"^  (-[-\w]+)(?:, (-[-\w]+))?", p.stdout, re.M):
        opts.update(o for o in m.groups() if o)
    return opts


def config_keys(path):
    """{table: set of keys} of a netd.toml."""
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    return {t: set(v) for t, v in doc.items() if isinstance(v, dict)}


def toml_sections(text):
    """{table: its text, comments included} of a TOML file's text."""
    sections, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^\[([\w.]+)\]", line)
        if m:
            name = m.group(1)
        elif name:
            sections[name] = sections.get(name, "") + line + "\n"
    return sections


def security_score(unit_path):
    """(exposure score, full output) of `systemd-analyze security --offline=true UNIT`."""
    need("systemd-analyze", "systemd")
    p = run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit_path],
            check=False, env={**os.environ, "SYSTEMD_COLORS": "0"})
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", p.stdout + p.stderr)
    if not m:
        raise AssertionError(f"no score in systemd-analyze security output:\n{p.stdout}\n{p.stderr}")
    return float(m.group(1)), p.stdout


def verify_unit(unit_path, root, workdir):
    """`systemd-analyze verify` on an installed unit whose programs live under `root` (a DESTDIR
    or an unpacked package): a copy of the unit with root put in front of the Exec paths that
    exist there, and man pages looked up under root (Documentation=). Returns the output."""
    need("systemd-analyze", "systemd")
    with open(unit_path) as f:
        text = f.read()

    def rooted(m):
        exe = m.group(2)
        return m.group(1) + (root + exe if os.path.exists(root + exe) else exe)

    text = re.sub(r"^(Exec\w+=[-@:+!]*)(/\S+)", rooted, text, flags=re.M)
    copy = os.path.join(workdir, os.path.basename(unit_path))
    with open(copy, "w") as f:
        f.write(text)
    mans = [os.path.join(root, d.lstrip("/")) for d in ("usr/share/man", "usr/local/share/man")]
    env = {**os.environ, "MANPATH": ":".join(m for m in mans if os.path.isdir(m)),
           "SYSTEMD_COLORS": "0"}
    p = run(["systemd-analyze", "verify", copy], check=False, env=env)
    return p.returncode, (p.stdout + p.stderr).strip()
