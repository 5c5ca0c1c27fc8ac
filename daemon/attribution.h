/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * attribution.h - what a suspect is leaking and where: its census (census.h)
 * and, while the probe records its creations, the sites of its open fds
 * (sites.h), symbolized (symbolize.h). The manager calls attribution_step()
 * for every process it assesses: creation records are switched on when a
 * process becomes a suspect (growing or worse, or 8 fds up in 3 steps within
 * 10 s) and off when it recovers (ok and flat) or exits; the census is taken
 * when it becomes leaking or worse and refreshed at most every
 * ATTRIBUTION_REFRESH_NS while it stays there. GetProcess asks for a fresh
 * one with attribution_report().
 */
#ifndef FDWATCH_ATTRIBUTION_H
#define FDWATCH_ATTRIBUTION_H

#include <stdbool.h>
#include <stdint.h>
#include "census.h"
#include "proc-table.h"
#include "sites.h"

struct probe;

/* 5 s: a census of 10,000 fds took ~80 ms here (make bench): under 2 % of a core per leaker. */
#define ATTRIBUTION_REFRESH_NS (5 * NSEC_PER_SEC)
/* GetProcess reuses a census younger than this: clients polling cannot make it cost more. */
#define ATTRIBUTION_ON_DEMAND_NS (1 * NSEC_PER_SEC)

struct attribution_stats {
	uint64_t censuses;	/* taken */
	uint64_t census_failed; /* could not be taken (gone, no access, ...) */
	uint64_t track_refused; /* suspects not recorded: 64 already were */
	uint64_t tracked_now;	/* processes whose creations are recorded now */
};

/* What is known of one process; pointers valid until the next call on the same attribution. */
struct attribution_view {
	const struct census *census;	  /* NULL when none was taken */
	const struct sites_report *sites; /* NULL when none */
	bool tracking;
};

struct attribution;

/* root: "/proc" or a fixture. 0 or -ENOMEM. */
int attribution_new(const char *root, struct attribution **ret);
/* NULL-safe. Leaves the probe alone (it is freed with the daemon). */
void attribution_free(struct attribution *a);

/*
 * Act on e's latest verdict (see above). p may be NULL (no probe: census only, from /proc).
 * 0, or -ENOMEM; failures to read a process are counted, not returned.
 */
int attribution_step(struct attribution *a, struct probe *p, const struct proc_entry *e,
		     uint64_t now_ns);

/*
 * A census and sites of e no older than max_age_ns, taken now if needed (for any state).
 * 0 and *ret, -ENOENT/-ESRCH when the process is gone, -errno.
 */
int attribution_report(struct attribution *a, struct probe *p, const struct proc_entry *e,
		       uint64_t now_ns, uint64_t max_age_ns, struct attribution_view *ret);

/*
 * The largest census group and the top site of e in words (census_group_describe(),
 * site_describe()), "" when unknown. For the alert.
 */
void attribution_top(struct attribution *a, const struct proc_entry *e, uint64_t now_ns,
		     char *target, size_t target_size, char *site, size_t site_size);

void attribution_get_stats(const struct attribution *a, struct attribution_stats *ret);

#endif
