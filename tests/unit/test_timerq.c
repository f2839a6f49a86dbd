/*
 * core/timerq.c: the worker's one-timer queue of connection deadlines. Covers the heap
 * order (1,000 entries with duplicate and random deadlines fire earliest first, each only
 * once its deadline is reached, the heap shape checked after every operation), removal
 * (root, middle, last, twice, from inside another entry's callback: never fired), re-arm
 * (a queued entry moved earlier and later fires once, at its new deadline), many durations
 * through timerq_add (each deadline within the clock readings around the add), the room
 * limit TIMERQ_MIN_CAP at N and N+1 (and an add past the reserved room aborts, in a child),
 * shrinking, and the real loop: entries of many durations armed out of order on a libevent
 * base without a precise timer fire in order, none early, none more than LATE_MAX_NS late,
 * the one event not pending once the queue is empty.
 */
#include "check.h"

#include "core/timerq.h"

#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define NENT        1000
#define NLOOP       60
#define LATE_MAX_NS 250000000u /* a timer a quarter second late on an idle loop is broken */

struct item {
	struct timerq_entry ent; /* first: the callback casts back */
	uint64_t            want;  /* the deadline it was given (ns) */
	uint64_t            fired_at;
	unsigned            fires;
	struct item        *victim; /* deleted by this one's callback; NULL: none */
	bool                rearm;  /* re-adds itself once, 1 ms later, from its callback */
};

static struct event_base *base;
static struct timerq q;
static struct item items[NENT];
static uint64_t order_last, now_seen;
static unsigned order_bad, early_bad, nfired;

/* True when q's heap is a min-heap and every entry knows its slot. */
static bool
heap_ok(const struct timerq *tq)
{
	for (uint32_t i = 0; i < tq->n; i++) {
		if (tq->heap[i].ent->pos != i + 1)
			return false;
		if (i > 0 && tq->heap[(i - 1) / 2].due > tq->heap[i].due)
			return false;
	}
	return tq->n <= tq->cap;
}

/* The fire callback: records order and lateness, runs the item's scripted action. */
static void
fire(struct timerq *tq, struct timerq_entry *ent, void *arg)
{
	struct item *it = (struct item *)ent;
	(void)arg;
	it->fires++;
	it->fired_at = now_seen != 0 ? now_seen : timerq_now();
	nfired++;
	if (it->want < order_last)
		order_bad++;
	order_last = it->want;
	if (it->fired_at < it->want)
		early_bad++;
	if (it->victim != NULL)
		timerq_del(tq, &it->victim->ent);
	if (it->rearm) {
		it->rearm = false;
		timerq_add(tq, ent, 1);
		it->want = timerq_due(tq, ent);
	}
}

/* xorshift32: the test's reproducible randomness. */
static uint32_t
rnd(void)
{
	static uint32_t s = 2463534242u;
	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	return s;
}

/* Empties the queue and resets every item and the order record. */
static void
reset(void)
{
	for (int i = 0; i < NENT; i++) {
		timerq_del(&q, &items[i].ent);
		items[i] = (struct item){ 0 };
	}
	order_last = now_seen = 0;
	order_bad = early_bad = nfired = 0;
}

/* 1,000 deadlines (many equal) fire earliest first, each only when reached. */
static void
test_order(void)
{
	reset();
	CHECK(timerq_reserve(&q, NENT) == 0);
	for (int i = 0; i < NENT; i++) {
		items[i].want = 1000000000000u + (uint64_t)(rnd() % 400) * 1000; /* 400 distinct */
		timerq_add_due(&q, &items[i].ent, items[i].want);
	}
	CHECK(q.n == NENT);
	CHECK(heap_ok(&q));
	/* Step the clock through the range: exactly the reached ones fire, in order. */
	for (uint64_t t = 1000000000000u - 1000; t < 1000000000000u + 400 * 1000; t += 37 * 1000) {
		now_seen = t;
		timerq_expire(&q, t);
		CHECK(heap_ok(&q));
		unsigned due = 0;
		for (int i = 0; i < NENT; i++)
			due += items[i].want <= t;
		CHECKF(nfired == due, "at %llu: %u fired, %u due", (unsigned long long)t, nfired, due);
	}
	now_seen = UINT64_MAX - 1;
	timerq_expire(&q, UINT64_MAX - 1);
	CHECK(nfired == NENT);
	CHECK(order_bad == 0);
	CHECK(early_bad == 0);
	CHECK(q.n == 0);
	unsigned twice = 0;
	for (int i = 0; i < NENT; i++)
		twice += items[i].fires != 1;
	CHECK(twice == 0);
}

/* Removal anywhere, twice, and from another entry's callback: never fired. */
static void
test_remove(void)
{
	reset();
	for (int i = 0; i < 100; i++) {
		items[i].want = 5000 + (uint64_t)(rnd() % 50);
		timerq_add_due(&q, &items[i].ent, items[i].want);
	}
	struct timerq_entry *root = q.heap[0].ent, *last = q.heap[q.n - 1].ent, *mid = q.heap[q.n / 2].ent;
	timerq_del(&q, root);
	CHECK(heap_ok(&q));
	timerq_del(&q, last);
	CHECK(heap_ok(&q));
	timerq_del(&q, mid);
	CHECK(heap_ok(&q));
	timerq_del(&q, mid); /* not queued: nothing */
	CHECK(q.n == 97);
	CHECK(!timerq_pending(root) && !timerq_pending(mid) && !timerq_pending(last));
	/* The first to fire deletes one due at the same time, which would delete one later. */
	struct item *first = (struct item *)q.heap[0].ent, *same = &items[100], *later = NULL;
	for (int i = 0; i < 100 && later == NULL; i++)
		if (timerq_pending(&items[i].ent) && items[i].want > first->want)
			later = &items[i];
	CHECK(later != NULL);
	same->want = first->want;
	timerq_add_due(&q, &same->ent, same->want);
	CHECK(q.heap[0].ent == &first->ent); /* an equal deadline does not displace the root */
	first->victim = same;
	same->victim = later; /* never runs: same is deleted first */
	timerq_expire(&q, UINT64_MAX - 1);
	CHECK(first->fires == 1);
	CHECK(same->fires == 0);
	CHECK(later == NULL || later->fires == 1);
	CHECK(((struct item *)root)->fires == 0 && ((struct item *)mid)->fires == 0 &&
	    ((struct item *)last)->fires == 0);
	CHECK(nfired == 97);
	CHECK(order_bad == 0);
	/* Everything out: the one event is not pending. */
	CHECK(q.n == 0 && q.armed == UINT64_MAX);
	CHECK(!event_pending(q.ev, EV_TIMEOUT, NULL));
}

/* Re-arm: a queued entry moved later and earlier fires once, at its new deadline. */
static void
test_rearm(void)
{
	reset();
	for (int i = 0; i < 50; i++) {
		items[i].want = 10000 + (uint64_t)i * 100;
		timerq_add_due(&q, &items[i].ent, items[i].want);
	}
	items[0].want = 20000; /* the root, moved after everything */
	timerq_add_due(&q, &items[0].ent, items[0].want);
	CHECK(heap_ok(&q) && q.heap[0].ent == &items[1].ent);
	items[49].want = 5000; /* the last, moved before everything */
	timerq_add_due(&q, &items[49].ent, items[49].want);
	CHECK(heap_ok(&q) && q.heap[0].ent == &items[49].ent);
	CHECK(q.n == 50);
	now_seen = 10100;
	timerq_expire(&q, 10100);
	CHECK(items[49].fires == 1 && items[0].fires == 0 && items[1].fires == 1 && nfired == 2);
	now_seen = 19999;
	timerq_expire(&q, 19999);
	CHECK(items[0].fires == 0 && nfired == 49);
	now_seen = 20000;
	timerq_expire(&q, 20000);
	CHECK(items[0].fires == 1 && nfired == 50);
	CHECK(order_bad == 0 && early_bad == 0);
}

/* Many durations through timerq_add: each deadline lies within the clock around the add. */
static void
test_durations(void)
{
	reset();
	unsigned bad = 0;
	for (int i = 0; i < 500; i++) {
		uint64_t ms = 1 + (uint64_t)(rnd() % 600000); /* up to 10 minutes, ~500 distinct */
		uint64_t before = timerq_now();
		timerq_add(&q, &items[i].ent, ms);
		uint64_t after = timerq_now();
		uint64_t due = timerq_due(&q, &items[i].ent);
		bad += due < before + ms * 1000000 || due > after + ms * 1000000;
	}
	CHECK(bad == 0);
	CHECK(heap_ok(&q));
	/* 0 ms is taken as 1 ms: never "now", which could fire again in one expiry pass. */
	uint64_t before = timerq_now();
	timerq_add(&q, &items[500].ent, 0);
	CHECK(timerq_due(&q, &items[500].ent) >= before + 1000000);
	/* The event is armed for the root, and stays so as the root changes. */
	CHECK(q.armed == q.heap[0].due);
	timerq_del(&q, q.heap[0].ent);
	CHECK(q.armed == q.heap[0].due);
	CHECK(event_pending(q.ev, EV_TIMEOUT, NULL));
	reset();
	CHECK(!event_pending(q.ev, EV_TIMEOUT, NULL));
}

/* The room: TIMERQ_MIN_CAP at N and N+1, growth, shrink, never below the minimum. */
static void
test_room(void)
{
	struct timerq r;
	CHECK(timerq_init(&r, base, fire, NULL) == 0);
	CHECK(r.cap == 0);
	CHECK(timerq_reserve(&r, TIMERQ_MIN_CAP) == 0 && r.cap == TIMERQ_MIN_CAP);
	struct item *it = calloc(4 * TIMERQ_MIN_CAP + 1, sizeof *it);
	for (uint32_t i = 0; i < TIMERQ_MIN_CAP; i++)
		timerq_add_due(&r, &it[i].ent, 1000 + i);
	CHECK(r.n == TIMERQ_MIN_CAP && r.cap == TIMERQ_MIN_CAP);
	CHECK(timerq_reserve(&r, TIMERQ_MIN_CAP + 1) == 0 && r.cap == 2 * TIMERQ_MIN_CAP);
	timerq_add_due(&r, &it[TIMERQ_MIN_CAP].ent, 1);
	CHECK(r.n == TIMERQ_MIN_CAP + 1 && heap_ok(&r) && r.heap[0].ent == &it[TIMERQ_MIN_CAP].ent);
	/* An add past the reserved room is an impossible state: it aborts (in a child). */
	pid_t pid = fork();
	if (pid == 0) {
		for (uint32_t i = TIMERQ_MIN_CAP + 1; i <= 2 * TIMERQ_MIN_CAP; i++)
			timerq_add_due(&r, &it[i].ent, 2000 + i); /* fills exactly: N */
		timerq_add_due(&r, &it[2 * TIMERQ_MIN_CAP + 1].ent, 1); /* N+1 */
		_exit(0);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	/* Shrink: only when the want is a quarter of the room or less, by half. */
	for (uint32_t i = 0; i <= TIMERQ_MIN_CAP; i++)
		timerq_del(&r, &it[i].ent);
	CHECK(timerq_reserve(&r, TIMERQ_MIN_CAP / 2 + 1) == 0 && r.cap == 2 * TIMERQ_MIN_CAP);
	CHECK(timerq_reserve(&r, TIMERQ_MIN_CAP / 2) == 0 && r.cap == TIMERQ_MIN_CAP);
	CHECK(timerq_reserve(&r, 0) == 0 && r.cap == TIMERQ_MIN_CAP);
	CHECK(timerq_reserve(&r, 5000) == 0 && r.cap == 8192);
	timerq_fini(&r);
	free(it);
}

/* Leaves the loop once every loop item fired (checked from a 5 ms poll timer). */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (nfired >= NLOOP + 1) /* + the one re-armed item's second fire */
		event_base_loopbreak(base);
}

/* The real loop: out-of-order adds of many durations fire in order, none early. */
static void
test_loop(void)
{
	reset();
	CHECK(timerq_reserve(&q, NENT) == 0);
	struct item *del = NULL;
	for (int i = 0; i < NLOOP; i++) {
		uint64_t ms = 2 + (uint64_t)(rnd() % 120);
		timerq_add(&q, &items[i].ent, ms);
		items[i].want = timerq_due(&q, &items[i].ent); /* checked >= now + ms above */
	}
	items[7].rearm = true;
	del = &items[NLOOP]; /* added, then deleted: never fires */
	timerq_add(&q, &del->ent, 30);
	timerq_del(&q, &del->ent);
	struct event *p = event_new(base, -1, EV_PERSIST, poll_cb, NULL);
	struct timeval five = { 0, 5000 }, stop = { 3, 0 };
	event_add(p, &five);
	event_base_loopexit(base, &stop);
	event_base_dispatch(base);
	event_free(p);
	CHECKF(nfired == NLOOP + 1, "%u fired", nfired);
	CHECK(early_bad == 0);
	CHECK(order_bad == 0);
	CHECK(items[7].fires == 2);
	CHECK(del->fires == 0);
	uint64_t late_max = 0;
	for (int i = 0; i < NLOOP; i++)
		if (items[i].fired_at - items[i].want > late_max)
			late_max = items[i].fired_at - items[i].want;
	CHECKF(late_max <= LATE_MAX_NS, "late by %llu ns", (unsigned long long)late_max);
	CHECK(q.n == 0 && !event_pending(q.ev, EV_TIMEOUT, NULL));
}

int
main(void)
{
	struct event_config *cfg = event_config_new();
	base = event_base_new_with_config(cfg); /* like the workers: no precise timer */
	event_config_free(cfg);
	if (base == NULL || timerq_init(&q, base, fire, NULL) == -1)
		return 1;
	test_order();
	test_remove();
	test_rearm();
	test_durations();
	test_room();
	test_loop();
	timerq_fini(&q);
	event_base_free(base);
	return check_summary();
}
