/*
 * core/yield.c: the fair yield, on a real libevent base (epoll, as the workers run it).
 * Covers: a socket that becomes ready while an event keeps yielding runs after at most one
 * more turn of the yielder (with a plain event_active it waited for all YIELD_RUNS turns);
 * three yielders take turns round-robin, none twice in a row, and a socket that becomes
 * ready among them waits at most one turn of each; the result flags reach the callback;
 * no activation is lost (every yielder runs all its turns, and the loop ends by itself
 * once nothing is active).
 */
#include "check.h"

#include "core/yield.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <sys/socket.h>
#include <unistd.h>

#define YIELD_RUNS 1000 /* turns each yielder takes before it stops yielding */
#define NYIELD     3

struct yielder {
	struct event ev;
	unsigned     runs;
	short        last_what;
};

static struct event_base *base;
static struct yielder ys[NYIELD];
static struct event reader;
static int sp[2] = { -1, -1 };
static unsigned total_runs, reader_at, order_bad;
static int last_run = -1;
static unsigned nyield; /* yielders in the current test */

/* A yielder: on the first turn of the first one, makes the reader's socket ready. */
static void
yielder_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct yielder *y = arg;
	int id = (int)(y - ys);
	y->runs++;
	y->last_what = what;
	total_runs++;
	if (nyield > 1 && id == last_run && ys[(id + 1) % NYIELD].runs < YIELD_RUNS)
		order_bad++; /* ran twice in a row while another still had turns */
	last_run = id;
	if (total_runs == 1 && write(sp[1], "x", 1) != 1)
		order_bad += 1000;
	if (y->runs < YIELD_RUNS)
		yield_event(&y->ev, EV_READ);
}

/* The reader: notes how many yielder turns ran before it. */
static void
reader_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	char c;
	if (read(fd, &c, 1) == 1 && reader_at == 0)
		reader_at = total_runs;
	event_del(&reader);
}

/* Runs n yielders and the reader on the loop until nothing is left. */
static void
run(unsigned n)
{
	nyield = n;
	total_runs = reader_at = order_bad = 0;
	last_run = -1;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	event_assign(&reader, base, sp[0], EV_READ | EV_PERSIST, reader_cb, NULL);
	CHECK(event_add(&reader, NULL) == 0);
	for (unsigned i = 0; i < n; i++) {
		ys[i].runs = 0;
		ys[i].last_what = 0;
		event_assign(&ys[i].ev, base, -1, 0, yielder_cb, &ys[i]);
		event_active(&ys[i].ev, 0, 1);
	}
	CHECK(event_base_dispatch(base) == 1); /* 1: it ended because no event was left */
	close(sp[0]);
	close(sp[1]);
}

/* One yielder: the ready socket runs after at most one more of its turns. */
static void
test_one(void)
{
	run(1);
	CHECKF(reader_at >= 1 && reader_at <= 2, "the reader ran after %u turns of the yielder",
	    reader_at);
	CHECK(ys[0].runs == YIELD_RUNS);
	CHECK(ys[0].last_what == EV_READ);
}

/* Three yielders: round-robin, and the ready socket waits at most one turn of each. */
static void
test_many(void)
{
	run(NYIELD);
	CHECKF(reader_at >= 1 && reader_at <= 1 + NYIELD, "the reader ran after %u turns",
	    reader_at);
	CHECKF(order_bad == 0, "%u turns out of round-robin order", order_bad);
	for (unsigned i = 0; i < NYIELD; i++)
		CHECK(ys[i].runs == YIELD_RUNS);
	CHECK(total_runs == NYIELD * YIELD_RUNS);
}

int
main(void)
{
	struct event_config *cfg = event_config_new();
	base = event_base_new_with_config(cfg); /* like the workers */
	event_config_free(cfg);
	if (base == NULL)
		return 1;
	test_one();
	test_many();
	event_base_free(base);
	return check_summary();
}
