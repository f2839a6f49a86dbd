/*
 * The admin listener (admin.listen): GET /metrics (Prometheus text format), /healthz and
 * /status, on the main thread's loop. Plain HTTP/1.0-style: one request per connection,
 * bounded head, short timeout. Meant for loopback or a management network only.
 */
#ifndef SY_ROUTER_ADMIN_H
#define SY_ROUTER_ADMIN_H

#include <stdbool.h>

#include "core/conf-t.h"

struct event_base;

/* What /status and /healthz report; filled by main. */
struct admin_state {
	unsigned long long generation;
	unsigned           workers;
	bool               draining;
	const char        *config_path;
};

/* Starts listening on addr; false (with a message in err) when it cannot. */
bool admin_start(struct event_base *base, const struct conf_addr *addr, struct admin_state *st,
    char *err, size_t cap);

/* Stops listening (connections in flight finish). */
void admin_stop(void);

#endif
