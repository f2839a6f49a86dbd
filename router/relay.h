/*
 * The byte pump of one direction of a relayed connection (src -> dst). A direction starts by
 * copying (recv/send through a pooled buffer: the fewest system calls for the small records
 * of handshakes and requests) and switches to splice(2) through a pooled pipe once a read
 * fills a whole chunk, i.e. once it carries bulk data (SWITCHYARD_RELAY=copy: never). Pipes and buffers
 * are held only while bytes are in flight, so an idle connection holds neither. Readiness is
 * edge-triggered: the caller keeps "readable"/"writable" flags, the pump clears them on
 * EAGAIN. Backpressure is structural: nothing more is read from src while bytes for dst wait.
 */
#ifndef SY_ROUTER_RELAY_H
#define SY_ROUTER_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#define RELAY_CHUNK  (64u * 1024) /* bytes per copy-mode read; a full one turns on splice */
#ifndef RELAY_PIPE_SIZE
/* Capacity asked of a splice pipe (F_SETPIPE_SZ, capped by fs.pipe-max-size) and bytes asked
 * per splice call: 16x the default pipe, 8.7x fewer splices per GB (RESULTS.md "Round 2"). */
#define RELAY_PIPE_SIZE (1024u * 1024)
#endif
#define RELAY_BUDGET 16           /* calls per direction per wake-up before yielding */

struct worker;

struct relay_dir {      /* ordered widest first: no padding (two in every connection) */
	uint8_t *buf;       /* copy mode: pooled buffer while bytes wait */
	uint64_t bytes;     /* bytes read from src */
	int      pipe[2];   /* -1 when no pipe is held */
	uint32_t inpipe;    /* bytes in the pipe */
	uint32_t boff, blen;
	bool     eof;       /* src sent FIN */
	bool     shut;      /* FIN passed on to dst (or dst is about to be closed) */
	bool     bulk;      /* a read filled a chunk: splice from now on */
	bool     src_hup;   /* src reported EPOLLRDHUP: its FIN is queued, read to EOF */
};

enum relay_rc {
	RELAY_WAIT,     /* blocked on readiness; the edge will wake us */
	RELAY_AGAIN,    /* budget used up with work left: reschedule with yield_event (core/yield.h) */
	RELAY_DONE,     /* src finished and its FIN was passed on */
	RELAY_ERR_SRC,  /* reading src failed (reset) */
	RELAY_ERR_DST,  /* writing dst failed (reset, EPIPE) */
	RELAY_LIMIT     /* limit bytes were read from src and all of them are out */
};

void relay_init(struct relay_dir *d);

/*
 * Moves bytes src -> dst until blocked, done, failed or out of budget. last: the other
 * direction is finished, so at EOF the caller closes both sockets and no shutdown(2) is
 * needed to pass the FIN on. limit: the bytes src may still give (a framed body), read no
 * further; RELAY_LIMIT once that many are out. UINT64_MAX: no limit. (An argument, not a
 * field: only kind http frames bodies, and every idle connection would carry it.)
 */
enum relay_rc relay_pump(struct worker *w, struct relay_dir *d, int src, bool *src_rd, int dst,
    bool *dst_wr, bool last, uint64_t limit);

/* Returns the pipe or buffer to the worker's pools (a non-empty pipe is closed). */
void relay_release(struct worker *w, struct relay_dir *d);

#endif
