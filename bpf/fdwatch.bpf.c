// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fdwatch.bpf.c - count, per thread group, every fd a process gains or loses.
 *
 * One handler serves the exit of every fd syscall. In the default mode it is
 * attached to each per-syscall tracepoint (syscalls/sys_exit_<name>), which
 * costs unrelated syscalls a few ns; the "raw" mode attaches one raw_tp to
 * sys_exit instead (every syscall pays for a table lookup, 32-bit compat
 * syscalls are skipped). Which syscall does what comes from user space in
 * cfg_syscall_action[] / cfg_syscall_kind[], because numbers are per arch.
 *
 * Counters only grow and live in the "procs" hash; user space reads them in
 * batch once per tick. Rare events (EMFILE/ENFILE, exec, exit) go through a
 * ring buffer; only EMFILE/ENFILE wake user space up.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "fdwatch.h"
#include "pidns.bpf.h"

#define EMFILE		24
#define ENFILE		23
#define F_DUPFD		0
#define F_DUPFD_CLOEXEC 1030
#define RLIMIT_NOFILE	7
#define TS_COMPAT	0x0002 /* x86 thread_info.status: in a 32-bit syscall */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u8 cfg_syscall_action[FDW_SYSCALL_MAX] = {};
const volatile __u8 cfg_syscall_kind[FDW_SYSCALL_MAX] = {};
const volatile __u32 cfg_ignore_tgid = 0; /* the daemon itself */
/* The daemon's PID namespace when it is not the initial one (a container):
 * PIDs are then reported as the daemon sees them in its /proc, and tasks of
 * other namespaces are not counted. 0: host PIDs, every task. */
const volatile __u64 cfg_pidns_dev = 0;
const volatile __u64 cfg_pidns_ino = 0;
/* Ring buffer bytes filled before a lifecycle record wakes user space up. */
const volatile __u64 cfg_lifecycle_wakeup_bytes = 0;

struct fdw_stats stats = {};
/*
 * Whether the syscall programs count, set by user space. They are attached only
 * while the daemon wants counts; while their links are being detached (slow, in
 * the background) they are off already, so a count covers exactly the interval
 * user space thinks it does.
 */
__u32 counting = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by user space before load */
	__type(key, __u32);
	__type(value, struct fdw_counts);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* resized by user space before load */
} events SEC(".maps");

/* Creation sites (fdwatch.h): which tgids, their open fds' records, the user stacks. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64); /* suspects at once */
	__type(key, __u32);
	__type(value, __u8);
} sites_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072); /* resized by user space before load */
	__type(key, struct fdw_site_key);
	__type(value, struct fdw_site);
} sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096); /* resized by user space before load */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, FDW_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* How many tgids are in sites_tgids: 0 spares every other syscall the lookup. */
__u32 sites_active = 0;
/* Bumped by user space after each change of sites_tgids (struct fdw_counts.sites_on). */
__u32 sites_gen = 0;

/* The counters of the current thread group; a new or reused tgid starts at zero. */
/* tgid and tid of the current task as the daemon sees them; false: not ours to count. */
static __always_inline bool current_ids(__u32 *tgid, __u32 *tid)
{
	struct bpf_pidns_info ns;
	__u64 id;

	if (!cfg_pidns_ino) {
		id = bpf_get_current_pid_tgid();
		*tgid = id >> 32;
		*tid = (__u32)id;
		return true;
	}
	if (bpf_get_ns_current_pid_tgid(cfg_pidns_dev, cfg_pidns_ino, &ns, sizeof(ns)))
		return false;
	*tgid = ns.tgid;
	*tid = ns.pid;
	return true;
}

static struct fdw_counts *counts_get(__u32 tgid, struct task_struct *task, __u64 now)
{
	__u64 start = task->group_leader->start_boottime;
	struct fdw_counts *c, init = {};
	long r;

	c = bpf_map_lookup_elem(&procs, &tgid);
	if (c && c->start_boottime == start)
		return c;

	init.start_boottime = start;
	init.first_ns = now ?: bpf_ktime_get_boot_ns();
	init.max_fd = -1;
	init.last_fail_nr = -1;
	/* A reused PID overwrites its predecessor; two threads racing to create
	 * the entry must not, hence NOEXIST when there was none. */
	r = bpf_map_update_elem(&procs, &tgid, &init, c ? BPF_ANY : BPF_NOEXIST);
	if (r && r != -17 /* EEXIST: another thread won */) {
		__sync_fetch_and_add(&stats.map_full, 1);
		return NULL;
	}
	c = bpf_map_lookup_elem(&procs, &tgid);
	if (c && c->start_boottime != start)
		return NULL;
	return c;
}

/* One ring buffer record; start_boottime and rlim_cur are the process's. */
static __always_inline void emit(__u32 type, __u32 tgid, __u32 tid, __u64 start_boottime,
				 __u64 rlim_cur, __s32 nr, __s32 err, __u64 now, __u64 flags)
{
	struct fdw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&stats.rb_dropped, 1);
		return;
	}
	e->type = type;
	e->tgid = tgid;
	e->tid = tid;
	e->syscall_nr = nr;
	e->err = err;
	e->__pad = 0;
	e->start_boottime = start_boottime;
	e->ts_ns = now;
	e->rlim_cur = rlim_cur;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, flags);
}

/* emit() for current's own process; task is current, BTF-typed. */
static __always_inline void emit_current(__u32 type, __u32 tgid, __u32 tid,
					 struct task_struct *task, __s32 nr, __s32 err, __u64 now,
					 __u64 flags)
{
	emit(type, tgid, tid, task->group_leader->start_boottime,
	     task->signal->rlim[RLIMIT_NOFILE].rlim_cur, nr, err, now, flags);
}

static __always_inline void note_fd(struct fdw_counts *c, long fd)
{
	if (fd > c->max_fd)
		c->max_fd = fd;
}

static __always_inline void note_creation(struct fdw_counts *c, __u64 now)
{
	__u64 gap = now - c->last_create_ns;

	if (c->last_create_ns && gap > FDW_BURST_GAP_NS) {
		__u64 us = gap / 1000;

		if (us > 3600000000ULL) /* an hour: keeps the squares in range */
			us = 3600000000ULL;
		c->bursts++;
		c->burst_gap_sum_us += us;
		c->burst_gap_sq_us += us * us;
	} else if (!c->last_create_ns) {
		c->bursts++;
	}
	c->last_create_ns = now;
}

static __noinline void site_add(void *ctx, __u32 tgid, long fd, __u32 nr, __u64 now)
{
	struct fdw_site_key key = {.tgid = tgid, .fd = (__s32)fd};
	struct fdw_site site = {.ts_ns = now, .syscall_nr = (__s32)nr};

	if (fd < 0)
		return;
	site.stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (site.stack_id < 0)
		__sync_fetch_and_add(&stats.sites_no_stack, 1);
	/* BPF_ANY: a dup2() onto an open fd replaces its record. */
	if (bpf_map_update_elem(&sites, &key, &site, BPF_ANY))
		__sync_fetch_and_add(&stats.sites_full, 1);
}

/*
 * Record where a tracked tgid's fds come from, forget them when closed. Fds
 * closed unseen (close_range, exec's O_CLOEXEC) leave stale records that user
 * space drops by checking which fds are open.
 */
static __always_inline void sites_note(void *ctx, struct fdw_counts *c, __u32 tgid, __u8 act,
				       __u8 kind, long ret, struct pt_regs *regs, __u32 nr,
				       __u64 now)
{
	struct fdw_site_key key = {.tgid = tgid};
	__u32 gen = sites_gen;

	if (!sites_active || ret < 0)
		return;
	if (c->sites_gen != gen) {
		c->sites_on = bpf_map_lookup_elem(&sites_tgids, &tgid) != NULL;
		c->sites_gen = gen;
	}
	if (!c->sites_on)
		return;
	switch (act) {
	case FDW_ACT_CREATE:
	case FDW_ACT_FCNTL:
	case FDW_ACT_DUP2:
		site_add(ctx, tgid, ret, nr, now);
		break;
	case FDW_ACT_CREATE_PAIR: {
		int fds[2] = {-1, -1};
		void *ufds;

		if (!regs)
			break;
		ufds = kind == FDW_KIND_SOCKET ? (void *)PT_REGS_PARM4_CORE_SYSCALL(regs)
					       : (void *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		if (bpf_probe_read_user(fds, sizeof(fds), ufds))
			break;
		site_add(ctx, tgid, fds[0], nr, now);
		site_add(ctx, tgid, fds[1], nr, now);
		break;
	}
	case FDW_ACT_CLOSE:
		if (!regs)
			break;
		key.fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
		bpf_map_delete_elem(&sites, &key);
		break;
	}
}

static __always_inline int account(void *ctx, __u32 nr, long ret, struct pt_regs *regs)
{
	struct task_struct *task;
	struct fdw_counts *c;
	__u32 tgid, tid;
	__u8 act, kind;
	__u64 now;

	if (nr >= FDW_SYSCALL_MAX)
		return 0;
	act = cfg_syscall_action[nr];
	if (act == FDW_ACT_NONE)
		return 0;
	kind = cfg_syscall_kind[nr];
	if (kind >= FDW_KIND_MAX)
		return 0;
	/* Failures other than running out of fds change nothing. */
	if (ret < 0 && ret != -EMFILE && ret != -ENFILE)
		return 0;
	if (ret < 0 && (act == FDW_ACT_CLOSE || act == FDW_ACT_CLOSE_RANGE))
		return 0;
	/* fcntl() makes an fd only as F_DUPFD / F_DUPFD_CLOEXEC. */
	if (act == FDW_ACT_FCNTL) {
		long cmd;

		if (!regs)
			return 0;
		cmd = PT_REGS_PARM2_CORE_SYSCALL(regs);
		if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
			return 0;
	}

	if (!current_ids(&tgid, &tid) || tgid == cfg_ignore_tgid)
		return 0;
	/* Direct BTF loads, not BPF_CORE_READ's probe reads: ~150 ns less per
	 * counted syscall (measured with the bench, tests/bench). */
	task = bpf_get_current_task_btf();
	/* Closes need no clock: a clock read costs ~65 ns here. */
	now = (act == FDW_ACT_CLOSE || act == FDW_ACT_CLOSE_RANGE) && ret >= 0
		  ? 0
		  : bpf_ktime_get_boot_ns();
	c = counts_get(tgid, task, now);
	if (!c)
		return 0;
	if (now)
		c->last_ns = now;
	c->rlim_cur = task->signal->rlim[RLIMIT_NOFILE].rlim_cur;
	c->rlim_max = task->signal->rlim[RLIMIT_NOFILE].rlim_max;

	if (ret < 0) {
		if (ret == -EMFILE)
			__sync_fetch_and_add(&c->emfile, 1);
		else
			__sync_fetch_and_add(&c->enfile, 1);
		c->last_fail_nr = nr;
		/* At most one record per tgid per interval: a loop spinning on
		 * EMFILE must not flood the ring buffer. */
		if (now - c->last_fail_event_ns >= FDW_FAIL_EVENT_INTERVAL_NS) {
			c->last_fail_event_ns = now;
			emit_current(FDW_EV_FAIL, tgid, tid, task, nr, -ret, now,
				     BPF_RB_FORCE_WAKEUP);
		}
		return 0;
	}

	sites_note(ctx, c, tgid, act, kind, ret, regs, nr, now);
	switch (act) {
	case FDW_ACT_CREATE:
		note_creation(c, now);
		__sync_fetch_and_add(&c->created[kind], 1);
		note_fd(c, ret);
		break;
	case FDW_ACT_CREATE_PAIR: {
		int fds[2] = {-1, -1};
		void *ufds = NULL;

		if (regs) /* pipe2(fds, ...) or socketpair(domain, type, proto, sv) */
			ufds = kind == FDW_KIND_SOCKET ? (void *)PT_REGS_PARM4_CORE_SYSCALL(regs)
						       : (void *)PT_REGS_PARM1_CORE_SYSCALL(regs);
		note_creation(c, now);
		__sync_fetch_and_add(&c->created[kind], 2);
		if (ufds && !bpf_probe_read_user(fds, sizeof(fds), ufds)) {
			note_fd(c, fds[0]);
			note_fd(c, fds[1]);
		}
		break;
	}
	case FDW_ACT_FCNTL:
		note_creation(c, now);
		__sync_fetch_and_add(&c->created[FDW_KIND_DUP], 1);
		note_fd(c, ret);
		break;
	case FDW_ACT_DUP2:
		/* If newfd was open, the kernel closed it first; that close is
		 * invisible here, so ask for a reconciliation. */
		note_creation(c, now);
		__sync_fetch_and_add(&c->created[FDW_KIND_DUP], 1);
		note_fd(c, ret);
		c->unseen++;
		break;
	case FDW_ACT_CLOSE:
		__sync_fetch_and_add(&c->closed, 1);
		break;
	case FDW_ACT_CLOSE_RANGE:
		/* How many fds were open in the range is gone by now. */
		c->unseen++;
		break;
	}
	return 0;
}

/* Layout of syscalls/sys_exit_<name> records (see its tracefs "format"). */
struct syscall_exit_record {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__s64 ret;
};

SEC("tracepoint")
int handle_sys_exit(struct syscall_exit_record *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!counting)
		return 0;
	return account(ctx, ctx->syscall_nr, ctx->ret, (struct pt_regs *)bpf_task_pt_regs(task));
}

/*
 * The "raw" mode: one program on every syscall exit. BTF-typed (tp_btf) so
 * regs and task are read directly: ~20 ns per unrelated syscall instead of
 * ~78 ns with raw_tp and probe reads (measured with tests/bench).
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(handle_raw_sys_exit, struct pt_regs *regs, long ret)
{
	long nr;

	if (!counting)
		return 0;
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = bpf_get_current_task_btf();

	/* Compat syscall numbers mean other syscalls; reconciliation covers them. */
	if (task->thread_info.status & TS_COMPAT)
		return 0;
	nr = regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	nr = regs->syscallno;
#else
	return 0;
#endif
	if (nr < 0)
		return 0;
	return account(ctx, nr, ret, regs);
}

/* Lifecycle records wake user space up only once the buffer fills (see fdwatch.h). */
static __always_inline __u64 lifecycle_wakeup(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg_lifecycle_wakeup_bytes
		   ? BPF_RB_FORCE_WAKEUP
		   : BPF_RB_NO_WAKEUP;
}

/*
 * The lifecycle programs are raw tracepoints, not tp_btf: a BTF-typed program
 * makes libbpf read the kernel's whole BTF to find its attach point (a 12 MB
 * peak, measured), while these need only the few types of their CO-RE reads.
 * exec and exit run in the task itself, so current is read BTF-typed.
 */
SEC("raw_tp/sched_process_exec")
int handle_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdw_counts *c;
	__u32 tgid, tid;
	__u64 now;

	if (!current_ids(&tgid, &tid) || tgid == cfg_ignore_tgid)
		return 0;
	now = bpf_ktime_get_boot_ns();
	c = bpf_map_lookup_elem(&procs, &tgid);
	if (c)
		c->unseen++; /* exec closed the O_CLOEXEC fds */
	emit_current(FDW_EV_EXEC, tgid, tid, task, -1, 0, now, lifecycle_wakeup());
	return 0;
}

SEC("raw_tp/sched_process_exit")
int handle_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdw_counts *c;
	__u32 tgid, tid;
	__u64 now;

	/* Only the last thread of the group; do_exit() decremented live already.
	 * Every group's exit is told, counted or not: the daemon's table learns
	 * of exits without scanning /proc. */
	if (task->signal->live.counter != 0 || !current_ids(&tgid, &tid) || tgid == cfg_ignore_tgid)
		return 0;
	now = bpf_ktime_get_boot_ns();
	c = bpf_map_lookup_elem(&procs, &tgid);
	if (c && c->start_boottime == task->group_leader->start_boottime) {
		c->flags |= FDW_F_EXITED;
		c->last_ns = now;
	}
	emit_current(FDW_EV_EXIT, tgid, tid, task, -1, 0, now, lifecycle_wakeup());
	return 0;
}

/*
 * A new thread group (not a thread): the daemon learns of new processes
 * without scanning /proc.
 */
SEC("raw_tp/sched_process_fork")
int handle_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct task_struct *parent = bpf_get_current_task_btf();
	__u32 tgid;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	tgid = leader_tgid_seen(child, cfg_pidns_ino);
	if (!tgid)
		return 0;
	/* The child is its own group leader; its comm and limits are copies of
	 * the parent's (current) at this point. */
	emit(FDW_EV_FORK, tgid, tgid, BPF_CORE_READ(child, start_boottime),
	     parent->signal->rlim[RLIMIT_NOFILE].rlim_cur, -1, 0, bpf_ktime_get_boot_ns(),
	     lifecycle_wakeup());
	return 0;
}
