/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * alerts.h - from verdicts to alerts: which transitions alert, per-process
 * rate limiting, the in-memory history, the one-line message and the
 * journald fields. Pure: sending is journal.c's job, serving is api.c's.
 */
#ifndef FDWATCH_ALERTS_H
#define FDWATCH_ALERTS_H

#include <stdint.h>
#include <sys/types.h>
#include "detector.h"
#include "cgroup.h"

enum alert_type {
	ALERT_LEAK = 0,	 /* leaking (warning) */
	ALERT_CRITICAL,	 /* critical */
	ALERT_EXHAUSTED, /* EMFILE/ENFILE */
	ALERT_RECOVERED, /* leak stopped, fds released, or the process exited */
	ALERT_TYPE_MAX,
};

/* How an episode ended: the closing (recovered) alert says which. */
enum alert_end {
	ALERT_END_NONE = 0, /* not a closing alert */
	ALERT_END_STOPPED,  /* the count stopped rising (or left the limit's vicinity) */
	ALERT_END_RELEASED, /* the process gave most of its growth back */
	ALERT_END_EXITED,   /* the process exited */
	ALERT_END_MAX,
};
/* "", "stopped", "released", "exited". */
const char *alert_end_to_string(enum alert_end e);

/* Fixed MESSAGE_ID per type (128-bit, as journald wants), documented in systemd/fdwatch.catalog. */
const char *alert_type_message_id(enum alert_type t);
const char *
alert_type_to_string(enum alert_type t); /* "leak", "critical", "exhausted", "recovered" */
/* Parse the names above: 0, or -EINVAL (*ret untouched). */
int alert_type_from_string(const char *s, enum alert_type *ret);
int alert_type_priority(enum alert_type t); /* LOG_WARNING, LOG_CRIT, LOG_ALERT, LOG_NOTICE */

/* What the alert is about: filled by the caller from the process table. */
struct alert_subject {
	pid_t pid;
	uint64_t start_ticks; /* /proc/PID/stat starttime: with pid, the identity */
	uid_t uid;
	const char *comm;
	const char *unit;    /* systemd unit or NULL */
	const char *cmdline; /* or NULL */
	uint64_t fds;
	uint64_t soft_limit;
	uint64_t hard_limit;
	bool exited;
	const char *fail_syscall; /* name of verdict.fail_nr (syscalls.h), or NULL */
	pid_t ppid;
	const char *parent_comm; /* or NULL when the parent is not known */
	uint64_t inherited_fds;	 /* of fds, those it got from its parent at fork (0: none known) */
	const char *top_target;	 /* the census's largest group in words, or NULL */
	const char *top_site;	 /* where most of the open fds were made, or NULL */
	const struct cgroup_container *container; /* container and pod, or NULL */
};

struct alert {
	uint64_t seq;	      /* 1, 2, ... in order of creation */
	uint64_t realtime_ns; /* CLOCK_REALTIME when raised */
	enum alert_type type;
	int priority;
	pid_t pid;
	uint64_t start_ticks;
	uid_t uid;
	char comm[16];
	char unit[256];
	uint64_t fds;
	uint64_t soft_limit;
	uint64_t hard_limit;
	bool exited;			  /* recovered: the process exited */
	enum alert_end end;		  /* recovered: how the episode ended */
	enum fdw_pattern episode_pattern; /* recovered: what the episode's first alert said */
	pid_t ppid;
	char parent_comm[16];
	uint64_t inherited_fds; /* > 0 when most of its fds are its parent's (see alerts_judge()) */
	char syscall[32];	/* exhausted: the syscall that failed, "" when unknown */
	struct cgroup_container container; /* zeroed when not in a container or pod */
	struct detect_verdict verdict;
	uint64_t suppressed;  /* alerts for this process suppressed since the previous one */
	char top_target[192]; /* rises: "206 pipe pairs held only by itself, oldest 41 s", or "" */
	char top_site[512];   /* rises: "41 fds by socket(), oldest 9 s: __socket+0xb (libc.so.6) <
				 ..." */
	char message[512];    /* the human one-liner */
};

struct alerts_config {
	uint64_t min_interval_ns; /* per process, between two alerts of the same type and pattern
				   * (0: no limit) */
	uint64_t burst;		  /* per process, and per group of processes with the same unit and
				   * comm: at most this many alerts per min_interval window (0: no
				   * limit); a process's first exhausted alert and every recovered one
				   * are never held back, but count. A group gets one flat near-limit
				   * warning per min_interval. */
	size_t history_size;	  /* alerts kept in memory (at least 1 is kept) */
};
void alerts_config_init(struct alerts_config *c);

struct alerts;

/* cfg is copied. 0 or -ENOMEM. */
int alerts_new(const struct alerts_config *cfg, struct alerts **ret);
/* NULL-safe. */
void alerts_free(struct alerts *a);
/* Apply a new config (SIGHUP). A new history_size keeps the newest alerts; if the new ring cannot
 * be allocated the old size stays. */
void alerts_set_config(struct alerts *a, const struct alerts_config *cfg);

/*
 * Judge one verdict of one process against its previous state. Returns 1 and
 * *ret points at the new alert (owned by the history, valid until the next
 * call that adds one) when an alert is due; 0 when none is due or it was
 * rate limited (counted in alerts_suppressed()); -errno on error.
 * prev_state is the state from the previous verdict of the same process.
 * An episode whose opening alert went out gets exactly one closing
 * (recovered) alert: when the state falls below leaking, whatever it falls
 * to, or when the process exits, whichever comes first. A child whose fds
 * are mostly inherited (subj->inherited_fds over half of them) is said to be
 * so, and its alerts share the rate limit of its parent's children.
 */
int alerts_judge(struct alerts *a, const struct alert_subject *subj, enum fdw_state prev_state,
		 const struct detect_verdict *v, uint64_t realtime_ns, uint64_t boottime_ns,
		 const struct alert **ret);
/* Forget a process's rate-limit state (it exited, after its recovery alert). */
void alerts_forget(struct alerts *a, pid_t pid);

uint64_t alerts_sent(const struct alerts *a);
uint64_t alerts_suppressed(const struct alerts *a);
/* History, oldest first: the newest max alerts with seq > since_seq into ret; returns how many.
 * The pointers stay valid until the next alerts_judge() or alerts_set_config(). */
size_t alerts_history(const struct alerts *a, uint64_t since_seq, const struct alert **ret,
		      size_t max);

/*
 * The message, e.g. "python3[4242] leaks pipe fds: 812/1024 open, +20/s, EMFILE in ~10 s; retry
 * loop: +2 pipe every 0.10 s, none closed". Returns its length, or -ENOBUFS when it did not fit
 * (buf then holds as much as fits, NUL-terminated), -EINVAL for a bad alert.
 */
int alert_format_message(const struct alert *al, char *buf, size_t size);

/* Upper bound of the fields alert_to_fields() makes: size ret with it. */
#define ALERT_FIELDS_MAX 40

/*
 * Journald fields of an alert as "KEY=value" strings (MESSAGE=, MESSAGE_ID=,
 * PRIORITY=, OBJECT_PID=, FDWATCH_STATE=, FDWATCH_FDS=, ...). Fills up to max
 * malloc'd strings into ret, returns how many, or -ENOMEM. Free with
 * alert_fields_free().
 */
int alert_to_fields(const struct alert *al, char **ret, size_t max);
void alert_fields_free(char **fields, size_t n);

#endif
