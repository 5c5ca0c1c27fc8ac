// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "api.h"
#include "attribution.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "manager.h"
#include "probe.h"
#include "proc.h"
#include "syscalls.h"
#include "watch.h"

/* Hand the alert on: nothing here waits for journald (the writer thread sends it). */
static void manager_alert(void *userdata, const struct alert *a)
{
	struct manager *m = userdata;
	int r;

	if (m->has_journal)
		(void)journal_push(m->journal, a);
	if (m->alerts_to_stderr)
		log_line(a->priority, a->message);
	api_publish_alert(m->api, a);
	r = m->hooks ? hooks_run(m->hooks, a) : 0;
	if (r < 0)
		log_warning_errno(r, "Failed to run the hooks of alert #%" PRIu64 ", ignoring: %m",
				  a->seq);
}

static void manager_forget(void *userdata, pid_t pid, uint64_t start_boottime)
{
	struct manager *m = userdata;

	if (m->probe)
		probe_forget(m->probe, pid, start_boottime);
}

/* The largest census group and the top creation site of e, for its alert. */
static void manager_describe(void *userdata, const struct proc_entry *e, uint64_t now_ns,
			     char *target, size_t target_size, char *site, size_t site_size)
{
	struct manager *m = userdata;

	attribution_top(m->attribution, e, now_ns, target, target_size, site, site_size);
}

/* What a suspect leaks and where: census and creation sites follow its verdict. */
static int manager_attribute(void *userdata, const struct proc_entry *e, uint64_t now_ns)
{
	struct manager *m = userdata;
	int r = attribution_step(m->attribution, m->probe, e, now_ns);

	return r == -ENOMEM ? r : 0;
}

struct counts_ctx {
	struct manager *m;
	uint64_t now_ns;
};

static int on_counts(void *userdata, pid_t tgid, const struct fdw_counts *c)
{
	struct counts_ctx *t = userdata;

	return watch_counts(t->m->watch, tgid, c, false, t->now_ns);
}

/* The /proc listing: the safety net for lifecycle records the ring buffer lost. */
static int manager_list(struct manager *m, uint64_t now_ns)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	int r;

	r = proc_list_pids(m->config.proc_root, &pids, &n);
	if (r < 0)
		return log_warning_errno(r, "Failed to list %s, ignoring: %m", m->config.proc_root);
	m->last_rescan_ns = now_ns;
	return watch_listed(m->watch, pids, n, now_ns);
}

static int manager_read_counts(struct manager *m, uint64_t now_ns)
{
	struct counts_ctx t = {.m = m, .now_ns = now_ns};
	int r;

	r = probe_read_counts(m->probe, on_counts, &t);
	if (r == -ENOMEM)
		return log_error_errno(r, "Out of memory.");
	if (r < 0)
		log_warning_errno(r, "Failed to read the probe's counters, ignoring: %m");
	return 0;
}

/* Arm or disarm the syscall probe as the watch wants it. */
static int manager_arm(struct manager *m, uint64_t now_ns)
{
	bool want = watch_want_armed(m->watch, now_ns), counting = probe_counting(m->probe);
	pid_t pids[4];
	size_t n;
	int r;

	if (want == counting)
		return 0;
	if (want) {
		uint64_t t0 = now_boottime_ns();

		r = probe_arm(m->probe);
		if (r < 0) {
			/* Tried again at every tick: said once. */
			log_full_errno(m->arm_failed ? LOG_DEBUG : LOG_WARNING, r,
				       "Failed to arm the syscall probe, polling only: %m");
			m->arm_failed = true;
			return 0;
		}
		m->arm_failed = false;
		/* Counting starts once attached: what came before is not counted. */
		watch_set_armed(m->watch, true, now_boottime_ns());
		m->disarmed_ns = 0; /* a detach still running was cut short */
		m->stats.last_arm_usec = (now_boottime_ns() - t0) / NSEC_PER_USEC;
		n = watch_suspects(m->watch, pids, ELEMENTSOF(pids));
		if (n > 0)
			log_info("Syscall probe armed in %.1f ms: %zu suspect(s), PID %d first.",
				 (double)m->stats.last_arm_usec / 1000, n, (int)pids[0]);
		else
			log_info("Syscall probe armed in %.1f ms.",
				 (double)m->stats.last_arm_usec / 1000);
		return 0;
	}
	/* The last counts of the armed interval, then stop counting at once. */
	r = manager_read_counts(m, now_ns);
	if (r < 0)
		return r;
	r = probe_disarm(m->probe);
	if (r < 0)
		log_warning_errno(r, "Detaching on the event loop: %m");
	watch_set_armed(m->watch, false, now_boottime_ns());
	m->disarmed_ns = now_boottime_ns();
	log_info("Syscall probe disarmed, detaching.");
	return 0;
}

static void manager_update_stats(struct manager *m)
{
	char status[sizeof(m->last_status)];
	struct journal_stats js;
	struct fdw_stats ks;
	struct proc_entry *e;
	unsigned leaking = 0;

	probe_get_stats(m->probe, &ks);
	m->stats.rb_dropped = ks.rb_dropped;
	m->stats.map_full = ks.map_full;
	m->stats.reconciliations = watch_get_stats(m->watch)->reconciliations;
	m->stats.unseen_opens = m->stats.unseen_closes = 0;
	for (e = proc_table_first(m->procs); e; e = proc_table_next(e)) {
		m->stats.unseen_opens += e->unseen_opens;
		m->stats.unseen_closes += e->unseen_closes;
		if (e->verdict.state >= FDW_STATE_LEAKING)
			leaking++;
	}
	/* Only when it changed: each is a datagram to the service manager. */
	journal_get_stats(m->journal, &js);
	if (js.queued > 0 || js.dropped > 0)
		snprintf(status, sizeof(status),
			 "STATUS=Watching %zu processes, %u leaking, %" PRIu64
			 " alerts sent; journal: %" PRIu64 " waiting, %" PRIu64 " dropped.",
			 proc_table_size(m->procs), leaking, alerts_sent(m->alerts), js.queued,
			 js.dropped);
	else
		snprintf(status, sizeof(status),
			 "STATUS=Watching %zu processes, %u leaking, %" PRIu64 " alerts sent.",
			 proc_table_size(m->procs), leaking, alerts_sent(m->alerts));
	if (!streq(status, m->last_status)) {
		sd_notify(false, status);
		memcpy(m->last_status, status, sizeof(status));
	}
}

struct pass_ctx {
	struct watch *watch;
	uint64_t now_ns;
};

static void on_task_count(void *userdata, const struct fdw_task_count *c)
{
	struct pass_ctx *pc = userdata;

	watch_pass_seen(pc->watch, c, pc->now_ns);
}

/* Every process's count from the kernel at once; on failure, back to /proc reads for good. */
static void manager_count_pass(struct manager *m, uint64_t now_ns)
{
	struct pass_ctx pc = {m->watch, now_ns};
	uint64_t t0 = now_boottime_ns();

	if (probe_count_all(m->probe, on_task_count, &pc) < 0)
		watch_pass_stop(m->watch);
	else {
		m->stats.count_passes++;
		m->stats.last_pass_usec = (now_boottime_ns() - t0) / NSEC_PER_USEC;
	}
}

static int manager_tick(struct manager *m)
{
	uint64_t now_ns = now_boottime_ns(), t0 = now_ns;
	int r;

	m->tick_no++;
	m->stats.ticks++;
	/* Log lines stderr did not take while its reader (journald) was stuck. */
	(void)log_flush(0);
	/* Lifecycle records wake us only once the buffer fills; collect them first. */
	r = probe_consume_events(m->probe);
	if (r < 0)
		log_debug_errno(r, "Failed to consume ring buffer, ignoring: %m");
	if (probe_counting(m->probe)) {
		r = manager_read_counts(m, now_ns);
		if (r < 0)
			return r;
	}
	if (probe_can_count_all(m->probe) && watch_pass_due(m->watch, now_ns))
		manager_count_pass(m, now_ns);
	if (now_ns - m->last_rescan_ns >= m->config.rescan_ns) {
		r = manager_list(m, now_ns);
		if (r == -ENOMEM)
			return log_error_errno(r, "Out of memory.");
	}
	r = watch_tick(m->watch, now_ns);
	if (r == -ENOMEM)
		return log_error_errno(r, "Out of memory.");
	r = manager_arm(m, now_ns);
	if (r < 0)
		return r;
	if (m->disarmed_ns && probe_reap(m->probe) == 0) {
		m->stats.last_detach_usec = (now_boottime_ns() - m->disarmed_ns) / NSEC_PER_USEC;
		log_info("Syscall probe detached in %.1f s.",
			 (double)m->stats.last_detach_usec / USEC_PER_SEC);
		m->disarmed_ns = 0;
	}
	manager_update_stats(m);
	m->stats.last_tick_usec = (now_boottime_ns() - t0) / NSEC_PER_USEC;
	return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t next = usec + m->config.tick_ns / NSEC_PER_USEC;
	struct timespec ts;
	int r;

	r = manager_tick(m);
	if (r < 0)
		return sd_event_exit(m->event, r);
	/* After a stall (a long tick, SIGSTOP, a paused VM) one tick now, not a burst of
	 * catch-up ticks with samples microseconds apart. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		next = MAX(next, (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000);
	return sd_event_source_set_time(s, next);
}

/* An urgent record (EMFILE/ENFILE) arrived: look at that process now, not at the next tick. */
static void manager_urgent(struct manager *m, pid_t tgid)
{
	struct fdw_counts c;

	if (probe_lookup(m->probe, tgid, &c) < 0)
		return;
	if (watch_counts(m->watch, tgid, &c, true, now_boottime_ns()) == -ENOMEM)
		sd_event_exit(m->event, -ENOMEM);
}

static int on_probe_event(void *userdata, const struct fdw_event *ev)
{
	struct manager *m = userdata;
	int r;

	switch (ev->type) {
	case FDW_EV_FAIL:
		m->stats.events_fail++;
		log_debug("%.16s[%u] got %s from %s.", ev->comm, ev->tgid,
			  ev->err == EMFILE ? "EMFILE" : "ENFILE",
			  fdw_syscall_name(ev->syscall_nr) ?: "?");
		manager_urgent(m, (pid_t)ev->tgid);
		break;
	case FDW_EV_FORK:
		m->stats.events_fork++;
		r = watch_fork(m->watch, (pid_t)ev->tgid, ev->start_boottime, now_boottime_ns());
		if (r < 0)
			return r;
		break;
	case FDW_EV_EXEC:
		m->stats.events_exec++;
		watch_exec(m->watch, (pid_t)ev->tgid);
		break;
	case FDW_EV_EXIT:
		m->stats.events_exit++;
		watch_exit(m->watch, (pid_t)ev->tgid, ev->start_boottime, now_boottime_ns());
		break;
	}
	return 0;
}

static int on_probe_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = probe_consume_events(m->probe);

	if (r < 0)
		log_debug_errno(r, "Failed to consume ring buffer, ignoring: %m");
	return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
	log_info("Received %s, shutting down.", strsignal((int)si->ssi_signo));
	return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	manager_reload(userdata);
	return 0;
}

/*
 * Make *c the running configuration (moved, *c is left zeroed) and derive
 * from it what runs: the log level, where alerts go, the alerts' and the
 * API's settings. The one way from a config to the running state, at start
 * and on every reload.
 */
static void manager_apply_config(struct manager *m, struct fdw_config *c)
{
	config_done(&m->config);
	m->config = *c;
	*c = (struct fdw_config){};
	log_set_max_level(m->config.log_level);
	m->has_journal = m->config.alert_journal && journal_available();
	m->alerts_to_stderr = !m->has_journal || isatty(STDERR_FILENO);
	if (m->alerts)
		alerts_set_config(m->alerts, &m->config.alerts);
	if (m->journal)
		journal_set_capacity(m->journal, m->config.journal_queue);
	if (m->api)
		api_set_config(m->api, &m->config);
	if (m->watch)
		watch_set_config(m->watch, &m->config);
}

/* Log each line of text at level, with prefix. */
static void log_lines(int level, const char *prefix, char *text)
{
	for (char *line = strtok(text ?: "", "\n"); line; line = strtok(NULL, "\n"))
		log_full_errno(level, 0, "%s%s", prefix, line);
}

/* The reload proper: RELOADING=1 before and READY=1 after are manager_reload()'s. */
static int manager_reload_config(struct manager *m)
{
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *errs = NULL, *changed = NULL;
	size_t errs_len = 0, changed_len = 0;
	FILE *f;
	int r;

	f = open_memstream(&errs, &errs_len);
	if (!f)
		return -ENOMEM;
	r = config_load(m->config_path, m->settings, m->n_settings, f, &c);
	fclose(f);
	log_lines(LOG_ERR, "", errs);
	if (r < 0)
		return r;
	/* c has the flags applied too: only what the files changed is compared. */
	f = open_memstream(&changed, &changed_len);
	if (!f)
		return -ENOMEM;
	r = config_restart_needed(&m->config, &c, f);
	fclose(f);
	if (r > 0)
		log_lines(LOG_WARNING, "Changed, but takes effect only after a restart: ", changed);
	r = config_keep_restart_keys(&c, &m->config);
	if (r < 0)
		return r;
	manager_apply_config(m, &c);
	return 0;
}

int manager_reload(struct manager *m)
{
	int r;

	sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration...");
	r = manager_reload_config(m);
	if (r < 0) {
		log_error_errno(r,
				"Failed to reload the configuration, keeping the running one: %m");
		sd_notify(false, "READY=1\nSTATUS=Reload failed, kept the running configuration.");
		return r;
	}
	log_info("Configuration reloaded.");
	sd_notify(false, "READY=1\nSTATUS=Configuration reloaded.");
	return 0;
}

/* GetStatus: what the daemon knows of itself. */
static void manager_get_status(void *userdata, struct status_info *ret)
{
	struct manager *m = userdata;
	uint64_t now = now_boottime_ns(), since = watch_armed_since(m->watch);
	struct attribution_stats as;
	struct fdw_stats ks = {};
	struct journal_stats js;

	attribution_get_stats(m->attribution, &as);
	if (m->probe)
		probe_get_stats(m->probe, &ks);
	*ret = (struct status_info){
	    .version = FDWATCH_VERSION,
	    .uptime_sec = (double)(now_boottime_ns() - m->started_boottime_ns) / 1e9,
	    .started_realtime_ns = m->started_realtime_ns,
	    .probe_mode = probe_mode_to_string(m->config.probe_mode),
	    .tick_ns = m->config.tick_ns,
	    .rescan_ns = m->config.rescan_ns,
	    .processes = proc_table_size(m->procs),
	    .ticks = m->stats.ticks,
	    .last_tick_usec = m->stats.last_tick_usec,
	    .ringbuf_dropped = m->stats.rb_dropped,
	    .map_full = m->stats.map_full,
	    .events_fail = m->stats.events_fail,
	    .events_exec = m->stats.events_exec,
	    .events_exit = m->stats.events_exit,
	    .reconciliations = m->stats.reconciliations,
	    .count_passes = m->stats.count_passes,
	    .last_pass_usec = m->stats.last_pass_usec,
	    .count_reads = watch_get_stats(m->watch)->polls,
	    .unseen_opens = m->stats.unseen_opens,
	    .unseen_closes = m->stats.unseen_closes,
	    .tracked_processes = as.tracked_now,
	    .censuses = as.censuses,
	    .sites_full = ks.sites_full,
	    .sites_no_stack = ks.sites_no_stack,
	    .alerts_sent = alerts_sent(m->alerts),
	    .alerts_suppressed = alerts_suppressed(m->alerts),
	    .probe_backend = probe_backend_to_string(m->config.probe_backend),
	    .probe_armed = since != 0,
	    .probe_armed_since_realtime_ns = since ? now_realtime_ns() - (now - since) : 0,
	    .probe_armed_share = watch_armed_share(m->watch, now),
	    .probe_share_window_ns = m->config.armed_window_ns,
	    .probe_arm_usec = m->stats.last_arm_usec,
	    .probe_detach_usec = m->stats.last_detach_usec,
	    .events_fork = m->stats.events_fork,
	    .suspects = watch_suspects(m->watch, NULL, 0),
	    .log_dropped = log_get_dropped(),
	};
	journal_get_stats(m->journal, &js);
	ret->journal_queued = js.queued;
	ret->journal_sent = js.sent;
	ret->journal_dropped = js.dropped;
	ret->journal_failed = js.failed;
	if (m->hooks)
		hooks_get_stats(m->hooks, &ret->hooks);
}

/* Trace: a client names a suspect; armed at once, not at the next tick. */
static int manager_trace(void *userdata, pid_t pid, uint64_t duration_ns,
			 uint64_t *ret_until_realtime_ns)
{
	struct manager *m = userdata;
	uint64_t now = now_boottime_ns();
	int r;

	r = watch_trace(m->watch, pid, now + duration_ns);
	if (r < 0)
		return r;
	log_info("Tracing PID %d for %.0f s, as a client asked.", (int)pid,
		 (double)duration_ns / NSEC_PER_SEC);
	*ret_until_realtime_ns = now_realtime_ns() + duration_ns;
	return manager_arm(m, now);
}

int manager_new(struct fdw_config *config, const char *config_path,
		const struct config_setting *settings, size_t n_settings, struct manager **ret)
{
	_cleanup_(manager_freep) struct manager *m = NULL;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->api_listen_fd = -1;
	manager_apply_config(m, config);
	if (config_path) {
		m->config_path = strdup(config_path);
		if (!m->config_path)
			return -ENOMEM;
	}
	if (n_settings > 0) {
		m->settings = reallocarray(NULL, n_settings, sizeof(*settings));
		if (!m->settings)
			return -ENOMEM;
		memcpy(m->settings, settings, n_settings * sizeof(*settings));
		m->n_settings = n_settings;
	}
	r = sd_event_default(&m->event);
	if (r < 0)
		return r;
	r = proc_table_new(m->config.proc_root, proc_fd_size_is_count(m->config.proc_root),
			   &m->procs);
	if (r < 0)
		return r;
	r = alerts_new(&m->config.alerts, &m->alerts);
	if (r < 0)
		return r;
	r = watch_new(m->procs, m->alerts, &m->config,
		      &(struct watch_ops){.userdata = m,
					  .alert = manager_alert,
					  .forget = manager_forget,
					  .describe = manager_describe,
					  .attribute = manager_attribute},
		      now_boottime_ns(), &m->watch);
	if (r < 0)
		return r;
	r = attribution_new(m->config.proc_root, &m->attribution);
	if (r < 0)
		return r;
	r = journal_new(m->config.journal_queue, &m->journal);
	if (r < 0)
		return r;
	m->started_boottime_ns = now_boottime_ns();
	m->started_realtime_ns = now_realtime_ns();
	*ret = TAKE_PTR(m);
	return 0;
}

static void manager_keepalive(void *userdata)
{
	sd_notify(false, "WATCHDOG=1");
}

int manager_start(struct manager *m, bool verbose, int *ret_failure)
{
	struct probe_options po = {
	    .backend = m->config.probe_backend,
	    .syscalls = m->config.probe_mode != PROBE_MODE_POLL,
	    .max_processes = m->config.max_processes,
	    .ringbuf_kib = m->config.ringbuf_kib,
	    .max_tracked_fds = m->config.max_tracked_fds,
	    .max_stacks = m->config.max_stacks,
	    .ignore_tgid = getpid(),
	    .verbose = verbose,
	    .keepalive = manager_keepalive,
	};
	struct api_sources sources = {
	    .procs = m->procs,
	    .alerts = m->alerts,
	    .get_status = manager_get_status,
	    .trace = manager_trace,
	    .userdata = m,
	    .attribution = m->attribution,
	};
	enum probe_failure failure = PROBE_OK;
	sigset_t mask;
	int r, n;

	*ret_failure = PROBE_OK;
	/* A client that goes away mid-reply must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* First: it blocks SIGCHLD, which every thread started later must inherit. */
	r = hooks_new(m->event, &m->config.hooks, &m->hooks);
	if (r < 0)
		return log_error_errno(r, "Failed to set up alert hooks: %m");
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_sigterm, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_sigterm, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, &m->sighup_source, SIGHUP, on_sighup, m);
	if (r < 0)
		return log_error_errno(r, "Failed to set up signal handlers: %m");

	r = probe_new(&po, on_probe_event, m, &m->probe, &failure);
	if (r < 0) {
		*ret_failure = failure;
		return r;
	}
	r = sd_event_add_io(m->event, &m->probe_source, probe_events_fd(m->probe), EPOLLIN,
			    on_probe_io, m);
	if (r < 0)
		return log_error_errno(r, "Failed to watch the ring buffer: %m");

	/* The baseline of every process, before the first tick. */
	r = manager_list(m, now_boottime_ns());
	if (r < 0)
		return r;
	r = manager_arm(m, now_boottime_ns());
	if (r < 0)
		return r;

	r = sd_event_add_time_relative(m->event, &m->tick_source, CLOCK_MONOTONIC,
				       m->config.tick_ns / NSEC_PER_USEC, 1000, on_tick, m);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the tick timer: %m");
	r = sd_event_source_set_enabled(m->tick_source, SD_EVENT_ON);
	if (r < 0)
		return r;
	/* WATCHDOG=1 at half of WATCHDOG_USEC, from the loop itself: a hung loop stops pinging. */
	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		log_warning_errno(r, "Failed to enable the watchdog, ignoring: %m");

	n = sd_listen_fds(true);
	if (n > 1)
		return log_error_errno(EINVAL, "Expected at most one socket from systemd, got %d.",
				       n);
	m->api_listen_fd = n == 1 ? SD_LISTEN_FDS_START : -1;
	sources.probe = m->probe;
	r = api_new(m->event, &m->config, m->api_listen_fd, &sources, &m->api);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the API socket: %m");
	log_info("fdwatchd " FDWATCH_VERSION " watching %zu processes (probe: %s, %s backend, %u "
		 "links, tick %.3gs).",
		 proc_table_size(m->procs), probe_mode_to_string(m->config.probe_mode),
		 probe_backend_to_string(m->config.probe_backend), probe_links(m->probe),
		 (double)m->config.tick_ns / 1e9);
	sd_notifyf(false, "READY=1\nSTATUS=Watching %zu processes.", proc_table_size(m->procs));
	return 0;
}

int manager_run(struct manager *m)
{
	return sd_event_loop(m->event);
}

void manager_free(struct manager *m)
{
	if (!m)
		return;
	if (m->journal) {
		uint64_t lost;

		journal_free(m->journal, JOURNAL_FLUSH_TIMEOUT_NS, &lost);
		if (lost > 0)
			log_warning("journald did not take %" PRIu64
				    " alerts in time; they are lost.",
				    lost);
	}
	api_free(m->api);
	hooks_free(m->hooks);
	sd_event_source_unref(m->tick_source);
	sd_event_source_unref(m->probe_source);
	sd_event_source_unref(m->sigterm_source);
	sd_event_source_unref(m->sigint_source);
	sd_event_source_unref(m->sighup_source);
	watch_free(m->watch);
	attribution_free(m->attribution);
	/* Detaches every program: nothing stays behind in the kernel. */
	probe_free(m->probe);
	proc_table_free(m->procs);
	alerts_free(m->alerts);
	sd_event_unref(m->event);
	config_done(&m->config);
	free(m->config_path);
	free(m->settings);
	free(m);
	/* The last lines (the shutdown's), with a bounded wait as for the journal. */
	(void)log_flush(JOURNAL_FLUSH_TIMEOUT_NS / 2);
}
