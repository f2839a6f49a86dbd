/*
 * Little-endian readers and writers for bincode 1.x fixint (rvpn-protocol.md §6.4, §7.4):
 * the counterpart of proto/rd.h's big-endian helpers. The caller checks lengths first;
 * these only assemble bytes, never cast structs onto untrusted input.
 */
#ifndef SY_PROTO_RVPN_LE_H
#define SY_PROTO_RVPN_LE_H

#include <stdint.h>

/* Reads a little-endian u16. */
static inline uint16_t
rd_u16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

/* Reads a little-endian u32. */
static inline uint32_t
rd_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads a little-endian u64. */
static inline uint64_t
rd_u64le(const uint8_t *p)
{
	return (uint64_t)rd_u32le(p) | (uint64_t)rd_u32le(p + 4) << 32;
}

/* Writes a little-endian u16. */
static inline void
wr_u16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Writes a little-endian u32. */
static inline void
wr_u32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes a little-endian u64. */
static inline void
wr_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif
