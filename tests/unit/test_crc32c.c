/*
 * Unit tests for proto/crc32c.c: the known-answer vectors of the task ("123456789") and of
 * RFC 3720 B.4, chaining at every split point, and agreement with a bit-at-a-time
 * reference on pseudo-random buffers. Never touches the network or the file system.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "proto/crc32c.h"

/* Bit-at-a-time CRC32C straight from the polynomial, to cross-check the table. */
static uint32_t
ref_crc32c(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

/* A small deterministic generator so the test is reproducible. */
static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* The fixed vectors. */
static void
test_vectors(void)
{
	uint8_t buf[48];

	CHECK(crc32c("123456789", 9) == 0xE3069283u);
	CHECK(crc32c("", 0) == 0);

	memset(buf, 0, 32);
	CHECK(crc32c(buf, 32) == 0x8A9136AAu);
	memset(buf, 0xff, 32);
	CHECK(crc32c(buf, 32) == 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CHECK(crc32c(buf, 32) == 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CHECK(crc32c(buf, 32) == 0x113FDB5Cu);

	/* RFC 3720 B.4: an iSCSI SCSI Read (10) command PDU. */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	CHECK(crc32c(pdu, sizeof pdu) == 0xD9963A56u);
}

/* Chained updates equal one call, at every split point. */
static void
test_chaining(void)
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t n = strlen(s);
	uint32_t whole = crc32c(s, n);

	for (size_t k = 0; k <= n; k++) {
		uint32_t c = crc32c_update(0, s, k);
		c = crc32c_update(c, s + k, n - k);
		CHECKF(c == whole, "split at %zu", k);
	}
	uint32_t c = 0;
	for (size_t k = 0; k < n; k++)
		c = crc32c_update(c, s + k, 1);
	CHECK(c == whole);
}

/* The table agrees with the bitwise reference on many lengths and contents. */
static void
test_reference(void)
{
	uint8_t buf[300];
	uint32_t seed = 42;
	unsigned bad = 0;

	for (int round = 0; round < 2000; round++) {
		size_t n = lcg(&seed) % sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)lcg(&seed);
		if (crc32c(buf, n) != ref_crc32c(buf, n))
			bad++;
	}
	CHECKF(bad == 0, "%u mismatches against the reference", bad);
}

/* Runs every group; the exit status says whether all checks passed. */
int
main(void)
{
	test_vectors();
	test_chaining();
	test_reference();
	return check_summary();
}
