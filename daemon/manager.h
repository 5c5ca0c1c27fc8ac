/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * manager.h - the one object that owns the daemon: sd-event loop, tick and
 * rescan timers, signals, watchdog, the probe, the process table, alerts and
 * the API (after systemd-oomd's Manager). Its fields are its own: the API
 * gets what its methods read through struct api_sources (api.h).
 */
#ifndef FDWATCH_MANAGER_H
#define FDWATCH_MANAGER_H

#include <systemd/sd-event.h>
#include "util.h"
#include "config.h"
#include "proc-table.h"
#include "alerts.h"

struct probe;
struct api;
struct watch;
struct attribution;
struct journal;
struct hooks;

struct manager_stats {
	uint64_t ticks;
	uint64_t events_fail; /* EMFILE/ENFILE ring buffer records */
	uint64_t events_exec;
	uint64_t events_exit;
	uint64_t events_fork;
	uint64_t rb_dropped; /* from the probe */
	uint64_t map_full;   /* from the probe */
	uint64_t reconciliations;
	uint64_t count_passes; /* passes over every process's count in the kernel */
	uint64_t last_pass_usec;
	uint64_t unseen_opens; /* sums over processes of what reconciliation corrected */
	uint64_t unseen_closes;
	uint64_t last_tick_usec;   /* CPU-free wall time the latest tick took */
	uint64_t last_arm_usec;	   /* the latest probe_arm(): attaching the syscall programs */
	uint64_t last_detach_usec; /* the latest disarm until every syscall link was detached */
};

struct manager {
	sd_event *event;
	sd_event_source *tick_source;
	sd_event_source *sigterm_source, *sigint_source, *sighup_source;
	sd_event_source *probe_source; /* ring buffer fd */

	struct fdw_config config;
	char *config_path; /* NULL: built-in defaults and FDW_CONFIG_FILE if present */
	/* Command-line flags: applied over the files at start and after every reload. */
	struct config_setting *settings;
	size_t n_settings;
	struct probe *probe;
	struct proc_table *procs;
	struct alerts *alerts;
	struct watch *watch;		 /* the per-process step and the arming decision */
	struct attribution *attribution; /* census and creation sites of suspects */
	struct api *api;
	struct journal *journal; /* alerts to journald, off the loop */
	struct hooks *hooks;	 /* alert hooks ([Alert] HooksDirectory=) */

	uint64_t tick_no;
	uint64_t last_rescan_ns; /* the latest /proc listing */
	uint64_t disarmed_ns;	 /* a background detach runs since then, 0: none */
	bool arm_failed;	 /* the latest probe_arm() failed (said once) */
	uint64_t started_boottime_ns;
	uint64_t started_realtime_ns;
	struct manager_stats stats;
	int api_listen_fd;     /* from socket activation, or -1 */
	bool has_journal;      /* alerts to journald */
	bool alerts_to_stderr; /* alerts also printed on stderr (a terminal, or no journal) */
	char last_status[128]; /* the latest STATUS= sent to the service manager */
};

/*
 * Create the manager with its event loop, process table and alerts. config is
 * what config_load(config_path, settings, n_settings) gave, moved into it
 * (*config is left zeroed); settings (the command-line flags) are kept for
 * reloads: the array is copied, its strings borrowed (argv and static text
 * live as long as the daemon). 0 or -errno.
 */
int manager_new(struct fdw_config *config, const char *config_path,
		const struct config_setting *settings, size_t n_settings, struct manager **ret);
/*
 * Load and attach the probe, take the baseline of every process, set up
 * timers, signals, watchdog and the API, and tell systemd READY=1.
 * On a probe failure *ret_failure (an enum probe_failure) names the cause.
 */
int manager_start(struct manager *m, bool verbose, int *ret_failure);
void manager_free(struct manager *m);
/* Run until SIGTERM/SIGINT. 0 or -errno. */
int manager_run(struct manager *m);
/*
 * Reload the configuration files with the command-line flags on top (SIGHUP),
 * between RELOADING=1 and READY=1 to the service manager, whatever happens.
 * Keys that need a restart keep their running values. A bad file (-EINVAL)
 * or any other failure keeps the running configuration; 0 or -errno.
 */
int manager_reload(struct manager *m);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free);

#endif
