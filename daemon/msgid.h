/* Fixed journal MESSAGE_IDs (128-bit, hex) of the daemon's notable events,
 * so that a journal catalog can describe them and operators can filter with
 * `journalctl MESSAGE_ID=...`. Never change a value once released. */
#ifndef IBD_MSGID_H
#define IBD_MSGID_H

#define IBD_MSGID_DAEMON_STARTED "08c781f553074474817f3f47798598fd"
#define IBD_MSGID_RELOAD_OK "a5623d53516b4a8dadf4a9d5ed15e6ef"
#define IBD_MSGID_RELOAD_FAILED "c1798b5aeb4a41c3b014798a343b19b7"
#define IBD_MSGID_BACKUP_STARTED "4eac8b3618d1430cb5832c8db92ce81f"
#define IBD_MSGID_BACKUP_SUCCEEDED "29e662dfb29b45d9be3c39136dce06c1"
#define IBD_MSGID_BACKUP_FAILED "93d4ba87f9714733a6ee3ae9a5d56846"
#define IBD_MSGID_RUN_SKIPPED "3e3786a1c30e46a88f4659e75dca3278"
#define IBD_MSGID_RETRYING "4c40a388c31643bbb41755cc84c56e19"
#define IBD_MSGID_PRUNED "14d6c598a3644baca6eac4cf9eb24bb1"

#endif
