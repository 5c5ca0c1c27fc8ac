/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * json.h - what the API serves, as cJSON trees: processes, alerts, status;
 * and the ListProcesses filters and risk order. Pure: no sockets, no clock
 * (callers pass "now"), so test-json checks every shape against the IDL in
 * varlink.c.
 *
 * Field names follow the journald fields of alerts (alert_to_fields()):
 * FDWATCH_ETA_SEC becomes "eta_sec", FDWATCH_FDS "fds", and so on.
 */
#ifndef FDWATCH_JSON_H
#define FDWATCH_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "alerts.h"
#include "config.h"
#include "proc-table.h"

/* ListProcesses parameters. Strings are borrowed from the call. */
struct proc_filter {
	bool has_uid;
	uid_t uid;
	const char *unit;      /* fnmatch(3) glob on the unit; NULL: any */
	const char *comm;      /* fnmatch(3) glob on comm; NULL: any */
	const char *runtime;   /* container runtime name ("docker", ...); NULL: any */
	const char *container; /* a prefix of the container id; NULL: any */
	const char *pod_uid;   /* a prefix of the Kubernetes pod UID; NULL: any */
	enum fdw_state min_state;
	double min_use_percent; /* open fds / soft limit at least this, 0..100 (0: any) */
	uint64_t limit;		/* 0: all */
};

/*
 * Read ListProcesses parameters (uid, unit, comm, runtime, container, pod_uid, state,
 * min_use_percent, limit).
 * Returns 0, or -EINVAL with *ret_bad naming the first bad or unknown parameter (a pointer into
 * params or a static string).
 */
int proc_filter_from_params(const cJSON *params, struct proc_filter *ret, const char **ret_bad);
/* Whether e passes the filter (limit aside). */
bool proc_filter_match(const struct proc_filter *f, const struct proc_entry *e);

/*
 * Risk order: negative when a is at more risk than b. State descending, then
 * ETA ascending (no ETA last), then open fds descending, then pid ascending
 * so the order is total and stable between refreshes.
 */
int proc_entry_cmp_risk(const struct proc_entry *a, const struct proc_entry *b);
void proc_entries_sort_by_risk(struct proc_entry **v, size_t n);

/*
 * ListUnits: the processes v[0..n) grouped by systemd unit (processes without one form one
 * group with unit null), each a UnitSummary (processes, open fds in all, the worst state,
 * how many at leaking or worse), worst state first, then most fds, then by name; at most
 * limit of them (0: all). Sorts v. An array, or NULL on ENOMEM.
 */
cJSON *json_unit_summaries(struct proc_entry **v, size_t n, uint64_t limit);

/* A ProcessSummary object (see the IDL). NULL on ENOMEM. */
cJSON *json_proc_summary(const struct proc_entry *e);
/* A Process object: the summary and everything else; now_ns is CLOCK_BOOTTIME. */
cJSON *json_proc_full(const struct proc_entry *e, uint64_t now_ns);
/* An Alert object. */
cJSON *json_alert(const struct alert *a);

/* What GetStatus reports; filled by the API server from the manager. */
struct status_info {
	const char *version;
	double uptime_sec;
	uint64_t started_realtime_ns;
	const char *probe_mode;
	uint64_t tick_ns, rescan_ns;
	uint64_t processes, visible;
	uint64_t ticks, last_tick_usec;
	uint64_t ringbuf_dropped, map_full;
	uint64_t events_fail, events_exec, events_exit;
	uint64_t reconciliations, unseen_opens, unseen_closes;
	uint64_t count_passes, last_pass_usec,
	    count_reads;		      /* count passes; reads of /proc/PID/fd */
	uint64_t tracked_processes, censuses; /* attribution: creations recorded, censuses taken */
	uint64_t sites_full, sites_no_stack;  /* creation records lost, kept without a stack */
	uint64_t alerts_sent, alerts_suppressed;
	/* The syscall probe (auto mode arms it only while a process is a suspect). */
	const char *probe_backend;
	bool probe_armed;
	uint64_t probe_armed_since_realtime_ns; /* 0: not armed */
	double probe_armed_share;		/* of the latest probe_share_window_ns, 0..1 */
	uint64_t probe_share_window_ns;
	uint64_t probe_arm_usec, probe_detach_usec; /* the latest attach, and detach */
	uint64_t events_fork;
	uint64_t suspects;	    /* processes that are suspects, all users' */
	pid_t visible_suspects[16]; /* the first of them the caller may see */
	size_t n_visible_suspects;
	/* Alerts on their way to journald (journal.h): waiting, handed over, not queued, refused.
	 */
	uint64_t journal_queued, journal_sent, journal_dropped, journal_failed;
	uint64_t log_dropped; /* own log lines stderr did not take (log.h) */
	struct hooks_stats hooks;
	unsigned clients, subscribers;
	uid_t client_uid;
	bool client_admin;
};
cJSON *json_status(const struct status_info *s);

/* Soft/hard limit as JSON: null unless fd_limit_is_finite() (unlimited or not known). */
cJSON *json_add_limit(cJSON *obj, const char *name, uint64_t limit);

#endif
