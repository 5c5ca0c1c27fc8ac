// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "proc-table.h"
#include "proc.h"
#include "util.h"

#define CMDLINE_MAX 1024 /* enough to recognise a service; /proc gives up to 4 KiB */

struct proc_table {
	char *root;
	bool fast_count;
	struct proc_entry *hash; /* uthash head */
	size_t n;
};

int proc_table_new(const char *proc_root, bool fast_count, struct proc_table **ret)
{
	struct proc_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->root = strdup(proc_root ? proc_root : "/proc");
	if (!t->root) {
		free(t);
		return -ENOMEM;
	}
	t->fast_count = fast_count;
	*ret = t;
	return 0;
}

static void entry_free(struct proc_entry *e)
{
	if (!e)
		return;
	free(e->cmdline);
	free(e->cgroup);
	free(e->unit);
	free(e->history);
	free(e->container);
	detector_free(e->detector);
	free(e);
}

void proc_table_free(struct proc_table *t)
{
	struct proc_entry *e, *tmp;

	if (!t)
		return;
	HASH_ITER(hh, t->hash, e, tmp)
	{
		HASH_DEL(t->hash, e);
		entry_free(e);
	}
	free(t->root);
	free(t);
}

struct proc_entry *proc_table_get(struct proc_table *t, pid_t pid)
{
	struct proc_entry *e = NULL;

	HASH_FIND_INT(t->hash, &pid, e);
	return e;
}

size_t proc_table_size(const struct proc_table *t)
{
	return t->n;
}

struct proc_entry *proc_table_first(struct proc_table *t)
{
	return t->hash;
}

struct proc_entry *proc_table_next(struct proc_entry *e)
{
	return e->hh.next;
}

void proc_table_remove(struct proc_table *t, struct proc_entry *e)
{
	HASH_DEL(t->hash, e);
	t->n--;
	entry_free(e);
}

int proc_table_refresh_identity(struct proc_table *t, struct proc_entry *e)
{
	_cleanup_free_ char *cmdline = NULL, *cgroup = NULL, *unit = NULL;
	_cleanup_free_ struct cgroup_container *container = NULL;
	struct cgroup_container cc;
	struct proc_stat st;
	uid_t uid;
	int r;

	r = proc_read_stat(t->root, e->pid, &st);
	if (r < 0)
		return r;
	if (st.start_ticks != e->start_ticks)
		return -ESRCH; /* the PID belongs to another process now */
	r = proc_read_uid(t->root, e->pid, &uid);
	if (r < 0)
		return r;
	/* cmdline and cgroup are best effort: a zombie has neither. */
	(void)proc_read_cmdline(t->root, e->pid, CMDLINE_MAX, &cmdline);
	if (proc_read_cgroup(t->root, e->pid, &cgroup) >= 0) {
		r = cgroup_path_to_unit(cgroup, &unit);
		if (r < 0)
			return r;
		/* Only containers and pods pay for the copy: most processes are neither. */
		if (cgroup_path_to_container(cgroup, &cc) > 0) {
			container = malloc(sizeof(*container));
			if (!container)
				return -ENOMEM;
			*container = cc;
		}
	}
	memcpy(e->comm, st.comm, sizeof(e->comm));
	e->uid = uid;
	free(e->cmdline);
	e->cmdline = TAKE_PTR(cmdline);
	free(e->cgroup);
	e->cgroup = TAKE_PTR(cgroup);
	free(e->unit);
	e->unit = TAKE_PTR(unit);
	free(e->container);
	e->container = TAKE_PTR(container);
	return 0;
}

/*
 * A child first seen within INHERIT_WINDOW_SEC of its start holds what it got
 * from its parent at fork (up to the parent's count), not fds it opened. 10 s:
 * a new PID that makes no fd syscall is found by the rescan (every 5 s by
 * default) and the tick after it. Children of PID 1 (services) are their own.
 */
#define INHERIT_WINDOW_SEC 10

static void entry_note_inherited(struct proc_table *t, struct proc_entry *e, uint64_t now_ns)
{
	const struct proc_entry *parent = e->ppid > 1 ? proc_table_get(t, e->ppid) : NULL;
	uint64_t tps = proc_ticks_per_sec(), now_ticks = now_ns / (NSEC_PER_SEC / tps);

	if (parent && now_ticks <= e->start_ticks + INHERIT_WINDOW_SEC * tps)
		e->inherited_fds = MIN(e->fds, parent->fds);
}

/* A new entry for pid, baselined from /proc; start_ticks must match when given (non-zero). */
static int entry_new(struct proc_table *t, pid_t pid, uint64_t want_start, uint64_t now_ns,
		     struct proc_entry **ret)
{
	struct proc_entry *e;
	struct proc_stat st;
	int r;

	r = proc_read_stat(t->root, pid, &st);
	if (r < 0)
		return r;
	if (want_start && st.start_ticks != want_start)
		return -ESRCH;
	/* Kernel threads (kthreadd, PID 2, and its children) have no fds worth watching. */
	if (pid == 2 || st.ppid == 2)
		return -EOPNOTSUPP;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->pid = pid;
	e->start_ticks = st.start_ticks;
	e->ppid = st.ppid;
	e->max_fd = -1;
	e->last_fail_nr = -1;
	e->first_seen_ns = now_ns;
	e->first_seen_realtime_ns = now_realtime_ns();
	e->soft_limit = e->hard_limit = FD_LIMIT_INFINITY;
	/* No verdict yet: no ETA, no failing syscall. */
	e->verdict.eta_sec = -1;
	e->verdict.fail_nr = -1;
	r = proc_table_refresh_identity(t, e);
	if (r >= 0)
		r = proc_read_nofile(t->root, pid, &e->soft_limit, &e->hard_limit);
	if (r >= 0)
		r = proc_count_fds(t->root, pid, t->fast_count, &e->fds);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	e->reconciled_ns = now_ns;
	entry_note_inherited(t, e, now_ns);
	HASH_ADD_INT(t->hash, pid, e);
	t->n++;
	*ret = e;
	return 0;
}

int proc_table_add(struct proc_table *t, pid_t pid, uint64_t now_ns, struct proc_entry **ret)
{
	return proc_table_add_started(t, pid, 0, now_ns, ret);
}

int proc_table_add_started(struct proc_table *t, pid_t pid, uint64_t start_ticks, uint64_t now_ns,
			   struct proc_entry **ret)
{
	struct proc_entry *e = proc_table_get(t, pid);
	int r;

	if (!e) {
		r = entry_new(t, pid, start_ticks, now_ns, &e);
		if (r < 0)
			return r;
	}
	if (ret)
		*ret = e;
	return 0;
}

/* Counter b minus a; a counter that went backwards means the probe's entry restarted. */
static uint64_t counter_delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

int proc_table_apply_counts(struct proc_table *t, pid_t tgid, const struct fdw_counts *c,
			    uint64_t now_ns, struct proc_entry **ret)
{
	uint64_t start = c->start_boottime / (NSEC_PER_SEC / proc_ticks_per_sec());
	const struct fdw_counts *old;
	struct proc_entry *e = proc_table_get(t, tgid);
	uint64_t created = 0, closed;
	bool changed = false;
	int r;

	if (e && e->start_ticks != start) {
		/* PID reuse: the entry is about a process that is gone. */
		proc_table_remove(t, e);
		e = NULL;
	}
	if (!e) {
		r = entry_new(t, tgid, start, now_ns, &e);
		if (r < 0)
			return r;
		/* The /proc baseline already holds everything counted so far. */
		memcpy(e->created, c->created, sizeof(e->created));
		e->closed = c->closed;
		e->emfile = c->emfile;
		e->enfile = c->enfile;
		e->bursts = c->bursts;
		e->burst_gap_sum_us = c->burst_gap_sum_us;
		e->burst_gap_sq_us = c->burst_gap_sq_us;
		changed = true;
	} else {
		old = &e->last_counts;
		for (int k = 0; k < FDW_KIND_MAX; k++) {
			uint64_t d = counter_delta(c->created[k], old->created[k]);

			e->created[k] += d;
			created += d;
		}
		closed = counter_delta(c->closed, old->closed);
		e->closed += closed;
		e->emfile += counter_delta(c->emfile, old->emfile);
		e->enfile += counter_delta(c->enfile, old->enfile);
		e->bursts += counter_delta(c->bursts, old->bursts);
		e->burst_gap_sum_us += counter_delta(c->burst_gap_sum_us, old->burst_gap_sum_us);
		/* The sum of squares wraps in the BPF program after two hour-long gaps: diff it
		 * modulo 2^64 (as the detector does) unless the entry restarted. */
		if (c->bursts < old->bursts || c->burst_gap_sum_us < old->burst_gap_sum_us)
			e->burst_gap_sq_us += c->burst_gap_sq_us;
		else
			e->burst_gap_sq_us += c->burst_gap_sq_us - old->burst_gap_sq_us;
		/* The probe's estimate until the next reconciliation. */
		if (created >= closed || e->fds >= closed - created)
			e->fds = e->fds + created - closed;
		else
			e->fds = 0;
		changed = created || closed || c->emfile != old->emfile ||
			  c->enfile != old->enfile || c->flags != old->flags ||
			  c->unseen != old->unseen || c->last_ns != old->last_ns;
	}
	e->has_probe = true;
	if (c->last_fail_nr >= 0)
		e->last_fail_nr = c->last_fail_nr;
	if (c->max_fd > e->max_fd)
		e->max_fd = c->max_fd;
	if (c->rlim_cur) {
		e->soft_limit = c->rlim_cur;
		e->hard_limit = c->rlim_max;
	}
	if (c->last_ns)
		e->last_activity_ns = c->last_ns;
	if (c->unseen != e->last_counts.unseen)
		e->needs_reconcile = true;
	if (c->flags & FDW_F_EXITED)
		e->exited = true;
	e->last_counts = *c;
	if (ret)
		*ret = e;
	return changed;
}

/* The count is actual: book what the probe missed when it was counting. */
static void entry_set_count(struct proc_entry *e, uint64_t actual, uint64_t now_ns, bool counted)
{
	int64_t drift = (int64_t)e->fds - (int64_t)actual;

	if (!counted)
		drift = 0;
	else if (drift > 0)
		e->unseen_closes += (uint64_t)drift;
	else
		e->unseen_opens += (uint64_t)-drift;
	e->last_drift = drift;
	e->fds = actual;
	e->reconciled_ns = now_ns;
}

int proc_table_poll(struct proc_table *t, struct proc_entry *e, uint64_t now_ns, bool counted)
{
	uint64_t actual, before = e->fds;
	int r;

	r = proc_count_fds(t->root, e->pid, t->fast_count, &actual);
	if (r < 0)
		return r;
	entry_set_count(e, actual, now_ns, counted);
	return actual != before;
}

int proc_table_reconcile(struct proc_table *t, struct proc_entry *e, uint64_t now_ns, bool counted)
{
	uint64_t actual, soft, hard;
	struct proc_stat st;
	int r;

	r = proc_count_fds(t->root, e->pid, t->fast_count, &actual);
	if (r < 0)
		return r;
	/* An exit record may have been lost and the PID given to another process. Checked
	 * after counting, so the count is its. */
	r = proc_read_stat(t->root, e->pid, &st);
	if (r < 0)
		return r;
	if (st.start_ticks != e->start_ticks)
		return -ESRCH;
	/* A process may rename itself (prctl(PR_SET_NAME)) without an exec. */
	memcpy(e->comm, st.comm, sizeof(e->comm));
	/* A zombie has no fd table left: its fd dir is empty. */
	entry_set_count(e, actual, now_ns, counted);
	e->needs_reconcile = false;
	/* /proc is at least as fresh as the probe's copy from the latest event,
	 * and catches a prlimit() from outside while the process is quiet. */
	if (proc_read_nofile(t->root, e->pid, &soft, &hard) >= 0) {
		e->soft_limit = soft;
		e->hard_limit = hard;
	}
	return 0;
}

void proc_entry_push_history(struct proc_entry *e, uint64_t now_ns)
{
	unsigned i = (e->history_head + e->history_len) % PROC_HISTORY;

	if (!e->history) {
		e->history = calloc(PROC_HISTORY, sizeof(*e->history));
		if (!e->history)
			return;
	}
	e->history[i] = (struct proc_point){.t_ns = now_ns, .fds = e->fds};
	if (e->history_len < PROC_HISTORY)
		e->history_len++;
	else
		e->history_head = (e->history_head + 1) % PROC_HISTORY;
}

void proc_entry_to_sample(const struct proc_entry *e, uint64_t now_ns, struct detect_sample *ret)
{
	*ret = (struct detect_sample){
	    .t_ns = now_ns,
	    .fds = e->fds,
	    .soft_limit = e->soft_limit,
	    .hard_limit = e->hard_limit,
	    .closed = e->closed + e->unseen_closes,
	    .emfile = e->emfile,
	    .enfile = e->enfile,
	    .last_fail_nr = e->last_fail_nr,
	    .bursts = e->bursts,
	    .burst_gap_sum_us = e->burst_gap_sum_us,
	    .burst_gap_sq_us = e->burst_gap_sq_us,
	    /* The probe is attached for the daemon's whole life: it counts every fd syscall. */
	    .counted = true,
	};
	memcpy(ret->created, e->created, sizeof(ret->created));
	/* What the probe could not see still counts, as "other". */
	ret->created[FDW_KIND_OTHER] += e->unseen_opens;
}
