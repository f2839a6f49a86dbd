/*
 * One libevent timer for many timeouts (timerq.c): a worker's connections each have at most
 * one deadline, kept in a binary min-heap of (deadline, entry) owned by the worker, and only
 * the earliest one is armed on the loop, through core/deadline.h. A connection then holds a
 * 4-byte heap position instead of a 128-byte struct event (issue 12: RSS per idle
 * connection).
 *
 * Why a heap and not one FIFO per duration: the deadlines are not all "now + a configured
 * duration". The pre-read deadline after a PROXY header, the idle re-arm from the last
 * progress and the linger deadline are remainders of any length, and durations change on
 * reload, so entries of one duration would not stay sorted; a heap takes any deadline at
 * O(log n), as libevent's own timer heap did for the per-connection events.
 *
 * Guarantees: an entry never fires before the time asked for has passed on CLOCK_MONOTONIC
 * (deadlines are kept in nanoseconds from a reading taken in the add, and the one libevent
 * timer is armed through deadline_add for at least what is left); it fires at most about a
 * coarse clock tick plus a millisecond late (the same bound as deadline_add); a deleted entry
 * is never fired (delete it before its memory goes). Nothing here allocates in add or
 * delete: the caller reserves room for every entry it may queue (timerq_reserve), so arming
 * a timer cannot fail. One thread only (a worker's loop).
 */
#ifndef SY_CORE_TIMERQ_H
#define SY_CORE_TIMERQ_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#define TIMERQ_MIN_CAP 64u /* heap slots allocated at the first reserve; never shrunk below */

/* What a timed object embeds: its position in the heap (1-based; 0: not queued). */
struct timerq_entry {
	uint32_t pos;
};

struct timerq_slot {
	uint64_t             due; /* CLOCK_MONOTONIC ns: fires when the clock reaches it */
	struct timerq_entry *ent;
};

struct timerq;

/* Called for an entry whose deadline passed; it is no longer queued and may be re-added. */
typedef void timerq_fire_fn(struct timerq *q, struct timerq_entry *ent, void *arg);

struct timerq {
	struct timerq_slot *heap;  /* [0, n): a min-heap on due (slot i's children: 2i+1, 2i+2) */
	uint32_t            n, cap;
	struct event       *ev;    /* the one timer, pending iff n > 0 (outside timerq_expire) */
	uint64_t            armed; /* the due ev is armed for; UINT64_MAX: not armed */
	bool                expiring; /* inside timerq_expire: it re-arms once at its end */
	timerq_fire_fn     *fire;
	void               *arg;
};

/* Sets q up on base (no slot allocated yet); -1 when the event cannot be made. */
int timerq_init(struct timerq *q, struct event_base *base, timerq_fire_fn *fire, void *arg);

/* Frees q's event and heap; entries still queued are forgotten (not fired). */
void timerq_fini(struct timerq *q);

/*
 * Makes room for want queued entries (the caller's count of objects that may be queued at
 * once): grows to a power of two >= want, at least TIMERQ_MIN_CAP; shrinks by half when want
 * is a quarter of the room or less. -1 (nothing changed) when growing fails for memory.
 */
int timerq_reserve(struct timerq *q, uint32_t want);

/* Queues ent (or moves it, when queued) to fire no sooner than ms from now. */
void timerq_add(struct timerq *q, struct timerq_entry *ent, uint64_t ms);

/* Queues ent (or moves it) to fire when CLOCK_MONOTONIC reaches due (ns). Aborts when no room
 * was reserved for it (an impossible state: the caller reserves one slot per object). */
void timerq_add_due(struct timerq *q, struct timerq_entry *ent, uint64_t due);

/* Takes ent out of the queue; nothing when it is not queued. */
void timerq_del(struct timerq *q, struct timerq_entry *ent);

/* True when ent is queued. */
static inline bool
timerq_pending(const struct timerq_entry *ent)
{
	return ent->pos != 0;
}

/* The deadline of a queued ent (ns). */
uint64_t timerq_due(const struct timerq *q, const struct timerq_entry *ent);

/* Fires, earliest first, every entry whose deadline is <= now (ns), then arms the timer for
 * what is left; returns how many fired. An entry re-added by a callback to a deadline that
 * is <= now fires in the same call. */
uint32_t timerq_expire(struct timerq *q, uint64_t now);

/* CLOCK_MONOTONIC now, in ns (vDSO: no system call). */
uint64_t timerq_now(void);

#endif
