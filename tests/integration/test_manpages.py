"""The man pages (docs/man/*.scd): they build with scdoc, render without
warnings, and document what the programs really accept: every option of
iotdb-backupd and iotdb-backupctl, every command, every error code, every
task file key and value the validator knows, every daemon setting and every
MESSAGE_ID; and their example task files pass check-config."""

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import ibtest

MAN_DIR = os.path.join(ibtest.SOURCE_DIR, "docs", "man")
PAGES = ["iotdb-backupd.8", "iotdb-backupctl.8", "iotdb-backupd.task.5"]
SCDOC = shutil.which("scdoc")


def read(*parts):
    with open(os.path.join(ibtest.SOURCE_DIR, *parts), encoding="utf-8") as f:
        return f.read()


def render(page):
    """(roff, plain text at 80 columns, man's warnings) of a page built from its source."""
    with open(os.path.join(MAN_DIR, page + ".scd"), "rb") as f:
        r = subprocess.run([SCDOC], stdin=f, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("scdoc failed on %s: %s" % (page, r.stderr.decode()))
    with tempfile.NamedTemporaryFile(suffix="." + page.rsplit(".", 1)[1]) as tmp:
        tmp.write(r.stdout)
        tmp.flush()
        env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
        m = subprocess.run(["man", "--warnings", "-l", tmp.name], capture_output=True, text=True,
                           env=env, timeout=60)
    if m.returncode != 0:
        raise AssertionError("man -l failed on %s: %s" % (page, m.stderr))
    return r.stdout.decode(), m.stdout, m.stderr


def without_date(roff):
    """A page without the build date scdoc puts in its .TH line."""
    return re.sub(r'(?m)^(\.TH "[^"]*" "[^"]*") "[0-9-]+"', r"\1", roff)


def c_string_array(source, name_regex):
    """Strings of the first C array initializer whose name matches name_regex."""
    m = re.search(r"\b%s\s*\[\]\s*=\s*\{(.*?)\};" % name_regex, source, re.S)
    if not m:
        raise AssertionError("array %s not found" % name_regex)
    return re.findall(r'"([^"]*)"', m.group(1))


def function_body(source, name):
    """The text of C function name (up to the next function at column 0)."""
    m = re.search(r"^static [^\n]*\b%s\(.*?^\}" % re.escape(name), source, re.S | re.M)
    if not m:
        raise AssertionError("function %s not found" % name)
    return m.group(0)


def scd_section(scd, heading):
    """The text of '# HEADING' or '## heading' up to the next heading of any level."""
    m = re.search(r"^#+ %s\b.*?\n(.*?)(?=^#)" % re.escape(heading), scd + "\n#", re.S | re.M)
    if not m:
        raise AssertionError("section %s not found" % heading)
    return m.group(1)


def usage_options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


@unittest.skipUnless(SCDOC and shutil.which("man"),
                     "scdoc or man is not installed (apt-get install scdoc man-db)")
class TestManPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scd = {p: read("docs", "man", p + ".scd") for p in PAGES}
        cls.rendered = {p: render(p) for p in PAGES}

    def text(self, page):
        return self.rendered[page][1]

    def test_pages_render_without_warnings(self):
        for page in PAGES:
            roff, text, warnings = self.rendered[page]
            self.assertEqual(warnings.strip(), "", page)
            name = page.rsplit(".", 1)[0]
            self.assertIn(".TH \"%s\" \"%s\"" % (name, page.rsplit(".", 1)[1]), roff)
            for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
                self.assertRegex(text, r"(?m)^%s$" % heading, page)

    def test_build_dir_has_the_pages(self):
        cache = os.path.join(ibtest.BUILD_DIR, "CMakeCache.txt")
        if not os.path.exists(cache):
            self.skipTest("no CMakeCache.txt in %s" % ibtest.BUILD_DIR)
        with open(cache, encoding="utf-8") as f:
            m = re.search(r"^SCDOC:FILEPATH=(.*)$", f.read(), re.M)
        if not m or m.group(1).endswith("NOTFOUND"):
            self.skipTest("the build was configured without scdoc")
        for page in PAGES:
            built = os.path.join(ibtest.BUILD_DIR, "man", page)
            self.assertTrue(os.path.exists(built), built)
            self.assertTrue(os.path.exists(built + ".gz"), built + ".gz")
            with open(built, encoding="utf-8") as f:
                self.assertEqual(without_date(f.read()), without_date(self.rendered[page][0]),
                                 "%s is stale" % built)

    def test_daemon_options(self):
        r = ibtest.run_cmd([ibtest.DAEMON, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        options = usage_options(r.stdout)
        self.assertGreaterEqual(options, {"--config-dir", "--state-dir", "--runtime-dir",
                                          "--check-config", "--version", "--help"})
        documented = usage_options(scd_section(self.scd["iotdb-backupd.8"], "OPTIONS"))
        self.assertEqual(options, documented)
        for signame in ("SIGHUP", "SIGTERM", "SIGINT"):
            self.assertIn(signame, scd_section(self.scd["iotdb-backupd.8"], "SIGNALS"))
        for var in ("CONFIGURATION_DIRECTORY", "STATE_DIRECTORY", "RUNTIME_DIRECTORY",
                    "NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM", "TZ"):
            self.assertIn(var, scd_section(self.scd["iotdb-backupd.8"], "ENVIRONMENT"))

    def test_ctl_commands_and_options(self):
        r = ibtest.run_cmd([ibtest.CTL, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        commands = re.findall(r"(?m)^  ([a-z][a-z-]+)(?: |$)", r.stdout)
        self.assertEqual(commands, ["status", "run", "reload", "check-config", "copies",
                                    "restore", "verify"])
        scd = self.scd["iotdb-backupctl.8"]
        global_opts = usage_options(r.stdout.split("Options:", 1)[1])
        self.assertEqual(global_opts, usage_options(scd_section(scd, "OPTIONS")))
        for cmd in commands:
            usage = ibtest.run_cmd([ibtest.CTL, cmd, "--help"])
            self.assertEqual(usage.returncode, 0, usage.stderr)
            opts = usage_options(usage.stdout) | {"--help"}
            section = scd_section(scd, cmd)
            # Each command's section names each of its options (--help is global).
            self.assertEqual(opts - usage_options(section), {"--help"}, cmd)
            self.assertIn(cmd, scd_section(scd, "SYNOPSIS"))
        for status in ("*0*", "*1*", "*2*"):
            self.assertIn(status, scd_section(scd, "EXIT STATUS"))

    def test_every_error_code(self):
        codes = re.findall(r"/\* (E_[A-Z_]+)", read("include", "ib_error.h"))
        self.assertGreater(len(codes), 20)
        table = scd_section(self.scd["iotdb-backupctl.8"], "ERROR CODES")
        documented = re.findall(r"^\|\s+(E_[A-Z_]+)$", table, re.M)
        self.assertEqual(sorted(documented), sorted(codes))
        task_codes = set(re.findall(r"\*(E_[A-Z_]+)\*",
                                    scd_section(self.scd["iotdb-backupd.task.5"], "ERROR CODES")))
        # The codes of task file problems, and only existing codes.
        self.assertGreaterEqual(task_codes, {"E_TASK_SYNTAX", "E_TASK_FIELD", "E_TASK_NAME",
                                             "E_TASK_FILE"})
        self.assertLessEqual(task_codes, set(codes))

    def test_every_task_key(self):
        source = read("lib", "task.c")
        parents = {"check_task": "", "check_period": "/period", "check_source": "/source",
                   "check_rest": "/source/rest", "check_target": "/target",
                   "check_auth": "/target/auth"}
        accepted = set()
        for func, parent in parents.items():
            keys = c_string_array(function_body(source, func), "keys")
            self.assertTrue(keys, func)
            accepted.update(parent + "/" + k for k in keys)
        # Objects are documented as keys too.
        scd = self.scd["iotdb-backupd.task.5"]
        documented = set(re.findall(r"^\*(/[a-z_/]+)\* \(", scd, re.M))
        self.assertEqual(documented, accepted)

    def test_every_task_value(self):
        source = read("lib", "task.c")
        text = self.text("iotdb-backupd.task.5")
        for array in ("MODE_NAMES", "UNIT_NAMES", "POLICY_NAMES", "CATCH_UP_NAMES",
                      "CLUSTER_MODE_NAMES", "TARGET_TYPE_NAMES", "IP_MODE_NAMES",
                      "AUTH_MODE_NAMES"):
            for value in c_string_array(source, array):
                self.assertIn('"%s"' % value, text, array)

    def test_every_daemon_setting(self):
        source = read("lib", "config.c")
        keys = c_string_array(function_body(source, "check_settings"), "keys")
        section = scd_section(self.scd["iotdb-backupd.8"], "CONFIGURATION")
        documented = set(re.findall(r"^\*([a-z_]+)\* \(", section, re.M))
        self.assertEqual(documented, set(keys))
        for level in c_string_array(source, "LEVEL_NAMES"):
            self.assertIn('"%s"' % level, section)

    def test_every_message_id(self):
        ids = re.findall(r'#define IBD_MSGID_\w+ "([0-9a-f]{32})"', read("daemon", "msgid.h"))
        self.assertGreaterEqual(len(ids), 9)
        documented = re.findall(r"^\*([0-9a-f]{32})\*$", self.scd["iotdb-backupd.8"], re.M)
        self.assertEqual(sorted(documented), sorted(ids))

    def examples(self, page):
        """The JSON objects shown in a page (as rendered: escapes resolved)."""
        text = self.text(page)
        out, depth, start = [], 0, None
        for i, ch in enumerate(text):
            if ch == "{":
                if depth == 0:
                    start = i
                depth += 1
            elif ch == "}" and depth:
                depth -= 1
                if depth == 0:
                    chunk = text[start:i + 1]
                    if chunk.lstrip("{ \n").startswith('"'):
                        out.append(chunk)
        return out

    def check_config(self, tasks, settings=None):
        tmp = tempfile.mkdtemp(prefix="ibman-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        os.makedirs(os.path.join(tmp, "tasks.d"))
        for name, text in tasks.items():
            with open(os.path.join(tmp, "tasks.d", name + ".json"), "w", encoding="utf-8") as f:
                f.write(text)
        if settings is not None:
            with open(os.path.join(tmp, "iotdb-backupd.conf"), "w", encoding="utf-8") as f:
                f.write(settings)
        return ibtest.run_cmd([ibtest.CTL, "check-config", "--config-dir", tmp])

    def test_task_examples_pass_check_config(self):
        examples = self.examples("iotdb-backupd.task.5")
        self.assertEqual(len(examples), 3)
        tasks = {}
        for i, text in enumerate(examples):
            task = json.loads(text)  # valid JSON as shown to the reader
            self.assertIn(task["target"]["path_type"], ("LocalDir", "RemoteHDFS"))
            tasks["example%d" % i] = text
        kinds = {json.loads(t)["target"]["path_type"] for t in examples}
        self.assertEqual(kinds, {"LocalDir", "RemoteHDFS"})
        r = self.check_config(tasks)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK: 3 task(s)", r.stdout)

    def test_check_config_rejects_a_broken_example(self):
        # The check above can fail: the same example with a typo does not pass.
        text = self.examples("iotdb-backupd.task.5")[0].replace('"max_copies"', '"max_copy"')
        r = self.check_config({"typo": text})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('did you mean "max_copies"', r.stderr)

    def test_settings_example_passes_check_config(self):
        examples = self.examples("iotdb-backupd.8")
        self.assertEqual(len(examples), 1)
        r = self.check_config({}, settings=examples[0])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
