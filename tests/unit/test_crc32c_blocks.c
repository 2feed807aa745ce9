/* CRC32C over long buffers: the hardware path runs three streams over
 * blocks of 8 KiB and 256 bytes and combines them; every length around
 * those block sizes, at every alignment, must equal the table-driven
 * software CRC. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_crc32c.h"

#include <stdlib.h>
#include <string.h>

#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static unsigned char *random_buffer(size_t n, unsigned seed)
{
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    return buf;
}

static void check_lengths_near(const unsigned char *buf, size_t base)
{
    for (size_t off = 0; off < 9; off++) {
        for (size_t d = 0; d < 18; d++) {
            size_t len = base + d >= 9 ? base + d - 9 : 0;
            uint32_t seed = (uint32_t)(len * 2654435761u + off);
            uint32_t hw = ib_crc32c_hw(seed, buf + off, len);
            uint32_t sw = ib_crc32c_sw(seed, buf + off, len);
            if (hw != sw)
                fail_msg("offset %zu length %zu: hw %08x, sw %08x", off, len, hw, sw);
        }
    }
}

static void test_hardware_agrees_around_block_sizes(void **state)
{
    (void)state;
    if (!ib_crc32c_hw_available())
        skip();
    size_t n = 7 * LONG_BLOCK + 64;
    unsigned char *buf = random_buffer(n, 11);
    size_t bases[] = {3 * SHORT_BLOCK,
                      6 * SHORT_BLOCK,
                      3 * LONG_BLOCK,
                      3 * LONG_BLOCK + 3 * SHORT_BLOCK,
                      6 * LONG_BLOCK,
                      3 * LONG_BLOCK + 2 * SHORT_BLOCK,
                      4 * LONG_BLOCK + 5 * SHORT_BLOCK + 7};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
        check_lengths_near(buf, bases[i]);
    free(buf);
}

/* A long buffer at once equals the same bytes in pieces of any size (the
 * pieces take other paths through the blocks), and equals the software CRC. */
static void test_long_buffer_in_pieces(void **state)
{
    (void)state;
    size_t n = (size_t)1 << 20;
    unsigned char *zero = calloc(1, n);
    assert_non_null(zero);
    uint32_t want = ib_crc32c_sw(0, zero, n);
    assert_int_equal(ib_crc32c(0, zero, n), want);
    free(zero);

    unsigned char *buf = random_buffer(n, 5);
    uint32_t whole = ib_crc32c(0, buf, n);
    assert_int_equal(whole, ib_crc32c_sw(0, buf, n));
    size_t steps[] = {1, 255, 4097, 3 * LONG_BLOCK - 1, 3 * LONG_BLOCK + 8, 100000};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        uint32_t c = 0;
        for (size_t pos = 0; pos < n; pos += steps[s])
            c = ib_crc32c(c, buf + pos, pos + steps[s] <= n ? steps[s] : n - pos);
        assert_int_equal(c, whole);
    }
    /* One flipped bit anywhere, also in the second and third stream. */
    size_t flips[] = {0, LONG_BLOCK + 3, 2 * LONG_BLOCK + 100, n - 1};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        buf[flips[i]] ^= 0x10;
        assert_int_not_equal(ib_crc32c(0, buf, n), whole);
        buf[flips[i]] ^= 0x10;
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hardware_agrees_around_block_sizes),
        cmocka_unit_test(test_long_buffer_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
