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

enum alert_type {
	ALERT_LEAK = 0,	 /* leaking (warning) */
	ALERT_CRITICAL,	 /* critical */
	ALERT_EXHAUSTED, /* EMFILE/ENFILE */
	ALERT_RECOVERED, /* leak stopped, fds released, or the process exited */
	ALERT_TYPE_MAX,
};

/* Fixed MESSAGE_ID per type (128-bit, as journald wants), documented in systemd/fdwatch.catalog. */
const char *alert_type_message_id(enum alert_type t);
const char *alert_type_to_string(enum alert_type t); /* "leak", "critical", "exhausted", "recovered" */
int alert_type_priority(enum alert_type t);	      /* LOG_WARNING, LOG_CRIT, LOG_ALERT, LOG_NOTICE */

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
};

struct alert {
	uint64_t seq;		/* 1, 2, ... in order of creation */
	uint64_t realtime_ns;	/* CLOCK_REALTIME when raised */
	enum alert_type type;
	int priority;
	pid_t pid;
	uint64_t start_ticks;
	uid_t uid;
	char comm[16];
	char unit[256];
	uint64_t fds;
	uint64_t soft_limit;
	struct detect_verdict verdict;
	uint64_t suppressed;	/* alerts for this process suppressed since the previous one */
	char message[512];	/* the human one-liner */
};

struct alerts_config {
	uint64_t min_interval_ns; /* per process, between two alerts of the same type */
	uint64_t burst;		  /* per process: at most this many alerts per min_interval window... */
	size_t history_size;	  /* alerts kept in memory */
};
void alerts_config_init(struct alerts_config *c);

struct alerts;

int alerts_new(const struct alerts_config *cfg, struct alerts **ret);
void alerts_free(struct alerts *a);
void alerts_set_config(struct alerts *a, const struct alerts_config *cfg);

/*
 * Judge one verdict of one process against its previous state. Returns 1 and
 * *ret points at the new alert (owned by the history, valid until the next
 * call that adds one) when an alert is due; 0 when none is due or it was
 * rate limited (counted in alerts_suppressed()); -errno on error.
 * prev_state is the state from the previous verdict of the same process.
 */
int alerts_judge(struct alerts *a, const struct alert_subject *subj, enum fdw_state prev_state,
		 const struct detect_verdict *v, uint64_t realtime_ns, uint64_t boottime_ns,
		 const struct alert **ret);
/* Forget a process's rate-limit state (it exited, after its recovery alert). */
void alerts_forget(struct alerts *a, pid_t pid);

uint64_t alerts_sent(const struct alerts *a);
uint64_t alerts_suppressed(const struct alerts *a);
/* History, oldest first: n alerts with seq > since_seq; *ret_n set; pointers valid until the next judge. */
size_t alerts_history(const struct alerts *a, uint64_t since_seq, const struct alert **ret, size_t max);

/* The message, e.g. "python3[4242] leaks pipe fds: 812/1024 open, +20/s, EMFILE in ~10 s; retry loop: +2 pipe every 0.10 s, none closed". */
int alert_format_message(const struct alert *al, char *buf, size_t size);

/*
 * Journald fields of an alert as "KEY=value" strings (MESSAGE=, MESSAGE_ID=,
 * PRIORITY=, OBJECT_PID=, FDWATCH_STATE=, FDWATCH_FDS=, ...). Fills up to max
 * malloc'd strings into ret, returns how many, or -ENOMEM. Free with
 * alert_fields_free().
 */
int alert_to_fields(const struct alert *al, char **ret, size_t max);
void alert_fields_free(char **fields, size_t n);

#endif
