/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * watch.h - the per-process step and the arming decision, apart from the loop.
 *
 * Every process's count, limits and identity come from one in-kernel pass a
 * tick (watch_pass_seen) where the kernel has the iterator; what a pass finds
 * changed, and whatever passes do not see, is read from /proc
 * (stat(PID/fd).st_size, O(1)) on a schedule of its own: every tick while it moves or is a suspect,
 * less often the longer it stays flat and the more headroom it has, at most PollSec apart
 * (stretched so the whole table costs at most WATCH_POLLS_PER_SEC reads a
 * second). A rolling sweep reconciles each process fully (limits, identity) once
 * per RescanSec. New, exec'd and exited processes come from the probe's
 * lifecycle records, not from scanning /proc. From what it sees the module says
 * whether the per-syscall probe should be armed: while any process is a
 * suspect (grown by MinGrowth over its trough, near its limit, in a raised
 * state, or named by a client), and for ArmCooldownSec after the last one
 * cleared, within MaxArmedPercent of ArmedShareWindowSec unless a suspect is
 * critical. Pure: no libbpf, sd-event or socket headers; time comes from the
 * caller and the probe is reached through struct watch_ops.
 */
#ifndef FDWATCH_WATCH_H
#define FDWATCH_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "alerts.h"
#include "config.h"
#include "fdwatch.h"
#include "proc-table.h"

/*
 * Count reads a second the schedule allows for the whole table. A stat of
 * /proc/PID/fd measured here: 1.4 us at 1,000 processes, 5-7 us at 10,000
 * (they no longer fit the caches), so 1,000 reads a second are 0.14-0.7 % of a
 * core. At 1,000 processes with PollSec=2s the table needs 500 a second; at
 * 10,000 the quiet interval stretches to 10 s.
 */
#define WATCH_POLLS_PER_SEC 1000
/*
 * Processes a second count passes may look at. A pass in the daemon, once a second (cold
 * caches, the table lookups included), measured 1.3 ms at 1,000 processes and 12.6 ms at
 * 10,000 (1.2-1.3 us each), so 5,000 a second cost ~0.65 % of a core at most. Up to 5,000
 * processes a pass runs every tick; beyond, the passes space out (every 2 s at 10,000).
 */
#define WATCH_PASS_PROCS_PER_SEC 5000
/* The armed share is kept in this many buckets of ArmedShareWindowSec each. */
#define WATCH_SHARE_BUCKETS 60

/* Why a process is a suspect (struct proc_entry.suspect). */
enum {
	WATCH_SUSPECT_GROWTH = 1U << 0,	    /* grew by MinGrowth over its trough, still growing */
	WATCH_SUSPECT_NEAR_LIMIT = 1U << 1, /* CriticalPercent of its soft limit in use */
	WATCH_SUSPECT_STATE = 1U << 2,	    /* the detector's state is above ok */
	WATCH_SUSPECT_TRACED = 1U << 3,	    /* named by a client (watch_trace) */
};

struct watch_ops {
	void *userdata;
	/* An alert is due (it is in the alerts' history already): send it on. */
	void (*alert)(void *userdata, const struct alert *a);
	/* A process left the table: drop the probe's entry of pid if it is still the one that
	 * started at start_boottime (ns). May be NULL. */
	void (*forget)(void *userdata, pid_t pid, uint64_t start_boottime);
	/* For an alert of e: what it holds most of and where it made it, in words ("" when
	 * unknown). May be NULL. */
	void (*describe)(void *userdata, const struct proc_entry *e, uint64_t now_ns, char *target,
			 size_t target_size, char *site, size_t site_size);
	/* After each verdict of e (census and creation sites of suspects). 0 or -ENOMEM. May be
	 * NULL. */
	int (*attribute)(void *userdata, const struct proc_entry *e, uint64_t now_ns);
};

struct watch_stats {
	uint64_t polls;		  /* count reads of the schedule */
	uint64_t passes_seen;	  /* processes seen unchanged by count passes */
	uint64_t reconciliations; /* full reconciliations (sweep, exec, probe activity) */
	uint64_t forks;		  /* fork records */
	uint64_t forks_short;	  /* ... of processes that exited before they were looked at */
	uint64_t exits;		  /* processes retired */
	uint64_t arms;		  /* times the probe was armed */
};

struct watch;

/*
 * A watch over the process table t, judging with alerts a, configured by *c
 * (kept by pointer: the caller keeps it alive and calls watch_set_config when
 * it changes). now_ns is CLOCK_BOOTTIME. 0 or -ENOMEM.
 */
int watch_new(struct proc_table *t, struct alerts *a, const struct fdw_config *c,
	      const struct watch_ops *ops, uint64_t now_ns, struct watch **ret);
/* NULL-safe. The table and alerts stay the caller's. */
void watch_free(struct watch *w);
void watch_set_config(struct watch *w, const struct fdw_config *c);

/*
 * Lifecycle records, in the order the probe sent them (start_boottime in ns).
 * A fork is looked at from the next tick on, if it is still alive then; an exit
 * retires the process at once (with its closing alert if it was leaking), so a
 * PID reused right after is a new process. An exec makes the next step refresh
 * the identity and reconcile. 0 or -ENOMEM.
 */
int watch_fork(struct watch *w, pid_t pid, uint64_t start_boottime, uint64_t now_ns);
void watch_exec(struct watch *w, pid_t pid);
void watch_exit(struct watch *w, pid_t pid, uint64_t start_boottime, uint64_t now_ns);

/*
 * One entry of the probe's counters. A changed entry is reconciled and judged
 * now (with urgent, also when unchanged: an EMFILE record). 0 or -ENOMEM.
 */
int watch_counts(struct watch *w, pid_t tgid, const struct fdw_counts *c, bool urgent,
		 uint64_t now_ns);

/*
 * One process of a count pass (every process's count, limits and identity from the kernel
 * at once, bpf/count.bpf.c). Same as the table's: it counts as read and swept, and its next
 * read from /proc is left to the sweep, so while passes keep seeing it only they read it. A
 * different count or limit: read and judged at the next tick; another process under its
 * PID: its identity checked then. Unknown PIDs are left to the lifecycle records.
 */
void watch_pass_seen(struct watch *w, const struct fdw_task_count *c, uint64_t now_ns);
/* Whether a count pass is due now (every tick, spaced out for a large table); true books it. */
bool watch_pass_due(struct watch *w, uint64_t now_ns);
/* The passes stopped: every process goes back to its own read schedule from the next tick. */
void watch_pass_stop(struct watch *w);
/* A listing of the PIDs in /proc (the safety net for lost records): adds unknown ones. 0 or
 * -ENOMEM. */
int watch_listed(struct watch *w, const pid_t *pids, size_t n, uint64_t now_ns);

/*
 * The tick: look at forks that are still alive, read the counts that are due,
 * sweep, judge, and decide on suspicion. 0 or -ENOMEM.
 */
int watch_tick(struct watch *w, uint64_t now_ns);

/*
 * Whether the per-syscall probe should count now, after the latest tick:
 * always in mode always, never in poll, in auto as the header says.
 */
bool watch_want_armed(struct watch *w, uint64_t now_ns);
/* The probe counts (armed) or stopped counting, from now_ns on. */
void watch_set_armed(struct watch *w, bool armed, uint64_t now_ns);
/* Whether it counts, and since when (CLOCK_BOOTTIME ns; 0 when not). */
uint64_t watch_armed_since(const struct watch *w);
/* Share of the latest ArmedShareWindowSec the probe counted, 0..1. */
double watch_armed_share(const struct watch *w, uint64_t now_ns);

/*
 * Make pid a suspect until until_ns (a client asked to trace it). 0, or -ESRCH
 * when pid is not in the table.
 */
int watch_trace(struct watch *w, pid_t pid, uint64_t until_ns);

/* The suspects of the latest tick: up to max PIDs into ret; returns how many there are. */
size_t watch_suspects(struct watch *w, pid_t *ret, size_t max);

const struct watch_stats *watch_get_stats(const struct watch *w);

#endif
