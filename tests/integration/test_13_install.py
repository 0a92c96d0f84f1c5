"""make install and make deb (issue 8).

One build for the module, in a temporary BUILD: `make install DESTDIR=...
PREFIX=/usr SYSCONFDIR=/etc` and then `make deb` with the same BUILD (the
same flags, so nothing is compiled twice).  Checked: the installed tree,
path by path; the programs run from it and wicketd -t loads the installed
plugins; install refuses objects built for other directories; the
package's files, control fields, conffiles and maintainer scripts; and the
maintainer scripts themselves, twice:

- for real, with dpkg into a throwaway root without a chroot
  (dpkg --root --force-script-chrootless, which runs them with DPKG_ROOT):
  the user and groups, enabling, a reinstall, a purge that keeps the state;
- the branches that only run under a live systemd (start, restart, stop),
  in a private mount namespace where /run/systemd/system exists and /etc
  is an overlay, with systemctl, deb-systemd-invoke, systemd-sysusers and
  udevadm replaced by stubs that log their arguments.

Nothing here writes to the real /usr, /etc or /run, or starts a unit.
"""
import glob
import os
import re
import shutil
import subprocess
import textwrap

import pytest

from conftest import REPO

# `make deps` installs dpkg-dev, systemd and shellcheck: a missing tool is a
# failure, not a skip
for _tool in ("dpkg-deb", "dpkg-shlibdeps", "shellcheck", "systemd-sysusers", "systemctl"):
    assert shutil.which(_tool), "%s missing: run make deps" % _tool

VERSION = re.search(r"(?m)^VERSION\s*:?=\s*(\S+)", open(os.path.join(REPO, "Makefile")).read()).group(1)

# Every file `make install PREFIX=/usr SYSCONFDIR=/etc` installs, and its mode.
EXPECTED = {
    "usr/sbin/wicketd": 0o755,
    "usr/bin/wicketctl": 0o755,
    "usr/bin/wicket-sim": 0o755,
    "usr/lib/wicket/plugins/libwicket-modbus.so": 0o644,
    "usr/lib/wicket/plugins/modbus-thermal.so": 0o644,
    "usr/lib/wicket/plugins/modbus-reader.so": 0o644,
    "usr/lib/wicket/plugins/modbus-gate.so": 0o644,
    "usr/lib/wicket/plugins/libwicket-gpio.so": 0o644,
    "usr/lib/wicket/plugins/gpio.so": 0o644,
    "usr/lib/wicket/plugins/wiegand.so": 0o644,
    "usr/lib/wicket/plugins/serial-scanner.so": 0o644,
    "usr/lib/systemd/system/wicketd.service": 0o644,
    "usr/lib/sysusers.d/wicket.conf": 0o644,
    "usr/lib/udev/rules.d/60-wicket-gpio.rules": 0o644,
    "etc/wicket/wicketd.conf.example": 0o644,
    "etc/wicket/rules.json": 0o644,
    "etc/wicket/rules.json.example": 0o644,
    "etc/wicket/rules-cases.json.example": 0o644,
    "usr/share/man/man1/wicketctl.1": 0o644,
    "usr/share/man/man1/wicket-sim.1": 0o644,
    "usr/share/man/man5/wicketd.conf.5": 0o644,
    "usr/share/man/man8/wicketd.8": 0o644,
    "usr/share/doc/wicket/README.md": 0o644,
}
# installed by glob: every profile and every document of the tree
EXPECTED.update({"etc/wicket/profiles/" + os.path.basename(p): 0o644
                 for p in glob.glob(os.path.join(REPO, "etc/wicket/profiles/*.conf"))})
EXPECTED.update({"usr/share/doc/wicket/" + os.path.basename(p): 0o644
                 for p in glob.glob(os.path.join(REPO, "docs/*.md"))})

SCRIPTS = ["postinst", "prerm", "postrm"]


MAKE_VARS = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZE", "CROSS", "BUILD", "DESTDIR",
             "PREFIX", "SYSCONFDIR", "LOCALSTATEDIR", "SBINDIR", "BINDIR", "LIBDIR", "PLUGINDIR",
             "MANDIR", "DOCDIR", "UNITDIR", "SYSUSERSDIR", "UDEVRULESDIR", "DEB_BUILD", "DEB_OUT"}


def clean_env(**extra):
    """The environment without what the outer make passes down: `make check`
    exports MAKEFLAGS (its jobserver) and the variables given on its command
    line (SANITIZE=1, CROSS=..., BUILD=...), which must not change the inner
    builds; the compiler and its flags may."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARS}
    env.update(extra)
    return env


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(map(str, cmd)), p.returncode,
                                                   p.stdout[-3000:], p.stderr[-3000:]))
    return p


def make(*args):
    return run(["make", "-C", REPO, "-j2"] + list(args), env=clean_env())


def files_under(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = os.lstat(p).st_mode & 0o7777
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(install root, .deb path, build dir)."""
    top = tmp_path_factory.mktemp("install")
    build, root, out = top / "build", top / "root", top / "out"
    make("install", "DESTDIR=%s" % root, "PREFIX=/usr", "SYSCONFDIR=/etc", "BUILD=%s" % build)
    make("deb", "DEB_BUILD=%s" % build, "DEB_OUT=%s" % out)
    debs = glob.glob(str(out / "*.deb"))
    assert len(debs) == 1, debs
    return root, debs[0], build


# ---- make install ----------------------------------------------------------

def test_install_tree(built):
    root, _, _ = built
    got = files_under(str(root))
    missing = sorted(set(EXPECTED) - set(got))
    extra = sorted(set(got) - set(EXPECTED))
    assert not missing and not extra, "missing %s, unexpected %s" % (missing, extra)
    wrong = {p: oct(m) for p, m in got.items() if m != EXPECTED[p]}
    assert not wrong, "modes: %s" % wrong


def test_installed_programs_run(built):
    root, _, _ = built
    for prog in ["usr/sbin/wicketd", "usr/bin/wicketctl", "usr/bin/wicket-sim"]:
        p = run([str(root / prog), "--version"])
        assert p.stdout.startswith("%s %s" % (os.path.basename(prog), VERSION)), p.stdout
    # the directories compiled in are the installed ones
    p = run([str(root / "usr/sbin/wicketd"), "--help"])
    assert "/etc/wicket/wicketd.conf" in p.stdout


def test_installed_plugins_load(built, tmp_path):
    """wicketd -t with the shipped example, pointed at the installed tree:
    it dlopens each plugin, which finds libwicket-modbus.so next to it."""
    root, _, _ = built
    conf = open(root / "etc/wicket/wicketd.conf.example").read()
    for key, val in [("state_dir", tmp_path / "state"),
                     ("plugin_dir", root / "usr/lib/wicket/plugins"),
                     ("profile_dir", root / "etc/wicket/profiles"),
                     ("rules", root / "etc/wicket/rules.json")]:
        conf, n = re.subn(r"(?m)^#?\s*%s\s*=.*$" % key, "%s = %s" % (key, val), conf, count=1)
        assert n == 1, key
    assert re.search(r"(?m)^plugin\s*=\s*modbus-gate", conf)
    (tmp_path / "wicketd.conf").write_text(conf)
    p = run([str(root / "usr/sbin/wicketd"), "-t", "-c", str(tmp_path / "wicketd.conf")],
            check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    # and a missing plugin is noticed, so the check above means something
    (tmp_path / "bad.conf").write_text(conf.replace("modbus-gate", "modbus-nogate"))
    p = run([str(root / "usr/sbin/wicketd"), "-t", "-c", str(tmp_path / "bad.conf")],
            check=False)
    assert p.returncode != 0 and "modbus-nogate" in p.stderr


def test_installed_unit_names_installed_paths(built):
    root, _, _ = built
    unit = open(root / "usr/lib/systemd/system/wicketd.service").read()
    assert "ExecStart=/usr/sbin/wicketd -c /etc/wicket/wicketd.conf" in unit
    assert "ConditionPathExists=/etc/wicket/wicketd.conf" in unit
    assert not re.search(r"@[A-Z]+@", unit)


def test_install_refuses_objects_for_other_directories(built, tmp_path):
    """The build is for /usr: installing it for /opt/wicket would leave
    programs looking for their plugins in /usr/lib/wicket/plugins."""
    _, _, build = built
    p = run(["make", "-C", REPO, "install", "DESTDIR=%s" % tmp_path, "PREFIX=/opt/wicket",
             "BUILD=%s" % build], check=False, env=clean_env())
    assert p.returncode != 0
    assert "built for other directories" in p.stderr
    assert not os.path.exists(tmp_path / "opt/wicket/sbin/wicketd")


def test_install_keeps_the_administrators_rules(built, tmp_path):
    _, _, build = built
    rules = tmp_path / "etc/wicket/rules.json"
    rules.parent.mkdir(parents=True)
    rules.write_text("{\"mine\": true}\n")
    make("install", "DESTDIR=%s" % tmp_path, "PREFIX=/usr", "SYSCONFDIR=/etc", "BUILD=%s" % build)
    assert rules.read_text() == "{\"mine\": true}\n"
    assert (tmp_path / "etc/wicket/rules.json.example").exists()


# ---- make deb --------------------------------------------------------------

def control_fields(deb):
    text = run(["dpkg-deb", "-f", deb]).stdout
    return dict(re.findall(r"(?m)^([A-Za-z-]+): (.*)$", text))


def test_deb_name_and_control(built):
    _, deb, _ = built
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert os.path.basename(deb) == "wicket_%s_%s.deb" % (VERSION, arch)
    f = control_fields(deb)
    assert f["Package"] == "wicket" and f["Version"] == VERSION and f["Architecture"] == arch
    assert f["Maintainer"] and f["Description"]
    assert int(f["Installed-Size"]) > 100
    deps = [d.strip() for d in f["Depends"].split(",")]
    names = {re.match(r"[a-z0-9.+-]+", d).group(0) for d in deps}
    for lib in ["libc6", "libmodbus5", "libmosquitto1", "libinih1", "libsqlite3-0", "libssl3",
                "libgpiod2"]:
        assert lib in names, "Depends lacks %s: %s" % (lib, f["Depends"])
    assert "systemd-sysusers | adduser" in deps
    # the package's own libwicket-modbus.so is no dependency
    assert not any("wicket" in n for n in names)


def test_deb_files(built):
    _, deb, _ = built
    listing = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
    files = {}
    for line in listing:
        perms, owner, _size, _d, _t, path = line.split(None, 5)
        assert owner == "root/root", line
        if not perms.startswith("d"):
            files[path[2:]] = perms
    assert set(files) == set(EXPECTED), "package and install differ: %s" % sorted(
        set(files) ^ set(EXPECTED))
    assert files["usr/sbin/wicketd"] == "-rwxr-xr-x"
    assert files["usr/lib/wicket/plugins/modbus-gate.so"] == "-rw-r--r--"
    # the state directory is systemd's (StateDirectory=), never the package's
    assert not any(line.split(None, 5)[5].startswith("./var/") for line in listing)


def test_deb_conffiles_and_scripts(built, tmp_path):
    _, deb, _ = built
    run(["dpkg-deb", "-e", deb, str(tmp_path / "DEBIAN")])
    conffiles = open(tmp_path / "DEBIAN/conffiles").read().split()
    assert sorted(conffiles) == sorted("/" + p for p in EXPECTED if p.startswith("etc/"))
    assert "/etc/wicket/wicketd.conf" not in conffiles  # only the example ships
    info = run(["dpkg-deb", "-I", deb]).stdout
    for s in SCRIPTS:
        path = tmp_path / "DEBIAN" / s
        assert os.stat(path).st_mode & 0o777 == 0o755, s
        assert re.search(r"\*\s+%s\s+#!/bin/sh" % s, info), s
        run(["sh", "-n", str(path)])
        run(["shellcheck", "-s", "sh", str(path)])
    md5 = open(tmp_path / "DEBIAN/md5sums").read()
    assert "usr/sbin/wicketd\n" in md5


# ---- the maintainer scripts, through dpkg into a throwaway root ------------

def dpkg_root(root, *args):
    return run(["dpkg", "--root=%s" % root, "--force-script-chrootless", "--force-depends",
                "--log=/dev/null"] + list(args), env=clean_env())


@pytest.fixture
def sysroot(tmp_path):
    root = tmp_path / "sys"
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"]:
        (root / d).mkdir(parents=True)
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"]:
        (root / f).touch()
    return root


def wants_link(root):
    return root / "etc/systemd/system/multi-user.target.wants/wicketd.service"


@pytest.mark.skipif(os.geteuid() != 0, reason="dpkg --root needs root to give files to root")
def test_deb_installs_into_a_root(built, sysroot):
    _, deb, _ = built
    p = dpkg_root(sysroot, "-i", deb)
    assert "wicketd.conf does not exist, so wicketd is not started" in p.stdout
    assert (sysroot / "usr/sbin/wicketd").exists()
    passwd = open(sysroot / "etc/passwd").read()
    group = open(sysroot / "etc/group").read()
    m = re.search(r"(?m)^wicket:x:(\d+):(\d+):[^:]*:/var/lib/wicket:(\S+)$", passwd)
    assert m and int(m.group(1)) < 1000 and m.group(3).endswith("nologin"), passwd
    assert re.search(r"(?m)^wicket:x:%s:" % m.group(2), group), group
    assert re.search(r"(?m)^gpio:x:\d+:", group), group
    # enabled on the first installation, not started (nothing may start here)
    assert os.readlink(wants_link(sysroot)) == "/usr/lib/systemd/system/wicketd.service"
    assert not (sysroot / "var/lib/wicket").exists()

    # the administrator disables it and configures; a reinstall (an
    # upgrade's path) keeps it disabled and the configuration untouched
    os.unlink(wants_link(sysroot))
    (sysroot / "etc/wicket/wicketd.conf").write_text("[wicketd]\n")
    p = dpkg_root(sysroot, "-i", deb)
    assert "does not exist" not in p.stdout
    assert not os.path.lexists(wants_link(sysroot))
    assert (sysroot / "etc/wicket/wicketd.conf").read_text() == "[wicketd]\n"

    # purge: the ledger and the registry stay, and so does the user
    state = sysroot / "var/lib/wicket"
    state.mkdir(parents=True)
    (state / "ledger.db").write_text("the record\n")
    (state / "registry.db").write_text("the residents\n")
    os.symlink("/usr/lib/systemd/system/wicketd.service", wants_link(sysroot))
    p = dpkg_root(sysroot, "--purge", "wicket")
    assert "is kept" in p.stdout
    assert (state / "ledger.db").read_text() == "the record\n"
    assert (state / "registry.db").read_text() == "the residents\n"
    assert not os.path.lexists(wants_link(sysroot))
    assert not (sysroot / "usr/sbin/wicketd").exists()
    assert not (sysroot / "etc/wicket/rules.json").exists()      # a conffile
    assert (sysroot / "etc/wicket/wicketd.conf").exists()        # the administrator's
    assert re.search(r"(?m)^wicket:", open(sysroot / "etc/passwd").read())


# ---- the live-systemd branches, with stubs ---------------------------------

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
exit 0
"""

# Runs in a private mount namespace: /run is a fresh tmpfs with
# /run/systemd/system (systemd "running") and a udev control socket, /etc an
# overlay whose changes land in that tmpfs and vanish with the namespace.
NS_SETUP = textwrap.dedent("""\
    set -e
    mount -t tmpfs tmpfs /run
    mkdir -p /run/systemd/system /run/udev /run/overlay/upper /run/overlay/work
    python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("/run/udev/control")'
    mount -t overlay overlay \\
      -o lowerdir=/etc,upperdir=/run/overlay/upper,workdir=/run/overlay/work /etc
""")
NAMESPACE = NS_SETUP + textwrap.dedent("""\
    mkdir -p /etc/wicket
    if [ "$CONF" = yes ]; then echo '[wicketd]' > /etc/wicket/wicketd.conf; fi
    export PATH="$STUBS:$PATH"
    exec sh "$SCRIPT" "$@"
""")


def can_unshare():
    """Root, mount namespaces, tmpfs and overlayfs: what NAMESPACE needs."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", NS_SETUP],
                          capture_output=True).returncode == 0


def live(built, tmp_path, script, args, conf):
    """Run a maintainer script as under a live systemd; returns (stdout,
    the stub calls)."""
    _, deb, _ = built
    ctl = tmp_path / "DEBIAN"
    if not ctl.exists():
        run(["dpkg-deb", "-e", deb, str(ctl)])
    stubs, log = tmp_path / "stubs", tmp_path / "calls.log"
    stubs.mkdir(exist_ok=True)
    for name in ["systemctl", "deb-systemd-invoke", "systemd-sysusers", "udevadm"]:
        (stubs / name).write_text(STUB.format(log=log))
        os.chmod(stubs / name, 0o755)
    if log.exists():
        log.unlink()
    env = clean_env(STUBS=str(stubs), SCRIPT=str(ctl / script), CONF="yes" if conf else "no")
    env.pop("DPKG_ROOT", None)
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE, script]
            + args, env=env)
    calls = log.read_text().splitlines() if log.exists() else []
    return p.stdout, calls


needs_namespace = pytest.mark.skipif(not can_unshare(),
                                     reason="needs root and mount namespaces (unshare -m)")


@needs_namespace
@pytest.mark.parametrize("case, args, conf, expect", [
    # first installation, only the example: users, udev, enabled, not started
    ("install", ["configure", ""], False,
     ["systemd-sysusers wicket.conf", "udevadm control --reload-rules",
      "udevadm trigger --subsystem-match=gpio --action=change",
      "systemctl --system daemon-reload", "systemctl --quiet enable wicketd.service"]),
    # first installation over a kept configuration: enabled and started
    ("install-configured", ["configure", ""], True,
     ["systemd-sysusers wicket.conf", "udevadm control --reload-rules",
      "udevadm trigger --subsystem-match=gpio --action=change",
      "systemctl --system daemon-reload", "systemctl --quiet enable wicketd.service",
      "deb-systemd-invoke restart wicketd.service"]),
    # upgrade of a configured gate: started again, the enablement left alone
    ("upgrade", ["configure", "0.0.9"], True,
     ["systemd-sysusers wicket.conf", "udevadm control --reload-rules",
      "udevadm trigger --subsystem-match=gpio --action=change",
      "systemctl --system daemon-reload", "deb-systemd-invoke restart wicketd.service"]),
    # upgrade of an unconfigured one: nothing started
    ("upgrade-unconfigured", ["configure", "0.0.9"], False,
     ["systemd-sysusers wicket.conf", "udevadm control --reload-rules",
      "udevadm trigger --subsystem-match=gpio --action=change",
      "systemctl --system daemon-reload"]),
], ids=["install", "install-configured", "upgrade", "upgrade-unconfigured"])
def test_postinst_live(built, tmp_path, case, args, conf, expect):
    out, calls = live(built, tmp_path, "postinst", args, conf)
    assert calls == expect, "%s: %s" % (case, calls)
    assert ("is not started" in out) == (not conf), out


@needs_namespace
@pytest.mark.parametrize("script, args, expect", [
    ("prerm", ["upgrade", "0.1.1"], ["systemctl stop wicketd.service"]),
    ("prerm", ["remove"], ["systemctl stop wicketd.service"]),
    ("postrm", ["remove"], ["systemctl --system daemon-reload",
                            "udevadm control --reload-rules"]),
    ("postrm", ["purge"], ["systemctl --system daemon-reload",
                           "udevadm control --reload-rules"]),
], ids=["prerm-upgrade", "prerm-remove", "postrm-remove", "postrm-purge"])
def test_prerm_postrm_live(built, tmp_path, script, args, expect):
    _, calls = live(built, tmp_path, script, args, conf=True)
    assert calls == expect, calls
