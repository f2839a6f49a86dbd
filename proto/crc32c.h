/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as RFC 3720 B.4 and RFC 4960
 * Appendix B define it; the PROXY v2 CRC32C TLV uses it. Pure: no state between calls
 * other than the running value the caller passes back in, no allocation.
 */
#ifndef SY_PROTO_CRC32C_H
#define SY_PROTO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continues a CRC32C over len more bytes. Start with crc = 0; the pre- and
 * post-inversion happen inside, so crc32c_update(crc32c_update(0, a), b) equals the
 * CRC of a followed by b.
 */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

/* The CRC32C of one buffer ("123456789" -> 0xE3069283). */
uint32_t crc32c(const void *buf, size_t len);

#endif
