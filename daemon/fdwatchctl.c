// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fdwatchctl - ask fdwatchd: status, processes by risk, one process in
 * detail, alerts (past and live), a monitoring-plugin check and Prometheus
 * metrics. Talks to the API socket through client.c; everything it shows
 * is in the replies (the IDL in varlink.c).
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "detector.h"

/*
 * Exit codes. `check` alone uses the monitoring-plugin codes 0-3; every other
 * command uses 0 and sysexits(3) values, so the two never mean each other.
 */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 64,       /* bad command line */
	EXIT_DATAERR = 65,     /* the daemon refused a parameter */
	EXIT_NOPROC = 66,      /* no such process */
	EXIT_UNAVAILABLE = 69, /* fdwatchd is not running / went away */
	EXIT_SOFTWARE = 70,    /* internal error (out of memory) */
	EXIT_CANTCREAT = 73,   /* metrics --textfile: cannot write the file */
	EXIT_TEMPFAIL = 75,    /* daemon busy (too many clients) or timed out */
	EXIT_PROTOCOL = 76,    /* unexpected reply */
	EXIT_NOPERM = 77,      /* not allowed: socket permissions, another user's process */
};
enum { CHECK_OK = 0, CHECK_WARNING = 1, CHECK_CRITICAL = 2, CHECK_UNKNOWN = 3 };

#define CALL_TIMEOUT_MS 10000

static struct {
	const char *socket;
	bool json;
	bool watch;
	bool has_limit, has_uid, has_since;
	uint64_t trace_ns; /* trace --for */
	uint64_t limit, uid, since;
	const char *unit, *comm, *state;
	const char *runtime, *container, *pod;
	double min_use; /* metrics: also series for processes using this share of their limit */
	bool http;
	const char *textfile;
	double interval;
	uint64_t iterations;
	bool color;
	bool tty;
} arg = {.interval = 2.0};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	quit = 1;
}

/* ---- talking to the daemon ---- */

struct failure {
	int code;
	char msg[512];
};

static struct fdw_client *client;

static int fail(struct failure *f, int code, const char *fmt, ...) _printf_(3, 4);
static int fail(struct failure *f, int code, const char *fmt, ...)
{
	va_list ap;

	f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int connect_daemon(struct failure *f)
{
	int r;

	if (client)
		return 0;
	r = client_connect(arg.socket, &client);
	if (r == -ENOENT || r == -ENOTDIR)
		return fail(f, EXIT_UNAVAILABLE, "fdwatchd is not running (no socket at %s)",
			    arg.socket);
	if (r == -ECONNREFUSED)
		return fail(f, EXIT_UNAVAILABLE,
			    "fdwatchd is not running (nothing listens on %s: a stale socket)",
			    arg.socket);
	if (r == -EACCES || r == -EPERM)
		return fail(f, EXIT_NOPERM,
			    "permission denied connecting to %s (the socket's group or root may)",
			    arg.socket);
	if (r < 0)
		return fail(f, EXIT_UNAVAILABLE, "cannot connect to fdwatchd at %s: %s", arg.socket,
			    strerror(-r));
	return 0;
}

static const char *param_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double param_num(const cJSON *o, const char *name, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static bool param_has_num(const cJSON *o, const char *name)
{
	return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* Turn an error reply into a message and an exit code. */
static int fail_reply(struct failure *f, const struct varlink_reply *r)
{
	const char *e = r->error;
	const cJSON *p = r->parameters;

	if (streq(e, FDW_ERROR_NO_SUCH_PROCESS))
		return fail(f, EXIT_NOPROC, "no such process: %.0f", param_num(p, "pid", 0));
	if (streq(e, FDW_ERROR_PERMISSION_DENIED) || streq(e, VARLINK_ERROR_PERMISSION_DENIED))
		return fail(f, EXIT_NOPERM,
			    "permission denied: the process belongs to another user "
			    "(root and members of fdwatchd's AdminGroup see every process)");
	if (streq(e, FDW_ERROR_INVALID_PARAMETER) || streq(e, VARLINK_ERROR_INVALID_PARAMETER))
		return fail(f, EXIT_DATAERR, "fdwatchd refused the parameter \"%s\"",
			    param_str(p, "parameter") ?: "?");
	if (streq(e, FDW_ERROR_TOO_MANY_CLIENTS))
		return fail(f, EXIT_TEMPFAIL, "fdwatchd is busy: too many clients (limit %.0f)",
			    param_num(p, "max", 0));
	if (streq(e, FDW_ERROR_TIMEOUT))
		return fail(f, EXIT_TEMPFAIL, "fdwatchd closed the connection: %s",
			    param_str(p, "reason") ?: "timeout");
	if (streq(e, VARLINK_ERROR_METHOD_NOT_FOUND))
		return fail(f, EXIT_PROTOCOL, "fdwatchd does not know %s (a different version?)",
			    param_str(p, "method") ?: "the method");
	return fail(f, EXIT_PROTOCOL, "fdwatchd replied with error %s%s%s", e,
		    param_str(p, "reason") ? ": " : "", param_str(p, "reason") ?: "");
}

static int fail_transport(struct failure *f, int r)
{
	if (r == -ETIMEDOUT)
		return fail(f, EXIT_TEMPFAIL, "fdwatchd did not answer within %d s",
			    CALL_TIMEOUT_MS / 1000);
	if (r == -ECONNRESET || r == -EPIPE)
		return fail(f, EXIT_UNAVAILABLE, "fdwatchd closed the connection");
	if (r == -EBADMSG || r == -EMSGSIZE)
		return fail(f, EXIT_PROTOCOL, "fdwatchd sent a reply that is not valid");
	if (r == -ENOMEM)
		return fail(f, EXIT_SOFTWARE, "out of memory");
	return fail(f, EXIT_UNAVAILABLE, "talking to fdwatchd failed: %s", strerror(-r));
}

/* One call, one reply. params consumed. 0, or -1 with *f saying why. */
static int call(const char *method, cJSON *params, struct varlink_reply *ret, struct failure *f)
{
	int r;

	if (connect_daemon(f) < 0) {
		cJSON_Delete(params);
		return -1;
	}
	r = client_call(client, method, params, CALL_TIMEOUT_MS, ret);
	if (r < 0)
		return fail_transport(f, r);
	if (ret->error) {
		fail_reply(f, ret);
		varlink_reply_done(ret);
		return -1;
	}
	return 0;
}

static int report(const struct failure *f)
{
	fprintf(stderr, "fdwatchctl: %s\n", f->msg);
	return f->code;
}

/* ---- formatting ---- */

#define C_RESET	   "\033[0m"
#define C_BOLD	   "\033[1m"
#define C_RED	   "\033[31m"
#define C_BOLD_RED "\033[1;31m"
#define C_YELLOW   "\033[33m"
#define C_DIM	   "\033[2m"

static const char *color(const char *c)
{
	return arg.color ? c : "";
}

static const char *state_color(const char *state)
{
	if (!state || !arg.color)
		return "";
	if (streq(state, "exhausted") || streq(state, "critical"))
		return C_BOLD_RED;
	if (streq(state, "leaking"))
		return C_RED;
	if (streq(state, "growing"))
		return C_YELLOW;
	return "";
}

static const char *user_name(uid_t uid, char *buf, size_t size)
{
	static struct {
		uid_t uid;
		char name[32];
	} cache[64];
	static size_t n;
	struct passwd *pw;

	for (size_t i = 0; i < n; i++)
		if (cache[i].uid == uid)
			return cache[i].name;
	pw = getpwuid(uid);
	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)uid);
	if (n < ELEMENTSOF(cache)) {
		cache[n].uid = uid;
		snprintf(cache[n].name, sizeof(cache[n].name), "%s", buf);
		n++;
	}
	return buf;
}

/* "9s", "3m12s", "2h05m", "3d04h"; "-" when negative or absent. */
static const char *format_duration(double sec, char *buf, size_t size)
{
	uint64_t s;

	if (!isfinite(sec) || sec < 0)
		return "-";
	if (sec < 10) {
		snprintf(buf, size, "%.1fs", sec);
		return buf;
	}
	s = (uint64_t)(sec + 0.5);
	if (s < 60)
		snprintf(buf, size, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
	return buf;
}

static const char *format_time_usec(double usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / 1e6);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "?");
	return buf;
}

/* Copy s into buf cut to width display columns (bytes here: comm and units are ASCII in practice).
 */
static const char *cut(const char *s, size_t width, char *buf, size_t size)
{
	size_t n = strlen(s ?: "");

	if (!s || !*s)
		return "-";
	if (n <= width)
		return s;
	snprintf(buf, size, "%.*s~", (int)(width - 1), s);
	return buf;
}

/* o on stdout: indented, or on one line (a stream of them, as `watch --json` prints). */
static int print_json_full(const cJSON *o, bool one_line)
{
	_cleanup_free_ char *s = one_line ? cJSON_PrintUnformatted(o) : cJSON_Print(o);

	if (!s)
		return EXIT_SOFTWARE;
	puts(s);
	fflush(stdout);
	return EXIT_OK;
}

static int print_json(const cJSON *o)
{
	return print_json_full(o, false);
}

/* ---- status ---- */

/* Armed: since when, for whom, and the share of the last window. */
static void print_armed(const cJSON *p)
{
	const cJSON *pids = cJSON_GetObjectItem(p, "suspect_pids"), *v;
	bool armed = cJSON_IsTrue(cJSON_GetObjectItem(p, "probe_armed"));
	char b1[32], b2[32];

	if (armed)
		printf("Armed:        yes, since %s, for %.0f suspect(s)",
		       format_time_usec(param_num(p, "probe_armed_since_usec", 0), b1, sizeof(b1)),
		       param_num(p, "suspects", 0));
	else
		printf("Armed:        no, %.0f suspect(s)", param_num(p, "suspects", 0));
	cJSON_ArrayForEach(v, pids) printf("%s%d", v == pids->child ? ": PID " : ", ", v->valueint);
	printf("; %.1f%% of the last %s\n", 100 * param_num(p, "probe_armed_share", 0),
	       format_duration(param_num(p, "probe_share_window_sec", 0), b2, sizeof(b2)));
}

static int cmd_status(void)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	const cJSON *p, *j;
	struct failure f;
	char b1[32], b2[32];

	if (call(FDW_METHOD_GET_STATUS, NULL, &r, &f) < 0)
		return report(&f);
	p = r.parameters;
	if (arg.json)
		return print_json(p);
	printf("%sfdwatchd %s%s, up %s (since %s)\n", color(C_BOLD), param_str(p, "version") ?: "?",
	       color(C_RESET), format_duration(param_num(p, "uptime_sec", -1), b1, sizeof(b1)),
	       format_time_usec(param_num(p, "started_usec", 0), b2, sizeof(b2)));
	printf("Probe:        %s (%s), tick %gs, rescan %gs\n", param_str(p, "probe_mode") ?: "?",
	       param_str(p, "probe_backend") ?: "?", param_num(p, "tick_sec", 0),
	       param_num(p, "rescan_sec", 0));
	print_armed(p);
	printf("Processes:    %.0f tracked, %.0f visible to you\n", param_num(p, "processes", 0),
	       param_num(p, "visible", 0));
	printf("Alerts:       %.0f sent, %.0f suppressed by the rate limit\n",
	       param_num(p, "alerts_sent", 0), param_num(p, "alerts_suppressed", 0));
	j = cJSON_GetObjectItem(p, "journal");
	printf("Journal:      %.0f sent, %.0f queued, %.0f dropped (queue full), %.0f failed\n",
	       param_num(j, "sent", 0), param_num(j, "queued", 0), param_num(j, "dropped", 0),
	       param_num(j, "failed", 0));
	if (param_num(p, "log_dropped", 0) > 0)
		printf("Log:          %.0f lines dropped (stderr did not take them)\n",
		       param_num(p, "log_dropped", 0));
	printf("Lost records: %.0f ring buffer, %.0f map full\n",
	       param_num(p, "ringbuf_dropped", 0), param_num(p, "map_full", 0));
	if (param_num(p, "count_passes", 0) > 0)
		printf("Counts:       %.0f passes over every process (latest %.0f us), %.0f reads "
		       "of /proc\n",
		       param_num(p, "count_passes", 0), param_num(p, "last_pass_usec", 0),
		       param_num(p, "count_reads", 0));
	else
		printf("Counts:       %.0f reads of /proc (no count passes here)\n",
		       param_num(p, "count_reads", 0));
	printf("Reconciled:   %.0f times; unseen opens %.0f, closes %.0f\n",
	       param_num(p, "reconciliations", 0), param_num(p, "unseen_opens", 0),
	       param_num(p, "unseen_closes", 0));
	printf("Attribution:  %.0f processes' fd creations recorded, %.0f censuses; creation "
	       "records lost %.0f, without a stack %.0f\n",
	       param_num(p, "tracked_processes", 0), param_num(p, "censuses", 0),
	       param_num(p, "sites_full", 0), param_num(p, "sites_no_stack", 0));
	printf("Ticks:        %.0f, last took %.0f us\n", param_num(p, "ticks", 0),
	       param_num(p, "last_tick_usec", 0));
	{
		const cJSON *h = cJSON_GetObjectItem(p, "hooks");

		printf("Hooks:        %.0f run, %.0f failed, %.0f timed out, %.0f not started, "
		       "%.0f dropped; %.0f running, %.0f queued\n",
		       param_num(h, "started", 0), param_num(h, "failed", 0),
		       param_num(h, "timed_out", 0), param_num(h, "exec_failed", 0),
		       param_num(h, "dropped", 0), param_num(h, "running", 0),
		       param_num(h, "queued", 0));
	}
	printf("Clients:      %.0f (%.0f subscribed)\n", param_num(p, "clients", 0),
	       param_num(p, "subscribers", 0));
	printf("You:          uid %.0f, %s\n", param_num(p, "client_uid", 0),
	       cJSON_IsTrue(cJSON_GetObjectItem(p, "client_admin"))
		   ? "see every process"
		   : "see your own processes only");
	return EXIT_OK;
}

/* ---- top ---- */

static cJSON *list_params(bool with_limit)
{
	const struct {
		const char *name, *value;
	} strings[] = {
	    {"unit", arg.unit},		  {"comm", arg.comm},	{"runtime", arg.runtime},
	    {"container", arg.container}, {"pod_uid", arg.pod}, {"state", arg.state},
	};
	cJSON *p = cJSON_CreateObject();

	if (!p)
		return NULL;
	if (arg.has_uid)
		json_add_u64(p, "uid", arg.uid);
	for (size_t i = 0; i < ELEMENTSOF(strings); i++)
		if (strings[i].value)
			cJSON_AddStringToObject(p, strings[i].name, strings[i].value);
	if (with_limit && arg.has_limit)
		json_add_u64(p, "limit", arg.limit);
	return p;
}

static unsigned terminal_rows(void)
{
	struct winsize ws;

	if (arg.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
		return ws.ws_row;
	return 0;
}

static unsigned terminal_cols(void)
{
	struct winsize ws;

	if (arg.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/*
 * Where the process runs, for the UNIT column: "docker:3f1d2c4b5a69" (the runtime and the
 * short id, as `docker ps` shows it) for a container, "pod:8f3c1a2e" for a pod's own cgroup,
 * else the systemd unit.
 */
static const char *where(const cJSON *o, char *buf, size_t size)
{
	const char *rt = param_str(o, "container_runtime"), *id = param_str(o, "container_id");
	const char *pod = param_str(o, "pod_uid");

	if (rt && id)
		snprintf(buf, size, "%s:%.12s", rt, id);
	else if (pod)
		snprintf(buf, size, "pod:%.8s", pod);
	else
		return param_str(o, "unit");
	return buf;
}

static void print_process_row(const cJSON *o)
{
	char user[32], comm[32], unit[32], lim[24], use[16], rate[24], eta[24], wh[64];
	const char *state = param_str(o, "state") ?: "?";
	const char *kind = param_str(o, "kind");

	if (param_has_num(o, "limit"))
		snprintf(lim, sizeof(lim), "%.0f", param_num(o, "limit", 0));
	else
		snprintf(lim, sizeof(lim), "inf");
	if (param_has_num(o, "use_percent"))
		snprintf(use, sizeof(use), "%.1f", param_num(o, "use_percent", 0));
	else
		snprintf(use, sizeof(use), "-");
	snprintf(rate, sizeof(rate), "%+.1f", param_num(o, "rate", 0));
	printf("%7.0f %-9s %-15s %-24s %6.0f %7s %5s %8s %7s %s%-9s%s %s\n", param_num(o, "pid", 0),
	       cut(user_name((uid_t)param_num(o, "uid", 0), user, sizeof(user)), 9, user,
		   sizeof(user)),
	       cut(param_str(o, "comm"), 15, comm, sizeof(comm)),
	       cut(where(o, wh, sizeof(wh)), 24, unit, sizeof(unit)), param_num(o, "fds", 0), lim,
	       use, rate,
	       format_duration(param_has_num(o, "eta_sec") ? param_num(o, "eta_sec", -1) : -1, eta,
			       sizeof(eta)),
	       state_color(state), state, color(C_RESET), kind ?: "-");
}

static int top_once(bool clear)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	_cleanup_(varlink_reply_donep) struct varlink_reply st = {};
	const cJSON *procs;
	struct failure f;
	unsigned rows = 0;
	cJSON *params;
	bool fit_screen = !arg.has_limit && arg.watch && (rows = terminal_rows()) > 4;

	params = list_params(true);
	if (fit_screen)
		json_add_u64(params, "limit", rows - 3);
	if (call(FDW_METHOD_LIST_PROCESSES, params, &r, &f) < 0)
		return report(&f);
	if (arg.json)
		return print_json_full(r.parameters, arg.watch);
	if (call(FDW_METHOD_GET_STATUS, NULL, &st, &f) < 0)
		return report(&f);
	if (clear)
		fputs("\033[H\033[2J", stdout);
	procs = cJSON_GetObjectItem(r.parameters, "processes");
	{
		char up[32];

		printf("%sfdwatchd %s%s  up %s  %.0f processes (%.0f shown of %.0f matching)  "
		       "alerts %.0f\n",
		       color(C_BOLD), param_str(st.parameters, "version") ?: "?", color(C_RESET),
		       format_duration(param_num(st.parameters, "uptime_sec", -1), up, sizeof(up)),
		       param_num(st.parameters, "processes", 0), (double)cJSON_GetArraySize(procs),
		       param_num(r.parameters, "matched", 0),
		       param_num(st.parameters, "alerts_sent", 0));
	}
	printf("%s%7s %-9s %-15s %-24s %6s %7s %5s %8s %7s %-9s %s%s\n", color(C_BOLD), "PID",
	       "USER", "COMM", "UNIT", "FDS", "LIMIT", "USE%", "RATE/s", "ETA", "STATE", "KIND",
	       color(C_RESET));
	for (const cJSON *o = procs ? procs->child : NULL; o; o = o->next)
		print_process_row(o);
	fflush(stdout);
	return EXIT_OK;
}

static int cmd_top(void)
{
	uint64_t n = 0;
	int r;

	if (!arg.watch) {
		if (!arg.has_limit && !arg.json) {
			arg.has_limit = true;
			arg.limit = 20;
		}
		return top_once(false);
	}
	for (;;) {
		r = top_once(arg.tty && !arg.json);
		if (r != EXIT_OK)
			return r;
		if (arg.iterations && ++n >= arg.iterations)
			return EXIT_OK;
		if (!arg.tty && !arg.json)
			putchar('\n');
		/* Sleep in poll: a signal (Ctrl-C) interrupts it. */
		if (!quit)
			poll(NULL, 0, (int)(arg.interval * 1000));
		if (quit)
			return EXIT_OK;
	}
}

/* ---- show ---- */

/* Draw values as one line of ▁▂▃▄▅▆▇█, at most width cells (buckets keep their maximum). */
static void sparkline(const double *v, size_t n, size_t width, double lo, double hi)
{
	static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	size_t cells = MIN(n, width);

	for (size_t c = 0; c < cells; c++) {
		size_t a = c * n / cells, b = MAX((c + 1) * n / cells, a + 1);
		double m = v[a];
		int level;

		for (size_t i = a; i < b; i++)
			m = MAX(m, v[i]);
		level = hi > lo ? (int)((m - lo) / (hi - lo) * 7.0 + 0.5) : 0;
		fputs(bars[MAX(0, MIN(7, level))], stdout);
	}
}

/* "Open fds by target": one line per census group, its words as the alert says them. */
static void print_census(const cJSON *c)
{
	const cJSON *groups = cJSON_GetObjectItem(c, "groups");
	char b[32];

	if (!cJSON_IsObject(c))
		return;
	printf("%sOpen fds by target%s (%.0f fds, census %s ago):\n", color(C_BOLD), color(C_RESET),
	       param_num(c, "fds", 0), format_duration(param_num(c, "age_sec", 0), b, sizeof(b)));
	for (const cJSON *g = groups ? groups->child : NULL; g; g = g->next)
		printf("  %s\n", param_str(g, "text") ?: "?");
	if (param_num(c, "other_fds", 0) > 0)
		printf("  %.0f fds in other groups\n", param_num(c, "other_fds", 0));
}

/* "Made by": each site's count, syscall and age, then its frames, innermost first. */
static void print_sites(const cJSON *s)
{
	const cJSON *sites = cJSON_GetObjectItem(s, "sites");
	char b[32];

	if (!cJSON_IsObject(s))
		return;
	printf("%sMade by%s (%s; %.0f open fds recorded, %.0f stale):\n", color(C_BOLD),
	       color(C_RESET),
	       cJSON_IsTrue(cJSON_GetObjectItem(s, "tracking")) ? "the probe records its creations"
								: "no longer recorded",
	       param_num(s, "tracked_fds", 0), param_num(s, "stale", 0));
	for (const cJSON *x = sites ? sites->child : NULL; x; x = x->next) {
		const cJSON *frames = cJSON_GetObjectItem(x, "frames");

		printf("  %.0f fds by %s%s, oldest %s ago\n", param_num(x, "fds", 0),
		       param_str(x, "syscall") ?: "?", param_str(x, "syscall") ? "()" : "",
		       format_duration(param_num(x, "oldest_age_sec", 0), b, sizeof(b)));
		if (!cJSON_IsTrue(cJSON_GetObjectItem(x, "stack_kept")))
			printf("      (stack not recorded)\n");
		for (const cJSON *f = frames ? frames->child : NULL; f; f = f->next)
			printf("      %s\n", cJSON_IsString(f) ? f->valuestring : "?");
	}
	if (param_num(s, "other_fds", 0) > 0)
		printf("  %.0f fds from other sites\n", param_num(s, "other_fds", 0));
}

static void print_history(const cJSON *history)
{
	size_t n = (size_t)cJSON_GetArraySize(history), i = 0;
	_cleanup_free_ double *v = NULL;
	double lo = INFINITY, hi = -INFINITY, span;

	if (n == 0) {
		printf("History:    (none yet)\n");
		return;
	}
	v = calloc(n, sizeof(*v));
	if (!v)
		return;
	for (const cJSON *s = history->child; s; s = s->next, i++) {
		v[i] = param_num(s, "fds", 0);
		lo = MIN(lo, v[i]);
		hi = MAX(hi, v[i]);
	}
	span = param_num(history->child, "ago_sec", 0);
	printf("History:    ");
	if (arg.tty) {
		size_t cols = terminal_cols();

		sparkline(v, n, cols > 60 ? cols - 40 : 20, lo, hi);
		printf(" ");
	}
	printf("%.0f -> %.0f fds over %.0fs (min %.0f, max %.0f)\n", v[0], v[n - 1], span, lo, hi);
}

static int cmd_trace(const char *pid_s)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	struct failure f;
	uint64_t pid;
	cJSON *params;
	char b[32];

	if (parse_u64(pid_s, &pid) < 0 || pid == 0 || pid > INT32_MAX) {
		fprintf(stderr, "fdwatchctl: \"%s\" is not a PID\n", pid_s);
		return EXIT_USAGE;
	}
	params = cJSON_CreateObject();
	json_add_u64(params, "pid", pid);
	if (arg.trace_ns)
		json_add_u64(params, "seconds", arg.trace_ns / NSEC_PER_SEC);
	if (call("io.fdwatch.Trace", params, &r, &f) < 0)
		return report(&f);
	if (arg.json)
		return print_json(r.parameters);
	printf("Tracing PID %" PRIu64 " until %s.\n", pid,
	       format_time_usec(param_num(r.parameters, "until_usec", 0), b, sizeof(b)));
	return EXIT_OK;
}

static int cmd_show(const char *pid_s)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	char user[32], b1[32], b2[32], b3[32];
	const cJSON *o, *created, *kinds;
	const char *state;
	struct failure f;
	uint64_t pid;
	cJSON *params;

	if (parse_u64(pid_s, &pid) < 0 || pid == 0 || pid > INT32_MAX) {
		fprintf(stderr, "fdwatchctl: \"%s\" is not a PID\n", pid_s);
		return EXIT_USAGE;
	}
	params = cJSON_CreateObject();
	json_add_u64(params, "pid", pid);
	if (call(FDW_METHOD_GET_PROCESS, params, &r, &f) < 0)
		return report(&f);
	o = cJSON_GetObjectItem(r.parameters, "process");
	if (!cJSON_IsObject(o)) {
		fprintf(stderr, "fdwatchctl: reply without a process\n");
		return EXIT_PROTOCOL;
	}
	if (arg.json) {
		/* The process with its census and sites, as one object. */
		_cleanup_cjson_ cJSON *all = cJSON_Duplicate(o, true);
		const cJSON *census = cJSON_GetObjectItem(r.parameters, "census");
		const cJSON *sites = cJSON_GetObjectItem(r.parameters, "sites");

		if (!all ||
		    !cJSON_AddItemToObject(all, "census",
					   census ? cJSON_Duplicate(census, true)
						  : cJSON_CreateNull()) ||
		    !cJSON_AddItemToObject(
			all, "sites", sites ? cJSON_Duplicate(sites, true) : cJSON_CreateNull()))
			return EXIT_FAILURE;
		return print_json(all);
	}
	state = param_str(o, "state") ?: "?";
	printf("%s%s[%.0f]%s  %s%s%s", color(C_BOLD), param_str(o, "comm") ?: "?",
	       param_num(o, "pid", 0), color(C_RESET), state_color(state), state, color(C_RESET));
	if (param_str(o, "pattern") && !streq(param_str(o, "pattern"), "none"))
		printf("  (%s)", param_str(o, "pattern"));
	if (cJSON_IsTrue(cJSON_GetObjectItem(o, "exited")))
		printf("  [exited]");
	if (cJSON_IsTrue(cJSON_GetObjectItem(o, "ignored")))
		printf("  [ignored by a rule]");
	printf("\n");
	printf("Command:    %s\n", param_str(o, "cmdline") ?: "");
	printf("User:       %s (%.0f)\n",
	       user_name((uid_t)param_num(o, "uid", 0), user, sizeof(user)),
	       param_num(o, "uid", 0));
	printf("Unit:       %s\n", param_str(o, "unit") ?: "-");
	if (param_str(o, "container_id"))
		printf("Container:  %s %s\n", param_str(o, "container_runtime") ?: "?",
		       param_str(o, "container_id"));
	if (param_str(o, "pod_uid"))
		printf("Pod:        %s (QoS %s)\n", param_str(o, "pod_uid"),
		       param_str(o, "pod_qos") ?: "?");
	printf("Cgroup:     %s\n", param_str(o, "cgroup") ?: "-");
	printf("Open fds:   %.0f", param_num(o, "fds", 0));
	if (param_has_num(o, "limit"))
		printf(" of %.0f (%.1f%%)", param_num(o, "limit", 0),
		       param_num(o, "use_percent", 0));
	else
		printf(" (no soft limit)");
	if (param_has_num(o, "hard_limit"))
		printf(", hard limit %.0f", param_num(o, "hard_limit", 0));
	if (param_has_num(o, "max_fd"))
		printf(", highest fd %.0f", param_num(o, "max_fd", 0));
	printf("\n");
	printf("Growth:     %+.2f fds/s", param_num(o, "rate", 0));
	if (param_has_num(o, "eta_sec"))
		printf(", EMFILE in ~%s",
		       format_duration(param_num(o, "eta_sec", -1), b1, sizeof(b1)));
	printf(" (confidence %.2f)\n", param_num(o, "confidence", 0));
	if (param_has_num(o, "period_sec"))
		printf("Retry loop: +%.0f %s every %.2fs, %.0f closed recently\n",
		       param_num(o, "per_attempt", 0), param_str(o, "kind") ?: "fds",
		       param_num(o, "period_sec", 0), param_num(o, "closed_recent", 0));
	kinds = cJSON_GetObjectItem(o, "kinds");
	if (cJSON_GetArraySize(kinds) > 0) {
		printf("Growing:    ");
		for (const cJSON *k = kinds->child; k; k = k->next)
			printf("%s%s", k->valuestring, k->next ? ", " : "\n");
	}
	created = cJSON_GetObjectItem(o, "created");
	printf("Created:    ");
	{
		bool any = false;

		for (const cJSON *k = created ? created->child : NULL; k; k = k->next)
			if (cJSON_IsNumber(k) && k->valuedouble > 0) {
				printf("%s%s %.0f", any ? ", " : "", k->string, k->valuedouble);
				any = true;
			}
		printf("%s; closed %.0f\n", any ? "" : "none", param_num(o, "closed", 0));
	}
	if (param_num(o, "emfile", 0) > 0 || param_num(o, "enfile", 0) > 0)
		printf("%sFailures:   EMFILE %.0f, ENFILE %.0f, last in %s()%s\n",
		       color(C_BOLD_RED), param_num(o, "emfile", 0), param_num(o, "enfile", 0),
		       param_str(o, "syscall") ?: "?", color(C_RESET));
	print_history(cJSON_GetObjectItem(o, "history"));
	printf("Seen:       since %s (%s ago)",
	       format_time_usec(param_num(o, "first_seen_usec", 0), b1, sizeof(b1)),
	       format_duration(param_num(o, "age_sec", -1), b2, sizeof(b2)));
	if (param_has_num(o, "idle_sec"))
		printf(", last fd event %s ago",
		       format_duration(param_num(o, "idle_sec", -1), b3, sizeof(b3)));
	printf("\n");
	printf("Reconciled: unseen opens %.0f, closes %.0f, last drift %+.0f\n",
	       param_num(o, "unseen_opens", 0), param_num(o, "unseen_closes", 0),
	       param_num(o, "last_drift", 0));
	print_census(cJSON_GetObjectItem(r.parameters, "census"));
	print_sites(cJSON_GetObjectItem(r.parameters, "sites"));
	return EXIT_OK;
}

/* ---- alerts, watch ---- */

static const char *alert_color(const char *type)
{
	if (!type || !arg.color)
		return "";
	if (streq(type, "exhausted") || streq(type, "critical"))
		return C_BOLD_RED;
	if (streq(type, "leak"))
		return C_RED;
	if (streq(type, "recovered"))
		return C_DIM;
	return "";
}

static void print_alert(const cJSON *a)
{
	const char *type = param_str(a, "type");
	char t[32];

	printf("%s #%-5.0f %s%-9s %s%s\n",
	       format_time_usec(param_num(a, "realtime_usec", 0), t, sizeof(t)),
	       param_num(a, "seq", 0), alert_color(type), type ?: "?",
	       param_str(a, "message") ?: "", color(C_RESET));
	fflush(stdout);
}

static int cmd_alerts(void)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	cJSON *params = cJSON_CreateObject();
	const cJSON *alerts;
	struct failure f;

	if (arg.has_since)
		json_add_u64(params, "since", arg.since);
	if (arg.has_limit)
		json_add_u64(params, "limit", arg.limit);
	if (call(FDW_METHOD_LIST_ALERTS, params, &r, &f) < 0)
		return report(&f);
	if (arg.json)
		return print_json(r.parameters);
	alerts = cJSON_GetObjectItem(r.parameters, "alerts");
	if (cJSON_GetArraySize(alerts) == 0) {
		if (arg.tty)
			printf("No alerts%s.\n", arg.has_since ? " after that" : "");
		return EXIT_OK;
	}
	for (const cJSON *a = alerts->child; a; a = a->next)
		print_alert(a);
	return EXIT_OK;
}

static int cmd_watch(void)
{
	cJSON *params = cJSON_CreateObject();
	struct failure f;
	uint64_t n = 0;
	int r;

	if (arg.has_since)
		json_add_u64(params, "since", arg.since);
	if (connect_daemon(&f) < 0) {
		cJSON_Delete(params);
		return report(&f);
	}
	r = client_send_call(client, FDW_METHOD_SUBSCRIBE, params, VARLINK_MORE);
	if (r < 0 && r != -EPIPE)
		return report((fail_transport(&f, r), &f));
	if (arg.tty && !arg.json)
		fprintf(stderr, "Waiting for alerts (Ctrl-C to stop)...\n");
	while (!quit) {
		_cleanup_(varlink_reply_donep) struct varlink_reply rep = {};
		const cJSON *a;

		r = client_read_reply(client, 500, &rep);
		if (r == -ETIMEDOUT || r == -EINTR)
			continue;
		if (r < 0) {
			if (quit)
				break;
			fail_transport(&f, r);
			if (r == -ECONNRESET)
				snprintf(f.msg, sizeof(f.msg), "fdwatchd closed the subscription");
			return report(&f);
		}
		if (rep.error) {
			fail_reply(&f, &rep);
			return report(&f);
		}
		a = cJSON_GetObjectItem(rep.parameters, "alert");
		if (!cJSON_IsObject(a))
			continue;
		if (arg.json)
			print_json_full(a, true);
		else
			print_alert(a);
		if (arg.has_limit && ++n >= arg.limit)
			break;
		if (!rep.continues)
			break;
	}
	return EXIT_OK;
}

/* ---- check ---- */

static const char *const check_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

/* "python3[4242] leaking pipe fds: 812/1024, +20.0/s, EMFILE in ~10s" */
static void describe(const cJSON *o, char *buf, size_t size)
{
	char eta[32], lim[32];
	const char *state = param_str(o, "state") ?: "?";

	if (param_has_num(o, "limit"))
		snprintf(lim, sizeof(lim), "/%.0f", param_num(o, "limit", 0));
	else
		lim[0] = 0;
	snprintf(buf, size, "%s[%.0f] %s %s fds: %.0f%s, %+.1f/s%s%s", param_str(o, "comm") ?: "?",
		 param_num(o, "pid", 0), state, param_str(o, "kind") ?: "", param_num(o, "fds", 0),
		 lim, param_num(o, "rate", 0), param_has_num(o, "eta_sec") ? ", EMFILE in ~" : "",
		 param_has_num(o, "eta_sec")
		     ? format_duration(param_num(o, "eta_sec", -1), eta, sizeof(eta))
		     : "");
}

static int check_unknown(const struct failure *f)
{
	if (arg.json) {
		_cleanup_cjson_ cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "status", "UNKNOWN");
		cJSON_AddNumberToObject(o, "code", CHECK_UNKNOWN);
		cJSON_AddStringToObject(o, "summary", f->msg);
		print_json(o);
	} else {
		printf("FDWATCH UNKNOWN - %s\n", f->msg);
	}
	return CHECK_UNKNOWN;
}

static int cmd_check(void)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply st = {};
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	uint64_t count[FDW_STATE_MAX] = {};
	const cJSON *procs, *worst = NULL;
	char summary[512], perf[512];
	struct failure f;
	cJSON *params;
	int code;

	if (call(FDW_METHOD_GET_STATUS, NULL, &st, &f) < 0)
		return check_unknown(&f);
	params = list_params(false);
	cJSON_DeleteItemFromObject(params, "state");
	cJSON_AddStringToObject(params, "state", "growing");
	if (call(FDW_METHOD_LIST_PROCESSES, params, &r, &f) < 0)
		return check_unknown(&f);
	procs = cJSON_GetObjectItem(r.parameters, "processes");
	for (const cJSON *o = procs ? procs->child : NULL; o; o = o->next) {
		enum fdw_state s;

		if (fdw_state_from_string(param_str(o, "state") ?: "", &s) < 0)
			continue;
		count[s]++;
		if (!worst)
			worst = o; /* the list is in risk order */
	}
	if (count[FDW_STATE_CRITICAL] + count[FDW_STATE_EXHAUSTED] > 0)
		code = CHECK_CRITICAL;
	else if (count[FDW_STATE_LEAKING] > 0)
		code = CHECK_WARNING;
	else
		code = CHECK_OK;

	if (code == CHECK_OK) {
		snprintf(summary, sizeof(summary), "no fd leaks in %.0f processes",
			 param_num(st.parameters, "visible", 0));
	} else {
		uint64_t others = count[FDW_STATE_LEAKING] + count[FDW_STATE_CRITICAL] +
				  count[FDW_STATE_EXHAUSTED] - 1;
		char d[400];

		describe(worst, d, sizeof(d));
		if (others > 0)
			snprintf(summary, sizeof(summary), "%s (and %" PRIu64 " more)", d, others);
		else
			snprintf(summary, sizeof(summary), "%s", d);
	}
	snprintf(perf, sizeof(perf),
		 "procs=%.0f;;;0 growing=%" PRIu64 ";;;0 leaking=%" PRIu64 ";;;0 critical=%" PRIu64
		 ";;;0 exhausted=%" PRIu64 ";;;0 alerts=%.0fc lost=%.0fc",
		 param_num(st.parameters, "visible", 0), count[FDW_STATE_GROWING],
		 count[FDW_STATE_LEAKING], count[FDW_STATE_CRITICAL], count[FDW_STATE_EXHAUSTED],
		 param_num(st.parameters, "alerts_sent", 0),
		 param_num(st.parameters, "ringbuf_dropped", 0) +
		     param_num(st.parameters, "map_full", 0));
	if (arg.json) {
		_cleanup_cjson_ cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "status", check_names[code]);
		cJSON_AddNumberToObject(o, "code", code);
		cJSON_AddStringToObject(o, "summary", summary);
		cJSON_AddStringToObject(o, "perfdata", perf);
		cJSON_AddItemReferenceToObject(o, "processes", (cJSON *)procs);
		print_json(o);
		return code;
	}
	printf("FDWATCH %s - %s | %s\n", check_names[code], summary, perf);
	/* Long output (lines after the first): every process at risk. */
	for (const cJSON *o = procs ? procs->child : NULL; o; o = o->next) {
		char d[400];

		if (streq(param_str(o, "state") ?: "", "growing"))
			continue;
		describe(o, d, sizeof(d));
		printf("%s\n", d);
	}
	return code;
}

/* ---- metrics ---- */

/* Where the exposition goes: stdout, or a buffer (--http, --textfile). */
static FILE *mout;

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void print_label_value(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", mout);
		else if (*s == '"')
			fputs("\\\"", mout);
		else if (*s == '\n')
			fputs("\\n", mout);
		else
			fputc(*s, mout);
	}
}

/* A sample value: integers as such, others with 15 significant digits (no binary noise). */
static void print_value(double v)
{
	if (isnan(v))
		fprintf(mout, " NaN\n");
	else if (isinf(v))
		fprintf(mout, " %cInf\n", v > 0 ? '+' : '-');
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(mout, " %.0f\n", v);
	else
		fprintf(mout, " %.15g\n", v);
}

static void print_family(const char *name, const char *type, const char *help)
{
	fprintf(mout, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void print_label(const char *name, const char *value, bool first)
{
	fprintf(mout, "%s%s=\"", first ? "{" : ",", name);
	print_label_value(value ?: "");
	fputc('"', mout);
}

/* pid, comm, unit, user; container_runtime, container_id, pod_uid when the process has them. */
static void print_proc_labels(const cJSON *o)
{
	static const char *const optional[] = {"container_runtime", "container_id", "pod_uid"};
	char user[32], pid[16];

	snprintf(pid, sizeof(pid), "%.0f", param_num(o, "pid", 0));
	print_label("pid", pid, true);
	print_label("comm", param_str(o, "comm"), false);
	print_label("unit", param_str(o, "unit"), false);
	print_label("user", user_name((uid_t)param_num(o, "uid", 0), user, sizeof(user)), false);
	for (size_t i = 0; i < ELEMENTSOF(optional); i++)
		if (param_str(o, optional[i]))
			print_label(optional[i], param_str(o, optional[i]), false);
	fputc('}', mout);
}

static void print_down(void)
{
	print_family("fdwatch_up", "gauge", "Whether fdwatchd answered.");
	fprintf(mout, "fdwatch_up 0\n");
}

/*
 * How many (filtered) processes are at state or worse: one ListProcesses that returns a
 * single process and the number that matched, so the cost does not grow with the machine.
 */
static int count_at_least(enum fdw_state state, uint64_t *ret, struct failure *f)
{
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	cJSON *params = list_params(false);

	cJSON_DeleteItemFromObject(params, "state");
	cJSON_AddStringToObject(params, "state", fdw_state_to_string(state));
	json_add_u64(params, "limit", 1);
	if (call(FDW_METHOD_LIST_PROCESSES, params, &r, f) < 0)
		return -1;
	*ret = (uint64_t)param_num(r.parameters, "matched", 0);
	return 0;
}

/*
 * The exposition: daemon counters, processes by state, per-unit aggregates, and
 * per-process series for the processes at --state or worse (default growing), at most
 * --limit of them in risk order.
 * Returns an exit code; when fdwatchd does not answer, fdwatch_up 0 is written.
 */
static int metrics_render(void)
{
	static const struct {
		const char *field, *name, *type, *help;
	} daemon_metrics[] = {
	    {"uptime_sec", "fdwatch_uptime_seconds", "gauge", "Seconds since fdwatchd started."},
	    {"processes", "fdwatch_processes_tracked", "gauge", "Processes fdwatchd tracks."},
	    {"ticks", "fdwatch_ticks_total", "counter", "Counter reads (ticks) done."},
	    {"ringbuf_dropped", "fdwatch_ringbuf_dropped_total", "counter",
	     "Ring buffer records lost because the buffer was full."},
	    {"map_full", "fdwatch_map_full_total", "counter",
	     "Processes the probe could not count because its map was full."},
	    {"reconciliations", "fdwatch_reconciliations_total", "counter",
	     "Reconciliations of open-fd counts with /proc."},
	    {"count_passes", "fdwatch_count_passes_total", "counter",
	     "Passes over every process's open-fd count in the kernel."},
	    {"count_reads", "fdwatch_count_reads_total", "counter",
	     "Reads of one process's open-fd count from /proc."},
	    {"unseen_opens", "fdwatch_unseen_opens_total", "counter",
	     "fds reconciliation found that the probe did not see opened."},
	    {"unseen_closes", "fdwatch_unseen_closes_total", "counter",
	     "fds reconciliation found that the probe did not see closed."},
	    {"alerts_sent", "fdwatch_alerts_sent_total", "counter", "Alerts sent."},
	    {"alerts_suppressed", "fdwatch_alerts_suppressed_total", "counter",
	     "Alerts suppressed by the per-process rate limit."},
	    {"clients", "fdwatch_api_clients", "gauge", "Clients connected to the API socket."},
	};
	static const struct {
		const char *field, *name, *help;
	} proc_metrics[] = {
	    {"fds", "fdwatch_process_open_fds", "Open file descriptors of the process."},
	    {"limit", "fdwatch_process_fd_limit",
	     "Soft RLIMIT_NOFILE of the process (absent when unlimited)."},
	    {"rate", "fdwatch_process_fd_rate_per_second", "Net fds opened per second."},
	    {"eta_sec", "fdwatch_process_eta_seconds",
	     "Seconds until the soft limit at the current rate (absent when not growing)."},
	};
	static const struct {
		const char *field, *name, *help;
	} unit_metrics[] = {
	    {"processes", "fdwatch_unit_processes",
	     "Processes of the systemd unit (unit=\"\": outside units)."},
	    {"fds", "fdwatch_unit_open_fds", "Open file descriptors of all processes of the unit."},
	    {"leaking", "fdwatch_unit_processes_leaking",
	     "Processes of the unit that are leaking or worse."},
	};
	_cleanup_(varlink_reply_donep) struct varlink_reply st = {};
	_cleanup_(varlink_reply_donep) struct varlink_reply r = {};
	_cleanup_(varlink_reply_donep) struct varlink_reply u = {};
	uint64_t at_least[FDW_STATE_MAX + 1] = {};
	enum fdw_state min_state;
	const cJSON *procs, *units;
	struct failure f;
	cJSON *params;

	if (call(FDW_METHOD_GET_STATUS, NULL, &st, &f) < 0) {
		if (!arg.json)
			print_down();
		return report(&f);
	}
	for (int s = 0; s < FDW_STATE_MAX; s++)
		if (count_at_least(s, &at_least[s], &f) < 0) {
			if (!arg.json)
				print_down();
			return report(&f);
		}
	if (fdw_state_from_string(arg.state ?: "growing", &min_state) < 0)
		min_state = FDW_STATE_GROWING;
	params = list_params(true);
	cJSON_DeleteItemFromObject(params, "state");
	cJSON_AddStringToObject(params, "state", fdw_state_to_string(min_state));
	if (call(FDW_METHOD_LIST_PROCESSES, params, &r, &f) < 0) {
		if (!arg.json)
			print_down();
		return report(&f);
	}
	procs = cJSON_GetObjectItem(r.parameters, "processes");
	if (arg.min_use > 0) {
		_cleanup_(varlink_reply_donep) struct varlink_reply m = {};
		cJSON *more;

		/* Either at --state or using --min-use of the limit: the union, by pid. */
		params = list_params(true);
		cJSON_DeleteItemFromObject(params, "state");
		cJSON_AddNumberToObject(params, "min_use_percent", arg.min_use);
		if (call(FDW_METHOD_LIST_PROCESSES, params, &m, &f) < 0) {
			if (!arg.json)
				print_down();
			return report(&f);
		}
		more = cJSON_GetObjectItem(m.parameters, "processes");
		while (more && more->child && cJSON_IsArray(procs)) {
			cJSON *o = cJSON_DetachItemViaPointer(more, more->child);
			bool dup = false;

			for (const cJSON *x = procs->child; x && !dup; x = x->next)
				dup = param_num(x, "pid", -1) == param_num(o, "pid", -2);
			if (dup ||
			    (arg.has_limit && (uint64_t)cJSON_GetArraySize(procs) >= arg.limit))
				cJSON_Delete(o);
			else
				cJSON_AddItemToArray((cJSON *)procs, o);
		}
	}
	/* Per-unit aggregates of every (filtered) process: as many series as units. */
	params = list_params(false);
	cJSON_DeleteItemFromObject(params, "state");
	if (call(FDW_METHOD_LIST_UNITS, params, &u, &f) < 0) {
		if (!arg.json)
			print_down();
		return report(&f);
	}
	units = cJSON_GetObjectItem(u.parameters, "units");
	if (arg.json) {
		_cleanup_cjson_ cJSON *o = cJSON_CreateObject();

		cJSON_AddItemReferenceToObject(o, "status", (cJSON *)st.parameters);
		cJSON_AddItemReferenceToObject(o, "processes", (cJSON *)procs);
		cJSON_AddItemReferenceToObject(o, "units", (cJSON *)units);
		return print_json(o);
	}
	print_family("fdwatch_up", "gauge", "Whether fdwatchd answered.");
	fprintf(mout, "fdwatch_up 1\n");
	print_family("fdwatch_build_info", "gauge", "fdwatchd version and probe mode.");
	fprintf(mout, "fdwatch_build_info");
	print_label("version", param_str(st.parameters, "version"), true);
	print_label("probe_mode", param_str(st.parameters, "probe_mode"), false);
	fprintf(mout, "} 1\n");
	for (size_t i = 0; i < ELEMENTSOF(daemon_metrics); i++) {
		print_family(daemon_metrics[i].name, daemon_metrics[i].type,
			     daemon_metrics[i].help);
		fprintf(mout, "%s", daemon_metrics[i].name);
		print_value(param_num(st.parameters, daemon_metrics[i].field, 0));
	}
	print_family("fdwatch_processes", "gauge",
		     "Processes visible to the caller (after --uid/--unit/--comm) by state.");
	for (int s = 0; s < FDW_STATE_MAX; s++)
		fprintf(mout, "fdwatch_processes{state=\"%s\"} %" PRIu64 "\n",
			fdw_state_to_string(s),
			at_least[s] >= at_least[s + 1] ? at_least[s] - at_least[s + 1] : 0);
	for (size_t i = 0; i < ELEMENTSOF(unit_metrics); i++) {
		print_family(unit_metrics[i].name, "gauge", unit_metrics[i].help);
		for (const cJSON *o = units ? units->child : NULL; o; o = o->next) {
			fprintf(mout, "%s", unit_metrics[i].name);
			print_label("unit", param_str(o, "unit"), true);
			fputc('}', mout);
			print_value(param_num(o, unit_metrics[i].field, 0));
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(proc_metrics); i++) {
		print_family(proc_metrics[i].name, "gauge", proc_metrics[i].help);
		for (const cJSON *o = procs ? procs->child : NULL; o; o = o->next) {
			if (!param_has_num(o, proc_metrics[i].field))
				continue;
			fprintf(mout, "%s", proc_metrics[i].name);
			print_proc_labels(o);
			print_value(param_num(o, proc_metrics[i].field, 0));
		}
	}
	print_family(
	    "fdwatch_process_state", "gauge",
	    "Verdict on the process: 0 ok, 1 growing, 2 leaking, 3 critical, 4 exhausted.");
	for (const cJSON *o = procs ? procs->child : NULL; o; o = o->next) {
		enum fdw_state s;

		if (fdw_state_from_string(param_str(o, "state") ?: "", &s) < 0)
			continue;
		fprintf(mout, "fdwatch_process_state");
		print_proc_labels(o);
		fprintf(mout, " %d\n", (int)s);
	}
	return EXIT_OK;
}

/*
 * --http: one HTTP/1.x exchange on stdin/stdout (an inetd-style socket from
 * fdwatch-metrics.socket). The request head is read within HTTP_TIMEOUT_MS and
 * HTTP_HEAD_MAX bytes; GET or HEAD /metrics is answered with the exposition,
 * other paths with 404, other methods with 405; a malformed head with 400, one
 * too large with 431, one too slow with 408.
 */
/* Prometheus 2.42 sends a 288-byte head (measured: request line, Host, User-Agent, Accept,
 * Accept-Encoding, X-Prometheus-Scrape-Timeout-Seconds); 8 KiB is what most servers allow. */
#define HTTP_HEAD_MAX	8192
#define HTTP_TIMEOUT_MS 5000

static int http_reply(int code, const char *reason, const char *extra_headers, const char *body,
		      size_t len, bool with_body)
{
	printf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
	       "close\r\n%s\r\n",
	       code, reason,
	       code == 200 ? "text/plain; version=0.0.4; charset=utf-8"
			   : "text/plain; charset=utf-8",
	       len, extra_headers ?: "");
	if (with_body)
		fwrite(body, 1, len, stdout);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_UNAVAILABLE;
}

static int http_error(int code, const char *reason, const char *extra_headers, bool with_body)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);

	return http_reply(code, reason, extra_headers, body, (size_t)n, with_body);
}

/* Read the request head (up to the empty line) into buf. 0, -EMSGSIZE, -ETIMEDOUT, -EPIPE. */
static int http_read_head(char *buf, size_t size, size_t *ret_len)
{
	struct timespec t0, t;
	size_t len = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = HTTP_TIMEOUT_MS -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (len + 1 >= size)
			return -EMSGSIZE;
		n = read(STDIN_FILENO, buf + len, size - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			return -EPIPE;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) {
			*ret_len = len;
			return 0;
		}
	}
}

/*
 * After a reply to a request not read to its end (431), closing at once would
 * reset the connection and the peer might lose the reply: half-close and read
 * what it still sends, for at most HTTP_LINGER_MS.
 */
#define HTTP_LINGER_MS 1000

static void http_linger(void)
{
	char buf[4096];

	if (shutdown(STDOUT_FILENO, SHUT_WR) < 0)
		return; /* not a socket */
	for (int waited = 0; waited < HTTP_LINGER_MS; waited += 100) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};

		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			return;
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) &&
		    read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
			return;
	}
}

static int metrics_http(void)
{
	_cleanup_free_ char *body = NULL;
	char head[HTTP_HEAD_MAX + 1], method[16], target[256], version[16];
	size_t len = 0, body_len = 0;
	bool is_head;
	char *q;
	int r;

	r = http_read_head(head, sizeof(head), &len);
	if (r == -ETIMEDOUT)
		return http_error(408, "Request Timeout", NULL, true);
	if (r == -EMSGSIZE) {
		r = http_error(431, "Request Header Fields Too Large", NULL, true);
		http_linger();
		return r;
	}
	if (r < 0)
		return EXIT_UNAVAILABLE; /* the peer went away */
	if (sscanf(head, "%15s %255s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0)
		return http_error(400, "Bad Request", NULL, true);
	is_head = streq(method, "HEAD");
	q = strchr(target, '?');
	if (q)
		*q = 0;
	if (!streq(target, "/metrics"))
		return http_error(404, "Not Found", NULL, !is_head);
	if (!streq(method, "GET") && !is_head)
		return http_error(405, "Method Not Allowed", "Allow: GET, HEAD\r\n", true);
	mout = open_memstream(&body, &body_len);
	if (!mout)
		return http_error(500, "Internal Server Error", NULL, !is_head);
	r = metrics_render();
	if (fclose(mout) != 0)
		return http_error(500, "Internal Server Error", NULL, !is_head);
	mout = NULL;
	/* fdwatchd down is still a scrape: fdwatch_up 0 says so (the exit code says why). */
	http_reply(200, "OK", NULL, body, body_len, !is_head);
	return r;
}

/* --textfile PATH: the exposition replaces PATH atomically (a temporary file, then rename). */
static int metrics_textfile(const char *path)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r, w;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return EXIT_SOFTWARE;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "fdwatchctl: cannot create %s: %m\n", tmp);
		return EXIT_CANTCREAT;
	}
	/* node_exporter runs as another user: the file is world-readable as a .prom must be. */
	(void)fchmod(fd, 0644);
	mout = fdopen(fd, "w");
	if (!mout) {
		unlink(tmp);
		return EXIT_SOFTWARE;
	}
	fd = -EBADF;
	r = metrics_render();
	w = fflush(mout) == 0 && fsync(fileno(mout)) == 0 ? 0 : -errno;
	if (fclose(mout) != 0 && w == 0)
		w = -errno;
	mout = NULL;
	if (w == 0 && rename(tmp, path) < 0)
		w = -errno;
	if (w < 0) {
		unlink(tmp);
		fprintf(stderr, "fdwatchctl: cannot write %s: %s\n", path, strerror(-w));
		return EXIT_CANTCREAT;
	}
	return r;
}

static int cmd_metrics(void)
{
	int r;

	if (arg.http)
		return metrics_http();
	if (arg.textfile)
		return metrics_textfile(arg.textfile);
	mout = stdout;
	r = metrics_render();
	fflush(stdout);
	return r;
}

/* ---- main ---- */

static void help(void)
{
	printf(
	    "Usage: fdwatchctl [OPTIONS] COMMAND [ARGS]\n"
	    "Ask fdwatchd which processes are leaking file descriptors.\n\n"
	    "Commands:\n"
	    "  status                 the daemon: version, uptime, probe, counters\n"
	    "  top                    processes by risk (state, then ETA, then fds)\n"
	    "  show PID               one process in full, with its recent growth\n"
	    "  trace PID              arm the syscall probe for PID (--for DURATION, default\n"
	    "                         1min): kinds, cadence and failing syscalls of a\n"
	    "                         process nothing made a suspect yet (root/admins)\n"
	    "  alerts                 alert history (--since SEQ: only newer ones)\n"
	    "  watch                  print alerts as they happen (Ctrl-C stops)\n"
	    "  check                  monitoring plugin: exit 0 OK, 1 WARNING (a process is\n"
	    "                         leaking), 2 CRITICAL (critical or exhausted), 3 UNKNOWN\n"
	    "                         (fdwatchd unreachable); one line with perfdata\n"
	    "  metrics                Prometheus text exposition format: daemon counters,\n"
	    "                         processes by state, per-unit aggregates, and\n"
	    "                         per-process series for those at --state or worse\n"
	    "                         (default growing)\n\n"
	    "Options:\n"
	    "  -s, --socket PATH      API socket (default $FDWATCH_SOCKET, else " FDW_SOCKET_PATH
	    ")\n"
	    "  -j, --json             JSON output for scripts (watch, top --watch: one per line)\n"
	    "  -w, --watch            top: refresh until Ctrl-C\n"
	    "  -d, --interval SEC     top --watch: seconds between refreshes (default 2)\n"
	    "      --iterations N     top --watch: stop after N refreshes\n"
	    "  -n, --limit N          top: at most N processes (default 20); metrics: series\n"
	    "                         of at most N processes; alerts: the last N;\n"
	    "                         watch: exit after N alerts\n"
	    "  -u, --uid UID|USER     top/check/metrics: only this user's processes\n"
	    "      --unit GLOB        ... only processes of matching systemd units\n"
	    "      --comm GLOB        ... only processes whose name matches\n"
	    "      --runtime NAME     ... only processes in containers of docker, podman,\n"
	    "                         containerd, cri-o (or cri: a Kubernetes runtime\n"
	    "                         the cgroup does not name)\n"
	    "      --container ID     ... only processes of the container whose id starts\n"
	    "                         with ID\n"
	    "      --pod UID          ... only processes of the Kubernetes pod whose UID\n"
	    "                         starts with UID\n"
	    "      --state STATE      ... only this state or worse: ok, growing, leaking,\n"
	    "                         critical, exhausted\n"
	    "      --for DURATION     trace: how long (1s to 1h, e.g. 30s, 10min)\n"
	    "      --since SEQ        alerts/watch: only alerts after sequence number SEQ\n"
	    "                         (watch: replays them first)\n"
	    "      --min-use PERCENT  metrics: series also for processes using at least\n"
	    "                         PERCENT of their soft limit, whatever their state\n"
	    "      --http             metrics: answer one HTTP request on stdin/stdout\n"
	    "                         (GET /metrics; for fdwatch-metrics.socket)\n"
	    "      --textfile PATH    metrics: replace PATH atomically (node_exporter's\n"
	    "                         textfile collector)\n"
	    "  -h, --help             this help\n"
	    "      --version          print the version\n\n"
	    "Colour only on a terminal, never when NO_COLOR is set. Users other than root\n"
	    "and members of fdwatchd's AdminGroup see only their own processes.\n\n"
	    "Exit codes: 0 success; 64 bad usage; 65 parameter refused by fdwatchd;\n"
	    "66 no such process; 69 fdwatchd not running; 70 internal error;\n"
	    "73 metrics --textfile cannot write the file;\n"
	    "75 fdwatchd busy or timed out; 76 protocol error; 77 permission denied.\n"
	    "`check` alone exits 0-3 as above.\n");
}

static int usage_error(bool is_check, const char *fmt, ...) _printf_(2, 3);
static int usage_error(bool is_check, const char *fmt, ...)
{
	va_list ap;

	fputs("fdwatchctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'fdwatchctl --help'.\n", stderr);
	return is_check ? CHECK_UNKNOWN : EXIT_USAGE;
}

int main(int argc, char *argv[])
{
	enum {
		ARG_VERSION = 0x100,
		ARG_UNIT,
		ARG_COMM,
		ARG_STATE,
		ARG_SINCE,
		ARG_ITERATIONS,
		ARG_FOR,
		ARG_HTTP,
		ARG_TEXTFILE,
		ARG_RUNTIME,
		ARG_CONTAINER,
		ARG_POD,
		ARG_MIN_USE,
	};
	static const struct option options[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"watch", no_argument, NULL, 'w'},
	    {"interval", required_argument, NULL, 'd'},
	    {"iterations", required_argument, NULL, ARG_ITERATIONS},
	    {"limit", required_argument, NULL, 'n'},
	    {"uid", required_argument, NULL, 'u'},
	    {"unit", required_argument, NULL, ARG_UNIT},
	    {"comm", required_argument, NULL, ARG_COMM},
	    {"state", required_argument, NULL, ARG_STATE},
	    {"since", required_argument, NULL, ARG_SINCE},
	    {"for", required_argument, NULL, ARG_FOR},
	    {"runtime", required_argument, NULL, ARG_RUNTIME},
	    {"container", required_argument, NULL, ARG_CONTAINER},
	    {"pod", required_argument, NULL, ARG_POD},
	    {"min-use", required_argument, NULL, ARG_MIN_USE},
	    {"http", no_argument, NULL, ARG_HTTP},
	    {"textfile", required_argument, NULL, ARG_TEXTFILE},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, ARG_VERSION},
	    {}};
	struct sigaction sa = {.sa_handler = on_signal};
	const char *cmd = NULL, *no_color = getenv("NO_COLOR");
	bool is_check = false;
	int c, r;

	setlocale(LC_ALL, "");
	/* `check` exits 3 on usage errors too: find it before parsing options. */
	for (int i = 1; i < argc; i++)
		if (streq(argv[i], "check"))
			is_check = true;
	arg.socket = getenv("FDWATCH_SOCKET");
	if (!arg.socket || !*arg.socket)
		arg.socket = FDW_SOCKET_PATH;

	while ((c = getopt_long(argc, argv, "s:jwd:n:u:h", options, NULL)) >= 0) {
		switch (c) {
		case 's':
			arg.socket = optarg;
			break;
		case 'j':
			arg.json = true;
			break;
		case 'w':
			arg.watch = true;
			break;
		case 'd':
			if (parse_double(optarg, &arg.interval) < 0 || arg.interval < 0.1 ||
			    arg.interval > 86400)
				return usage_error(is_check,
						   "--interval: \"%s\" is not 0.1 to 86400 "
						   "seconds",
						   optarg);
			break;
		case ARG_FOR:
			if (parse_duration_ns(optarg, &arg.trace_ns) < 0 ||
			    arg.trace_ns < NSEC_PER_SEC || arg.trace_ns > 3600 * NSEC_PER_SEC)
				return usage_error(is_check, "--for: \"%s\" is not 1s to 1h",
						   optarg);
			break;
		case ARG_ITERATIONS:
			if (parse_u64(optarg, &arg.iterations) < 0)
				return usage_error(is_check, "--iterations: bad number \"%s\"",
						   optarg);
			break;
		case 'n':
			if (parse_u64(optarg, &arg.limit) < 0 || arg.limit == 0 ||
			    arg.limit > UINT32_MAX)
				return usage_error(is_check, "--limit: bad number \"%s\"", optarg);
			arg.has_limit = true;
			break;
		case 'u':
			if (parse_u64(optarg, &arg.uid) < 0) {
				struct passwd *pw = getpwnam(optarg);

				if (!pw)
					return usage_error(is_check, "--uid: no such user \"%s\"",
							   optarg);
				arg.uid = pw->pw_uid;
			}
			if (arg.uid >= UINT32_MAX)
				return usage_error(is_check, "--uid: bad uid \"%s\"", optarg);
			arg.has_uid = true;
			break;
		case ARG_UNIT:
			arg.unit = optarg;
			break;
		case ARG_COMM:
			arg.comm = optarg;
			break;
		case ARG_STATE: {
			enum fdw_state s;

			if (fdw_state_from_string(optarg, &s) < 0)
				return usage_error(is_check,
						   "--state: \"%s\" is not one of ok, growing, "
						   "leaking, critical, exhausted",
						   optarg);
			arg.state = optarg;
			break;
		}
		case ARG_SINCE:
			if (parse_u64(optarg, &arg.since) < 0)
				return usage_error(is_check, "--since: bad sequence number \"%s\"",
						   optarg);
			arg.has_since = true;
			break;
		case ARG_RUNTIME:
			arg.runtime = optarg;
			break;
		case ARG_CONTAINER:
			arg.container = optarg;
			break;
		case ARG_POD:
			arg.pod = optarg;
			break;
		case ARG_MIN_USE:
			if (parse_double(optarg, &arg.min_use) < 0 || !(arg.min_use > 0) ||
			    arg.min_use > 100)
				return usage_error(is_check,
						   "--min-use: \"%s\" is not a percentage", optarg);
			break;
		case ARG_HTTP:
			arg.http = true;
			break;
		case ARG_TEXTFILE:
			arg.textfile = optarg;
			break;
		case 'h':
			help();
			return EXIT_OK;
		case ARG_VERSION:
			printf("fdwatchctl %s\n", FDWATCH_VERSION);
			return EXIT_OK;
		default:
			return is_check ? CHECK_UNKNOWN : EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error(false, "no command given");
	cmd = argv[optind++];

	arg.tty = isatty(STDOUT_FILENO);
	arg.color = arg.tty && !(no_color && *no_color) && !streq_ptr(getenv("TERM"), "dumb");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* SIGPIPE stays default: `fdwatchctl watch | head -1` must end; the socket uses
	 * MSG_NOSIGNAL. */

	if (streq(cmd, "show")) {
		if (optind != argc - 1)
			return usage_error(false, "show needs one PID");
		r = cmd_show(argv[optind]);
	} else if (streq(cmd, "trace")) {
		if (optind != argc - 1)
			return usage_error(false, "trace needs one PID");
		r = cmd_trace(argv[optind]);
	} else if (optind != argc) {
		return usage_error(is_check, "%s takes no arguments (got \"%s\")", cmd,
				   argv[optind]);
	} else if (streq(cmd, "status")) {
		r = cmd_status();
	} else if (streq(cmd, "top")) {
		r = cmd_top();
	} else if (streq(cmd, "alerts")) {
		r = cmd_alerts();
	} else if (streq(cmd, "watch")) {
		r = cmd_watch();
	} else if (streq(cmd, "check")) {
		r = cmd_check();
	} else if (streq(cmd, "metrics")) {
		r = cmd_metrics();
	} else {
		return usage_error(false, "unknown command \"%s\"", cmd);
	}
	client_free(client);
	return r;
}
