/*
 * Many timeouts on one libevent timer (see timerq.h): a binary min-heap of (deadline, entry)
 * slots, each entry knowing its slot, and one event armed for the root through
 * core/deadline.h. It must never fire an entry early, never fire a deleted one, and never
 * allocate in add or delete.
 */
#include "core/timerq.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/deadline.h"

#define TIMERQ_NS_PER_MS 1000000u

uint64_t
timerq_now(void)
{
	struct timespec ts;
	/* Cannot fail for CLOCK_MONOTONIC with a valid pointer (clock_gettime(2)). */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Puts slot s at heap index i and tells its entry where it is. */
static void
timerq_put(struct timerq *q, uint32_t i, struct timerq_slot s)
{
	q->heap[i] = s;
	s.ent->pos = i + 1;
}

/* Moves the slot at i up until its parent is not later; returns where it landed. */
static uint32_t
timerq_up(struct timerq *q, uint32_t i)
{
	struct timerq_slot s = q->heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (q->heap[p].due <= s.due)
			break;
		timerq_put(q, i, q->heap[p]);
		i = p;
	}
	timerq_put(q, i, s);
	return i;
}

/* Moves the slot at i down until no child is earlier. */
static void
timerq_down(struct timerq *q, uint32_t i)
{
	struct timerq_slot s = q->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && q->heap[c + 1].due < q->heap[c].due)
			c++;
		if (q->heap[c].due >= s.due)
			break;
		timerq_put(q, i, q->heap[c]);
		i = c;
	}
	timerq_put(q, i, s);
}

/* Keeps the one event armed for the root's deadline (or not armed when empty). No system
 * call: without a precise timer an add or delete is libevent's own heap work. */
static void
timerq_arm(struct timerq *q)
{
	if (q->expiring)
		return; /* timerq_expire arms once at its end */
	if (q->n == 0) {
		if (q->armed != UINT64_MAX) {
			event_del(q->ev);
			q->armed = UINT64_MAX;
		}
		return;
	}
	uint64_t due = q->heap[0].due;
	if (due == q->armed)
		return;
	uint64_t now = timerq_now();
	/* At least what is left, rounded up to a whole ms; deadline_add never shortens it. */
	uint64_t ms = due > now ? (due - now + TIMERQ_NS_PER_MS - 1) / TIMERQ_NS_PER_MS : 0;
	deadline_add(q->ev, ms);
	q->armed = due;
}

/* The one timer fired: expire what is due by the clock. */
static void
timerq_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timerq *q = arg;
	(void)fd;
	(void)what;
	q->armed = UINT64_MAX; /* a fired timeout is no longer pending */
	timerq_expire(q, timerq_now());
}

int
timerq_init(struct timerq *q, struct event_base *base, timerq_fire_fn *fire, void *arg)
{
	q->heap = NULL;
	q->n = q->cap = 0;
	q->armed = UINT64_MAX;
	q->expiring = false;
	q->fire = fire;
	q->arg = arg;
	q->ev = evtimer_new(base, timerq_cb, q);
	return q->ev != NULL ? 0 : -1;
}

void
timerq_fini(struct timerq *q)
{
	for (uint32_t i = 0; i < q->n; i++)
		q->heap[i].ent->pos = 0;
	if (q->ev != NULL)
		event_free(q->ev);
	q->ev = NULL;
	free(q->heap);
	q->heap = NULL;
	q->n = q->cap = 0;
	q->armed = UINT64_MAX;
}

int
timerq_reserve(struct timerq *q, uint32_t want)
{
	uint32_t cap = q->cap;
	if (want > cap) {
		if (cap == 0)
			cap = TIMERQ_MIN_CAP;
		while (cap < want) {
			if (cap > UINT32_MAX / 2)
				return -1;
			cap *= 2;
		}
	} else if (cap > TIMERQ_MIN_CAP && want <= cap / 4) {
		cap /= 2; /* half, not a quarter: room to grow again without a realloc at once */
	} else {
		return 0;
	}
	if (cap < q->n)
		abort(); /* impossible: want counts every queued entry */
	struct timerq_slot *h = realloc(q->heap, (size_t)cap * sizeof *h);
	if (h == NULL)
		return want > q->cap ? -1 : 0; /* a failed shrink keeps the larger heap */
	q->heap = h;
	q->cap = cap;
	return 0;
}

void
timerq_add(struct timerq *q, struct timerq_entry *ent, uint64_t ms)
{
	/* 0 is taken as 1 ms: "now" would fire again within the same expiry pass. */
	timerq_add_due(q, ent, timerq_now() + (ms > 0 ? ms : 1) * TIMERQ_NS_PER_MS);
}

void
timerq_add_due(struct timerq *q, struct timerq_entry *ent, uint64_t due)
{
	if (ent->pos != 0) {
		uint32_t i = ent->pos - 1;
		uint64_t was = q->heap[i].due;
		q->heap[i].due = due;
		if (due < was)
			timerq_up(q, i);
		else
			timerq_down(q, i);
	} else {
		if (q->n == q->cap) {
			fprintf(stderr, "timerq: add without a reserved slot (%u queued)\n", q->n);
			abort();
		}
		uint32_t i = q->n++;
		q->heap[i] = (struct timerq_slot){ .due = due, .ent = ent };
		timerq_up(q, i);
	}
	timerq_arm(q);
}

void
timerq_del(struct timerq *q, struct timerq_entry *ent)
{
	if (ent->pos == 0)
		return;
	uint32_t i = ent->pos - 1;
	ent->pos = 0;
	uint32_t last = --q->n;
	if (i != last) {
		uint64_t gone = q->heap[i].due;
		timerq_put(q, i, q->heap[last]);
		if (q->heap[i].due < gone)
			timerq_up(q, i);
		else
			timerq_down(q, i);
	}
	timerq_arm(q);
}

uint64_t
timerq_due(const struct timerq *q, const struct timerq_entry *ent)
{
	return q->heap[ent->pos - 1].due;
}

uint32_t
timerq_expire(struct timerq *q, uint64_t now)
{
	uint32_t fired = 0;
	bool outer = !q->expiring;
	q->expiring = true;
	while (q->n > 0 && q->heap[0].due <= now) {
		struct timerq_entry *ent = q->heap[0].ent;
		timerq_del(q, ent); /* out before its callback, which may re-add or free it */
		fired++;
		q->fire(q, ent, q->arg);
	}
	if (outer) {
		q->expiring = false;
		timerq_arm(q);
	}
	return fired;
}
