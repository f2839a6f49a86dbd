/*
 * Server selection (see upstream.h). Must never loop forever and never return a server
 * twice for one connection.
 */
#include "router/upstream.h"

#include <netinet/in.h>

#include "router/worker.h"

/* A server's eligibility: 2 healthy, 1 passively marked down, 0 health-check down. */
static int
upstream_grade(struct server_rt *s, uint64_t now)
{
	if (!__atomic_load_n(&s->hc_up, __ATOMIC_RELAXED))
		return 0;
	if (__atomic_load_n(&s->down_until, __ATOMIC_RELAXED) > now)
		return 1;
	return 2;
}

/* Stable hash of the client address (FNV-1a), so one client keeps one server. */
static uint32_t
upstream_source_hash(sa_family_t family, const uint8_t ip[16])
{
	uint32_t h = 2166136261u;
	size_t n = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < n; i++) {
		h ^= ip[i];
		h *= 16777619u;
	}
	return h;
}

struct server_rt *
upstream_pick(struct upstream_rt *u, struct worker *w, sa_family_t family, const uint8_t ip[16],
    uint64_t *tried)
{
	size_t n = u->nservers < UPSTREAM_TRY_MAX ? u->nservers : UPSTREAM_TRY_MAX;
	uint64_t now = gen_now_ms();
	size_t start;

	switch (u->conf->balance) {
	case CONF_BALANCE_RANDOM:
		w->rnd ^= w->rnd << 13;
		w->rnd ^= w->rnd >> 17;
		w->rnd ^= w->rnd << 5;
		start = w->rnd % n;
		break;
	case CONF_BALANCE_SOURCE:
		start = upstream_source_hash(family, ip) % n;
		break;
	default:
		start = u->rr[w->id].v % n;
		break;
	}
	/* Best grade first; within it, scan order from start (least_conn: fewest active). */
	for (int want = 2; want >= 1; want--) {
		struct server_rt *best = NULL;
		size_t best_i = 0;
		int best_active = 0;
		for (size_t k = 0; k < n; k++) {
			size_t i = (start + k) % n;
			if (*tried & (1ull << i))
				continue;
			struct server_rt *s = &u->servers[i];
			if (upstream_grade(s, now) != want)
				continue;
			int active = __atomic_load_n(&s->active, __ATOMIC_RELAXED);
			if (best == NULL || (u->conf->balance == CONF_BALANCE_LEAST_CONN && active < best_active)) {
				best = s;
				best_i = i;
				best_active = active;
				if (u->conf->balance != CONF_BALANCE_LEAST_CONN)
					break;
			}
		}
		if (best != NULL) {
			*tried |= 1ull << best_i;
			/* Continue after the chosen server, so the share of a skipped (down) server
			 * is spread over the others instead of all going to its successor. */
			if (u->conf->balance == CONF_BALANCE_ROUND_ROBIN)
				u->rr[w->id].v = (uint32_t)(best_i + 1);
			return best;
		}
	}
	return NULL;
}

void
upstream_mark_failed(struct server_rt *s)
{
	__atomic_store_n(&s->down_until, gen_now_ms() + GEN_PASSIVE_DOWN_MS, __ATOMIC_RELAXED);
}
