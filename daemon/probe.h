/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * probe.h - the only module that sees the BPF skeleton. Loads
 * bpf/fdwatch.bpf.c, keeps its lifecycle programs (fork, exec, exit: not
 * syscall tracepoints, they cost syscalls nothing) attached, attaches the
 * syscall programs on demand (probe_arm) and detaches them in the background
 * (probe_disarm), and hands plain per-tgid counters and rare events up.
 */
#ifndef FDWATCH_PROBE_H
#define FDWATCH_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "fdwatch.h"
#include "config.h"

/* Why the probe could not start; fdwatchd turns each into its own exit code. */
enum probe_failure {
	PROBE_OK = 0,
	PROBE_FAIL_PERMISSION, /* not root / no CAP_BPF + CAP_PERFMON */
	PROBE_FAIL_NO_BTF,     /* no /sys/kernel/btf/vmlinux */
	PROBE_FAIL_TRACEFS,    /* tracefs not mounted (tracepoint mode) */
	PROBE_FAIL_SECCOMP,    /* a seccomp filter blocks bpf() */
	PROBE_FAIL_LOAD,       /* the verifier or the kernel refused the program */
	PROBE_FAIL_ATTACH,     /* a tracepoint could not be attached */
	PROBE_FAIL_OTHER,
};

struct probe_options {
	enum probe_backend backend;
	bool syscalls; /* load the syscall programs at all (false: poll mode, never armed) */
	uint32_t max_processes;	  /* "procs" map entries */
	uint32_t ringbuf_kib;	  /* rounded up to a power of two pages */
	pid_t ignore_tgid;	  /* the daemon itself */
	bool verbose;		  /* libbpf's own messages at debug level */
	uint32_t max_tracked_fds; /* "sites" map entries: creation records of suspects' fds */
	uint32_t max_stacks;	  /* "stacks" map entries: distinct user stacks */
	/* Called (with the userdata of probe_new) every 200 ms while probe_free()
	 * waits for the kernel to detach, e.g. to feed a watchdog. May be NULL. */
	void (*keepalive)(void *userdata);
};

/* Called for every ring buffer record; a negative return stops consuming. */
typedef int (*probe_event_fn)(void *userdata, const struct fdw_event *ev);
/* Called for every map entry by probe_read_counts(). */
typedef int (*probe_counts_fn)(void *userdata, pid_t tgid, const struct fdw_counts *c);

struct probe;

/*
 * Check the machine, load, attach the lifecycle programs; the syscall
 * programs stay detached until probe_arm(). On failure returns -errno and names the
 * cause in *ret_failure, with a one-line explanation and remedy already logged.
 */
int probe_new(const struct probe_options *o, probe_event_fn on_event, void *userdata,
	      struct probe **ret, enum probe_failure *ret_failure);
/* Detach everything (waiting for the kernel, feeding keepalive) and free; NULL-safe. */
void probe_free(struct probe *p);

/* The ring buffer's epoll fd, for the event loop. */
int probe_events_fd(const struct probe *p);
/* Hand every pending ring buffer record to on_event. Returns records consumed or -errno. */
int probe_consume_events(struct probe *p);
/* Read the whole "procs" map (in batches where the kernel allows). 0 or -errno. */
int probe_read_counts(struct probe *p, probe_counts_fn cb, void *userdata);
/* Read one tgid's counters: 0, or -ENOENT when the probe has none. */
int probe_lookup(struct probe *p, pid_t tgid, struct fdw_counts *ret);
/* Delete tgid's entry if it still belongs to the process that started at start_boottime. */
int probe_forget(struct probe *p, pid_t tgid, uint64_t start_boottime);
/* Kernel-side drop counters. */
void probe_get_stats(const struct probe *p, struct fdw_stats *ret);
/*
 * Attach the syscall programs and start counting. Links a background detach
 * has not reached yet are kept, not attached twice (that waits for the link
 * being detached at most, ~75 ms). 0 (also when armed already), -EOPNOTSUPP
 * when the probe was made without syscall programs, or -errno when not a
 * single syscall program could be attached (the probe is then disarmed).
 */
int probe_arm(struct probe *p);
/*
 * Stop counting at once and detach the syscall programs on a thread of its
 * own: each tracepoint link takes ~75 ms to detach, and only a real detach
 * takes every task off the kernel's syscall slow path. 0 (also when disarmed
 * already) or -errno when no thread could be started (then detached here).
 */
int probe_disarm(struct probe *p);
/* Whether the syscall programs count now. */
bool probe_counting(const struct probe *p);

/* Called with each process of a count pass. */
typedef void (*probe_task_count_fn)(void *userdata, const struct fdw_task_count *c);
/* Whether count passes are there (the task iterator of bpf/count.bpf.c loaded). */
bool probe_can_count_all(const struct probe *p);
/*
 * One pass over every process the daemon can see: cb with each thread group's open fds,
 * limits and identity. 0, -EOPNOTSUPP without the iterator, -errno (passes are then off
 * for good: probe_can_count_all() says false).
 */
int probe_count_all(struct probe *p, probe_task_count_fn cb, void *userdata);
/*
 * Reap a finished background detach. Returns how many syscall links are still
 * attached (0: none; the kernel no longer taxes syscalls for us).
 */
unsigned probe_reap(struct probe *p);
/* How many BPF links are attached (lifecycle and syscall). */
unsigned probe_links(const struct probe *p);
const char *probe_failure_to_string(enum probe_failure f);

/* ---- creation sites and sockets, for the attribution of a suspect's fds ---- */

/* Called for each creation record of the tgid asked for; a negative return stops the walk. */
typedef int (*probe_site_fn)(void *userdata, int fd, const struct fdw_site *site);

/*
 * Start (on) or stop recording where tgid's fds are created (at most 64 tgids at once:
 * -E2BIG beyond). Stopping deletes its records, and the stacks too when no tgid is left.
 * 0 or -errno.
 */
int probe_sites_track(struct probe *p, pid_t tgid, bool on);
/* Hand every creation record of tgid to cb (one walk of the whole map). 0 or -errno. */
int probe_sites_read(struct probe *p, pid_t tgid, probe_site_fn cb, void *userdata);
/* The user stack stack_id, innermost first, into ips: frames written, or -ENOENT / -errno. */
int probe_stack(struct probe *p, int32_t stack_id, uint64_t *ips, size_t max);
/* Records and stacks the maps hold now, and their capacity (for the bench and status). */
int probe_sites_usage(struct probe *p, uint64_t *ret_records, uint64_t *ret_max_records,
		      uint64_t *ret_max_stacks);
/*
 * Every socket tgid's fd table holds, from the socket iterator: *ret malloc'd, *ret_n records.
 * 0, -ESRCH when the process is gone, -errno.
 */
int probe_sockets(struct probe *p, pid_t tgid, struct fdw_sock **ret, size_t *ret_n);
/*
 * Who else holds these pipes (inodes of tgid's "pipe:[ino]" fds): ret_holders[i] gets the PID
 * of another process holding inos[i], FDW_HOLDER_HIDDEN for one outside our PID namespace, 0
 * for none. One in-kernel pass over every process's fds. 0, -E2BIG (too many pipes), -errno.
 */
int probe_pipe_holders(struct probe *p, pid_t tgid, const uint64_t *inos, size_t n,
		       uint32_t *ret_holders);

#endif
