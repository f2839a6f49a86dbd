/*
 * One direction of the relay (see relay.h). It never blocks and never reads more from src
 * than dst has taken; it must never lose or reorder a byte, and it passes a FIN on only
 * after every byte before it. With a limit (a framed HTTP body) it never reads past it.
 */
#include "router/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bufpool.h"
#include "router/worker.h"

void
relay_init(struct relay_dir *d)
{
	d->pipe[0] = d->pipe[1] = -1;
	d->inpipe = 0;
	d->buf = NULL;
	d->boff = d->blen = 0;
	d->bytes = 0;
	d->eof = d->shut = d->bulk = d->src_hup = false;
}

void
relay_release(struct worker *w, struct relay_dir *d)
{
	if (d->pipe[0] != -1) {
		if (d->inpipe == 0)
			worker_pipe_put(w, d->pipe);
		else
			worker_pipe_close(w, d->pipe); /* its bytes are dropped with the connection */
		d->pipe[0] = d->pipe[1] = -1;
		d->inpipe = 0;
	}
	if (d->buf != NULL) {
		bufpool_put(d->buf);
		d->buf = NULL;
		d->boff = d->blen = 0;
	}
}

/* src's FIN, after every byte before it: pass it on (unless dst is about to be closed). */
static enum relay_rc
relay_eof(struct relay_dir *d, int dst, bool last)
{
	if (!d->shut) {
		if (!last)
			shutdown(dst, SHUT_WR);
		d->shut = true;
	}
	return RELAY_DONE;
}

/* Splice mode: moves what is in the pipe out, then refills it from src. */
static enum relay_rc
relay_splice(struct worker *w, struct relay_dir *d, int src, bool *src_rd, int dst, bool *dst_wr,
    bool last, uint64_t limit)
{
	for (int budget = RELAY_BUDGET; budget > 0; budget--) {
		if (d->inpipe > 0) {
			if (!*dst_wr)
				return RELAY_WAIT;
			ssize_t n = splice(d->pipe[0], NULL, dst, NULL, d->inpipe,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == -1) {
				if (errno == EAGAIN) {
					*dst_wr = false;
					return RELAY_WAIT;
				}
				if (errno == EINTR)
					continue;
				return RELAY_ERR_DST;
			}
			d->inpipe -= (uint32_t)n;
			if (d->inpipe == 0) {
				/* Empty: give it back so an idle connection holds no pipe. */
				worker_pipe_put(w, d->pipe);
				d->pipe[0] = d->pipe[1] = -1;
			}
			continue;
		}
		if (d->eof)
			return relay_eof(d, dst, last);
		if (limit == 0)
			return RELAY_LIMIT;
		if (!*src_rd)
			return RELAY_WAIT;
		if (d->pipe[0] == -1 && worker_pipe_get(w, d->pipe) == -1)
			return RELAY_ERR_SRC; /* out of fds: this connection cannot go on */
		ssize_t n = splice(src, NULL, d->pipe[1], NULL,
		    limit < RELAY_PIPE_SIZE ? (size_t)limit : RELAY_PIPE_SIZE,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1) {
			if (errno == EAGAIN) {
				/* The pipe is empty here, so EAGAIN means src has nothing. */
				*src_rd = false;
				worker_pipe_put(w, d->pipe);
				d->pipe[0] = d->pipe[1] = -1;
				return RELAY_WAIT;
			}
			if (errno == EINTR)
				continue;
			return RELAY_ERR_SRC;
		}
		if (n == 0) {
			d->eof = true;
			worker_pipe_put(w, d->pipe);
			d->pipe[0] = d->pipe[1] = -1;
			continue;
		}
		d->inpipe = (uint32_t)n;
		d->bytes += (uint64_t)n;
		if (limit != UINT64_MAX)
			limit -= (uint64_t)n;
	}
	return RELAY_AGAIN;
}

/* Copy mode: the same loop through a pooled buffer. */
static enum relay_rc
relay_copy(struct worker *w, struct relay_dir *d, int src, bool *src_rd, int dst, bool *dst_wr,
    bool last, uint64_t limit)
{
	for (int budget = RELAY_BUDGET; budget > 0; budget--) {
		if (d->blen > 0) {
			if (!*dst_wr)
				return RELAY_WAIT;
			ssize_t n = send(dst, d->buf + d->boff, d->blen, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN) {
					*dst_wr = false;
					return RELAY_WAIT;
				}
				if (errno == EINTR)
					continue;
				return RELAY_ERR_DST;
			}
			d->boff += (uint32_t)n;
			d->blen -= (uint32_t)n;
			if (d->blen > 0) {
				/* A short write means the socket buffer is full: the next EPOLLOUT edge
				 * says when there is room, so skip the send that would say EAGAIN. */
				*dst_wr = false;
				return RELAY_WAIT;
			}
			bufpool_put(d->buf);
			d->buf = NULL;
			d->boff = 0;
			if (d->bulk && w->splice)
				return relay_splice(w, d, src, src_rd, dst, dst_wr, last, limit);
			continue;
		}
		if (d->eof)
			return relay_eof(d, dst, last);
		if (limit == 0)
			return RELAY_LIMIT;
		if (!*src_rd)
			return RELAY_WAIT;
		if (d->buf == NULL && (d->buf = bufpool_get()) == NULL)
			return RELAY_ERR_SRC;
		size_t want = limit < RELAY_CHUNK ? (size_t)limit : RELAY_CHUNK;
		ssize_t n = recv(src, d->buf, want, 0);
		if (n == -1) {
			if (errno == EAGAIN) {
				*src_rd = false;
				bufpool_put(d->buf);
				d->buf = NULL;
				return RELAY_WAIT;
			}
			if (errno == EINTR)
				continue;
			return RELAY_ERR_SRC;
		}
		if (n == 0) {
			d->eof = true;
			bufpool_put(d->buf);
			d->buf = NULL;
			continue;
		}
		d->boff = 0;
		d->blen = (uint32_t)n;
		d->bytes += (uint64_t)n;
		if (limit != UINT64_MAX)
			limit -= (uint64_t)n;
		if ((size_t)n == RELAY_CHUNK)
			d->bulk = true; /* a full chunk: bulk data, splice once this buffer is out */
		else if ((size_t)n == want)
			; /* stopped by the limit: the socket may hold more (the next response) */
		else if (!d->src_hup)
			*src_rd = false; /* a short read drained the socket; new bytes (or a FIN)
					  * raise a new edge. A FIN already queued was reported as
					  * EPOLLRDHUP (src_hup), so then read on to see it. */
	}
	return RELAY_AGAIN;
}

enum relay_rc
relay_pump(struct worker *w, struct relay_dir *d, int src, bool *src_rd, int dst, bool *dst_wr,
    bool last, uint64_t limit)
{
	if (d->shut)
		return RELAY_DONE;
	if (d->bulk && w->splice && d->blen == 0)
		return relay_splice(w, d, src, src_rd, dst, dst_wr, last, limit);
	return relay_copy(w, d, src, src_rd, dst, dst_wr, last, limit);
}
