/* The HDFS file checksum computed while streaming: expected values come from
 * tests/tools/webhdfs_server.py (md5_of_md5_of_crc32c, itself checked
 * against Hadoop's algorithm in test_webhdfs_server.py) on the same data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_hdfs_checksum.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *make_data(size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)(((i * 31) ^ (i >> 9)) & 0xff);
    return d;
}

static const struct {
    size_t len;
    int64_t block_size;
    const char *want;
} vectors[] = {
    {0, 134217728,
     "MD5-of-0MD5-of-0CRC32:00000000000000000000000070bc8f4b72a86921468bf8e8441dce51"},
    {1, 134217728,
     "MD5-of-0MD5-of-512CRC32C:000002000000000000000000dc236201841049096ad31b6213203a90"},
    {512, 134217728,
     "MD5-of-0MD5-of-512CRC32C:000002000000000000000000cbe76922dfbccbdc75921c19f21b8b77"},
    {513, 134217728,
     "MD5-of-0MD5-of-512CRC32C:0000020000000000000000009420ad98bd0cc1fcca70d3e3489c77a5"},
    {200000, 134217728,
     "MD5-of-0MD5-of-512CRC32C:0000020000000000000000003e2e062f17144a30cbfe657d79c3e1c2"},
    /* 4 blocks: 64 bytes of block MD5s fill a doubled buffer exactly. */
    {200000, 65536,
     "MD5-of-128MD5-of-512CRC32C:000002000000000000000080eba691ac8c1301bd37324b2c3eaba815"},
    /* Exactly one block: crcPerBlock stays 0. */
    {65536, 65536,
     "MD5-of-0MD5-of-512CRC32C:000002000000000000000000024f7d46b56f3474979b698d44c36991"},
    /* 11 blocks: 176 bytes padded to 256. */
    {10340, 1024,
     "MD5-of-2MD5-of-512CRC32C:000002000000000000000002f05e34125ac15b8ddcbcef86fea1a646"},
    {3072, 1024,
     "MD5-of-2MD5-of-512CRC32C:00000200000000000000000222a18a982e69d735149eceda3cc24adb"},
};

static void compute(const uint8_t *d, size_t n, int64_t block_size, size_t piece, char *out,
                    size_t outlen)
{
    ib_hdfs_checksum *c = ib_hdfs_checksum_new(block_size);
    assert_non_null(c);
    for (size_t off = 0; off < n; off += piece)
        ib_hdfs_checksum_update(c, d + off, n - off < piece ? n - off : piece);
    assert_int_equal(ib_hdfs_checksum_final(c, out, outlen), 0);
    ib_hdfs_checksum_free(c);
}

static void test_vectors_in_one_piece(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t *d = make_data(vectors[i].len);
        char out[128];
        compute(d, vectors[i].len, vectors[i].block_size, vectors[i].len ? vectors[i].len : 1, out,
                sizeof out);
        assert_string_equal(out, vectors[i].want);
        free(d);
    }
}

static void test_piece_boundaries_do_not_matter(void **state)
{
    (void)state;
    static const size_t pieces[] = {1, 7, 511, 512, 513, 1000, 4096, 65537};
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t *d = make_data(vectors[i].len);
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            if (pieces[p] == 1 && vectors[i].len > 20000)
                continue; /* byte by byte is slow under ASan; 7 covers it */
            char out[128];
            compute(d, vectors[i].len, vectors[i].block_size, pieces[p], out, sizeof out);
            assert_string_equal(out, vectors[i].want);
        }
        free(d);
    }
}

static void test_changed_byte_changes_checksum(void **state)
{
    (void)state;
    uint8_t *d = make_data(200000);
    char a[128], b[128];
    compute(d, 200000, 65536, 4096, a, sizeof a);
    d[150000] ^= 1;
    compute(d, 200000, 65536, 4096, b, sizeof b);
    assert_string_not_equal(a, b);
    free(d);
}

static void test_small_buffer_refused(void **state)
{
    (void)state;
    ib_hdfs_checksum *c = ib_hdfs_checksum_new(1024);
    assert_non_null(c);
    ib_hdfs_checksum_update(c, "abc", 3);
    char out[40];
    assert_int_equal(ib_hdfs_checksum_final(c, out, sizeof out), -1);
    ib_hdfs_checksum_free(c);
    assert_null(ib_hdfs_checksum_new(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_in_one_piece),
        cmocka_unit_test(test_piece_boundaries_do_not_matter),
        cmocka_unit_test(test_changed_byte_changes_checksum),
        cmocka_unit_test(test_small_buffer_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
