/* CRC32C (Castagnoli), with SSE4.2 when the CPU has it. */
#ifndef IB_CRC32C_H
#define IB_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C: start with crc = 0. ib_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t ib_crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations behind ib_crc32c, exposed so tests can check that
 * they agree. Call ib_crc32c_hw only when ib_crc32c_hw_available(). */
bool ib_crc32c_hw_available(void);
uint32_t ib_crc32c_hw(uint32_t crc, const void *buf, size_t len);
uint32_t ib_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
