/* The HDFS default file checksum, MD5-of-xMD5-of-512CRC32C, as a replicated
 * (not erasure-coded) file written by one CREATE gets it from
 * GETFILECHECKSUM (Hadoop's FileChecksumHelper and the DataNode's
 * BlockChecksumHelper):
 *
 *   1. The file is cut at block boundaries (its blockSize; the last block
 *      may be shorter).
 *   2. Per block: the CRC32C of every 512-byte chunk (the last one may be
 *      short), each written as 4 big-endian bytes; the block MD5 is the MD5
 *      of that sequence.
 *   3. The block MD5s are written into a Java DataOutputBuffer, and the file
 *      MD5 is taken over its whole backing array: the MD5s followed by zero
 *      bytes up to the buffer's capacity (32 bytes, doubling as it grows).
 *   4. crcPerBlock = ceil(first block length / 512) when the file has more
 *      than one block, else 0; the algorithm is
 *      "MD5-of-<crcPerBlock>MD5-of-512CRC32C".
 *   5. The checksum bytes: int32 BE 512, int64 BE crcPerBlock, file MD5.
 *   An empty file has no block: "MD5-of-0MD5-of-0CRC32" with 0, 0 and the
 *   MD5 of 32 zero bytes.
 *
 * Everything streams: the block MD5s are fed to the file MD5 as they are
 * made, and the zero padding, which depends only on their count, at the
 * end. */
#include "ib_hdfs_checksum.h"

#include "ib_crc32c.h"

#include <nettle/md5.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define BYTES_PER_CRC 512

struct ib_hdfs_checksum {
    int64_t block_size;
    int64_t first_block_len;
    int64_t block_fill;  /* bytes of the current block fed so far */
    uint32_t chunk_fill; /* bytes of the current chunk fed so far */
    uint32_t chunk_crc;
    uint64_t blocks; /* finished blocks */
    struct md5_ctx block_md5;
    struct md5_ctx file_md5;
};

ib_hdfs_checksum *ib_hdfs_checksum_new(int64_t block_size)
{
    if (block_size <= 0)
        return NULL;
    ib_hdfs_checksum *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->block_size = block_size;
    md5_init(&c->block_md5);
    md5_init(&c->file_md5);
    return c;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static void finish_chunk(ib_hdfs_checksum *c)
{
    uint8_t be[4];
    put_be32(be, c->chunk_crc);
    md5_update(&c->block_md5, sizeof be, be);
    c->chunk_fill = 0;
    c->chunk_crc = 0;
}

static void finish_block(ib_hdfs_checksum *c)
{
    uint8_t digest[MD5_DIGEST_SIZE];
    if (c->chunk_fill > 0)
        finish_chunk(c);
    md5_digest(&c->block_md5, sizeof digest, digest); /* also re-inits */
    md5_update(&c->file_md5, sizeof digest, digest);
    if (c->blocks == 0)
        c->first_block_len = c->block_fill;
    c->blocks++;
    c->block_fill = 0;
}

void ib_hdfs_checksum_update(ib_hdfs_checksum *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        size_t take = BYTES_PER_CRC - c->chunk_fill;
        int64_t block_left = c->block_size - c->block_fill;
        if ((int64_t)take > block_left)
            take = (size_t)block_left; /* a chunk never spans blocks */
        if (take > len)
            take = len;
        c->chunk_crc = ib_crc32c(c->chunk_crc, p, take);
        c->chunk_fill += (uint32_t)take;
        c->block_fill += (int64_t)take;
        p += take;
        len -= take;
        if (c->block_fill == c->block_size)
            finish_block(c);
        else if (c->chunk_fill == BYTES_PER_CRC)
            finish_chunk(c);
    }
}

/* Zero bytes from the block MD5s up to the DataOutputBuffer's capacity. */
static void pad_like_java_buffer(ib_hdfs_checksum *c)
{
    static const uint8_t zeros[64];
    uint64_t used = c->blocks * MD5_DIGEST_SIZE;
    uint64_t cap = 32;
    while (cap < used)
        cap *= 2;
    for (uint64_t left = cap - used; left > 0;) {
        size_t n = left < sizeof zeros ? (size_t)left : sizeof zeros;
        md5_update(&c->file_md5, n, zeros);
        left -= n;
    }
}

int ib_hdfs_checksum_final(ib_hdfs_checksum *c, char *out, size_t n)
{
    if (c->block_fill > 0)
        finish_block(c);
    pad_like_java_buffer(c);
    uint8_t raw[IB_HDFS_CHECKSUM_BYTES];
    bool empty = c->blocks == 0;
    uint64_t crc_per_block = 0;
    if (c->blocks > 1)
        crc_per_block = (uint64_t)(c->first_block_len + BYTES_PER_CRC - 1) / BYTES_PER_CRC;
    put_be32(raw, empty ? 0 : BYTES_PER_CRC);
    put_be64(raw + 4, crc_per_block);
    md5_digest(&c->file_md5, MD5_DIGEST_SIZE, raw + 12);

    int w = empty
                ? snprintf(out, n, "MD5-of-0MD5-of-0CRC32:")
                : snprintf(out, n, "MD5-of-%lluMD5-of-%dCRC32C:", (unsigned long long)crc_per_block,
                           BYTES_PER_CRC);
    if (w < 0 || (size_t)w + 2 * sizeof raw + 1 > n)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + w + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

void ib_hdfs_checksum_free(ib_hdfs_checksum *c)
{
    free(c);
}
