"""Bash completion of iotdb-backupctl (conf/bash-completion/iotdb-backupctl):
bash sources the script and calls the completion function with COMP_WORDS
and COMP_CWORD set, as readline would. Task names come from the real daemon
or from tasks.d, copy names from a real backup."""

import os
import shutil
import subprocess
import unittest

import ibtest

SCRIPT = os.path.join(ibtest.SOURCE_DIR, "conf", "bash-completion", "iotdb-backupctl")

# Completes the words given as arguments (the last one is the word under the
# cursor) and prints COMPREPLY, one per line.
DRIVER = r'''
source "$1" || exit 3
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
[[ $(complete -p iotdb-backupctl) == *"-F _iotdb_backupctl"* ]] || exit 4
_iotdb_backupctl iotdb-backupctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''

COMMANDS = ["check-config", "copies", "reload", "restore", "run", "status", "verify"]


@unittest.skipUnless(shutil.which("bash"), "bash is not installed")
class CompletionTestCase(ibtest.DaemonTestCase):
    def complete(self, *words, env=None, prog=None):
        """The sorted candidates for the command line `words` (cursor at the end)."""
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("RUNTIME_DIRECTORY", "CONFIGURATION_DIRECTORY",
                                 "STATE_DIRECTORY")}
        # Nothing of this machine's own installation may leak in.
        full_env["RUNTIME_DIRECTORY"] = os.path.join(self.sb.root, "no-daemon")
        full_env["CONFIGURATION_DIRECTORY"] = os.path.join(self.sb.root, "no-config")
        full_env.update(env or {})
        argv = [prog or ibtest.CTL] + list(words)
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "driver", SCRIPT]
                           + argv, capture_output=True, text=True, env=full_env,
                           timeout=ibtest.scaled(60), cwd=self.sb.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        return sorted(line for line in r.stdout.splitlines() if line)

    def write_tasks(self, *names):
        data = self.sb.gen_data()
        for name in names:
            self.sb.write_task(name, self.sb.local_task(data))
        return data


class TestCommandsAndOptions(CompletionTestCase):
    def test_commands(self):
        self.assertEqual(self.complete(""), COMMANDS)
        self.assertEqual(self.complete("re"), ["reload", "restore"])
        self.assertEqual(self.complete("--config-dir", "/x", "st"), ["status"])

    def test_global_options(self):
        self.assertEqual(self.complete("--"), ["--config-dir", "--help", "--runtime-dir",
                                               "--state-dir", "--version"])

    def test_options_per_command(self):
        self.assertEqual(self.complete("status", "-"), ["--help", "--json"])
        self.assertEqual(self.complete("run", "nightly", "--"),
                         ["--full", "--help", "--incremental", "--json", "--wait"])
        self.assertEqual(self.complete("check-config", "--"), ["--config-dir", "--help", "--json"])
        self.assertEqual(self.complete("restore", "t", "--"),
                         ["--copy", "--database", "--force", "--help", "--load", "--to"])
        self.assertEqual(self.complete("verify", "--"), ["--help"])
        self.assertEqual(self.complete("reload", "--"), ["--help"])

    def test_options_already_given(self):
        # Given once, not offered again; --full and --incremental exclude each other.
        self.assertEqual(self.complete("run", "t", "--full", "--"), ["--help", "--json",
                                                                       "--wait"])
        self.assertEqual(self.complete("run", "t", "--incremental", "--wait", "--"),
                         ["--help", "--json"])
        # --database may be repeated.
        self.assertIn("--database", self.complete("restore", "t", "--database", "root.a", "--"))
        self.assertNotIn("--force", self.complete("restore", "t", "--force", "--"))

    def test_directories(self):
        os.makedirs(os.path.join(self.sb.root, "restore-here"))
        for words in (["restore", "t", "--to", "rest"], ["--state-dir", "rest"],
                      ["check-config", "--config-dir", "rest"],
                      ["--runtime-dir", "=", "rest"]):
            self.assertEqual(self.complete(*words), ["restore-here"], words)


class TestTaskNames(CompletionTestCase):
    def test_from_the_config_dir(self):
        self.write_tasks("nightly", "hourly")
        tasks = self.sb.tasks_dir
        for leftover in (".hidden.json", "nightly.json~", "old.json.dpkg-old",
                         "x.json.dpkg-dist", "notes.txt", "bad name.json"):
            with open(os.path.join(tasks, leftover), "w") as f:
                f.write("{}")
        for words in (["--config-dir", self.sb.config_dir, "run", ""],
                      ["--config-dir=" + self.sb.config_dir, "verify", ""],
                      ["--config-dir", "=", self.sb.config_dir, "copies", ""]):
            self.assertEqual(self.complete(*words), ["hourly", "nightly"], words)
        self.assertEqual(self.complete("--config-dir", self.sb.config_dir, "restore", "ni"),
                         ["nightly"])
        # $CONFIGURATION_DIRECTORY is the default, as for the ctl itself.
        self.assertEqual(self.complete("run", "", env={
            "CONFIGURATION_DIRECTORY": self.sb.config_dir}), ["hourly", "nightly"])
        # One task per command line.
        self.assertEqual(self.complete("--config-dir", self.sb.config_dir, "run", "nightly", ""),
                         [])
        # Commands without a task get none.
        self.assertEqual(self.complete("--config-dir", self.sb.config_dir, "status", ""), [])

    def test_from_the_daemon(self):
        self.write_tasks("alpha", "beta")
        self.sb.start_daemon()
        # The files are gone (and the default config dir is empty): the names
        # can only come from the daemon's status.
        self.sb.remove_task("alpha")
        self.sb.remove_task("beta")
        self.assertEqual(self.complete("--runtime-dir", self.sb.runtime_dir, "run", ""),
                         ["alpha", "beta"])
        self.assertEqual(self.complete("run", "a", env={
            "RUNTIME_DIRECTORY": self.sb.runtime_dir}), ["alpha"])

    def test_no_daemon_no_files(self):
        self.assertEqual(self.complete("--runtime-dir", self.sb.runtime_dir, "run", ""), [])


class TestCopyNames(CompletionTestCase):
    def test_restore_copy(self):
        self.write_tasks("nightly")
        self.sb.start_daemon()
        copies = []
        for kind in ("--full", "--incremental"):
            r = self.sb.ctl("run", "nightly", kind, "--wait", "--json")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        listed = self.sb.ctl_json("copies", "nightly", "--json")
        copies = sorted(c["name"] for c in listed["copies"])
        self.assertEqual(len(copies), 2)
        words = self.sb.dir_args() + ["restore", "nightly", "--copy", ""]
        self.assertEqual(self.complete(*words), copies)
        full = [c for c in copies if c.endswith("-full")]
        self.assertEqual(self.complete(*(words[:-1] + [full[0][:-2]])), full)
        # Without a task there is nothing to list.
        self.assertEqual(self.complete(*(self.sb.dir_args() + ["restore", "--copy", ""])), [])


if __name__ == "__main__":
    unittest.main()
