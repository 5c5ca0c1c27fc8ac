// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* hooks.c - alert hooks, spawned off the event loop (see hooks.h). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hooks.h"
#include "json.h"
#include "log.h"
#include "varlink.h"

extern char **environ;

/* One hook run: waiting in the queue, or running. */
struct hook_run {
	struct hooks *hooks;
	struct hook_run *next; /* queue order */
	char *path;
	char *input; /* the alert's JSON and a newline */
	size_t input_len;
	uint64_t seq; /* the alert's */
	pid_t pid;
	bool timed_out;
	sd_event_source *child_source, *timer_source;
};

struct hooks {
	sd_event *event;
	const struct hooks_config *cfg;
	struct hook_run *queue_head, *queue_tail;
	struct hook_run *running; /* list through ->next */
	struct hooks_stats stats;
	/* Drops since the queue last ran dry: a flood logs its first drop and then a sum. */
	uint64_t drops_in_flood;
};

static void run_free(struct hook_run *r)
{
	if (!r)
		return;
	sd_event_source_disable_unref(r->child_source);
	sd_event_source_disable_unref(r->timer_source);
	free(r->path);
	free(r->input);
	free(r);
}

int hooks_new(sd_event *event, const struct hooks_config *cfg, struct hooks **ret)
{
	struct hooks *h;
	sigset_t mask;

	/* sd-event watches children only while SIGCHLD is blocked (sd_event_add_child(3)). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return negative_errno();
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->event = sd_event_ref(event);
	h->cfg = cfg;
	*ret = h;
	return 0;
}

void hooks_free(struct hooks *h)
{
	if (!h)
		return;
	for (struct hook_run *r = h->running, *next; r; r = next) {
		next = r->next;
		(void)kill(-r->pid, SIGKILL);
		/* Our child: gone at once after SIGKILL; reaped here, not left a zombie. */
		(void)waitpid(r->pid, NULL, 0);
		run_free(r);
	}
	for (struct hook_run *r = h->queue_head, *next; r; r = next) {
		next = r->next;
		run_free(r);
	}
	sd_event_unref(h->event);
	free(h);
}

void hooks_get_stats(const struct hooks *h, struct hooks_stats *ret)
{
	*ret = h->stats;
}

static void running_remove(struct hooks *h, struct hook_run *run)
{
	for (struct hook_run **p = &h->running; *p; p = &(*p)->next)
		if (*p == run) {
			*p = run->next;
			h->stats.running--;
			return;
		}
}

static void start_queued(struct hooks *h);

static int on_hook_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct hook_run *run = userdata;
	struct hooks *h = run->hooks;

	if (run->timed_out) {
		h->stats.timed_out++;
		log_warning("Hook %s for alert #%" PRIu64 " was killed after %" PRIu64
			    " ms (HookTimeoutSec=).",
			    run->path, run->seq, h->cfg->timeout_ns / 1000000);
	} else if (si->si_code == CLD_EXITED && si->si_status == 0) {
		h->stats.succeeded++;
		log_debug("Hook %s for alert #%" PRIu64 " succeeded.", run->path, run->seq);
	} else if (si->si_code == CLD_EXITED) {
		h->stats.failed++;
		log_warning("Hook %s for alert #%" PRIu64 " exited with status %d.", run->path,
			    run->seq, si->si_status);
	} else {
		h->stats.failed++;
		log_warning("Hook %s for alert #%" PRIu64 " was killed by signal %s.", run->path,
			    run->seq, strsignal(si->si_status));
	}
	running_remove(h, run);
	/* sd-event reaps the child after this returns; the source goes with the run. */
	(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	run->child_source = sd_event_source_unref(run->child_source);
	run_free(run);
	start_queued(h);
	if (h->stats.running == 0 && h->stats.queued == 0) {
		if (h->drops_in_flood > 1)
			log_warning("%" PRIu64 " hook runs were dropped in this flood "
				    "(MaxConcurrentHooks=, HookQueueSize=).",
				    h->drops_in_flood);
		h->drops_in_flood = 0;
	}
	return 0;
}

static int on_hook_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct hook_run *run = userdata;

	run->timed_out = true;
	/* The whole group: a shell's curl or sleep must not outlive it. */
	if (kill(-run->pid, SIGKILL) < 0)
		(void)kill(run->pid, SIGKILL);
	return 0;
}

/*
 * Spawn run: its input in a pipe as stdin, default signals, its own process group. The input
 * is written whole into the pipe before the hook starts, so the daemon never waits for a hook
 * to read it: a pipe holds 64 KiB (pipe(7), the default since Linux 2.6.11), an alert's JSON
 * at most 1617 bytes (measured: every string at its longest, every kind, a container in a
 * pod). Should it ever not fit, the run fails (-EMSGSIZE, counted).
 */
static int run_spawn(struct hooks *h, struct hook_run *run)
{
	_cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = {run->path, NULL};
	int fds[2], r;
	sigset_t none, all;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return negative_errno();
	rfd = fds[0];
	wfd = fds[1];
	/* Non-blocking on our end only: the hook's stdin stays a plain blocking pipe. */
	if (fcntl(wfd, F_SETFL, O_NONBLOCK) < 0)
		return negative_errno();
	n = write(wfd, run->input, run->input_len);
	if (n < 0)
		return negative_errno();
	if ((size_t)n != run->input_len)
		return -EMSGSIZE;
	close(TAKE_FD(wfd)); /* EOF after the alert */

	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	/* The daemon blocks SIGTERM/SIGINT/SIGHUP/SIGCHLD and ignores SIGPIPE: a hook gets neither.
	 */
	r = posix_spawn_file_actions_adddup2(&fa, rfd, STDIN_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (r == 0)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							POSIX_SPAWN_SETSIGDEF);
	if (r == 0)
		r = posix_spawnattr_setpgroup(&attr, 0);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (r == 0)
		r = posix_spawn(&run->pid, run->path, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;

	r = sd_event_add_child(h->event, &run->child_source, run->pid, WEXITED, on_hook_exit, run);
	if (r < 0) {
		/* Cannot watch it: do not let it run unwatched. */
		(void)kill(-run->pid, SIGKILL);
		(void)waitpid(run->pid, NULL, 0);
		return r;
	}
	r = sd_event_add_time_relative(h->event, &run->timer_source, CLOCK_MONOTONIC,
				       h->cfg->timeout_ns / NSEC_PER_USEC, 10 * USEC_PER_SEC / 1000,
				       on_hook_timeout, run);
	if (r < 0) {
		(void)kill(-run->pid, SIGKILL);
		/* The child source reaps it and counts the run as failed. */
		log_warning_errno(r, "Failed to arm the timeout of hook %s, killed it: %m",
				  run->path);
	}
	return 0;
}

/* Start queued runs while slots are free. */
static void start_queued(struct hooks *h)
{
	while (h->queue_head && h->stats.running < h->cfg->max_concurrent) {
		struct hook_run *run = h->queue_head;
		int r;

		h->queue_head = run->next;
		if (!h->queue_head)
			h->queue_tail = NULL;
		h->stats.queued--;
		run->next = NULL;
		r = run_spawn(h, run);
		if (r < 0) {
			h->stats.exec_failed++;
			log_warning_errno(r, "Failed to run hook %s for alert #%" PRIu64 ": %m",
					  run->path, run->seq);
			run_free(run);
			continue;
		}
		h->stats.started++;
		run->next = h->running;
		h->running = run;
		h->stats.running++;
	}
}

/*
 * Whether dir/name is a hook: a regular executable file, not hidden, not a backup ("~"), owned
 * by the daemon's user and writable by nobody else (the daemon runs it with its privileges).
 * With warn, say why an executable is skipped.
 */
static bool is_hook(int dfd, const char *dir, const char *name, bool warn)
{
	struct stat st;
	size_t len = strlen(name);

	if (name[0] == '.' || (len > 0 && name[len - 1] == '~'))
		return false;
	if (fstatat(dfd, name, &st, 0) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return false;
	if (st.st_uid != geteuid() || (st.st_mode & 0022)) {
		if (warn)
			log_warning("Skipping hook %s/%s: it must be owned by uid %u and "
				    "writable by no one else.",
				    dir, name, (unsigned)geteuid());
		return false;
	}
	return true;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The hook paths in dir, sorted. 0 (n may be 0) or -ENOMEM. */
static int list_hooks(const char *dir, bool warn, char ***ret, size_t *ret_n)
{
	_cleanup_closedir_ DIR *d = NULL;
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;

	*ret = NULL;
	*ret_n = 0;
	d = opendir(dir);
	if (!d)
		return 0; /* no directory, no hooks */
	while ((de = readdir(d))) {
		char **nv;

		if (!is_hook(dirfd(d), dir, de->d_name, warn))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			goto oom;
		v = nv;
		v[n] = NULL;
		if (asprintf(&v[n], "%s/%s", dir, de->d_name) < 0)
			goto oom;
		n++;
	}
	qsort(v, n, sizeof(*v), name_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

int hooks_run(struct hooks *h, const struct alert *a)
{
	_cleanup_cjson_ cJSON *o = NULL;
	_cleanup_free_ char *json = NULL;
	char **paths = NULL;
	size_t n = 0, len;
	int r, queued = 0;

	if (!h->cfg->directory)
		return 0;
	/* Skipped files are reported at the first alert of a flood, not at every one. */
	r = list_hooks(h->cfg->directory, h->stats.running == 0 && h->stats.queued == 0, &paths,
		       &n);
	if (r < 0 || n == 0)
		return r;
	o = json_alert(a);
	json = o ? cJSON_PrintUnformatted(o) : NULL;
	if (!json) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(json);
	for (size_t i = 0; i < n; i++) {
		struct hook_run *run;

		if (h->stats.queued >= h->cfg->queue_size &&
		    h->stats.running >= h->cfg->max_concurrent) {
			h->stats.dropped++;
			if (h->drops_in_flood++ == 0)
				log_warning("Dropping hook %s for alert #%" PRIu64
					    ": %u running, %u queued (HookQueueSize=); further "
					    "drops are summed up when the queue runs dry.",
					    paths[i], a->seq, h->stats.running, h->stats.queued);
			continue;
		}
		run = calloc(1, sizeof(*run));
		if (!run || asprintf(&run->input, "%s\n", json) < 0) {
			free(run);
			r = -ENOMEM;
			goto out;
		}
		run->hooks = h;
		run->input_len = len + 1;
		run->seq = a->seq;
		run->path = TAKE_PTR(paths[i]);
		if (h->queue_tail)
			h->queue_tail->next = run;
		else
			h->queue_head = run;
		h->queue_tail = run;
		h->stats.queued++;
		queued++;
		start_queued(h);
	}
	r = queued;
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return r;
}
