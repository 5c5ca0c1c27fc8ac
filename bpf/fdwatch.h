/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * fdwatch.h - the ABI between bpf/fdwatch.bpf.c and the daemon's probe module.
 *
 * Fixed-width types only: this header is included by BPF code (with vmlinux.h)
 * and by user space (with <linux/types.h>), and the layouts must agree.
 */
#ifndef FDWATCH_H
#define FDWATCH_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* What kind of fd a creating syscall made. Attribution is by syscall. */
enum fdw_kind {
	FDW_KIND_FILE = 0, /* open, openat, openat2, creat, open_by_handle_at */
	FDW_KIND_PIPE,	   /* pipe, pipe2: two fds each */
	FDW_KIND_SOCKET,   /* socket, socketpair (two), accept, accept4 */
	FDW_KIND_DUP,	   /* dup, dup2, dup3, fcntl(F_DUPFD, F_DUPFD_CLOEXEC) */
	FDW_KIND_EVENTFD,
	FDW_KIND_EPOLL,
	FDW_KIND_SIGNALFD,
	FDW_KIND_TIMERFD,
	FDW_KIND_INOTIFY,
	FDW_KIND_FANOTIFY,
	FDW_KIND_MEMFD,
	FDW_KIND_PIDFD, /* pidfd_open, pidfd_getfd */
	FDW_KIND_IO_URING,
	FDW_KIND_OTHER, /* userfaultfd, perf_event_open, fsopen, ... */
	FDW_KIND_MAX,
};

/*
 * What the BPF program does on the exit of a syscall, indexed by syscall
 * number in cfg_syscall_action[]. User space fills the table before load
 * because syscall numbers are per architecture.
 */
enum fdw_action {
	FDW_ACT_NONE = 0,    /* not an fd syscall: return at once */
	FDW_ACT_CREATE,	     /* ret >= 0 is one new fd of the table's kind */
	FDW_ACT_CREATE_PAIR, /* ret == 0 wrote two new fds to user memory (arg0) */
	FDW_ACT_FCNTL,	     /* creates a dup only for F_DUPFD / F_DUPFD_CLOEXEC */
	FDW_ACT_DUP2,	     /* dup2/dup3: a dup, and a close if newfd was open */
	FDW_ACT_CLOSE,	     /* ret == 0 closed one fd */
	FDW_ACT_CLOSE_RANGE, /* closes the open fds in [arg0, arg1] */
};

#define FDW_SYSCALL_MAX 1024 /* syscall numbers are below 512 on every arch we build for */

/* struct fdw_counts.flags */
#define FDW_F_EXITED (1U << 0) /* the thread group has exited; user space deletes the entry */

/*
 * Per thread group counters, map "procs", key = tgid (__u32). Every counter
 * only grows; user space diffs consecutive reads. start_boottime tells a reused
 * PID from the old one: it equals /proc/PID/stat field 22 times (1e9 / USER_HZ).
 */
struct fdw_counts {
	__u64 created[FDW_KIND_MAX];
	__u64 closed;
	__u64 emfile;	      /* fd-creating syscalls that failed with EMFILE */
	__u64 enfile;	      /* ... with ENFILE */
	__u64 start_boottime; /* ns, task->group_leader->start_boottime */
	__u64 first_ns;	      /* CLOCK_BOOTTIME ns of the first counted event */
	__u64 last_ns;	      /* ... of the latest */
	__u64 rlim_cur;	      /* RLIMIT_NOFILE at the latest event (follows prlimit) */
	__u64 rlim_max;
	__u64 last_fail_event_ns; /* when the latest FDW_EV_FAIL record was sent */
	/* Burst structure of creations, for telling a retry loop: a creation more
	 * than FDW_BURST_GAP_NS after the previous one starts a new burst. */
	__u64 last_create_ns;
	__u64 bursts;
	__u64 burst_gap_sum_us; /* sum of the gaps that started a burst, in us */
	__u64 burst_gap_sq_us;	/* sum of their squares, in us^2, for the spread */
	__s32 max_fd;		/* highest fd number returned, -1 when none */
	__s32 last_fail_nr;	/* syscall number of the latest EMFILE/ENFILE, -1 when none */
	__u32 flags;		/* FDW_F_* */
	__u32 unseen;		/* events whose effect the probe cannot count (exec closing
				 * O_CLOEXEC fds, close_range, dup2 onto an open fd): when it
				 * moves, user space reconciles with /proc */
	/* Whether its creation sites are recorded (it is in "sites_tgids"), as of the
	 * global sites_gen: looked up again only when that changed, so the other
	 * processes' fd syscalls pay no map lookup while a suspect is tracked. */
	__u32 sites_gen;
	__u32 sites_on;
};

/* Global counters in .bss, read by user space through the skeleton. */
struct fdw_stats {
	__u64 map_full;	      /* a new tgid found "procs" full and was not counted */
	__u64 rb_dropped;     /* ring buffer records lost because the buffer was full */
	__u64 sites_full;     /* creation records not kept: "sites" was full */
	__u64 sites_no_stack; /* creation records kept without a user stack (-1) */
};

enum fdw_event_type {
	FDW_EV_FAIL = 1, /* EMFILE/ENFILE: sent with a wake-up, rate limited per tgid */
	FDW_EV_EXEC,	 /* exec: CLOEXEC fds closed, comm changed (no wake-up) */
	FDW_EV_EXIT,	 /* the thread group exited (no wake-up) */
	FDW_EV_FORK,	 /* a new thread group: tgid (as the daemon sees PIDs) and start_boottime
			  * are the child's */
};

/* Ring buffer record. */
struct fdw_event {
	__u32 type; /* enum fdw_event_type */
	__u32 tgid;
	__u32 tid;
	__s32 syscall_nr; /* FDW_EV_FAIL: the syscall */
	__s32 err;	  /* FDW_EV_FAIL: EMFILE or ENFILE (positive) */
	__u32 __pad;
	__u64 start_boottime;
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u64 rlim_cur;
	char comm[16];
};

/*
 * Creation sites, map "sites": for the tgids user space put in "sites_tgids"
 * (suspects only), one record per open fd, made when the fd is created and
 * deleted when it is closed. Stack ids index the "stacks" map (user stacks,
 * FDW_STACK_DEPTH frames at most).
 */
struct fdw_site_key {
	__u32 tgid;
	__s32 fd;
};

struct fdw_site {
	__u64 ts_ns;	  /* CLOCK_BOOTTIME of the creation */
	__s32 syscall_nr; /* the syscall that made it */
	__s32 stack_id;	  /* in "stacks", or negative when the stack was not kept */
};

/* 32 frames: a leak's site is within the innermost few; 256 B per stack. */
#define FDW_STACK_DEPTH 32

/*
 * One socket of a process, written by the "iter/task_file" program: what the
 * census cannot read from /proc (/proc/net lists only hashed sockets, so a TCP
 * socket whose connect() failed is missing there).
 */
struct fdw_sock {
	__u64 ino;	/* sockfs inode: "socket:[ino]" */
	__u64 peer_ino; /* AF_UNIX: the connected peer's inode, 0 when none */
	__s32 fd;
	__u16 family; /* AF_* */
	__u16 type;   /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;
	__u8 state;	/* sk_state: TCP_* numbering */
	__u8 path_len;	/* AF_UNIX: bytes of path (0: unnamed; path[0] == 0: abstract) */
	__u16 sport;	/* host order */
	__u16 dport;	/* host order */
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char path[108];
	__u32 __pad;
};

/*
 * One process's open fds and what identifies it, written for every process by the
 * "iter/task" program of bpf/count.bpf.c in one pass: what a stat() of /proc/PID/fd,
 * /proc/PID/stat and /proc/PID/limits tell, without a path walk per process.
 */
struct fdw_task_count {
	__u32 tgid;	      /* as the daemon sees it (its PID namespace) */
	__u32 fds;	      /* open fds: bits set in the fd table's open_fds */
	__u64 start_boottime; /* ns, as in struct fdw_counts */
	__u64 rlim_cur;	      /* RLIMIT_NOFILE */
	__u64 rlim_max;
	char comm[16];
};

/* Pipes one census asks about at most (the "pipe_holders" map's size). */
#define FDW_CENSUS_PIPES 65536
/* "pipe_holders": the pipe is held by a process outside the daemon's PID namespace. */
#define FDW_HOLDER_HIDDEN 0xffffffffU

/*
 * 10 ms: one retry attempt (Python os.pipe() + two fdopen()) takes ~20 us
 * here, so 10 ms is 500x the work of an attempt, yet below the 20 ms shortest
 * sleep-paced retry period we want to name. Faster loops count as one burst
 * and are judged by their slope instead.
 */
#define FDW_BURST_GAP_NS 10000000ULL

/*
 * Exec, exit and fork records wake user space up only once this share of the
 * ring buffer is filled (1/8: 32 KiB of the default 256 KiB, ~450 records):
 * a fork storm of 5,000 short-lived processes a second makes ~15,000 records
 * a second, drained ~33 times a second instead of once per tick.
 */
#define FDW_LIFECYCLE_WAKEUP_DIVISOR 8

/* FDW_EV_FAIL records per tgid at most once per this many ns; counts stay exact. */
#define FDW_FAIL_EVENT_INTERVAL_NS 100000000ULL

#endif /* FDWATCH_H */
