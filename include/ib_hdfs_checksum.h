/* The default HDFS file checksum (MD5-of-xMD5-of-512CRC32C), computed
 * incrementally while a file streams, to compare with GETFILECHECKSUM. */
#ifndef IB_HDFS_CHECKSUM_H
#define IB_HDFS_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* 28 bytes: int32 bytesPerCRC, int64 crcPerBlock, 16-byte MD5. */
#define IB_HDFS_CHECKSUM_BYTES 28

typedef struct ib_hdfs_checksum ib_hdfs_checksum;

/* A checksum for a file written with the given HDFS block size (> 0) and
 * dfs.bytes-per-checksum 512. NULL when out of memory. */
ib_hdfs_checksum *ib_hdfs_checksum_new(int64_t block_size);

/* Feed the next bytes of the file. */
void ib_hdfs_checksum_update(ib_hdfs_checksum *c, const void *buf, size_t len);

/* Finish: writes "<algorithm>:<56 hex digits>" (as the storage driver's
 * checksum op reports it) into out, e.g.
 * "MD5-of-0MD5-of-512CRC32C:00000200000000000000000095170b68...".
 * Returns 0, or -1 when out (at least 96 bytes suffice) is too small.
 * The object cannot be fed after this. */
int ib_hdfs_checksum_final(ib_hdfs_checksum *c, char *out, size_t n);

void ib_hdfs_checksum_free(ib_hdfs_checksum *c);

#endif
