/* ib_storage_kerberos_env: the environment MIT krb5 reads for a task with
 * Kerberos auth (private credential cache, client keytab), and the choice
 * between using the cache as it is and getting tickets for the task's
 * principal from its keytab. Keytabs and caches are made with krb5's own
 * API; the realm's only KDC is a closed port of 127.0.0.1, so any attempt
 * to get tickets fails at once with krb5's "cannot contact any KDC": a run
 * that succeeds asked no KDC. The real exchange is in
 * tests/integration/test_kerberos.py. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_storage.h"

#include <krb5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PRINCIPAL "backup/host@EXAMPLE.COM"
#define OTHER "other/host@EXAMPLE.COM"

typedef struct fixture {
    char dir[64];
    char keytab[128];
    char cache[160]; /* FILE:<dir>/krb5cc_t1 */
    krb5_context ctx;
} fixture;

static void check(krb5_context ctx, krb5_error_code rc)
{
    if (rc != 0)
        fail_msg("krb5: %s", krb5_get_error_message(ctx, rc));
}

/* A krb5.conf whose realm's KDC refuses connections (port 1, TCP first). */
static void write_krb5_conf(const char *dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/krb5.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "[libdefaults]\n default_realm = EXAMPLE.COM\n dns_lookup_kdc = false\n"
               " udp_preference_limit = 1\n[realms]\n EXAMPLE.COM = {\n"
               "  kdc = tcp/127.0.0.1:1\n }\n");
    fclose(f);
    setenv("KRB5_CONFIG", path, 1);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ib-krb-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->keytab, sizeof fx->keytab, "%s/backup.keytab", fx->dir);
    snprintf(fx->cache, sizeof fx->cache, "FILE:%s/krb5cc_t1", fx->dir);
    write_krb5_conf(fx->dir);
    check(NULL, krb5_init_context(&fx->ctx));
    unsetenv("KRB5CCNAME");
    unsetenv("KRB5_CLIENT_KTNAME");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    krb5_free_context(fx->ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* Add a random AES key for name to the fixture's keytab (mode 0600). */
static void keytab_add(fixture *fx, const char *name)
{
    krb5_keytab kt;
    krb5_keytab_entry e;
    memset(&e, 0, sizeof e);
    check(fx->ctx, krb5_kt_resolve(fx->ctx, fx->keytab, &kt));
    check(fx->ctx, krb5_parse_name(fx->ctx, name, &e.principal));
    e.vno = 1;
    check(fx->ctx, krb5_c_make_random_key(fx->ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &e.key));
    check(fx->ctx, krb5_kt_add_entry(fx->ctx, kt, &e));
    krb5_free_keytab_entry_contents(fx->ctx, &e);
    krb5_kt_close(fx->ctx, kt);
    assert_int_equal(chmod(fx->keytab, 0600), 0);
}

/* Put into the fixture's cache, owned by name, a TGT (opaque ticket bytes:
 * only its times matter here) ending life seconds from now. */
static void cache_with_tgt(fixture *fx, const char *name, int life)
{
    krb5_ccache cc;
    krb5_creds c;
    memset(&c, 0, sizeof c);
    check(fx->ctx, krb5_cc_resolve(fx->ctx, fx->cache, &cc));
    check(fx->ctx, krb5_parse_name(fx->ctx, name, &c.client));
    check(fx->ctx, krb5_parse_name(fx->ctx, "krbtgt/EXAMPLE.COM@EXAMPLE.COM", &c.server));
    check(fx->ctx, krb5_c_make_random_key(fx->ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &c.keyblock));
    krb5_timestamp now = (krb5_timestamp)time(NULL);
    c.times.authtime = c.times.starttime = now - 60;
    c.times.endtime = now + life;
    c.ticket.data = strdup("opaque ticket");
    c.ticket.length = (unsigned)strlen(c.ticket.data);
    check(fx->ctx, krb5_cc_initialize(fx->ctx, cc, c.client));
    check(fx->ctx, krb5_cc_store_cred(fx->ctx, cc, &c));
    krb5_free_cred_contents(fx->ctx, &c);
    krb5_cc_close(fx->ctx, cc);
}

/* The cache's owner, as a string to free. */
static char *cache_owner(fixture *fx)
{
    krb5_ccache cc;
    krb5_principal p;
    char *name, *copy;
    check(fx->ctx, krb5_cc_resolve(fx->ctx, fx->cache, &cc));
    check(fx->ctx, krb5_cc_get_principal(fx->ctx, cc, &p));
    check(fx->ctx, krb5_unparse_name(fx->ctx, p, &name));
    copy = strdup(name);
    krb5_free_unparsed_name(fx->ctx, name);
    krb5_free_principal(fx->ctx, p);
    krb5_cc_close(fx->ctx, cc);
    return copy;
}

static ib_target kerberos_target(const fixture *fx, const char *principal)
{
    ib_target t = {.type = IB_TARGET_REMOTEHDFS,
                   .auth_mode = IB_AUTH_KERBEROS,
                   .auth_principal = (char *)principal,
                   .auth_keytab = (char *)fx->keytab};
    return t;
}

static void assert_contains(const char *msg, const char *needle)
{
    if (!strstr(msg, needle))
        fail_msg("'%s' not in: %s", needle, msg);
}

/* A cache with the principal's TGT good for an hour: used as it is (no KDC
 * asked: it would fail), with the environment pointing GSSAPI at it. */
static void valid_cache_is_used_as_is(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, OTHER); /* the task's principal second: it must not matter */
    keytab_add(fx, PRINCIPAL);
    cache_with_tgt(fx, PRINCIPAL, 3600);
    ib_target t = kerberos_target(fx, PRINCIPAL);
    ib_err err;
    ib_err_clear(&err);
    if (ib_storage_kerberos_env(&t, fx->dir, "t1", &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(getenv("KRB5CCNAME"), fx->cache);
    assert_string_equal(getenv("KRB5_CLIENT_KTNAME"), fx->keytab);
    char *owner = cache_owner(fx);
    assert_string_equal(owner, PRINCIPAL);
    free(owner);
}

/* Every reason to get new tickets asks the KDC: the error names the
 * principal, the keytab, krb5's reason and what to run. */
static void assert_refresh_tried(fixture *fx)
{
    ib_target t = kerberos_target(fx, PRINCIPAL);
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, fx->dir, "t1", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    assert_contains(err.msg, "cannot get tickets for principal " PRINCIPAL);
    assert_contains(err.msg, fx->keytab);
    assert_contains(err.msg, "Cannot contact any KDC");
    assert_contains(err.msg, "HINT: run 'kinit -k -t");
}

static void missing_cache_gets_tickets(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, PRINCIPAL);
    assert_refresh_tried(fx);
}

static void cache_of_another_principal_gets_tickets(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, PRINCIPAL);
    cache_with_tgt(fx, OTHER, 3600);
    assert_refresh_tried(fx);
    /* The KDC failed: the cache is left as it was. */
    char *owner = cache_owner(fx);
    assert_string_equal(owner, OTHER);
    free(owner);
}

static void tgt_ending_soon_gets_tickets(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, PRINCIPAL);
    cache_with_tgt(fx, PRINCIPAL, 120);
    assert_refresh_tried(fx);
}

static void expired_tgt_gets_tickets(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, PRINCIPAL);
    cache_with_tgt(fx, PRINCIPAL, -30);
    assert_refresh_tried(fx);
}

/* A keytab without the principal: refused before any KDC exchange, with
 * the command that lists what it holds. */
static void principal_not_in_keytab_is_refused(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, OTHER);
    cache_with_tgt(fx, PRINCIPAL, 3600); /* even with a valid cache */
    ib_target t = kerberos_target(fx, PRINCIPAL);
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, fx->dir, "t1", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    assert_contains(err.msg, "has no key for principal " PRINCIPAL);
    assert_contains(err.msg, fx->keytab);
    assert_contains(err.msg, "HINT: klist -k ");
    assert_null(strstr(err.msg, "Cannot contact"));
}

static void unusable_keytabs_are_refused(void **state)
{
    fixture *fx = *state;
    ib_target t = kerberos_target(fx, PRINCIPAL);
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, fx->dir, "t1", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    assert_contains(err.msg, "does not exist");

    FILE *f = fopen(fx->keytab, "w");
    assert_non_null(f);
    fputs("not a keytab", f);
    fclose(f);
    assert_int_equal(chmod(fx->keytab, 0600), 0);
    assert_int_equal(ib_storage_kerberos_env(&t, fx->dir, "t1", &err), -1);
    assert_contains(err.msg, "cannot read keytab");
    assert_contains(err.msg, fx->keytab);
    assert_null(strstr(err.msg, "not a keytab")); /* never its contents */

    assert_int_equal(chmod(fx->keytab, 0644), 0);
    assert_int_equal(ib_storage_kerberos_env(&t, fx->dir, "t1", &err), -1);
    assert_contains(err.msg, "readable by other users");
}

/* krb5 cannot start (a krb5.conf it cannot parse): its reason, no crash. */
static void broken_krb5_conf_is_an_error(void **state)
{
    fixture *fx = *state;
    keytab_add(fx, PRINCIPAL);
    char path[128];
    snprintf(path, sizeof path, "%s/broken.conf", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[libdefaults\n default_realm = \n", f);
    fclose(f);
    setenv("KRB5_CONFIG", path, 1);
    ib_target t = kerberos_target(fx, PRINCIPAL);
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, fx->dir, "t1", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    assert_contains(err.msg, "cannot start MIT krb5");
    assert_contains(err.msg, "HINT: ");
}

static void simple_auth_and_localdir_leave_the_environment(void **state)
{
    (void)state;
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
    fixture *fx = *state;
    char dir[5000];
    memset(dir, 'a', sizeof dir - 1);
    dir[0] = '/';
    dir[sizeof dir - 1] = '\0';
    ib_target t = kerberos_target(fx, PRINCIPAL);
    ib_err err;
    assert_int_equal(ib_storage_kerberos_env(&t, dir, "t1", &err), -1);
    assert_int_equal(err.code, IB_E_TASK_FIELD);
    assert_contains(err.msg, "too long");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(valid_cache_is_used_as_is),
        T(missing_cache_gets_tickets),
        T(cache_of_another_principal_gets_tickets),
        T(tgt_ending_soon_gets_tickets),
        T(expired_tgt_gets_tickets),
        T(principal_not_in_keytab_is_refused),
        T(unusable_keytabs_are_refused),
        T(broken_krb5_conf_is_an_error),
        T(simple_auth_and_localdir_leave_the_environment),
        T(overlong_state_dir_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
