/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * proc.h - readers of /proc/PID/... . Each takes the proc root ("/proc", or a
 * fixture directory in tests). A vanished process gives -ENOENT or -ESRCH,
 * which callers treat as normal. Pure: no libbpf, sd-event or socket headers.
 */
#ifndef FDWATCH_PROC_H
#define FDWATCH_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Open fds of pid. With fast, stat("ROOT/PID/fd").st_size, which Linux >= 6.2
 * sets to the exact count in O(1); otherwise readdir. 0 or -errno.
 */
int proc_count_fds(const char *root, pid_t pid, bool fast, uint64_t *ret);
/* Whether the st_size fast path is exact here: compares both ways on ROOT/self. */
bool proc_fd_size_is_count(const char *root);

struct proc_stat {
	char comm[16]; /* as in /proc/PID/stat, without the parentheses */
	char state;    /* R, S, Z, ... */
	pid_t ppid;
	uint64_t start_ticks; /* field 22, clock ticks after boot */
};
/* Parse ROOT/PID/stat (comm may hold spaces and ')' ). 0, -errno or -EBADMSG. */
int proc_read_stat(const char *root, pid_t pid, struct proc_stat *ret);

/* "Max open files" of ROOT/PID/limits; "unlimited" is FD_LIMIT_INFINITY. */
int proc_read_nofile(const char *root, pid_t pid, uint64_t *ret_soft, uint64_t *ret_hard);

/* Real uid from ROOT/PID/status. */
int proc_read_uid(const char *root, pid_t pid, uid_t *ret);

/* Command line with NULs as spaces, at most max bytes (cut at a character boundary); "" for kernel
 * threads. */
int proc_read_cmdline(const char *root, pid_t pid, size_t max, char **ret);

/* The cgroup v2 path ("0::/system.slice/foo.service" -> "/system.slice/foo.service"). */
int proc_read_cgroup(const char *root, pid_t pid, char **ret);

/* Every numeric entry of ROOT, unsorted. *ret malloc'd. 0 or -errno. */
int proc_list_pids(const char *root, pid_t **ret, size_t *ret_n);

/* USER_HZ, for turning BPF's start_boottime ns into /proc start ticks. */
uint64_t proc_ticks_per_sec(void);

#endif
