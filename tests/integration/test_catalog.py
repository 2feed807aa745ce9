"""The journal catalog (systemd/iotdb-backupd.catalog): an entry for every
MESSAGE_ID of daemon/msgid.h, with the headers journalctl shows, and a file
that journalctl really compiles: --update-catalog into a scratch root, then
--list-catalog and --dump-catalog read the entries back."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import ibtest

CATALOG = os.path.join(ibtest.SOURCE_DIR, "systemd", "iotdb-backupd.catalog")


def read(*parts):
    with open(os.path.join(ibtest.SOURCE_DIR, *parts), encoding="utf-8") as f:
        return f.read()


def message_ids():
    """{name: id} of daemon/msgid.h."""
    return dict(re.findall(r'#define IBD_MSGID_(\w+) "([0-9a-f]{32})"', read("daemon", "msgid.h")))


def parse_catalog(text):
    """{id: (headers dict, body)} of a catalog file (comments skipped)."""
    entries = {}
    for block in re.split(r"(?m)^-- ", text)[1:]:
        head, _, rest = block.partition("\n")
        header_text, _, body = rest.partition("\n\n")
        headers = dict(line.split(": ", 1) for line in header_text.splitlines() if line)
        entries[head.strip()] = (headers, body)
    return entries


def journal_fields():
    """Field names the daemon sends to the journal (daemon/log.c)."""
    return set(re.findall(r'iov_add\(&l, "([A-Z_]+)=', read("daemon", "log.c")))


class TestCatalogContent(unittest.TestCase):
    def setUp(self):
        with open(CATALOG, encoding="utf-8") as f:
            self.entries = parse_catalog(f.read())

    def test_an_entry_per_message_id(self):
        ids = message_ids()
        self.assertGreaterEqual(len(ids), 9)
        for name in ("DAEMON_STARTED", "RELOAD_OK", "RELOAD_FAILED", "BACKUP_STARTED",
                     "BACKUP_SUCCEEDED", "BACKUP_FAILED", "RETRYING", "PRUNED"):
            self.assertIn(name, ids)
        self.assertEqual(sorted(self.entries), sorted(ids.values()))

    def test_headers_and_body(self):
        for msgid, (headers, body) in self.entries.items():
            self.assertTrue(headers.get("Subject"), msgid)
            self.assertEqual(headers.get("Defined-By"), "iotdb-backupd", msgid)
            self.assertTrue(headers.get("Support"), msgid)
            self.assertIn("man:", headers.get("Documentation", ""), msgid)
            self.assertGreater(len(body.split()), 30, "%s: the body explains too little" % msgid)

    def test_placeholders_are_fields_the_daemon_sends(self):
        fields = journal_fields()
        self.assertGreaterEqual(fields, {"TASK", "RUN_ID", "RESULT", "ERROR_CODE"})
        for msgid, (headers, body) in self.entries.items():
            used = set(re.findall(r"@([A-Z_]+)@", headers["Subject"] + body))
            self.assertLessEqual(used, fields, msgid)

    def test_notice_entries_use_only_the_fields_they_are_sent_with(self):
        # Retrying and pruned messages (daemon/runs.c, on_worker_notice) carry
        # the run's fields but no result, error code or counts: a placeholder
        # for one of those would show as "@ERROR_CODE@" in journalctl -x.
        ids = message_ids()
        for name in ("RETRYING", "PRUNED"):
            headers, body = self.entries[ids[name]]
            used = set(re.findall(r"@([A-Z_]+)@", headers["Subject"] + body))
            self.assertLessEqual(used, {"TASK", "RUN_ID", "BACKUP_TYPE", "TRIGGER"}, name)
            self.assertIn("@RUN_ID@", body, name)

    def test_failure_entries_tell_what_to_do(self):
        ids = message_ids()
        _h, body = self.entries[ids["BACKUP_FAILED"]]
        self.assertIn("@ERROR_CODE@", body)
        self.assertIn("iotdb-backupctl verify @TASK@", body)
        _h, body = self.entries[ids["RELOAD_FAILED"]]
        self.assertIn("iotdb-backupctl check-config", body)


@unittest.skipUnless(shutil.which("journalctl"), "journalctl is not installed")
class TestCatalogCompiles(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="ibcatalog-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.dir = os.path.join(self.root, "usr", "lib", "systemd", "catalog")
        os.makedirs(self.dir)

    def journalctl(self, *args):
        return subprocess.run(["journalctl", "--root", self.root] + list(args),
                              capture_output=True, text=True, timeout=60)

    def install(self, text):
        with open(os.path.join(self.dir, "iotdb-backupd.catalog"), "w", encoding="utf-8") as f:
            f.write(text)
        return self.journalctl("--update-catalog")

    def test_update_and_list(self):
        with open(CATALOG, encoding="utf-8") as f:
            text = f.read()
        r = self.install(text)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertTrue(os.path.exists(
            os.path.join(self.root, "var", "lib", "systemd", "catalog", "database")))
        listed = self.journalctl("--list-catalog")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        rows = dict(line.split(" ", 1) for line in listed.stdout.splitlines())
        entries = parse_catalog(text)
        self.assertEqual(sorted(rows), sorted(entries))
        for msgid, (headers, _body) in entries.items():
            self.assertEqual(rows[msgid], "iotdb-backupd: " + headers["Subject"])
        ids = message_ids()
        dumped = self.journalctl("--dump-catalog", ids["BACKUP_FAILED"])
        self.assertEqual(dumped.returncode, 0, dumped.stderr)
        self.assertIn("iotdb-backupctl run @TASK@ --wait", dumped.stdout)

    def test_a_broken_catalog_is_noticed(self):
        # The checks above can fail: journalctl rejects a malformed entry,
        # and one without headers lists as "n/a".
        r = self.install("-- 1234\nSubject: too short an id\n\nbody\n")
        self.assertNotEqual(r.returncode, 0)
        self.install("-- 08c781f553074474817f3f47798598fd\nno header here\n\nbody\n")
        listed = self.journalctl("--list-catalog")
        self.assertNotIn("iotdb-backupd:", listed.stdout)


if __name__ == "__main__":
    unittest.main()
