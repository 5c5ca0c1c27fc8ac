/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * sites.h - where a suspect's open fds were made: the probe's creation records
 * (fd, time, syscall, user stack id) of the fds still open, aggregated by
 * stack, most fds first (bcc memleak's "top stacks with outstanding
 * allocations", applied to fds); and the census and sites as API JSON.
 * Pure: no libbpf, sd-event or socket headers.
 */
#ifndef FDWATCH_SITES_H
#define FDWATCH_SITES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "census.h"

struct site_record {
	int fd;
	uint64_t ts_ns; /* CLOCK_BOOTTIME of the creation */
	int syscall_nr;
	int32_t stack_id; /* negative: the stack was not kept */
};

struct site {
	int32_t stack_id;
	int syscall_nr;		       /* of its newest record */
	uint64_t fds;		       /* open fds made here */
	uint64_t oldest_ns, newest_ns; /* CLOCK_BOOTTIME */
	char **frames;		       /* innermost first, for a person; set by the caller */
	size_t n_frames;
};

/* Sites kept per process: a leak is one site or a few; the rest is summed. */
#define SITES_MAX 8

struct sites_report {
	struct site *v;	    /* by fds, most first */
	size_t n;	    /* at most SITES_MAX after sites_merge() */
	uint64_t tracked;   /* records of open fds */
	uint64_t stale;	    /* records of fds closed unseen (close_range, exec) */
	uint64_t other_fds; /* fds of sites beyond SITES_MAX */
};

/*
 * Aggregate recs (any order) by stack id, keeping only records whose fd is in open_fds
 * (sorted ascending: census->open_fds); every stack is a site, most fds first. The caller
 * then names the frames of the sites it cares about and calls sites_merge(). 0 or -ENOMEM;
 * *ret is zeroed first. Free with sites_report_done().
 */
int sites_aggregate(const struct site_record *recs, size_t n, const int *open_fds, size_t n_open,
		    struct sites_report *ret);
/*
 * Merge sites whose frames read the same (stacks that differ only beyond where unwinding
 * could be trusted), then keep the SITES_MAX with the most fds and sum the rest into
 * other_fds. 0 or -ENOMEM (r unchanged).
 */
int sites_merge(struct sites_report *r);
/* Free what the report holds (frames included) and zero it; NULL-safe. */
void sites_report_done(struct sites_report *r);

/*
 * A site for a person: "41 fds by socket(), oldest 12 s: __socket+0xb (libc.so.6) <
 * reconnect_backend+0x5e (app) < main+0x9b (app)", at most max_frames frames. Returns the
 * length, -ENOBUFS when cut (buf holds what fits).
 */
int site_describe(const struct site *s, uint64_t now_boottime_ns, size_t max_frames, char *buf,
		  size_t size);

/* The Census object of the IDL (groups with ages in seconds as of now). NULL on ENOMEM. */
cJSON *json_census(const struct census *c, uint64_t now_realtime_ns);
/*
 * The Sites object of the IDL. tracking: whether the probe records the process's creations
 * now. NULL on ENOMEM.
 */
cJSON *json_sites(const struct sites_report *r, bool tracking, uint64_t now_boottime_ns);

#endif
