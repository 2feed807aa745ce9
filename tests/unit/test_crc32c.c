/* CRC32C: known vectors, incremental use, hardware and software agreement. */
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

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn fn)
{
    unsigned char buf[32];
    assert_int_equal(fn(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof buf);
    assert_int_equal(fn(0, buf, sizeof buf), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(fn(0, buf, sizeof buf), 0x62A8AB43u);
    /* RFC 3720 B.4: 32 bytes ascending 0..31. */
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    assert_int_equal(fn(0, buf, sizeof buf), 0x46DD794Eu);
    assert_int_equal(fn(0, "", 0), 0u);
    assert_int_equal(fn(0x12345678u, "", 0), 0x12345678u);
}

static void test_vectors_dispatch(void **state)
{
    (void)state;
    check_vectors(ib_crc32c);
}

static void test_vectors_software(void **state)
{
    (void)state;
    check_vectors(ib_crc32c_sw);
}

static void test_vectors_hardware(void **state)
{
    (void)state;
    if (!ib_crc32c_hw_available())
        skip();
    check_vectors(ib_crc32c_hw);
}

static void fill_random(unsigned char *buf, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(rand() & 0xff);
}

static void test_incremental_equals_one_shot(void **state)
{
    (void)state;
    enum { N = 10000 };
    unsigned char *buf = malloc(N);
    assert_non_null(buf);
    fill_random(buf, N, 42);
    uint32_t whole = ib_crc32c(0, buf, N);
    for (int round = 0; round < 200; round++) {
        uint32_t c = 0;
        size_t pos = 0;
        while (pos < N) {
            size_t step = (size_t)(rand() % 700);
            if (step > N - pos)
                step = N - pos;
            c = ib_crc32c(c, buf + pos, step);
            pos += step;
        }
        assert_int_equal(c, whole);
    }
    /* Mixing the two implementations mid-stream gives the same result. */
    uint32_t mixed = ib_crc32c_sw(ib_crc32c(0, buf, 4097), buf + 4097, N - 4097);
    assert_int_equal(mixed, whole);
    free(buf);
}

static void test_hardware_agrees_with_software(void **state)
{
    (void)state;
    if (!ib_crc32c_hw_available())
        skip();
    enum { N = 4096 + 64 };
    unsigned char *buf = malloc(N);
    assert_non_null(buf);
    fill_random(buf, N, 7);
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len + off <= N; len += (len < 80 ? 1 : 61)) {
            uint32_t seed = (uint32_t)(len * 2654435761u);
            assert_int_equal(ib_crc32c_hw(seed, buf + off, len),
                             ib_crc32c_sw(seed, buf + off, len));
        }
    }
    free(buf);
}

static void test_detects_single_bit_flip(void **state)
{
    (void)state;
    unsigned char buf[256];
    fill_random(buf, sizeof buf, 3);
    uint32_t good = ib_crc32c(0, buf, sizeof buf);
    for (size_t bit = 0; bit < sizeof buf * 8; bit += 13) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_not_equal(ib_crc32c(0, buf, sizeof buf), good);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_dispatch),
        cmocka_unit_test(test_vectors_software),
        cmocka_unit_test(test_vectors_hardware),
        cmocka_unit_test(test_incremental_equals_one_shot),
        cmocka_unit_test(test_hardware_agrees_with_software),
        cmocka_unit_test(test_detects_single_bit_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
