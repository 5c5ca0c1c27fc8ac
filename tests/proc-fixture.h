/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * proc-fixture.h - fake /proc trees for unit tests: fixture_new() makes a
 * temp dir, fixture_proc() writes ROOT/PID/{stat,limits,status,cmdline,cgroup}
 * and an fd/ dir with n entries, fixture_free() removes it all.
 */
#ifndef FDWATCH_PROC_FIXTURE_H
#define FDWATCH_PROC_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void fixture_write(const char *root, int pid, const char *file, const char *data,
				 size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/%s", root, pid, file);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, len, f);
	fclose(f);
}

static inline char *fixture_new(void)
{
	char *root = strdup("/tmp/fdwatch-fixture.XXXXXX");

	if (!root || !mkdtemp(root))
		abort();
	return root;
}

/* Set ROOT/PID/fd to hold exactly n entries. */
static inline void fixture_fds(const char *root, int pid, int n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%d/fd", root, pid);
	mkdir(path, 0755);
	for (int i = 0; i < 100000; i++) {
		char p[600];

		snprintf(p, sizeof(p), "%s/%d", path, i);
		if (i < n) {
			FILE *f = fopen(p, "w");

			if (!f)
				abort();
			fclose(f);
		} else if (unlink(p) < 0) {
			break;
		}
	}
}

static inline void fixture_stat(const char *root, int pid, const char *comm,
				unsigned long long start)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %llu 1000 100 "
		     "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
		     pid, comm, pid, pid, start);
	fixture_write(root, pid, "stat", buf, (size_t)n);
}

static inline void fixture_limits(const char *root, int pid, const char *soft, const char *hard)
{
	char buf[2048];
	int n;

	n = snprintf(
	    buf, sizeof(buf),
	    "Limit                     Soft Limit           Hard Limit           Units     \n"
	    "Max cpu time              unlimited            unlimited            seconds   \n"
	    "Max processes             95043                95043                processes \n"
	    "Max open files            %-20s %-20s files     \n"
	    "Max locked memory         8388608              8388608              bytes     \n",
	    soft, hard);
	fixture_write(root, pid, "limits", buf, (size_t)n);
}

/* A whole process: stat, limits, status (uid), cmdline, cgroup, n fds. */
static inline void fixture_proc(const char *root, int pid, const char *comm,
				unsigned long long start, unsigned uid, int nfds)
{
	char path[512], buf[512];
	int n;

	snprintf(path, sizeof(path), "%s/%d", root, pid);
	mkdir(path, 0755);
	fixture_stat(root, pid, comm, start);
	fixture_limits(root, pid, "1024", "524288");
	n = snprintf(buf, sizeof(buf),
		     "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\n"
		     "Pid:\t%d\nPPid:\t1\nUid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n",
		     comm, pid, pid, uid, uid, uid, uid);
	fixture_write(root, pid, "status", buf, (size_t)n);
	fixture_write(root, pid, "cmdline", "/usr/bin/app\0--serve\0", 21);
	n = snprintf(buf, sizeof(buf), "0::/system.slice/%s.service\n", comm);
	fixture_write(root, pid, "cgroup", buf, (size_t)n);
	fixture_fds(root, pid, nfds);
}

static int fixture_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline void fixture_free(char *root)
{
	nftw(root, fixture_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
}

#endif
