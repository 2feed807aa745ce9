/* ib_storage_kerberos_env: the environment MIT krb5 reads for a task with
 * Kerberos auth (private credential cache, client keytab). */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_storage.h"

#include <stdlib.h>
#include <string.h>

static void kerberos_sets_cache_and_client_keytab(void **state)
{
    (void)state;
    unsetenv("KRB5CCNAME");
    unsetenv("KRB5_CLIENT_KTNAME");
    ib_target t = {.type = IB_TARGET_REMOTEHDFS,
                   .auth_mode = IB_AUTH_KERBEROS,
                   .auth_principal = "backup/host@EXAMPLE.COM",
                   .auth_keytab = "/etc/iotdb-backupd/backup.keytab"};
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, "/var/lib/iotdb-backupd", "t1", &err), 0);
    assert_string_equal(getenv("KRB5CCNAME"), "FILE:/var/lib/iotdb-backupd/krb5cc_t1");
    assert_string_equal(getenv("KRB5_CLIENT_KTNAME"), "/etc/iotdb-backupd/backup.keytab");
}

static void simple_auth_and_localdir_leave_the_environment(void **state)
{
    (void)state;
    unsetenv("KRB5CCNAME");
    unsetenv("KRB5_CLIENT_KTNAME");
    ib_target simple = {.type = IB_TARGET_REMOTEHDFS, .auth_mode = IB_AUTH_SIMPLE};
    ib_target local = {.type = IB_TARGET_LOCALDIR};
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&simple, "/state", "t1", &err), 0);
    assert_int_equal(ib_storage_kerberos_env(&local, "/state", "t1", &err), 0);
    assert_null(getenv("KRB5CCNAME"));
    assert_null(getenv("KRB5_CLIENT_KTNAME"));
}

static void overlong_state_dir_is_an_error(void **state)
{
    (void)state;
    char dir[5000];
    memset(dir, 'a', sizeof dir - 1);
    dir[0] = '/';
    dir[sizeof dir - 1] = '\0';
    ib_target t = {.type = IB_TARGET_REMOTEHDFS, .auth_mode = IB_AUTH_KERBEROS};
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, dir, "t1", &err), -1);
    assert_int_equal(err.code, IB_E_TASK_FIELD);
    assert_non_null(strstr(err.msg, "too long"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kerberos_sets_cache_and_client_keytab),
        cmocka_unit_test(simple_auth_and_localdir_leave_the_environment),
        cmocka_unit_test(overlong_state_dir_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
