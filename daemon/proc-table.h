/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * proc-table.h - per-process state across ticks.
 *
 * One entry per live process, found by pid and told from a reused PID by its
 * start time. The open count is baselined from /proc when a process is first
 * seen and reconciled with /proc whenever the probe saw activity or something
 * it cannot count (exec, close_range, dup2 onto an open fd), and for every
 * process at each rescan, so drift never accumulates. Probe counters are
 * diffed into cumulative per-process totals. Pure: no libbpf, sd-event or
 * socket headers (it reads /proc through proc.h, under a root path).
 */
#ifndef FDWATCH_PROC_TABLE_H
#define FDWATCH_PROC_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uthash.h>
#include "fdwatch.h"
#include "detector.h"
#include "cgroup.h"

#define PROC_HISTORY 120 /* samples kept for the API and sparklines (2 min at 1 s) */

struct proc_point {
	uint64_t t_ns; /* CLOCK_BOOTTIME */
	uint64_t fds;
};

struct proc_entry {
	pid_t pid;
	uint64_t start_ticks; /* /proc/PID/stat field 22 */
	uid_t uid;
	char comm[16];
	char *cmdline;
	char *cgroup;
	char *unit;			    /* systemd unit, or NULL */
	struct cgroup_container *container; /* container and pod from the cgroup, or NULL */
	pid_t ppid;
	uint64_t inherited_fds; /* fds it held when first seen just after its fork, up to its
				 * parent's count then: its parent's, not its own (0: none known) */

	uint64_t fds; /* exact open fds at the latest reconciliation + what the probe saw since */
	uint64_t soft_limit, hard_limit;
	/* Cumulative since first seen (probe counts). */
	uint64_t created[FDW_KIND_MAX];
	uint64_t closed;
	uint64_t emfile, enfile;
	int last_fail_nr;
	int max_fd;
	uint64_t bursts, burst_gap_sum_us, burst_gap_sq_us;
	/* What reconciliation had to add (the probe could not see it). */
	uint64_t unseen_opens, unseen_closes;
	int64_t last_drift; /* probe estimate minus /proc at the latest reconciliation */

	uint64_t first_seen_ns; /* CLOCK_BOOTTIME */
	uint64_t first_seen_realtime_ns;
	uint64_t last_activity_ns; /* latest probe event */
	uint64_t reconciled_ns;
	bool has_probe; /* the probe has counters for it */
	bool exited;
	bool ignored; /* a config rule says so */
	bool needs_reconcile;
	bool needs_identity;	 /* exec'd: comm, cmdline, unit may have changed */
	uint64_t last_seen_tick; /* manager's tick number when last updated */

	/* Schedule and suspicion, kept by the watch module (watch.h). */
	uint64_t next_poll_ns;	   /* when the count is read next */
	uint64_t poll_interval_ns; /* the latest interval between two reads */
	uint64_t next_sweep_ns;	   /* when it is reconciled next in the rolling sweep */
	uint64_t last_sample_ns;   /* latest sample fed to the detector, 0: none */
	uint64_t trough_fds;	   /* lowest count since its growth was last judged */
	uint64_t peak_fds;	   /* highest count since then ... */
	uint64_t peak_ns;	   /* ... and when it was reached */
	uint64_t traced_until_ns;  /* named by a client: a suspect until then */
	unsigned suspect;	   /* WATCH_SUSPECT_* reasons at its latest step, 0: none */

	struct fdw_counts last_counts; /* latest raw probe counters, for diffing */

	/* Ring of PROC_HISTORY points, one per judged sample; NULL until the first (most
	 * processes never move: 1.9 KiB each saved, 19 MiB at 10,000 processes). */
	struct proc_point *history;
	unsigned history_len, history_head;

	struct detector *detector;
	struct detect_verdict verdict;
	enum fdw_state prev_state;

	UT_hash_handle hh;
};

struct proc_table;

/*
 * proc_root: "/proc" or a fixture. fast_count: use the st_size fast path
 * (proc_fd_size_is_count()). 0 or -ENOMEM.
 */
int proc_table_new(const char *proc_root, bool fast_count, struct proc_table **ret);
void proc_table_free(struct proc_table *t);

/* The live entry of pid, or NULL. */
struct proc_entry *proc_table_get(struct proc_table *t, pid_t pid);
/* Number of entries. */
size_t proc_table_size(const struct proc_table *t);
/* Iterate: for (e = proc_table_first(t); e; e = proc_table_next(e)). */
struct proc_entry *proc_table_first(struct proc_table *t);
struct proc_entry *proc_table_next(struct proc_entry *e);

/*
 * Apply one probe read for tgid (counters cumulative, start time in
 * boottime ns). Creates the entry (baselined from /proc) if new, replaces it
 * on PID reuse, diffs counters into the totals. Returns 1 if the counters
 * changed since the previous read, 0 if not, -ENOENT/-ESRCH when the process
 * is gone, -ENOMEM. *ret (optional) gets the entry.
 */
int proc_table_apply_counts(struct proc_table *t, pid_t tgid, const struct fdw_counts *c,
			    uint64_t now_ns, struct proc_entry **ret);

/*
 * Make sure pid has an entry (a process found by a /proc scan), reading its
 * identity and baseline. 0 (exists / created), -ENOENT/-ESRCH, -EOPNOTSUPP for
 * a kernel thread (never tracked), -ENOMEM.
 */
int proc_table_add(struct proc_table *t, pid_t pid, uint64_t now_ns, struct proc_entry **ret);
/*
 * The same for a process known to have started at start_ticks (/proc/PID/stat
 * field 22; from a fork record): -ESRCH when pid now belongs to another one.
 * An existing entry of pid is returned as it is.
 */
int proc_table_add_started(struct proc_table *t, pid_t pid, uint64_t start_ticks, uint64_t now_ns,
			   struct proc_entry **ret);

/*
 * Set e->fds from /proc exactly; when counted (the probe counted the process's fd
 * syscalls since the previous reconciliation), the difference from the probe's
 * estimate is booked as unseen opens or closes, else it is just the new count.
 * Also refreshes limits and the name (a process may rename itself without an exec).
 * 0, -ENOENT/-ESRCH (-ESRCH: the PID now belongs to another process).
 */
int proc_table_reconcile(struct proc_table *t, struct proc_entry *e, uint64_t now_ns, bool counted);
/*
 * Only the count (stat(ROOT/PID/fd), O(1)): set e->fds from /proc, booking the
 * difference as reconcile does. 1 when the count changed, 0 when not, -ENOENT/-ESRCH.
 */
int proc_table_poll(struct proc_table *t, struct proc_entry *e, uint64_t now_ns, bool counted);

/* Refresh comm, cmdline, uid, cgroup, unit and container (after exec). */
int proc_table_refresh_identity(struct proc_table *t, struct proc_entry *e);

/* Append the current fds to the entry's history ring (allocated on first use; without
 * memory the point is left out). */
void proc_entry_push_history(struct proc_entry *e, uint64_t now_ns);

/* Fill a detector sample from the entry. */
void proc_entry_to_sample(const struct proc_entry *e, uint64_t now_ns, struct detect_sample *ret);

/* Remove and free one entry. */
void proc_table_remove(struct proc_table *t, struct proc_entry *e);

#endif
