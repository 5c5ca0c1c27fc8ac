/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * config.h - fdwatch.conf: built-in defaults, files and drop-ins (libinih),
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

enum probe_mode {
	PROBE_MODE_TRACEPOINT = 0, /* per-syscall tracepoints (default) */
	PROBE_MODE_RAW,		   /* one raw_tp on sys_exit */
};

/* A [Rule] section: processes it matches are ignored or get other thresholds. */
struct fdw_rule {
	char *name;	  /* [Rule name] or "rule-N" */
	char *comm_glob;  /* fnmatch(3) on comm; NULL: any */
	char *unit_glob;  /* fnmatch(3) on the systemd unit; NULL: any */
	int64_t uid;	  /* -1: any */
	bool ignore;
	/* Overrides of [Detect]; a field's has_ flag says whether it is set. */
	bool has_min_growth, has_leak_min_sec, has_critical_eta_sec, has_critical_percent;
	uint64_t min_growth, leak_min_sec;
	double critical_eta_sec, critical_percent;
};

struct fdw_config {
	/* [Probe] */
	enum probe_mode probe_mode;
	uint32_t max_processes;	 /* BPF map size (restart needed) */
	uint32_t ringbuf_kib;	 /* ring buffer size (restart needed) */
	uint64_t tick_ns;	 /* counter read interval */
	uint64_t rescan_ns;	 /* full /proc scan and reconciliation of idle processes */
	char *proc_root;	 /* "/proc" */
	/* [Detect] */
	struct detect_config detect;
	/* [Alert] */
	struct alerts_config alerts;
	bool alert_journal;	 /* send alerts to journald (else stderr) */
	int log_level;		 /* LOG_* for the daemon's own messages */
	/* [Api] */
	char *socket_path;
	uint32_t socket_mode;	 /* permission bits of the socket, e.g. 0660 */
	char *socket_group;	 /* group owning the socket, NULL: root */
	char *admin_group;	 /* members see every process, NULL: only root */
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
 * Load path (FDW_CONFIG_FILE when NULL) then path.d/ *.conf in lexical order
 * (for /etc/fdwatch/fdwatch.conf: /etc/fdwatch/fdwatch.conf.d/), on top of the
 * built-in defaults, into *ret. A missing main file is fine. Each problem
 * (unknown section or key, bad value) is written to err as "file:line: ..."
 * and counted; returns 0 when there were none, -EINVAL when there were (and
 * *ret then holds nothing), -errno for I/O errors.
 */
int config_load(const char *path, FILE *err, struct fdw_config *ret);

/* Print the effective configuration in fdwatch.conf syntax. */
void config_dump(const struct fdw_config *c, FILE *f);

/*
 * The first rule matching a process, or NULL. Effective detect config for it
 * in *ret (defaults with the rule's overrides).
 */
const struct fdw_rule *config_match(const struct fdw_config *c, const char *comm, const char *unit,
				    uid_t uid, struct detect_config *ret);

/* Keys that need a restart differ between a and b: write their names to err, return how many. */
int config_restart_needed(const struct fdw_config *a, const struct fdw_config *b, FILE *err);

#endif
