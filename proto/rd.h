/*
 * Bounds-checked big-endian readers and writers for wire formats. Parsers read multi-byte
 * fields only through these, never by casting structs onto untrusted bytes. The caller
 * checks the length first; these helpers only assemble bytes.
 */
#ifndef SY_PROTO_RD_H
#define SY_PROTO_RD_H

#include <stddef.h>
#include <stdint.h>

/* Reads a big-endian u16 from two bytes the caller has checked are present. */
static inline uint16_t
rd_u16be(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* Reads a big-endian u24 (TLS handshake lengths). */
static inline uint32_t
rd_u24be(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Reads a big-endian u32. */
static inline uint32_t
rd_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes a big-endian u16. */
static inline void
wr_u16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Writes a big-endian u32. */
static inline void
wr_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
