/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * config.h - fdwatch.conf: built-in defaults, files and drop-ins,
 * per-process rules. Pure: no libbpf, sd-event or socket headers.
 */
#ifndef FDWATCH_CONFIG_H
#define FDWATCH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "detector.h"
#include "alerts.h"

#define FDW_CONFIG_FILE "/etc/fdwatch/fdwatch.conf"
#define FDW_SOCKET_PATH "/run/fdwatch/api.sock"
#define FDW_HOOKS_DIR	"/etc/fdwatch/hooks.d"

/* [Alert] keys of the alert hooks (hooks.c runs them). */
struct hooks_config {
	char *directory;	 /* executables run on each alert */
	uint64_t timeout_ns;	 /* a hook still running after this is killed */
	uint32_t max_concurrent; /* hooks running at once */
	uint32_t queue_size;	 /* runs waiting for a free slot; beyond, dropped (counted) */
};

/* What the hooks did since start (hooks_get_stats(); GetStatus serves it). */
struct hooks_stats {
	uint64_t started;     /* runs spawned */
	uint64_t succeeded;   /* exited with status 0 */
	uint64_t failed;      /* exited non-zero or killed by a signal (timeouts not included) */
	uint64_t timed_out;   /* killed at HookTimeoutSec= */
	uint64_t exec_failed; /* could not be spawned (exec error, no memory, no pipe) */
	uint64_t dropped;     /* not run: the queue was full */
	unsigned running;
	unsigned queued;
};

enum probe_mode {
	PROBE_MODE_TRACEPOINT = 0, /* per-syscall tracepoints (default) */
	PROBE_MODE_RAW,		   /* one raw_tp on sys_exit */
};
/* Every mode's name, for messages. */
#define PROBE_MODE_NAMES "tracepoint or raw"
/* "tracepoint", "raw" (config, flags, API, logs); NULL when out of range. */
const char *probe_mode_to_string(enum probe_mode m);
/* The mode named s: 0, or -EINVAL. */
int probe_mode_from_string(const char *s, enum probe_mode *ret);

/* A [Rule] section: processes it matches are ignored or get other thresholds. */
struct fdw_rule {
	char *name;	 /* [Rule name] or "rule-N" */
	char *comm_glob; /* fnmatch(3) on comm; NULL: any */
	char *unit_glob; /* fnmatch(3) on the systemd unit; NULL: any */
	int64_t uid;	 /* -1: any */
	bool ignore;
	/* Overrides of [Detect]; a field's has_ flag says whether it is set. */
	bool has_min_growth, has_leak_min_sec, has_critical_eta_sec, has_critical_percent;
	uint64_t min_growth, leak_min_sec;
	double critical_eta_sec, critical_percent;
};

struct fdw_config {
	/* [Probe] */
	enum probe_mode probe_mode;
	uint32_t max_processes;	  /* BPF map size (restart needed) */
	uint32_t ringbuf_kib;	  /* ring buffer size (restart needed) */
	uint32_t max_tracked_fds; /* creation records of suspects' fds (restart needed) */
	uint32_t max_stacks;	  /* distinct user stacks of those records (restart needed) */
	uint64_t tick_ns;	  /* counter read interval */
	uint64_t rescan_ns;	  /* full /proc scan and reconciliation of idle processes */
	char *proc_root;	  /* "/proc" */
	/* [Detect] */
	struct detect_config detect;
	/* [Alert] */
	struct alerts_config alerts;
	bool alert_journal;	/* send alerts to journald (else stderr) */
	uint32_t journal_queue; /* alerts waiting for journald, at most; more are dropped */
	int log_level;		/* LOG_* for the daemon's own messages */
	struct hooks_config hooks;
	/* [Api] */
	char *socket_path;
	uint32_t socket_mode; /* permission bits of the socket, e.g. 0660 */
	char *socket_group;   /* group owning the socket, NULL: root */
	char *admin_group;    /* members see every process, NULL: only root */
	uint32_t max_request_bytes;
	uint32_t max_clients;
	uint32_t max_clients_per_uid;
	uint64_t request_timeout_ns; /* to send a whole request */
	uint64_t idle_timeout_ns;    /* a client silent this long is disconnected */
	uint32_t max_output_bytes;   /* per-client output queue */
	/* [Rule ...] */
	struct fdw_rule *rules;
	size_t n_rules;
};

/* Fill *c with the built-in defaults. 0 or -ENOMEM. */
int config_init(struct fdw_config *c);
/* Free what *c owns; NULL-safe; leaves *c zeroed. */
void config_done(struct fdw_config *c);

/*
 * A setting from outside the files: a command-line flag of fdwatchd is one
 * (--tick 2s is [Probe] TickSec=2s). Strings are borrowed.
 */
struct config_setting {
	const char *origin;  /* named in messages instead of file:line, e.g. "--tick" */
	const char *section; /* "Probe" */
	const char *key;     /* "TickSec" */
	const char *value;   /* as in a file; "" resets to the built-in default */
};

/*
 * Load path (FDW_CONFIG_FILE when NULL) then path.d/ *.conf in lexical (strcmp) order
 * (for /etc/fdwatch/fdwatch.conf: /etc/fdwatch/fdwatch.conf.d/), on top of the
 * built-in defaults. A missing main file or drop-in directory is fine; hidden
 * files and names not ending in ".conf" are skipped. Each problem (syntax,
 * unknown section or key, bad value, a rule without a match key) is written to
 * err (may be NULL) as "file:line: [Section] Key=value: reason", and all of them
 * are reported, not just the first.
 *
 * Atomic: *ret is written only on success, and never read or freed, so a reload
 * can load into a fresh struct and keep the old one when this fails. Returns 0
 * and fills *ret (the caller owns it: config_done()); -EINVAL when there were
 * problems; -ENOMEM; -errno for I/O errors (also written to err).
 *
 * Syntax (systemd-like): "[Section]" headers, "Key=value" lines split at the
 * first '=', keys case-sensitive, whitespace around keys and values ignored,
 * lines starting with '#' or ';' are comments, and " ;" (a ';' after
 * whitespace) starts a comment at the end of a value; '#' after a value is not
 * a comment. An empty value ("Key=") resets the key to its built-in default; a
 * later assignment wins. No continuation lines: an indented line is a line of
 * its own. Lines may be at most 199 bytes long. A later [Rule NAME] with the
 * same NAME (say in a drop-in) changes that rule in place; [Rule] without a name
 * always adds a rule, named "rule-N" (N: its position).
 *
 * Then settings[0..n_settings), in order, each checked as a line of a file
 * would be and reported as "origin: [Section] Key=value: reason"; they win
 * over the files. The cross-key checks run last, over the result.
 */
int config_load(const char *path, const struct config_setting *settings, size_t n_settings,
		FILE *err, struct fdw_config *ret);

/*
 * Print the effective configuration in fdwatch.conf syntax: every key of every
 * section, then the rules with all their keys (unset ones empty). Loading the
 * output gives a configuration that dumps to the same text.
 */
void config_dump(const struct fdw_config *c, FILE *f);

/*
 * The first rule, in file order, matching a process, or NULL. A rule matches
 * when all of its match keys do: Comm= (fnmatch(3), no flags) against comm,
 * Unit= against unit (NULL: the process has no unit, never matches a Unit=
 * rule), Uid= against uid. The effective detect config for the process is
 * written to *ret when ret is not NULL: c->detect with the rule's overrides. A
 * rule with Ignore=yes is returned like any other: the caller checks ->ignore.
 */
const struct fdw_rule *config_match(const struct fdw_config *c, const char *comm, const char *unit,
				    uid_t uid, struct detect_config *ret);

/*
 * Copy the keys that need a restart (see config_restart_needed()) from running to dst,
 * so a reload keeps them. 0 or -ENOMEM.
 */
int config_keep_restart_keys(struct fdw_config *dst, const struct fdw_config *running);

/*
 * Keys that need a restart ([Probe] Mode, MaxProcesses, RingBufferKiB, ProcRoot; [Api]
 * SocketPath) that differ between a (running) and b (loaded): write one line per key to err
 * (may be NULL), "[Probe] MaxProcesses=16384 -> 32768", and return how many.
 */
int config_restart_needed(const struct fdw_config *a, const struct fdw_config *b, FILE *err);

/*
 * Syslog level names, as in systemd: "emerg", "alert", "crit", "err", "warning", "notice",
 * "info", "debug" <-> LOG_EMERG..LOG_DEBUG. Parse: 0 or -EINVAL. To string: NULL when out of
 * range.
 */
int config_parse_log_level(const char *s, int *ret);
const char *config_log_level_to_string(int level);

#endif
