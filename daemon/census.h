/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * census.h - what one process's open fds are, grouped by target: pipes (pairs
 * it alone holds, pipes shared with another process, ends whose other end is
 * closed), sockets by protocol, state and address, files by path (by
 * directory when there are many), directories, anonymous inodes by type.
 * Each group has a count and, where it is known, the creation time of its
 * oldest and newest fd.
 *
 * Read from ROOT/PID/fd, ROOT/PID/fdinfo and (to tell shared pipes) the fd
 * tables of every other process under ROOT, so tests run it on fixtures.
 * Socket details come from the caller (the probe's socket iterator), creation
 * times from the caller (the probe's creation records) or, for pipes, from the
 * pipe inode's times. Pure: no libbpf, sd-event or socket headers.
 */
#ifndef FDWATCH_CENSUS_H
#define FDWATCH_CENSUS_H

#include <stdint.h>
#include <sys/types.h>
#include "fdwatch.h"

enum census_kind {
	CENSUS_PIPE_ORPHANED = 0, /* both ends here and nowhere else: nobody can use them */
	CENSUS_PIPE_SHARED,	  /* also held by another process */
	CENSUS_PIPE_HALF,	  /* one end here, the other closed everywhere */
	CENSUS_SOCKET,
	CENSUS_FILE,
	CENSUS_DIRECTORY,
	CENSUS_ANON, /* anon_inode:[eventfd], memfd:NAME, ... */
	CENSUS_OTHER,
	CENSUS_KIND_MAX,
};

/* "pipe-orphaned", "pipe-shared", "pipe-half", "socket", "file", "directory", "anon", "other". */
const char *census_kind_to_string(enum census_kind k);

struct census_group {
	enum census_kind kind;
	char *label;	    /* e.g. "TCP CLOSE to 127.0.0.1:5432", "/var/log/app.log", "eventfd" */
	uint64_t fds;	    /* fds in the group */
	uint64_t objects;   /* distinct targets (inodes); pairs for CENSUS_PIPE_ORPHANED */
	uint64_t oldest_ns; /* CLOCK_REALTIME creation of its oldest fd, 0 unknown */
	uint64_t newest_ns; /* ... of its newest */
	uint64_t aged;	    /* fds whose creation time is known */
	int lowest_fd;
};

/* Group labels kept per census: a leak is one or a few groups; the rest is summed. */
#define CENSUS_MAX_GROUPS 32
/* More distinct file paths than this: files are grouped by directory. */
#define CENSUS_MAX_PATHS 12

struct census {
	pid_t pid;
	uint64_t realtime_ns; /* when taken */
	uint64_t took_ns;     /* how long it took */
	uint64_t fds;	      /* fds seen */
	uint64_t vanished;    /* fds closed while being read */
	uint64_t other_fds;   /* fds in groups beyond CENSUS_MAX_GROUPS */
	uint64_t scanned;     /* other processes whose fds were read to tell shared pipes */
	size_t n_groups;
	struct census_group *groups; /* by fds, most first */
	int *open_fds;		     /* every fd seen, ascending */
	size_t n_open_fds;
};

/* A known creation time of one fd (from the probe's creation records). */
struct census_fd_time {
	int fd;
	uint64_t realtime_ns;
};

struct census_input {
	const char *root; /* "/proc" or a fixture */
	pid_t pid;
	uint64_t now_realtime_ns;
	const struct fdw_sock *socks; /* sockets of pid, any order; may be NULL */
	size_t n_socks;
	const struct census_fd_time *times; /* any order; may be NULL */
	size_t n_times;
	/*
	 * Who else holds pid's pipes: holders[i] for inos[i] (n, ascending) gets the PID of
	 * another process holding it, CENSUS_HOLDER_HIDDEN for one that cannot be named, 0 for
	 * none; 0 or -errno. NULL, or on failure: the census reads every process's fds under
	 * root instead (~2.5 us per fd on the machine).
	 */
	int (*pipe_holders)(void *userdata, const uint64_t *inos, size_t n, uint32_t *holders);
	void *userdata;
};

/* pipe_holders(): held by a process the daemon cannot see (another PID namespace). */
#define CENSUS_HOLDER_HIDDEN 0xffffffffU

/*
 * Take the census of in->pid. 0 and a malloc'd *ret (free with census_free()),
 * -ENOENT/-ESRCH when the process is gone, -EACCES, -ENOMEM.
 */
int census_take(const struct census_input *in, struct census **ret);
/* NULL-safe. */
void census_free(struct census *c);

/*
 * A group in words, for a person: "206 pipe pairs held only by itself, oldest 41 s",
 * "41 TCP sockets CLOSE to 127.0.0.1:5432", "12 fds of /var/log/app.log". now_realtime_ns
 * gives the ages. Returns the length, or -ENOBUFS when cut (buf holds what fits).
 */
int census_group_describe(const struct census_group *g, uint64_t now_realtime_ns, char *buf,
			  size_t size);

/*
 * Socket as a label: "TCP CLOSE to 127.0.0.1:5432", "TCP LISTEN on [::]:80", "UDP on
 * 0.0.0.0:53", "UNIX STREAM /run/app.sock", "UNIX DGRAM @abstract", "UNIX STREAM unnamed".
 * Returns buf.
 */
char *census_sock_label(const struct fdw_sock *s, char *buf, size_t size);

#endif
