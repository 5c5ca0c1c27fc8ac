/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * manager.h - the one object that owns the daemon: sd-event loop, tick and
 * rescan timers, signals, watchdog, the probe, the process table, alerts and
 * the API server (after systemd-oomd's Manager). Fields are public to the
 * daemon's own modules (api.c reads them); nothing outside daemon/ sees it.
 */
#ifndef FDWATCH_MANAGER_H
#define FDWATCH_MANAGER_H

#include <systemd/sd-event.h>
#include "util.h"
#include "config.h"
#include "proc-table.h"
#include "alerts.h"

struct probe;
struct api_server;
struct hooks;

struct manager_stats {
	uint64_t ticks;
	uint64_t events_fail; /* EMFILE/ENFILE ring buffer records */
	uint64_t events_exec;
	uint64_t events_exit;
	uint64_t rb_dropped; /* from the probe */
	uint64_t map_full;   /* from the probe */
	uint64_t reconciliations;
	uint64_t unseen_opens; /* sums over processes of what reconciliation corrected */
	uint64_t unseen_closes;
	uint64_t last_tick_usec; /* CPU-free wall time the latest tick took */
};

/* Command-line flags: they override the files, at start and after every reload (0: unset). */
struct manager_overrides {
	uint64_t tick_ns;
	uint64_t rescan_ns;
	bool no_journal;
	bool verbose;
};

struct manager {
	sd_event *event;
	sd_event_source *tick_source;
	sd_event_source *rescan_source;
	sd_event_source *sigterm_source, *sigint_source, *sighup_source;
	sd_event_source *probe_source; /* ring buffer fd */

	struct fdw_config config;
	char *config_path; /* NULL: built-in defaults and FDW_CONFIG_FILE if present */
	struct manager_overrides overrides; /* set by main() after manager_new() */
	struct probe *probe;
	struct proc_table *procs;
	struct alerts *alerts;
	struct api_server *api;
	struct hooks *hooks; /* alert hooks ([Alert] HooksDirectory=) */

	uint64_t tick_no;
	uint64_t last_rescan_ns;
	uint64_t started_boottime_ns;
	uint64_t started_realtime_ns;
	struct manager_stats stats;
	int api_listen_fd;     /* from socket activation, or -1 */
	bool has_journal;      /* alerts to journald */
	bool alerts_to_stderr; /* alerts also printed on stderr (a terminal, or no journal) */
	char last_status[128]; /* the latest STATUS= sent to the service manager */
};

/*
 * Create the manager with its event loop, process table and alerts; the
 * config is moved into it (*config is left zeroed). 0 or -errno.
 */
int manager_new(struct fdw_config *config, const char *config_path, struct manager **ret);
/*
 * Load and attach the probe, take the baseline of every process, set up
 * timers, signals, watchdog and the API, and tell systemd READY=1.
 * On a probe failure *ret_failure (an enum probe_failure) names the cause.
 */
int manager_start(struct manager *m, bool verbose, int *ret_failure);
void manager_free(struct manager *m);
/* Run until SIGTERM/SIGINT. 0 or -errno. */
int manager_run(struct manager *m);
/* Reload the configuration file (SIGHUP). Bad file: keeps the old one, returns -EINVAL. */
int manager_reload(struct manager *m);
/* Called by the API for ListProcesses/GetProcess: whether uid may see e. */
bool manager_may_see(const struct manager *m, uid_t client_uid, bool client_admin,
		     const struct proc_entry *e);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free);

#endif
