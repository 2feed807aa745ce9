/* The WebHDFS test server's DataNode receive path in C, loaded by
 * tests/tools/webhdfs_server.py through ctypes (which lets go of the
 * interpreter lock for the call): a request body goes from the socket to the
 * blob file with the CRC32C of every chunk and the MD5 of every block's CRCs
 * kept on the way, as a DataNode keeps them in its .meta files. In Python
 * the same work held the interpreter lock for most of an upload, so the
 * NameNode's answers queued behind the DataNode's bodies and benchmarks
 * measured the server instead of the client.
 *
 * The block and chunk logic is this file's own, not the client's
 * (lib/hdfs_checksum.c), so that the two stay independent witnesses; only
 * the CRC32C primitive is shared. tests/integration/test_webhdfs_server.py
 * checks it against the server's Python code (BlockCrcs). */
#include <errno.h>
#include <nettle/md5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ib_crc32c.h"

#define RECV_BUF (256 * 1024)

/* One body being received. Chunks never span blocks; a block ends in a
 * short chunk when the block size is not a multiple of bytes per CRC. */
typedef struct {
    int64_t blocksize;
    int64_t bpc;      /* bytes per CRC chunk */
    int64_t in_block; /* bytes of the current block, the open chunk's included */
    int64_t fill;     /* bytes of the open chunk */
    uint32_t crc;     /* CRC32C of the open chunk so far */
    struct md5_ctx block;
    uint8_t *md5s; /* 16 bytes per finished block */
    size_t nblocks, cap;
    uint8_t *buf; /* RECV_BUF bytes */
} wdn_body;

/* Exported for ctypes. */
void *wdn_new(int64_t blocksize, int64_t bytes_per_crc);
void wdn_free(void *body);
int wdn_feed(void *body, int out, const void *data, size_t len);
int64_t wdn_receive(void *body, int sock, int out, int64_t want);
int64_t wdn_finish(void *body);
void wdn_block_md5s(void *body, uint8_t *out);

void *wdn_new(int64_t blocksize, int64_t bytes_per_crc)
{
    if (blocksize <= 0 || bytes_per_crc <= 0)
        return NULL;
    wdn_body *b = calloc(1, sizeof *b);
    if (!b || !(b->buf = malloc(RECV_BUF))) {
        free(b);
        return NULL;
    }
    b->blocksize = blocksize;
    b->bpc = bytes_per_crc;
    md5_init(&b->block);
    return b;
}

void wdn_free(void *body)
{
    wdn_body *b = body;
    if (!b)
        return;
    free(b->md5s);
    free(b->buf);
    free(b);
}

static int end_block(wdn_body *b)
{
    if (b->nblocks == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        uint8_t *grown = realloc(b->md5s, cap * MD5_DIGEST_SIZE);
        if (!grown)
            return -ENOMEM;
        b->md5s = grown;
        b->cap = cap;
    }
    md5_digest(&b->block, MD5_DIGEST_SIZE, b->md5s + b->nblocks * MD5_DIGEST_SIZE);
    b->nblocks++;
    b->in_block = 0;
    return 0;
}

/* The open chunk is complete: its CRC, big-endian, goes into the block's MD5. */
static int end_chunk(wdn_body *b)
{
    uint8_t be[4] = {b->crc >> 24, b->crc >> 16, b->crc >> 8, b->crc};
    md5_update(&b->block, sizeof be, be);
    b->crc = 0;
    b->fill = 0;
    return b->in_block == b->blocksize ? end_block(b) : 0;
}

static int keep_crcs(wdn_body *b, const uint8_t *p, size_t len)
{
    while (len > 0) {
        int64_t chunk_room = b->bpc - b->fill;
        int64_t block_room = b->blocksize - b->in_block;
        int64_t room = chunk_room < block_room ? chunk_room : block_room;
        size_t step = (int64_t)len < room ? len : (size_t)room;
        b->crc = ib_crc32c(b->crc, p, step);
        b->fill += step;
        b->in_block += step;
        p += step;
        len -= step;
        if (b->fill == b->bpc || b->in_block == b->blocksize) {
            int rc = end_chunk(b);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes data to out and keeps its chunk CRCs: 0 or -errno. */
int wdn_feed(void *body, int out, const void *data, size_t len)
{
    int rc = write_all(out, data, len);
    return rc != 0 ? rc : keep_crcs(body, data, len);
}

/* Reads up to want bytes from sock into out (see wdn_feed): the number read,
 * less than want when the peer closed, or -errno. */
int64_t wdn_receive(void *body, int sock, int out, int64_t want)
{
    wdn_body *b = body;
    int64_t got = 0;
    while (got < want) {
        size_t ask = want - got < RECV_BUF ? (size_t)(want - got) : RECV_BUF;
        ssize_t n = read(sock, b->buf, ask);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        int rc = wdn_feed(b, out, b->buf, (size_t)n);
        if (rc != 0)
            return rc;
        got += n;
    }
    return got;
}

/* Ends the open chunk and block: the number of blocks, or -errno. */
int64_t wdn_finish(void *body)
{
    wdn_body *b = body;
    if (b->fill > 0) {
        int rc = end_chunk(b);
        if (rc != 0)
            return rc;
    }
    if (b->in_block > 0) {
        int rc = end_block(b);
        if (rc != 0)
            return rc;
    }
    return (int64_t)b->nblocks;
}

/* Copies the blocks' MD5s (16 bytes each, wdn_finish's count) to out. */
void wdn_block_md5s(void *body, uint8_t *out)
{
    wdn_body *b = body;
    if (b->nblocks)
        memcpy(out, b->md5s, b->nblocks * MD5_DIGEST_SIZE);
}
