"""The Debian package: `cpack -G DEB` builds iotdb-backupd_<version>_<arch>.deb
with the programs, the unit, the sysusers file, the journal catalog, the man
pages, the bash completion and the default settings as a conffile; its
Depends come from the binaries; it installs into a scratch root (dpkg --root,
maintainer scripts run chrootless) where postinst creates the service user;
and no maintainer script enables, starts or restarts the service.

The package needs a build configured with the prefix /usr: IB_BUILD_DIR is
reused when it is one (RelWithDebInfo), otherwise a build of the programs
and man pages is made in a temporary directory. Skipped in the sanitizer
build: packaging an ASan build is meaningless."""

import glob
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import ibtest

TOOLS = ("cmake", "cpack", "dpkg", "dpkg-deb", "dpkg-shlibdeps", "file")
CONFFILE = "/etc/iotdb-backupd/iotdb-backupd.conf"
STUB = '#!/bin/sh\necho "$(basename "$0") $*" >>"%s"\n%s\n'


def sh(cmd, timeout=600, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=ibtest.scaled(timeout), **kw)
    if r.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def cache_value(build_dir, name):
    path = os.path.join(build_dir, "CMakeCache.txt")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        m = re.search(r"^%s:[A-Z]+=(.*)$" % re.escape(name), f.read(), re.M)
    return m.group(1) if m else None


def project_version():
    with open(os.path.join(ibtest.SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(iotdb-backupd VERSION ([0-9.]+)", f.read()).group(1)


def parse_deb822(text):
    """Paragraphs of a deb822 file (control, machine-readable copyright) as
    dicts; continuation lines are joined with newlines, " ." is an empty line."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if key is None:
                    raise AssertionError("continuation line before a field: %r" % line)
                fields[key] += "\n" + ("" if line.strip() == "." else line.strip())
            else:
                key, sep, value = line.partition(":")
                if not sep:
                    raise AssertionError("not a field: %r" % line)
                fields[key] = value.strip()
        paragraphs.append(fields)
    return paragraphs


def pkg_config_var(module, var, fallback):
    r = subprocess.run(["pkg-config", "--variable=" + var, module], capture_output=True,
                       text=True)
    return r.stdout.strip() or fallback


def needed_packages(binary):
    """Debian packages of the shared libraries binary links directly (as the
    dynamic linker resolves them: libc.so.6 of libc6, not of libc6-i386)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]",
                        sh(["readelf", "-d", binary]).stdout)
    resolved = dict(re.findall(r"(?m)^\s*(\S+) => (/\S+)", sh(["ldd", binary]).stdout))

    def canonical(path):  # /lib and /usr/lib are one directory (merged /usr)
        path = os.path.dirname(os.path.realpath(path))
        return path[4:] if path.startswith("/usr/") else path

    packages = set()
    for soname in needed:
        if soname not in resolved:
            raise AssertionError("ldd does not resolve %s of %s" % (soname, binary))
        where = canonical(resolved[soname])
        r = subprocess.run(["dpkg", "-S", "*/" + soname], capture_output=True, text=True)
        owners = {line.split(":", 1)[0] for line in r.stdout.splitlines()
                  if canonical(line.split(": ", 1)[1]) == where}
        if len(owners) != 1:
            raise AssertionError("%s (%s): owners %s" % (soname, resolved[soname], owners))
        packages |= owners
    return packages


def write_stub(path, log, tail="exit 0"):
    with open(path, "w", encoding="utf-8") as f:
        f.write(STUB % (log, tail))
    os.chmod(path, 0o755)


def calls(log):
    if not os.path.exists(log):
        return []
    with open(log, encoding="utf-8") as f:
        return f.read().splitlines()


class Package:
    """The .deb, built once for all tests of this module (tearDownModule removes it)."""

    tmp = deb = extracted = control = build_dir = None

    @classmethod
    def get(cls):
        if cls.deb:
            return cls
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            raise unittest.SkipTest("needs %s (apt-get install dpkg-dev file cmake)"
                                    % ", ".join(missing))
        cls.tmp = tempfile.mkdtemp(prefix="ibpkg-")
        build_dir = cls.packaging_build()
        out = os.path.join(cls.tmp, "pkg")
        sh(["cpack", "-G", "DEB", "--config", os.path.join(build_dir, "CPackConfig.cmake"),
            "-B", out], timeout=600)
        debs = glob.glob(os.path.join(out, "*.deb"))
        if len(debs) != 1:
            raise AssertionError("expected one .deb in %s, got %s" % (out, debs))
        cls.extracted = os.path.join(cls.tmp, "extracted")
        sh(["dpkg-deb", "-x", debs[0], cls.extracted])
        cls.control = os.path.join(cls.tmp, "control")
        sh(["dpkg-deb", "-e", debs[0], cls.control])
        cls.deb = debs[0]
        cls.build_dir = build_dir
        return cls

    @classmethod
    def packaging_build(cls):
        build = ibtest.BUILD_DIR
        if (cache_value(build, "CMAKE_INSTALL_PREFIX") == "/usr"
                and cache_value(build, "CMAKE_BUILD_TYPE") == "RelWithDebInfo"
                and cache_value(build, "IB_SANITIZE") in ("OFF", None)):
            return build
        build = os.path.join(cls.tmp, "build")
        sh(["cmake", "-S", ibtest.SOURCE_DIR, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
            "-DCMAKE_INSTALL_PREFIX=/usr", "-DIB_BUILD_TESTS=OFF", "-DIB_WERROR=OFF"])
        sh(["cmake", "--build", build, "-j2"], timeout=900)
        return build


def tearDownModule():
    if Package.tmp:
        shutil.rmtree(Package.tmp, ignore_errors=True)


@unittest.skipIf(ibtest.SANITIZE, "packaging a sanitizer build is meaningless (IB_SANITIZE=1)")
class PackageTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pkg = Package.get()
        cls.tmp, cls.deb, cls.extracted, cls.control = (pkg.tmp, pkg.deb, pkg.extracted,
                                                        pkg.control)
        cls.build_dir = pkg.build_dir

    def script(self, name):
        with open(os.path.join(self.control, name), encoding="utf-8") as f:
            return f.read()


class TestPackageFile(PackageTestCase):
    def test_name_and_control_fields(self):
        arch = sh(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(os.path.basename(self.deb),
                         "iotdb-backupd_%s_%s.deb" % (project_version(), arch))
        info = sh(["dpkg-deb", "-I", self.deb]).stdout
        fields = dict(re.findall(r"(?m)^ ([A-Z][A-Za-z-]+): (.*)$", info))
        self.assertEqual(fields["Package"], "iotdb-backupd")
        self.assertEqual(fields["Version"], project_version())
        self.assertEqual(fields["Architecture"], arch)
        self.assertEqual(fields["Section"], "admin")
        self.assertTrue(fields["Maintainer"])
        self.assertIn(" .\n", sh(["dpkg-deb", "-f", self.deb, "Description"]).stdout)

    def test_depends(self):
        depends = sh(["dpkg-deb", "-f", self.deb, "Depends"]).stdout.strip()
        names = {d.strip().split(" ", 1)[0] for d in depends.split(",")}
        self.assertGreaterEqual(names, {"libuv1", "libcurl4", "libsqlite3-0", "libcjson1",
                                        "libsystemd0", "libnettle8", "libc6", "systemd"})
        # Every library the programs link is a dependency.
        for prog in ("usr/sbin/iotdb-backupd", "usr/bin/iotdb-backupctl"):
            self.assertLessEqual(needed_packages(os.path.join(self.extracted, prog)), names,
                                 prog)
        # Versions where the shlibs file gives them, e.g. "libuv1 (>= 1.20.2)".
        self.assertRegex(depends, r"libuv1 \(>= [0-9.]+\)")

    def test_contents(self):
        listing = sh(["dpkg-deb", "-c", self.deb]).stdout.splitlines()
        entries = {}
        for line in listing:
            mode, owner, _size, _date, _time, path = line.split(None, 5)
            entries[path.split(" -> ")[0].lstrip(".")] = (mode, owner)
        unitdir = pkg_config_var("systemd", "systemdsystemunitdir", "/lib/systemd/system")
        expected = {
            "/usr/sbin/iotdb-backupd": "-rwxr-xr-x",
            "/usr/bin/iotdb-backupctl": "-rwxr-xr-x",
            unitdir + "/iotdb-backupd.service": "-rw-r--r--",
            "/usr/lib/sysusers.d/iotdb-backupd.conf": "-rw-r--r--",
            "/usr/lib/systemd/catalog/iotdb-backupd.catalog": "-rw-r--r--",
            "/usr/share/man/man8/iotdb-backupd.8.gz": "-rw-r--r--",
            "/usr/share/man/man8/iotdb-backupctl.8.gz": "-rw-r--r--",
            "/usr/share/man/man5/iotdb-backupd.task.5.gz": "-rw-r--r--",
            "/usr/share/bash-completion/completions/iotdb-backupctl": "-rw-r--r--",
            CONFFILE: "-rw-r--r--",
            "/etc/iotdb-backupd/tasks.d/": "drwxr-xr-x",
            "/usr/share/doc/iotdb-backupd/README.md": "-rw-r--r--",
            "/usr/share/doc/iotdb-backupd/copyright": "-rw-r--r--",
            "/usr/share/doc/iotdb-backupd/control-protocol.md": "-rw-r--r--",
            "/usr/share/doc/iotdb-backupd/metrics.md": "-rw-r--r--",
            "/usr/share/doc/iotdb-backupd/examples/iotdb-backupd.conf": "-rw-r--r--",
            "/usr/share/doc/iotdb-backupd/examples/tasks.d/example-localdir.json": "-rw-r--r--",
            "/usr/share/doc/iotdb-backupd/examples/tasks.d/example-remotehdfs.json":
                "-rw-r--r--",
        }
        for path, mode in expected.items():
            self.assertIn(path, entries)
            self.assertEqual(entries[path], (mode, "root/root"), path)
        # tasks.d ships empty: the examples are documentation, never live tasks.
        self.assertEqual([p for p in entries if p.startswith("/etc/iotdb-backupd/tasks.d/")],
                         ["/etc/iotdb-backupd/tasks.d/"])
        self.assertFalse([p for p in entries if "/usr/local" in p or "/tmp" in p])

    def test_installed_files_match_the_sources(self):
        unitdir = pkg_config_var("systemd", "systemdsystemunitdir", "/lib/systemd/system")
        pairs = [("systemd/iotdb-backupd.service", unitdir + "/iotdb-backupd.service"),
                 ("systemd/iotdb-backupd.sysusers", "/usr/lib/sysusers.d/iotdb-backupd.conf"),
                 ("systemd/iotdb-backupd.catalog",
                  "/usr/lib/systemd/catalog/iotdb-backupd.catalog"),
                 ("conf/iotdb-backupd.conf", CONFFILE)]
        for src, dst in pairs:
            with open(os.path.join(ibtest.SOURCE_DIR, src), "rb") as a, \
                    open(self.extracted + dst, "rb") as b:
                # With the prefix /usr the unit's paths need no change.
                self.assertEqual(a.read(), b.read(), src)
        for page in ("man8/iotdb-backupd.8", "man8/iotdb-backupctl.8",
                     "man5/iotdb-backupd.task.5"):
            with gzip.open(os.path.join(self.extracted, "usr/share/man", page + ".gz"),
                           "rt") as f:
                self.assertRegex(f.read(4096), r'(?m)^\.TH "%s"' % re.escape(
                    os.path.basename(page).rsplit(".", 1)[0]))

    def test_copyright_is_machine_readable(self):
        with open(os.path.join(self.extracted, "usr/share/doc/iotdb-backupd/copyright"),
                  encoding="utf-8") as f:
            paragraphs = parse_deb822(f.read())
        header, files, license_ = paragraphs
        self.assertEqual(header["Format"],
                         "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
        self.assertEqual(header["Upstream-Name"], "iotdb-backupd")
        self.assertEqual(files["Files"], "*")
        self.assertRegex(files["Copyright"], r"^\d{4}(-\d{4})? \S")
        self.assertEqual(files["License"], "Apache-2.0")
        # The stand-alone License paragraph names the same license and points
        # at Debian's copy of its text, which matches the repository's LICENSE.
        name, _, text = license_["License"].partition("\n")
        self.assertEqual(name, "Apache-2.0")
        self.assertIn('"/usr/share/common-licenses/Apache-2.0"', " ".join(text.split()))
        self.assertIn("http://www.apache.org/licenses/LICENSE-2.0", text)
        with open(os.path.join(ibtest.SOURCE_DIR, "LICENSE"), encoding="utf-8") as f:
            license_file = f.read()
        self.assertIn("Apache License\n                           Version 2.0, January 2004",
                      license_file)
        common = "/usr/share/common-licenses/Apache-2.0"
        if os.path.exists(common):
            with open(common, encoding="utf-8") as f:
                self.assertEqual(license_file, f.read())

    def test_conffiles_and_scripts(self):
        with open(os.path.join(self.control, "conffiles"), encoding="utf-8") as f:
            self.assertEqual(f.read().split(), [CONFFILE])
        for name in ("postinst", "prerm", "postrm"):
            mode = os.stat(os.path.join(self.control, name)).st_mode & 0o777
            self.assertEqual(mode, 0o755, name)
            self.assertTrue(self.script(name).startswith("#!/bin/sh\n"), name)
            sh(["sh", "-n", os.path.join(self.control, name)])

    def test_scripts_never_start_the_service(self):
        verb = re.compile(r"\b(systemctl|deb-systemd-invoke|deb-systemd-helper|invoke-rc\.d|"
                          r"service)\b[^\n#]*\b(start|restart|try-restart|reload-or-restart|"
                          r"enable|reenable|preset|unmask)\b")
        for name in ("postinst", "prerm", "postrm"):
            # Commands only: no comments, no quoted text (advice to the operator).
            code = [re.sub(r"\"[^\"]*\"|'[^']*'", "", line)
                    for line in self.script(name).splitlines()
                    if not line.lstrip().startswith("#")]
            self.assertEqual([l for l in code if verb.search(l)], [], name)
        # The decision is documented where a packager would look for it.
        postinst = self.script("postinst")
        self.assertIn("never enables, starts or restarts", postinst)
        self.assertIn("#   # deb-systemd-invoke start iotdb-backupd.service", postinst)
        # Stopping is only for "remove" (the program is going away).
        self.assertRegex(self.script("prerm"), r'"\$1" = "remove".*\n.*systemctl --system stop')


class TestCmakeInstall(PackageTestCase):
    def test_unit_follows_the_install_prefix(self):
        # `cmake --install --prefix DIR` installs a unit that starts the
        # daemon it installed (DESTDIR keeps it all in a scratch dir).
        dest = tempfile.mkdtemp(prefix="ibdest-", dir=self.tmp)
        sh(["cmake", "--install", self.build_dir, "--prefix", "/opt/ib"],
           env=dict(os.environ, DESTDIR=dest))
        unitdir = pkg_config_var("systemd", "systemdsystemunitdir", "/lib/systemd/system")
        with open(dest + unitdir + "/iotdb-backupd.service", encoding="utf-8") as f:
            unit = f.read()
        self.assertIn("\nExecStart=/opt/ib/sbin/iotdb-backupd\n", unit)
        self.assertIn("\nExecReload=/opt/ib/bin/iotdb-backupctl reload\n", unit)
        self.assertIn("file:///opt/ib/share/doc/iotdb-backupd/README.md", unit)
        self.assertNotIn("/usr/sbin", unit)
        for prog in ("/opt/ib/sbin/iotdb-backupd", "/opt/ib/bin/iotdb-backupctl"):
            self.assertTrue(os.access(dest + prog, os.X_OK), prog)
        self.assertTrue(os.path.isdir(dest + "/etc/iotdb-backupd/tasks.d"))


def dpkg_root_works():
    return shutil.which("dpkg") and shutil.which("systemd-sysusers")


class TestInstall(PackageTestCase):
    def setUp(self):
        if not dpkg_root_works():
            self.skipTest("needs dpkg and systemd-sysusers")
        self.root = tempfile.mkdtemp(prefix="ibroot-", dir=self.tmp)
        admin = os.path.join(self.root, "var", "lib", "dpkg")
        for d in ("info", "updates"):
            os.makedirs(os.path.join(admin, d))
        for f in ("status", "available"):
            open(os.path.join(admin, f), "w").close()
        # Any systemctl the scripts run is recorded (and does nothing).
        self.stubs = os.path.join(self.root + "-stubs")
        os.makedirs(self.stubs)
        self.log = os.path.join(self.stubs, "calls.log")
        write_stub(os.path.join(self.stubs, "systemctl"), self.log)

    def dpkg(self, *args):
        env = dict(os.environ, PATH=self.stubs + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        env.pop("DPKG_ROOT", None)
        return sh(["dpkg", "--root=" + self.root, "--force-script-chrootless",
                   "--force-not-root", "--force-depends", "--log=/dev/null"] + list(args),
                  env=env)

    def path(self, p):
        return self.root + p

    def group_entry(self, name):
        with open(self.path("/etc/group"), encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if fields[0] == name:
                    return fields
        return None

    def test_install_upgrade_remove_purge(self):
        r = self.dpkg("-i", self.deb)
        self.assertIn("not enabled", r.stdout)
        status = sh(["dpkg-query", "--admindir=" + self.path("/var/lib/dpkg"), "-W",
                     "--showformat=${Status} ${Version}", "iotdb-backupd"]).stdout
        self.assertEqual(status, "install ok installed " + project_version())
        for p in ("/usr/sbin/iotdb-backupd", "/usr/bin/iotdb-backupctl", CONFFILE):
            self.assertTrue(os.path.isfile(self.path(p)), p)
        # postinst created the service user in the scratch root, not here.
        with open(self.path("/etc/passwd"), encoding="utf-8") as f:
            users = [line.split(":") for line in f]
        user = [u for u in users if u[0] == "iotdb-backup"]
        self.assertEqual(len(user), 1)
        self.assertEqual(user[0][5], "/var/lib/iotdb-backupd")
        group = self.group_entry("iotdb-backup")
        self.assertIsNotNone(group)
        self.assertIn("iotdb-backup", self.group_entry("iotdb")[3].split(","))
        # The configuration is readable by the daemon's group only.
        for d in ("/etc/iotdb-backupd", "/etc/iotdb-backupd/tasks.d"):
            st = os.stat(self.path(d))
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777),
                             (0, int(group[2]), 0o750), d)
        # No systemctl at all: the scratch root is not the running system.
        self.assertEqual(calls(self.log), [])

        # An operator's changes survive an upgrade (here: the same version again).
        with open(self.path(CONFFILE), "w", encoding="utf-8") as f:
            f.write('{"max_parallel_runs": 1}\n')
        with open(self.path("/etc/iotdb-backupd/tasks.d/nightly.json"), "w") as f:
            f.write("{}\n")
        os.chmod(self.path("/etc/iotdb-backupd"), 0o700)  # an admin's choice stays
        r = self.dpkg("-i", self.deb)
        self.assertNotIn("not enabled", r.stdout)
        with open(self.path(CONFFILE), encoding="utf-8") as f:
            self.assertEqual(f.read(), '{"max_parallel_runs": 1}\n')
        self.assertEqual(os.stat(self.path("/etc/iotdb-backupd")).st_mode & 0o777, 0o700)

        os.makedirs(self.path("/var/lib/iotdb-backupd"))
        open(self.path("/var/lib/iotdb-backupd/iotdb-backupd.db"), "w").close()
        self.dpkg("-r", "iotdb-backupd")
        self.assertFalse(os.path.exists(self.path("/usr/sbin/iotdb-backupd")))
        self.assertTrue(os.path.exists(self.path(CONFFILE)))  # remove keeps configuration
        self.assertTrue(os.path.exists(self.path("/var/lib/iotdb-backupd/iotdb-backupd.db")))
        self.dpkg("-P", "iotdb-backupd")
        self.assertFalse(os.path.exists(self.path(CONFFILE)))
        self.assertFalse(os.path.exists(self.path("/var/lib/iotdb-backupd")))
        # The operator's own task file is never deleted.
        self.assertTrue(os.path.exists(self.path("/etc/iotdb-backupd/tasks.d/nightly.json")))
        self.assertIsNotNone(self.group_entry("iotdb-backup"))  # system users stay
        self.assertEqual(calls(self.log), [])


def unshare_works():
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return r.returncode == 0


# Runs a maintainer script as on a system where systemd runs: in a private
# mount namespace, /run is a fresh tmpfs with /run/systemd/system, and the
# host's /etc/iotdb-backupd (if any) is hidden behind a tmpfs.
SYSTEMD_RUNNING = r'''
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
if [ -d /etc/iotdb-backupd ]; then mount -t tmpfs tmpfs /etc/iotdb-backupd; fi
exec sh "$@"
'''


@unittest.skipUnless(unshare_works(), "needs root and unshare --mount")
class TestScriptsWithSystemd(PackageTestCase):
    def setUp(self):
        self.stubs = tempfile.mkdtemp(prefix="ibstubs-", dir=self.tmp)
        self.log = os.path.join(self.stubs, "calls.log")
        # "systemctl is-active" answers "active"; sysusers only records.
        write_stub(os.path.join(self.stubs, "systemctl"), self.log)
        write_stub(os.path.join(self.stubs, "systemd-sysusers"), self.log)

    def run_script(self, name, *args):
        if os.path.exists(self.log):
            os.remove(self.log)
        env = dict(os.environ, PATH=self.stubs + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        env.pop("DPKG_ROOT", None)
        r = sh(["unshare", "--mount", "sh", "-c", SYSTEMD_RUNNING, "sh",
                os.path.join(self.control, name)] + list(args), env=env)
        return r, calls(self.log)

    def test_postinst_first_install(self):
        r, log = self.run_script("postinst", "configure", "")
        self.assertEqual(log, ["systemd-sysusers iotdb-backupd.conf",
                               "systemctl --system daemon-reload"])
        self.assertIn("systemctl enable --now iotdb-backupd", r.stdout)

    def test_postinst_upgrade_does_not_restart(self):
        r, log = self.run_script("postinst", "configure", "0.0.1")
        self.assertEqual(log, ["systemd-sysusers iotdb-backupd.conf",
                               "systemctl --system daemon-reload",
                               "systemctl is-active --quiet iotdb-backupd.service"])
        self.assertIn("keeps the previous version until it is restarted", r.stdout)

    def test_prerm_stops_only_on_remove(self):
        _r, log = self.run_script("prerm", "upgrade", "0.2.0")
        self.assertEqual(log, [])
        _r, log = self.run_script("prerm", "remove")
        self.assertEqual(log, ["systemctl --system stop iotdb-backupd.service"])

    def test_postrm_reloads(self):
        _r, log = self.run_script("postrm", "remove")
        self.assertEqual(log, ["systemctl --system daemon-reload"])
        _r, log = self.run_script("postrm", "upgrade", "0.2.0")
        self.assertEqual(log, [])


@unittest.skipIf(ibtest.SANITIZE, "packaging a sanitizer build is meaningless (IB_SANITIZE=1)")
class TestRefusals(unittest.TestCase):
    @unittest.skipUnless(shutil.which("cpack"), "cpack is not installed")
    def test_cpack_refuses_another_prefix(self):
        prefix = cache_value(ibtest.BUILD_DIR, "CMAKE_INSTALL_PREFIX")
        if prefix in (None, "/usr"):
            self.skipTest("IB_BUILD_DIR is not configured with another prefix")
        tmp = tempfile.mkdtemp(prefix="ibpkg-refuse-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        r = subprocess.run(["cpack", "-G", "DEB", "--config",
                            os.path.join(ibtest.BUILD_DIR, "CPackConfig.cmake"), "-B", tmp],
                           capture_output=True, text=True, timeout=ibtest.scaled(600))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("-DCMAKE_INSTALL_PREFIX=/usr", r.stdout + r.stderr)
        self.assertEqual(glob.glob(os.path.join(tmp, "*.deb")), [])


if __name__ == "__main__":
    unittest.main()
