// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test-config.c - fdwatch.conf: every key, durations, syntax, drop-in order, errors with file:line
 * (all of them), atomic load, rules and matching, restart detection, dump round trip, and the
 * shipped config/fdwatch.conf against the built-in defaults.
 *
 * Each test works in its own temporary directory: <dir>/fdwatch.conf and
 * <dir>/fdwatch.conf.d/. Expected error texts write "@" for the main file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"
#include "util.h"

/* Every key config_dump() must print, per section, by its documented name. */
static const struct {
	const char *section, *key;
} all_keys[] = {
    {"Probe", "Mode"},
    {"Probe", "Backend"},
    {"Probe", "ArmCooldownSec"},
    {"Probe", "MaxArmedPercent"},
    {"Probe", "ArmedShareWindowSec"},
    {"Probe", "PollSec"},
    {"Probe", "MaxProcesses"},
    {"Probe", "RingBufferKiB"},
    {"Probe", "MaxTrackedFds"}, /* creation records of suspects' fds */
    {"Probe", "MaxStacks"},
    {"Probe", "TickSec"},
    {"Probe", "RescanSec"},
    {"Probe", "ProcRoot"},
    {"Detect", "MinGrowth"},
    {"Detect", "LeakMinSec"},
    {"Detect", "CriticalEtaSec"},
    {"Detect", "CriticalPercent"},
    {"Detect", "NearLimitFds"},
    {"Detect", "CooldownSec"},
    {"Detect", "WindowSec"},
    {"Alert", "MinInterval"},
    {"Alert", "Burst"},
    {"Alert", "HistorySize"},
    {"Alert", "Journal"},
    {"Alert", "JournalQueue"},
    {"Alert", "LogLevel"},
    {"Alert", "HooksDirectory"},
    {"Alert", "HookTimeoutSec"},
    {"Alert", "MaxConcurrentHooks"},
    {"Alert", "HookQueueSize"},
    {"Api", "SocketPath"},
    {"Api", "SocketMode"},
    {"Api", "SocketGroup"},
    {"Api", "AdminGroup"},
    {"Api", "MaxRequestBytes"},
    {"Api", "MaxClients"},
    {"Api", "MaxClientsPerUid"},
    {"Api", "RequestTimeoutSec"},
    {"Api", "IdleTimeoutSec"},
    {"Api", "MaxOutputBytes"},
};

struct fixture {
	char dir[64];
	char path[128];	   /* dir/fdwatch.conf */
	char dropins[160]; /* dir/fdwatch.conf.d */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-config.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/fdwatch.conf", fx->dir);
	snprintf(fx->dropins, sizeof(fx->dropins), "%s.d", fx->path);
	*state = fx;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void write_dropin(struct fixture *fx, const char *name, const char *text)
{
	char path[PATH_MAX * 2];

	mkdir(fx->dropins, 0755);
	snprintf(path, sizeof(path), "%s/%s", fx->dropins, name);
	write_file(path, text);
}

/* config_load() with its error output captured in *ret_err (malloc'd, "" when none). */
static int load(const char *path, struct fdw_config *c, char **ret_err)
{
	char *text = NULL;
	size_t size = 0;
	FILE *err = open_memstream(&text, &size);
	int r;

	assert_non_null(err);
	r = config_load(path, NULL, 0, err, c);
	assert_int_equal(fclose(err), 0);
	*ret_err = text;
	return r;
}

static int load_text(struct fixture *fx, const char *text, struct fdw_config *c, char **ret_err)
{
	write_file(fx->path, text);
	return load(fx->path, c, ret_err);
}

static char *dump(const struct fdw_config *c)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	config_dump(c, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* The value of [section] key in a dump, malloc'd; NULL when the key is not there. */
static char *dump_value(const char *text, const char *section, const char *key)
{
	char want_section[128], cur[128] = "";
	size_t klen = strlen(key);

	snprintf(want_section, sizeof(want_section), "[%s]", section);
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (line[0] == '[')
			snprintf(cur, sizeof(cur), "%.*s", (int)len, line);
		else if (streq(cur, want_section) && len > klen && strncmp(line, key, klen) == 0 &&
			 line[klen] == '=')
			return strndup(line + klen + 1, len - klen - 1);
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* tmpl with each "@:" replaced by "path:". */
static char *expand(const char *tmpl, const char *path)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	for (const char *p = tmpl; *p; p++)
		if (p[0] == '@' && p[1] == ':')
			fputs(path, f);
		else
			fputc(*p, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static char *default_value(const char *section, const char *key)
{
	_cleanup_(config_done) struct fdw_config d = {};
	_cleanup_free_ char *text = NULL;

	assert_int_equal(config_init(&d), 0);
	text = dump(&d);
	return dump_value(text, section, key);
}

/* --- defaults --- */

static void test_defaults(void **state)
{
	_cleanup_(config_done) struct fdw_config c = {};
	struct detect_config dc;
	struct alerts_config ac;

	/* The values themselves are pinned where they are documented: test_readme_defaults()
	 * and test_shipped_conf_is_defaults(). Here: whose defaults they are. */
	assert_int_equal(config_init(&c), 0);
	detect_config_init(&dc);
	assert_memory_equal(&c.detect, &dc, sizeof(dc));
	alerts_config_init(&ac);
	assert_memory_equal(&c.alerts, &ac, sizeof(ac));
	assert_string_equal(c.socket_path, FDW_SOCKET_PATH);
	assert_null(c.socket_group);
	assert_null(c.admin_group);
	assert_int_equal(c.n_rules, 0);

	config_done(&c);
	assert_null(c.proc_root);
	assert_null(c.socket_path);
	config_done(&c); /* twice is fine */
	config_done(NULL);
}

static void test_missing_main_file(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {}, d = {};
	_cleanup_free_ char *err = NULL, *got = NULL, *want = NULL;

	/* Neither fdwatch.conf nor fdwatch.conf.d exist. */
	assert_int_equal(load(fx->path, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(config_init(&d), 0);
	got = dump(&c);
	want = dump(&d);
	assert_string_equal(got, want);
}

static void test_empty_file(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {}, d = {};
	_cleanup_free_ char *err = NULL, *got = NULL, *want = NULL;

	assert_int_equal(load_text(fx, "# nothing but comments\n\n[Probe]\n", &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(config_init(&d), 0);
	got = dump(&c);
	want = dump(&d);
	assert_string_equal(got, want);
}

/* --- every key: valid values --- */

static const struct valid_case {
	const char *section, *key, *value;
	const char *want; /* as config_dump() prints it */
	const char *pre;  /* a line before, when value is the default */
} valid_cases[] = {
    {"Probe", "Mode", "always", "always"},
    {"Probe", "Mode", "poll", "poll"},
    {"Probe", "Mode", "auto", "auto", "Mode=poll"},
    {"Probe", "Backend", "raw", "raw"},
    {"Probe", "Backend", "raw", "raw", "Mode=tracepoint"},
    {"Probe", "Backend", "tracepoint", "tracepoint", "Mode=raw"},
    {"Probe", "ArmCooldownSec", "0", "0"},
    {"Probe", "ArmCooldownSec", "2min", "2min"},
    {"Probe", "MaxArmedPercent", "25%", "25"},
    {"Probe", "MaxArmedPercent", "0", "0"},
    {"Probe", "ArmedShareWindowSec", "10s", "10s"},
    {"Probe", "ArmedShareWindowSec", "2h", "2h"},
    {"Probe", "PollSec", "100ms", "100ms"},
    {"Probe", "PollSec", "1h", "1h"},
    {"Probe", "MaxProcesses", "64", "64"},
    {"Probe", "MaxProcesses", "4194304", "4194304"},
    {"Probe", "MaxTrackedFds", "1024", "1024"},
    {"Probe", "MaxStacks", "1048576", "1048576"},
    {"Probe", "RingBufferKiB", "1024", "1024"},
    {"Probe", "RingBufferKiB", "64", "64"},
    {"Probe", "TickSec", "500ms", "500ms"},
    {"Probe", "TickSec", "100ms", "100ms"},
    {"Probe", "TickSec", "60s", "1min"},
    {"Probe", "TickSec", "10s", "10s"}, /* longer than RescanSec: rescans every tick */
    {"Probe", "TickSec", "1.5", "1500ms"},
    {"Probe", "TickSec", "2", "2s"},
    {"Probe", "RescanSec", "2min", "2min"},
    {"Probe", "RescanSec", "1h", "1h"},
    {"Probe", "ProcRoot", "/host/proc", "/host/proc"},
    {"Detect", "MinGrowth", "1", "1"},
    {"Detect", "MinGrowth", "1073741824", "1073741824"},
    {"Detect", "LeakMinSec", "30", "30s"},
    {"Detect", "LeakMinSec", "2min", "2min"},
    {"Detect", "CriticalEtaSec", "90s", "90s"},
    {"Detect", "CriticalEtaSec", "0", "0"},
    {"Detect", "CriticalEtaSec", "1.5s", "1500ms"},
    {"Detect", "CriticalPercent", "75", "75"},
    {"Detect", "CriticalPercent", "99.5", "99.5"},
    {"Detect", "CriticalPercent", "80%", "80"},
    {"Detect", "CriticalPercent", "0", "0"},
    {"Detect", "CriticalPercent", "100", "100"},
    {"Detect", "NearLimitFds", "0", "0"},
    {"Detect", "NearLimitFds", "100", "100"},
    {"Detect", "CooldownSec", "0", "0"},
    {"Detect", "CooldownSec", "90", "90s"},
    {"Detect", "WindowSec", "1h", "1h"},
    {"Alert", "MinInterval", "0", "0"},
    {"Alert", "MinInterval", "30s", "30s"},
    {"Alert", "MinInterval", "250ms", "250ms"},
    {"Alert", "Burst", "1", "1"},
    {"Alert", "Burst", "10", "10"},
    {"Alert", "HistorySize", "1", "1"},
    {"Alert", "HistorySize", "65536", "65536"},
    {"Alert", "Journal", "no", "no"},
    {"Alert", "Journal", "off", "no"},
    {"Alert", "Journal", "yes", "yes", "Journal=no"},
    {"Alert", "JournalQueue", "1", "1"},
    {"Alert", "JournalQueue", "65536", "65536"},
    {"Alert", "LogLevel", "debug", "debug"},
    {"Alert", "LogLevel", "notice", "notice"},
    {"Alert", "LogLevel", "warning", "warning"},
    {"Alert", "LogLevel", "err", "err"},
    {"Api", "SocketPath", "/tmp/x.sock", "/tmp/x.sock"},
    {"Api", "SocketMode", "0600", "0600"},
    {"Api", "SocketMode", "666", "0666"},
    {"Api", "SocketMode", "0", "0000"},
    {"Api", "SocketGroup", "fdwatch", "fdwatch"},
    {"Api", "SocketGroup", "123", "123"},
    {"Api", "AdminGroup", "adm", "adm"},
    {"Api", "AdminGroup", "_sys.admin-1", "_sys.admin-1"},
    {"Api", "MaxRequestBytes", "512", "512"},
    {"Api", "MaxRequestBytes", "16777216", "16777216"},
    {"Api", "MaxClients", "100", "100"},
    {"Api", "MaxClients", "1", "1"}, /* below MaxClientsPerUid: that one never bites */
    {"Api", "MaxClients", "65536", "65536"},
    {"Api", "MaxClientsPerUid", "1", "1"},
    {"Api", "MaxClientsPerUid", "64", "64"},
    {"Api", "RequestTimeoutSec", "100ms", "100ms"},
    {"Api", "RequestTimeoutSec", "1h", "1h"},
    {"Api", "IdleTimeoutSec", "0", "0"},
    {"Api", "IdleTimeoutSec", "1s", "1s"},
    {"Api", "IdleTimeoutSec", "720h", "720h"},
    {"Api", "MaxOutputBytes", "4096", "4096"},
    {"Api", "MaxOutputBytes", "268435456", "268435456"},
};

static void test_keys_valid(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(valid_cases); i++) {
		const struct valid_case *t = &valid_cases[i];
		_cleanup_(config_done) struct fdw_config c = {};
		_cleanup_free_ char *text = NULL, *err = NULL, *out = NULL, *got = NULL;
		_cleanup_free_ char *def = NULL;

		if (asprintf(&text, "[%s]\n%s%s%s=%s\n", t->section, t->pre ?: "",
			     t->pre ? "\n" : "", t->key, t->value) < 0)
			fail();
		print_message("# [%s] %s=%s\n", t->section, t->key, t->value);
		assert_int_equal(load_text(fx, text, &c, &err), 0);
		assert_string_equal(err, "");
		out = dump(&c);
		got = dump_value(out, t->section, t->key);
		assert_non_null(got);
		assert_string_equal(got, t->want);
		/* Otherwise a key that is never parsed would pass. */
		def = default_value(t->section, t->key);
		if (!t->pre)
			assert_string_not_equal(def, t->want);
	}
}

/* The dump above could hide a wrong field: check the fields themselves for a few. */
static void test_keys_fields(void **state)
{
	static const char text[] =
	    "[Probe]\nMode=raw\nMaxProcesses=100\nRingBufferKiB=8\nTickSec=250ms\n"
	    "RescanSec=2min\nProcRoot=/p\n"
	    "[Detect]\nMinGrowth=3\nLeakMinSec=45\nCriticalEtaSec=1.25s\n"
	    "CriticalPercent=12.5\nNearLimitFds=4\nCooldownSec=2min\nWindowSec=1h\n"
	    "[Alert]\nMinInterval=90s\nBurst=7\nHistorySize=99\nJournal=no\nLogLevel=debug\n"
	    "[Api]\nSocketPath=/s\nSocketMode=0640\nSocketGroup=g\nAdminGroup=a\n"
	    "MaxRequestBytes=1000\nMaxClients=9\nMaxClientsPerUid=2\n"
	    "RequestTimeoutSec=3s\nIdleTimeoutSec=0\nMaxOutputBytes=5000\n";
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	assert_int_equal(load_text(fx, text, &c, &err), 0);
	assert_string_equal(err, "");
	/* Mode=raw: the spelling from before Backend= existed sets the backend, not the mode. */
	assert_int_equal(c.probe_backend, PROBE_BACKEND_RAW);
	assert_int_equal(c.probe_mode, PROBE_MODE_AUTO);
	assert_int_equal(c.max_processes, 100);
	assert_int_equal(c.ringbuf_kib, 8);
	assert_int_equal(c.tick_ns, 250000000);
	assert_int_equal(c.rescan_ns, 120 * NSEC_PER_SEC);
	assert_string_equal(c.proc_root, "/p");
	assert_int_equal(c.detect.min_growth, 3);
	assert_int_equal(c.detect.leak_min_sec, 45);
	assert_true(c.detect.critical_eta_sec == 1.25);
	assert_true(c.detect.critical_percent == 12.5);
	assert_int_equal(c.detect.near_limit_fds, 4);
	assert_int_equal(c.detect.cooldown_sec, 120);
	assert_int_equal(c.detect.window_sec, 3600);
	assert_int_equal(c.alerts.min_interval_ns, 90 * NSEC_PER_SEC);
	assert_int_equal(c.alerts.burst, 7);
	assert_int_equal(c.alerts.history_size, 99);
	assert_false(c.alert_journal);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_string_equal(c.socket_path, "/s");
	assert_int_equal(c.socket_mode, 0640);
	assert_string_equal(c.socket_group, "g");
	assert_string_equal(c.admin_group, "a");
	assert_int_equal(c.max_request_bytes, 1000);
	assert_int_equal(c.max_clients, 9);
	assert_int_equal(c.max_clients_per_uid, 2);
	assert_int_equal(c.request_timeout_ns, 3 * NSEC_PER_SEC);
	assert_int_equal(c.idle_timeout_ns, 0);
	assert_int_equal(c.max_output_bytes, 5000);
}

/* --- every key: invalid values --- */

static const struct invalid_case {
	const char *section, *key, *value;
	const char *reason; /* the whole reason after "file:2: [Section] Key=value: " */
} invalid_cases[] = {
    {"Probe", "Mode", "TRACEPOINT", "must be auto, always or poll"},
    {"Probe", "Mode", "kprobe", "must be auto, always or poll"},
    {"Probe", "Backend", "auto", "must be tracepoint or raw"},
    {"Probe", "MaxArmedPercent", "101", "out of range, must be 0 to 100"},
    {"Probe", "PollSec", "10ms", "out of range, must be 100ms to 1h"},
    {"Probe", "MaxProcesses", "63", "out of range, must be 64 to 4194304"},
    {"Probe", "MaxProcesses", "4194305", "out of range, must be 64 to 4194304"},
    {"Probe", "MaxTrackedFds", "1023", "out of range, must be 1024 to 16777216"},
    {"Probe", "MaxStacks", "1048577", "out of range, must be 64 to 1048576"},
    {"Probe", "MaxProcesses", "-1", "not a number"},
    {"Probe", "MaxProcesses", "12abc", "not a number"},
    {"Probe", "MaxProcesses", "99999999999999999999999", "out of range, must be 64 to 4194304"},
    {"Probe", "RingBufferKiB", "2", "out of range, must be 4 to 262144"},
    {"Probe", "RingBufferKiB", "100", "must be a power of two"},
    {"Probe", "RingBufferKiB", "524288", "out of range, must be 4 to 262144"},
    {"Probe", "TickSec", "50ms", "out of range, must be 100ms to 1min"},
    {"Probe", "TickSec", "61s", "out of range, must be 100ms to 1min"},
    {"Probe", "TickSec", "1 fortnight", "not a duration (like 500ms, 30s, 2min, 1h)"},
    {"Probe", "TickSec", "-1s", "not a duration (like 500ms, 30s, 2min, 1h)"},
    {"Probe", "TickSec", "5x", "not a duration (like 500ms, 30s, 2min, 1h)"},
    {"Probe", "RescanSec", "500ms", "out of range, must be 1s to 1h"},
    {"Probe", "ProcRoot", "proc", "must be an absolute path"},
    {"Detect", "MinGrowth", "0", "out of range, must be 1 to 1073741824"},
    {"Detect", "MinGrowth", "lots", "not a number"},
    {"Detect", "LeakMinSec", "1500ms", "must be whole seconds"},
    {"Detect", "LeakMinSec", "0", "out of range, must be 1s to 24h"},
    {"Detect", "LeakMinSec", "2d", "not a duration (like 500ms, 30s, 2min, 1h)"},
    {"Detect", "CriticalEtaSec", "25h", "out of range, must be 0 to 24h"},
    {"Detect", "CriticalPercent", "101", "out of range, must be 0 to 100"},
    {"Detect", "CriticalPercent", "-1", "out of range, must be 0 to 100"},
    {"Detect", "CriticalPercent", "abc", "not a number"},
    {"Detect", "CriticalPercent", "nan", "not a number"},
    {"Detect", "CriticalPercent", "%", "not a number"},
    {"Detect", "NearLimitFds", "1073741825", "out of range, must be 0 to 1073741824"},
    {"Detect", "CooldownSec", "0.5s", "must be whole seconds"},
    {"Detect", "WindowSec", "0", "out of range, must be 1s to 24h"},
    {"Alert", "MinInterval", "25h", "out of range, must be 0 to 24h"},
    {"Alert", "MinInterval", "soon", "not a duration (like 500ms, 30s, 2min, 1h)"},
    {"Alert", "Burst", "0", "out of range, must be 1 to 1000"},
    {"Alert", "HistorySize", "0", "out of range, must be 1 to 65536"},
    {"Alert", "HistorySize", "65537", "out of range, must be 1 to 65536"},
    {"Alert", "Journal", "maybe", "must be yes or no"},
    {"Alert", "JournalQueue", "0", "out of range, must be 1 to 65536"},
    {"Alert", "JournalQueue", "64k", "not a number"},
    {"Alert", "LogLevel", "verbose",
     "must be one of debug, info, notice, warning, err, crit, alert, emerg"},
    {"Alert", "LogLevel", "INFO",
     "must be one of debug, info, notice, warning, err, crit, alert, emerg"},
    {"Api", "SocketPath", "api.sock", "must be an absolute path"},
    {"Api", "SocketMode", "0668", "must be octal permission bits, 0000 to 0777"},
    {"Api", "SocketMode", "01777", "must be octal permission bits, 0000 to 0777"},
    {"Api", "SocketMode", "rw-rw----", "must be octal permission bits, 0000 to 0777"},
    {"Api", "SocketGroup", "-bad", "not a valid group name or number"},
    {"Api", "SocketGroup", "a b", "not a valid group name or number"},
    {"Api", "AdminGroup", "wheel!", "not a valid group name or number"},
    {"Api", "MaxRequestBytes", "511", "out of range, must be 512 to 16777216"},
    {"Api", "MaxClients", "0", "out of range, must be 1 to 65536"},
    {"Api", "MaxClientsPerUid", "0", "out of range, must be 1 to 65536"},
    {"Api", "RequestTimeoutSec", "0", "out of range, must be 100ms to 1h"},
    {"Api", "IdleTimeoutSec", "500ms", "out of range, must be 0 or 1s to 720h"},
    {"Api", "MaxOutputBytes", "4095", "out of range, must be 4096 to 268435456"},
};

static void test_keys_invalid(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(invalid_cases); i++) {
		const struct invalid_case *t = &invalid_cases[i];
		_cleanup_free_ char *text = NULL, *err = NULL, *want = NULL;
		struct fdw_config c = {.max_clients = 4242};

		if (asprintf(&text, "[%s]\n%s=%s\n", t->section, t->key, t->value) < 0 ||
		    asprintf(&want, "%s:2: [%s] %s=%s: %s\n", fx->path, t->section, t->key,
			     t->value, t->reason) < 0)
			fail();
		print_message("# [%s] %s=%s\n", t->section, t->key, t->value);
		assert_int_equal(load_text(fx, text, &c, &err), -EINVAL);
		assert_string_equal(err, want);
		/* Untouched. */
		assert_int_equal(c.max_clients, 4242);
		assert_null(c.socket_path);
	}
}

/* --- durations --- */

static void test_duration_units(void **state)
{
	static const struct {
		const char *value;
		uint64_t ns;
	} cases[] = {
	    {"500ms", 500000000ULL},
	    {"1s", NSEC_PER_SEC},
	    {"2min", 120 * NSEC_PER_SEC},
	    {"2m", 120 * NSEC_PER_SEC},
	    {"1h", 3600 * NSEC_PER_SEC},
	    {"1.5s", 1500000000ULL},
	    {"90", 90 * NSEC_PER_SEC}, /* a bare number is seconds */
	    {"0", 0},
	    {"250us", 250000ULL},
	    {"7ns", 7},
	    {"1sec", NSEC_PER_SEC},
	    {"0.25", 250000000ULL},
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(config_done) struct fdw_config c = {};
		_cleanup_free_ char *text = NULL, *err = NULL;

		if (asprintf(&text, "[Alert]\nMinInterval=%s\n", cases[i].value) < 0)
			fail();
		print_message("# MinInterval=%s\n", cases[i].value);
		assert_int_equal(load_text(fx, text, &c, &err), 0);
		assert_string_equal(err, "");
		assert_int_equal(c.alerts.min_interval_ns, cases[i].ns);
	}
}

static void test_format_duration(void **state)
{
	static const struct {
		uint64_t ns;
		const char *text;
	} cases[] = {
	    {0, "0"},
	    {7, "7ns"},
	    {1500, "1500ns"},
	    {250000, "250us"},
	    {500000000, "500ms"},
	    {1500000000, "1500ms"},
	    {NSEC_PER_SEC, "1s"},
	    {90 * NSEC_PER_SEC, "90s"},
	    {120 * NSEC_PER_SEC, "2min"},
	    {3600 * NSEC_PER_SEC, "1h"},
	    {5400 * NSEC_PER_SEC, "90min"},
	    {123456789, "123456789ns"},
	    {UINT64_MAX, "18446744073709551615ns"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char buf[DURATION_STR_MAX];
		uint64_t back = 1;

		format_duration_ns(buf, sizeof(buf), cases[i].ns);
		assert_string_equal(buf, cases[i].text);
		if (cases[i].ns < (1ULL << 53)) {
			assert_int_equal(parse_duration_ns(buf, &back), 0);
			assert_int_equal(back, cases[i].ns);
		}
	}
}

/* format_span(): the unit steps up at twice its size, and rounds. */
static void test_format_span(void **state)
{
	static const struct {
		double sec;
		const char *text;
	} cases[] = {
	    {0, "0 s"},	   {41.4, "41 s"},   {119.4, "119 s"}, {120, "2 min"}, {7199, "120 min"},
	    {7200, "2 h"}, {172799, "48 h"}, {172800, "2 d"},  {1e6, "12 d"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char buf[32];

		assert_string_equal(format_span(buf, sizeof(buf), cases[i].sec), cases[i].text);
	}
}

static void test_parse_mode(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint32_t mode;
	} cases[] = {
	    {"0660", 0, 0660},	  {"660", 0, 0660},    {"0", 0, 0},	   {"07777", 0, 07777},
	    {"0000644", 0, 0644}, {"010000", -ERANGE}, {"0668", -EINVAL},  {"", -EINVAL},
	    {"-1", -EINVAL},	  {" 644", -EINVAL},   {"0x1ff", -EINVAL}, {"rw", -EINVAL},
	};

	assert_int_equal(parse_mode(NULL, &(uint32_t){0}), -EINVAL);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint32_t mode = 0xdead;

		print_message("# parse_mode(\"%s\")\n", cases[i].s);
		assert_int_equal(parse_mode(cases[i].s, &mode), cases[i].r);
		assert_int_equal(mode, cases[i].r == 0 ? cases[i].mode : 0xdead);
	}
}

static void test_log_level(void **state)
{
	static const struct {
		const char *name;
		int level;
	} cases[] = {
	    {"emerg", LOG_EMERG}, {"alert", LOG_ALERT},	    {"crit", LOG_CRIT},
	    {"err", LOG_ERR},	  {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
	    {"info", LOG_INFO},	  {"debug", LOG_DEBUG},
	};
	static const char *const bad[] = {"INFO", "warn", "error", "", "7", "debugx"};
	int level;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		level = -1;
		assert_int_equal(config_parse_log_level(cases[i].name, &level), 0);
		assert_int_equal(level, cases[i].level);
		assert_string_equal(config_log_level_to_string(cases[i].level), cases[i].name);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		level = 4242;
		assert_int_equal(config_parse_log_level(bad[i], &level), -EINVAL);
		assert_int_equal(level, 4242);
	}
	assert_int_equal(config_parse_log_level(NULL, &level), -EINVAL);
	assert_null(config_log_level_to_string(-1));
	assert_null(config_log_level_to_string(8));
}

/* --- syntax --- */

static const struct syntax_case {
	const char *name, *text;
	const char *err;		  /* the error output, "@:" for "file:"; "" when it loads */
	const char *section, *key, *want; /* when it loads: this value in the dump */
} syntax_cases[] = {
    {"inline ; comment ends a value", "[Api]\nMaxClients=32 ; at most\n", "", "Api", "MaxClients",
     "32"},
    {"; without whitespace before it is part of the value", "[Api]\nSocketGroup=a;b\n",
     "@:2: [Api] SocketGroup=a;b: not a valid group name or number\n"},
    {"# after a value is not a comment", "[Api]\nMaxClients=32 # at most\n",
     "@:2: [Api] MaxClients=32 # at most: not a number\n"},
    {"comment lines, indented too", "# c\n; c\n[Api]\n   # c\n\t; c\nMaxClients=33\n", "", "Api",
     "MaxClients", "33"},
    {"an indented line is a key, not a continuation",
     "[Api]\nMaxClients=32\n    MaxClientsPerUid=8\n", "", "Api", "MaxClientsPerUid", "8"},
    {"an indented line after a key is not glued to its value", "[Api]\nSocketGroup=adm\n  wheel\n",
     "@:3: [Api] wheel: expected Key=value\n"},
    {"whitespace around key and value", "[Api]\n  MaxClients \t=   34  \n", "", "Api", "MaxClients",
     "34"},
    {"CRLF line ends", "[Api]\r\nMaxClients=35\r\n", "", "Api", "MaxClients", "35"},
    {"UTF-8 byte order mark", "\xef\xbb\xbf[Api]\nMaxClients=36\n", "", "Api", "MaxClients", "36"},
    {"no newline at the end", "[Api]\nMaxClients=37", "", "Api", "MaxClients", "37"},
    {"a later assignment wins", "[Api]\nMaxClients=10\nMaxClients=38\n", "", "Api", "MaxClients",
     "38"},
    {"an empty value resets the default", "[Api]\nMaxClients=10\nMaxClients=\n", "", "Api",
     "MaxClients", "64"},
    {"an empty value resets a string to none", "[Api]\nSocketGroup=adm\nSocketGroup=\n", "", "Api",
     "SocketGroup", ""},
    {"an empty value resets a path", "[Probe]\nProcRoot=/x\nProcRoot=\n", "", "Probe", "ProcRoot",
     "/proc"},
    {"a section may come back", "[Api]\nMaxClients=10\n[Probe]\nTickSec=2s\n[Api]\nMaxClients=39\n",
     "", "Api", "MaxClients", "39"},
    {"'=' in a value", "[Rule x]\nComm=a=b\n", "", "Rule x", "Comm", "a=b"},
    {"key outside a section", "MaxClients=3\n", "@:1: MaxClients=3: not in a section\n"},
    {"no '='", "[Api]\nMaxClients\n", "@:2: [Api] MaxClients: expected Key=value\n"},
    {"':' is not a separator", "[Api]\nMaxClients: 3\n",
     "@:2: [Api] MaxClients: 3: expected Key=value\n"},
    {"':' before '='", "[Api]\nMax:Clients=3\n", "@:2: [Api] Max:Clients=3: invalid key name\n"},
    {"empty key", "[Api]\n=3\n", "@:2: [Api] =3: invalid key name\n"},
    {"header without ']': its keys are skipped", "[Api\nMaxClients=x\n",
     "@:1: [Api: invalid section header, expected [Name]\n"},
    {"text after the header", "[Api] x\n",
     "@:1: [Api] x: invalid section header, expected [Name]\n"},
    {"unknown section: reported once, its keys skipped",
     "[Foo]\nBar=1\nBaz=2\n[Api]\nMaxClients=x\n",
     "@:1: [Foo]: unknown section\n@:5: [Api] MaxClients=x: not a number\n"},
    {"sections are case-sensitive", "[api]\nMaxClients=3\n", "@:1: [api]: unknown section\n"},
    {"unknown key", "[Api]\nMaxClient=3\n", "@:2: [Api] MaxClient=3: unknown key\n"},
    {"keys are case-sensitive", "[Api]\nmaxclients=3\n", "@:2: [Api] maxclients=3: unknown key\n"},
    {"a key of another section", "[Probe]\nMaxClients=3\n",
     "@:2: [Probe] MaxClients=3: unknown key (it belongs in [Api])\n"},
    {"line numbers count blank and comment lines", "\n# one\n\n[Api]\n; two\n\nMaxClients=x\n",
     "@:7: [Api] MaxClients=x: not a number\n"},
};

static void test_syntax(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(syntax_cases); i++) {
		const struct syntax_case *t = &syntax_cases[i];
		_cleanup_(config_done) struct fdw_config c = {};
		_cleanup_free_ char *err = NULL, *want = expand(t->err, fx->path), *out = NULL,
				    *got = NULL;
		int r;

		print_message("# %s\n", t->name);
		r = load_text(fx, t->text, &c, &err);
		assert_string_equal(err, want);
		if (*t->err) {
			assert_int_equal(r, -EINVAL);
			continue;
		}
		assert_int_equal(r, 0);
		out = dump(&c);
		got = dump_value(out, t->section, t->key);
		assert_non_null(got);
		assert_string_equal(got, t->want);
	}
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* Length limits: sun_path, a path in a dump line, a line of 199 bytes. */
static void test_long_values(void **state)
{
	static const struct {
		const char *section, *key, *indent;
		size_t len;	    /* of the value: "/aaa..." or "aaa..." */
		const char *reason; /* NULL: loads */
	} cases[] = {
	    /* sun_path is 108 bytes with the NUL. */
	    {"Api", "SocketPath", "", 107, NULL},
	    {"Api", "SocketPath", "", 108, "too long, at most 107 bytes"},
	    /* A path must fit a line of a dump. */
	    {"Probe", "ProcRoot", "", 160, NULL},
	    {"Probe", "ProcRoot", "", 161, "too long, at most 160 bytes"},
	    /* "Comm=" + 194 = 199 bytes; leading whitespace does not count. */
	    {"Rule x", "Comm", "", 194, NULL},
	    {"Rule x", "Comm", "\t    ", 194, NULL},
	};
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *fill = repeat('a', 195), *text = NULL, *err = NULL, *want = NULL;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(config_done) struct fdw_config ci = {};
		_cleanup_free_ char *value = repeat('a', cases[i].len), *t = NULL, *e = NULL,
				    *w = NULL, *out = NULL, *got = NULL;

		if (cases[i].key[0] != 'C')
			value[0] = '/';
		print_message("# [%s] %s= %zu bytes\n", cases[i].section, cases[i].key,
			      cases[i].len);
		if (asprintf(&t, "[%s]\n%s%s=%s\n", cases[i].section, cases[i].indent, cases[i].key,
			     value) < 0)
			fail();
		if (cases[i].reason) {
			if (asprintf(&w, "%s:2: [%s] %s=%s: %s\n", fx->path, cases[i].section,
				     cases[i].key, value, cases[i].reason) < 0)
				fail();
			assert_int_equal(load_text(fx, t, &ci, &e), -EINVAL);
			assert_string_equal(e, w);
			continue;
		}
		assert_int_equal(load_text(fx, t, &ci, &e), 0);
		assert_string_equal(e, "");
		out = dump(&ci);
		got = dump_value(out, cases[i].section, cases[i].key);
		assert_non_null(got);
		assert_string_equal(got, value);
	}

	/* 200 bytes: too long; the next line is line 3. */
	if (asprintf(&text, "[Rule x]\nComm=%s\nUid=x\nComm=a\n", fill) < 0 ||
	    asprintf(&want,
		     "%1$s:2: line too long, at most 199 bytes\n"
		     "%1$s:3: [Rule x] Uid=x: unknown user\n",
		     fx->path) < 0)
		fail();
	assert_int_equal(load_text(fx, text, &c, &err), -EINVAL);
	assert_string_equal(err, want);
}

static void test_nul_byte(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL, *want = NULL;
	static const char text[] = "[Api]\nMaxClients=3\0junk\nMaxClients=x\n";
	FILE *f = fopen(fx->path, "we");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(load(fx->path, &c, &err), -EINVAL);
	want = expand("@:2: NUL byte in the line\n"
		      "@:3: [Api] MaxClients=x: not a number\n",
		      fx->path);
	assert_string_equal(err, want);
}

/* --- drop-ins --- */

static void test_dropin_order(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	write_file(fx->path, "[Api]\nMaxClients=10\nMaxRequestBytes=1000\nMaxOutputBytes=5000\n");
	/* Created out of order: readdir order must not matter. */
	write_dropin(fx, "20-b.conf", "[Api]\nMaxClients=30\n");
	write_dropin(fx, "10-a.conf", "[Api]\nMaxClients=20\nMaxRequestBytes=2000\n");
	/* Lexical, not numeric: "9-" sorts after "20-". */
	write_dropin(fx, "9-c.conf", "[Api]\nMaxOutputBytes=9000\n");
	/* Ignored: not *.conf, hidden, a bare ".conf". */
	write_dropin(fx, "30-d.conf.disabled", "[Api]\nMaxClients=bad\n");
	write_dropin(fx, "README", "not a config\n");
	write_dropin(fx, ".40-e.conf", "[Api]\nMaxClients=bad\n");
	write_dropin(fx, ".conf", "[Api]\nMaxClients=bad\n");
	write_dropin(fx, "50-f.conf~", "[Api]\nMaxClients=bad\n");

	assert_int_equal(load(fx->path, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.max_clients, 30);	     /* 20-b after 10-a after the main file */
	assert_int_equal(c.max_request_bytes, 2000); /* 10-a over the main file */
	assert_int_equal(c.max_output_bytes, 9000);  /* 9-c */
	assert_int_equal(c.max_clients_per_uid, 16); /* nobody set it */
}

static void test_dropin_file_order_reverse(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	/* Same names, other values: proves the order comes from the names, not from chance. */
	write_dropin(fx, "10-a.conf", "[Api]\nMaxClients=20\n");
	write_dropin(fx, "20-b.conf", "[Api]\nMaxClients=\n");
	assert_int_equal(load(fx->path, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.max_clients, 64); /* 20-b reset it to the default */
}

static void test_dropin_order_full(void **state)
{
	/* Created in this order; each adds an unnamed rule, so the rules list the order read. */
	static const char *const created[] = {"50-e.conf", "10-a.conf", "9-z.conf",  "a.conf",
					      "30-c.conf", "B.conf",	"20-b.conf", "40-d.conf"};
	/* strcmp, not numeric and not the locale's collation ("B" < "a"). */
	static const char *const want[] = {"10-a.conf", "20-b.conf", "30-c.conf", "40-d.conf",
					   "50-e.conf", "9-z.conf",  "B.conf",	  "a.conf"};
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	write_file(fx->path, "[Rule]\nComm=main\n");
	for (size_t i = 0; i < ELEMENTSOF(created); i++) {
		_cleanup_free_ char *text = NULL;

		if (asprintf(&text, "[Rule]\nComm=%s\n", created[i]) < 0)
			fail();
		write_dropin(fx, created[i], text);
	}
	assert_int_equal(load(fx->path, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.n_rules, 1 + ELEMENTSOF(want));
	assert_string_equal(c.rules[0].comm_glob, "main");
	for (size_t i = 0; i < ELEMENTSOF(want); i++)
		assert_string_equal(c.rules[i + 1].comm_glob, want[i]);
}

static void test_dropins_without_main(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	write_dropin(fx, "10-a.conf", "[Probe]\nTickSec=2s\n");
	assert_int_equal(load(fx->path, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.tick_ns, 2 * NSEC_PER_SEC);
}

static void test_dropin_needs_section(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL, *want = NULL;

	/* A drop-in starts outside any section, whatever the file before ended in. */
	write_file(fx->path, "[Api]\nMaxClients=100\n");
	write_dropin(fx, "10-a.conf", "MaxClients=200\n");
	assert_int_equal(load(fx->path, &c, &err), -EINVAL);
	if (asprintf(&want, "%s/10-a.conf:1: MaxClients=200: not in a section\n", fx->dropins) < 0)
		fail();
	assert_string_equal(err, want);
}

static void test_io_errors(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL, *err2 = NULL, *want = NULL;

	/* The main file is a directory. */
	assert_int_equal(mkdir(fx->path, 0755), 0);
	assert_int_equal(load(fx->path, &c, &err), -EISDIR);
	if (asprintf(&want, "%s: Is a directory\n", fx->path) < 0)
		fail();
	assert_string_equal(err, want);
	assert_int_equal(rmdir(fx->path), 0);
	free(want);

	/* The drop-in directory is a file. */
	write_file(fx->dropins, "x");
	assert_int_equal(load(fx->path, &c, &err2), -ENOTDIR);
	if (asprintf(&want, "%s: Not a directory\n", fx->dropins) < 0)
		fail();
	assert_string_equal(err2, want);
	assert_null(c.socket_path);
}

/* --- all errors, atomic load --- */

static void test_multiple_errors_atomic(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL, *err2 = NULL, *want = NULL, *before = NULL, *after = NULL;
	struct fdw_config saved;

	/* A good configuration first, as a running daemon has. */
	assert_int_equal(load_text(fx, "[Api]\nMaxClients=40\n", &c, &err), 0);
	saved = c;
	before = dump(&c);

	write_file(fx->path, "[Probe]\n"	 /* 1 */
			     "TickSec=5ms\n"	 /* 2 */
			     "Bogus=1\n"	 /* 3 */
			     "[Nope]\n"		 /* 4 */
			     "X=1\n"		 /* 5: skipped with its section */
			     "[Api]\n"		 /* 6 */
			     "MaxClients=lots\n" /* 7 */
			     "[Rule empty]\n"	 /* 8: no match key */
			     "Ignore=yes\n"	 /* 9 */
			     "MaxClients=20\n"); /* 10: not the last error of the file */
	write_dropin(fx, "10-a.conf", "[Detect]\nCriticalPercent=200\n");
	assert_int_equal(load(fx->path, &c, &err2), -EINVAL);
	if (asprintf(&want,
		     "%1$s:2: [Probe] TickSec=5ms: out of range, must be 100ms to 1min\n"
		     "%1$s:3: [Probe] Bogus=1: unknown key\n"
		     "%1$s:4: [Nope]: unknown section\n"
		     "%1$s:7: [Api] MaxClients=lots: not a number\n"
		     "%1$s:10: [Rule empty] MaxClients=20: unknown key\n"
		     "%2$s/10-a.conf:2: [Detect] CriticalPercent=200: out of range, must be 0 to "
		     "100\n"
		     "%1$s:8: [Rule empty]: no match key, want Comm=, Unit= or Uid=\n",
		     fx->path, fx->dropins) < 0)
		fail();
	assert_string_equal(err2, want);

	/* The running configuration is untouched, pointers and all. */
	assert_memory_equal(&c, &saved, sizeof(c));
	after = dump(&c);
	assert_string_equal(after, before);
	assert_int_equal(c.max_clients, 40);
}

static void test_no_err_file(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};

	write_file(fx->path, "[Api]\nMaxClients=x\n");
	assert_int_equal(config_load(fx->path, NULL, 0, NULL, &c), -EINVAL);
	write_file(fx->path, "[Api]\nMaxClients=5\n");
	assert_int_equal(config_load(fx->path, NULL, 0, NULL, &c), 0);
	assert_int_equal(c.max_clients, 5);
}

static const struct cross_case {
	const char *text, *err;
} cross_cases[] = {
    {"[Detect]\nLeakMinSec=2min\nWindowSec=1min\n",
     "@:3: [Detect] LeakMinSec=2min, WindowSec=1min: LeakMinSec must not be longer than "
     "WindowSec (the history kept)\n"},
    {"[Detect]\nWindowSec=1min\nLeakMinSec=2min\n",
     "@:3: [Detect] LeakMinSec=2min, WindowSec=1min: LeakMinSec must not be longer than "
     "WindowSec (the history kept)\n"},
    {"[Detect]\nWindowSec=1min\nLeakMinSec=2min\nWindowSec=3min\n", ""},
    {"[Detect]\nWindowSec=5min\n[Rule a]\nComm=x\nLeakMinSec=10min\n",
     "@:5: [Rule a] LeakMinSec=10min: longer than [Detect] WindowSec=5min\n"},
    {"[Rule a]\nComm=x\nLeakMinSec=10min\n[Detect]\nWindowSec=5min\n",
     "@:5: [Rule a] LeakMinSec=10min: longer than [Detect] WindowSec=5min\n"},
    /* Equal is fine. */
    {"[Detect]\nLeakMinSec=5min\nWindowSec=5min\n[Rule a]\nComm=x\nLeakMinSec=5min\n", ""},
};

static void test_cross_checks(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(cross_cases); i++) {
		_cleanup_(config_done) struct fdw_config c = {};
		_cleanup_free_ char *err = NULL, *want = expand(cross_cases[i].err, fx->path);

		print_message("# case %zu\n", i);
		assert_int_equal(load_text(fx, cross_cases[i].text, &c, &err),
				 *cross_cases[i].err ? -EINVAL : 0);
		assert_string_equal(err, want);
	}
}

/* --- rules --- */

static void test_rules_parse(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	assert_int_equal(load_text(fx,
				   "[Rule]\nComm=a\n"
				   "[Rule]\nComm=b\n"
				   "[Rule x]\nUid=0\nUnit=*.service\nIgnore=yes\n"
				   "[Rule x]\nComm=c*\n" /* the same rule again */
				   "[Rule rule-4]\nUid=root\nMinGrowth=5\nLeakMinSec=30s\n"
				   "CriticalEtaSec=1.5s\nCriticalPercent=50%\n"
				   "[Rule]\nUid=4294967294\n", /* "rule-4" is taken */
				   &c, &err),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(c.n_rules, 5);
	assert_string_equal(c.rules[0].name, "rule-1");
	assert_string_equal(c.rules[0].comm_glob, "a");
	assert_null(c.rules[0].unit_glob);
	assert_int_equal(c.rules[0].uid, -1);
	assert_false(c.rules[0].ignore);
	assert_false(c.rules[0].has_min_growth || c.rules[0].has_leak_min_sec ||
		     c.rules[0].has_critical_eta_sec || c.rules[0].has_critical_percent);
	assert_string_equal(c.rules[1].name, "rule-2");
	assert_string_equal(c.rules[2].name, "x");
	assert_string_equal(c.rules[2].comm_glob, "c*");
	assert_string_equal(c.rules[2].unit_glob, "*.service");
	assert_int_equal(c.rules[2].uid, 0);
	assert_true(c.rules[2].ignore);
	assert_string_equal(c.rules[3].name, "rule-4");
	assert_int_equal(c.rules[3].uid, 0); /* root, by name */
	assert_true(c.rules[3].has_min_growth);
	assert_int_equal(c.rules[3].min_growth, 5);
	assert_true(c.rules[3].has_leak_min_sec);
	assert_int_equal(c.rules[3].leak_min_sec, 30);
	assert_true(c.rules[3].has_critical_eta_sec);
	assert_true(c.rules[3].critical_eta_sec == 1.5);
	assert_true(c.rules[3].has_critical_percent);
	assert_true(c.rules[3].critical_percent == 50);
	assert_string_equal(c.rules[4].name, "rule-5");
	assert_int_equal(c.rules[4].uid, 4294967294LL);
}

static void test_rules_dropin_merge(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	write_file(fx->path, "[Rule x]\nComm=a\nMinGrowth=5\n[Rule z]\nComm=z\n");
	write_dropin(fx, "10-a.conf", "[Rule x]\nMinGrowth=7\nLeakMinSec=\n[Rule y]\nUid=1\n");
	write_dropin(fx, "20-b.conf", "[Rule z]\nMinGrowth=\nComm=zz\n");
	assert_int_equal(load(fx->path, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.n_rules, 3);
	assert_string_equal(c.rules[0].name, "x"); /* keeps its place */
	assert_string_equal(c.rules[0].comm_glob, "a");
	assert_int_equal(c.rules[0].min_growth, 7);
	assert_false(c.rules[0].has_leak_min_sec);
	assert_string_equal(c.rules[1].name, "z");
	assert_string_equal(c.rules[1].comm_glob, "zz");
	assert_false(c.rules[1].has_min_growth);
	assert_string_equal(c.rules[2].name, "y");
	assert_int_equal(c.rules[2].uid, 1);
}

static const struct rule_error_case {
	const char *text, *err;
} rule_error_cases[] = {
    {"[Rule x]\nIgnore=yes\n", "@:1: [Rule x]: no match key, want Comm=, Unit= or Uid=\n"},
    {"[Rule x]\n", "@:1: [Rule x]: no match key, want Comm=, Unit= or Uid=\n"},
    {"[Rule]\nMinGrowth=3\n", "@:1: [Rule rule-1]: no match key, want Comm=, Unit= or Uid=\n"},
    {"[Rule x]\nComm=a\nComm=\n", "@:1: [Rule x]: no match key, want Comm=, Unit= or Uid=\n"},
    {"[Rule bad name]\nComm=a\n",
     "@:1: [Rule bad name]: invalid rule name, want 1 to 64 of A-Z a-z 0-9 _ . : @ -\n"},
    {"[Rule ]\nComm=a\n",
     "@:1: [Rule ]: invalid rule name, want 1 to 64 of A-Z a-z 0-9 _ . : @ -\n"},
    {"[Rulex]\nComm=a\n", "@:1: [Rulex]: unknown section\n"},
    {"[Rule x]\nComm=a\nFoo=1\n", "@:3: [Rule x] Foo=1: unknown key\n"},
    {"[Rule x]\nComm=a\nNearLimitFds=1\n", "@:3: [Rule x] NearLimitFds=1: unknown key\n"},
    {"[Rule x]\nComm=a\nIgnore=maybe\n", "@:3: [Rule x] Ignore=maybe: must be yes or no\n"},
    {"[Rule x]\nComm=a\nMinGrowth=0\n",
     "@:3: [Rule x] MinGrowth=0: out of range, must be 1 to 1073741824\n"},
    {"[Rule x]\nComm=a\nLeakMinSec=1.5s\n",
     "@:3: [Rule x] LeakMinSec=1.5s: must be whole seconds\n"},
    {"[Rule x]\nComm=a\nCriticalEtaSec=forever\n",
     "@:3: [Rule x] CriticalEtaSec=forever: not a duration (like 500ms, 30s, 2min, 1h)\n"},
    {"[Rule x]\nComm=a\nCriticalPercent=150\n",
     "@:3: [Rule x] CriticalPercent=150: out of range, must be 0 to 100\n"},
    {"[Rule x]\nUid=nosuchuser-fdwatch\n",
     "@:2: [Rule x] Uid=nosuchuser-fdwatch: unknown user\n"
     "@:1: [Rule x]: no match key, want Comm=, Unit= or Uid=\n"},
    {"[Rule x]\nComm=a\nUid=4294967295\n", "@:3: [Rule x] Uid=4294967295: out of range\n"},
    {"[Rule x]\nComm=a\nUid=-1\n", "@:3: [Rule x] Uid=-1: not a user name or number\n"},
    {"[Rule x]\nComm=a\nUid=1.5\n", "@:3: [Rule x] Uid=1.5: not a user name or number\n"},
    {"[Rule x]\nComm=a\x01\n", "@:2: [Rule x] Comm=a\x01: control characters in the pattern\n"
			       "@:1: [Rule x]: no match key, want Comm=, Unit= or Uid=\n"},
};

static void test_rules_errors(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(rule_error_cases); i++) {
		_cleanup_(config_done) struct fdw_config c = {};
		_cleanup_free_ char *err = NULL, *want = expand(rule_error_cases[i].err, fx->path);

		print_message("# case %zu\n", i);
		assert_int_equal(load_text(fx, rule_error_cases[i].text, &c, &err), -EINVAL);
		assert_string_equal(err, want);
	}
}

static const char match_conf[] = "[Detect]\nMinGrowth=16\nLeakMinSec=60\nCriticalEtaSec=300\n"
				 "CriticalPercent=90\n"
				 "[Rule ignore-cc]\nComm=cc1*\nIgnore=yes\n"
				 "[Rule web]\nUnit=nginx*.service\nMinGrowth=100\n"
				 "[Rule alice-python]\nUid=1000\nComm=python*\nLeakMinSec=5min\n"
				 "CriticalEtaSec=30s\nCriticalPercent=50\n"
				 "[Rule alice]\nUid=1000\n"
				 "[Rule kworker]\nComm=kworker/*\n"
				 "[Rule system-services]\nUnit=*.service\nUid=0\n";

static const struct match_case {
	const char *comm, *unit;
	uid_t uid;
	const char *rule; /* NULL: none */
	uint64_t min_growth, leak_min_sec;
	double critical_eta_sec, critical_percent;
} match_cases[] = {
    /* First match wins: ignore-cc comes before alice. */
    {"cc1plus", "user@1000.service", 1000, "ignore-cc", 16, 60, 300, 90},
    {"cc1", NULL, 0, "ignore-cc", 16, 60, 300, 90},
    {"CC1", NULL, 5, NULL, 16, 60, 300, 90}, /* case-sensitive */
    {"nginx", "nginx.service", 33, "web", 100, 60, 300, 90},
    {"nginx", "nginx-proxy.service", 33, "web", 100, 60, 300, 90},
    {"nginx", "nginx.socket", 33, NULL, 16, 60, 300, 90},
    {"nginx", NULL, 33, NULL, 16, 60, 300, 90}, /* no unit: no Unit= rule matches */
    {"python3", "x.service", 1000, "alice-python", 16, 300, 30, 50},
    {"python3", "x.service", 1001, NULL, 16, 60, 300, 90}, /* all keys must match */
    {"bash", NULL, 1000, "alice", 16, 60, 300, 90},
    {"kworker/0:1", NULL, 0, "kworker", 16, 60, 300, 90}, /* '*' matches '/' */
    {"sshd", "ssh.service", 0, "system-services", 16, 60, 300, 90},
    {"sshd", "ssh.service", 1, NULL, 16, 60, 300, 90},
    {NULL, NULL, 5, NULL, 16, 60, 300, 90},
    {NULL, NULL, 1000, "alice", 16, 60, 300, 90},
};

static void test_match(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *err = NULL;

	assert_int_equal(load_text(fx, match_conf, &c, &err), 0);
	assert_string_equal(err, "");
	for (size_t i = 0; i < ELEMENTSOF(match_cases); i++) {
		const struct match_case *t = &match_cases[i];
		struct detect_config want = c.detect, got;
		const struct fdw_rule *rule;

		print_message("# %s %s %u\n", t->comm ?: "(null)", t->unit ?: "(null)", t->uid);
		memset(&got, 0xaa, sizeof(got));
		rule = config_match(&c, t->comm, t->unit, t->uid, &got);
		if (t->rule) {
			assert_non_null(rule);
			assert_string_equal(rule->name, t->rule);
			assert_int_equal(rule->ignore, streq(t->rule, "ignore-cc"));
		} else
			assert_null(rule);
		assert_ptr_equal(config_match(&c, t->comm, t->unit, t->uid, NULL), rule);

		want.min_growth = t->min_growth;
		want.leak_min_sec = t->leak_min_sec;
		want.critical_eta_sec = t->critical_eta_sec;
		want.critical_percent = t->critical_percent;
		assert_int_equal(got.min_growth, want.min_growth);
		assert_int_equal(got.leak_min_sec, want.leak_min_sec);
		assert_true(got.critical_eta_sec == want.critical_eta_sec);
		assert_true(got.critical_percent == want.critical_percent);
		/* The fields rules cannot override come from [Detect]. */
		assert_memory_equal(&got, &want, sizeof(got));
	}
}

static void test_match_no_rules(void **state)
{
	_cleanup_(config_done) struct fdw_config c = {};
	struct detect_config got;

	assert_int_equal(config_init(&c), 0);
	c.detect.min_growth = 77;
	assert_null(config_match(&c, "x", "y.service", 0, &got));
	assert_int_equal(got.min_growth, 77);
	assert_memory_equal(&got, &c.detect, sizeof(got));
}

/* --- restart detection --- */

static const struct restart_case {
	const char *text;
	int n;
	const char *out;
} restart_cases[] = {
    {"[Probe]\nMode=raw\n", 1, "[Probe] Backend=tracepoint -> raw\n"},
    {"[Probe]\nMode=poll\n", 1, "[Probe] Mode=auto -> poll\n"},
    {"[Probe]\nMaxProcesses=32768\n", 1, "[Probe] MaxProcesses=16384 -> 32768\n"},
    {"[Probe]\nRingBufferKiB=512\n", 1, "[Probe] RingBufferKiB=256 -> 512\n"},
    {"[Probe]\nProcRoot=/host/proc\n", 1, "[Probe] ProcRoot=/proc -> /host/proc\n"},
    {"[Api]\nSocketPath=/run/x.sock\n", 1,
     "[Api] SocketPath=/run/fdwatch/api.sock -> /run/x.sock\n"},
    {"[Probe]\nMode=raw\n[Api]\nSocketPath=/run/x.sock\n", 2,
     "[Probe] Backend=tracepoint -> raw\n"
     "[Api] SocketPath=/run/fdwatch/api.sock -> /run/x.sock\n"},
    /* Reloadable. */
    {"[Probe]\nTickSec=2s\nRescanSec=10s\n", 0, ""},
    {"[Detect]\nMinGrowth=5\n", 0, ""},
    {"[Alert]\nJournal=no\nLogLevel=debug\n", 0, ""},
    {"[Api]\nSocketMode=0600\nSocketGroup=adm\nMaxClients=5\nMaxClientsPerUid=5\n", 0, ""},
    {"[Rule x]\nComm=x\n", 0, ""},
    {"[Probe]\nMaxProcesses=16384\n", 0, ""}, /* set, but to the same */
};

static void test_restart_needed(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config a = {};

	assert_int_equal(config_init(&a), 0);
	assert_int_equal(config_restart_needed(&a, &a, NULL), 0);
	for (size_t i = 0; i < ELEMENTSOF(restart_cases); i++) {
		const struct restart_case *t = &restart_cases[i];
		_cleanup_(config_done) struct fdw_config b = {};
		_cleanup_free_ char *err = NULL, *out = NULL;
		size_t size = 0;
		FILE *f;

		print_message("# case %zu\n", i);
		assert_int_equal(load_text(fx, t->text, &b, &err), 0);
		assert_string_equal(err, "");
		f = open_memstream(&out, &size);
		assert_non_null(f);
		assert_int_equal(config_restart_needed(&a, &b, f), t->n);
		assert_int_equal(fclose(f), 0);
		assert_string_equal(out, t->out);
		assert_int_equal(config_restart_needed(&a, &b, NULL), t->n);
		/* And back. */
		assert_int_equal(config_restart_needed(&b, &a, NULL), t->n);
	}
}

/* --- dump --- */

static void assert_round_trip(struct fixture *fx, const struct fdw_config *c)
{
	_cleanup_(config_done) struct fdw_config c2 = {}, c3 = {};
	_cleanup_free_ char *d1 = dump(c), *d2 = NULL, *d3 = NULL, *err = NULL, *err2 = NULL;

	assert_int_equal(load_text(fx, d1, &c2, &err), 0);
	assert_string_equal(err, "");
	d2 = dump(&c2);
	assert_string_equal(d2, d1);
	assert_int_equal(load_text(fx, d2, &c3, &err2), 0);
	d3 = dump(&c3);
	assert_string_equal(d3, d2);
}

static void test_dump_every_key(void **state)
{
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *text = NULL;
	size_t lines = 0;

	assert_int_equal(config_init(&c), 0);
	text = dump(&c);
	for (size_t i = 0; i < ELEMENTSOF(all_keys); i++) {
		_cleanup_free_ char *v = dump_value(text, all_keys[i].section, all_keys[i].key);

		print_message("# [%s] %s\n", all_keys[i].section, all_keys[i].key);
		assert_non_null(v);
	}
	/* And nothing else. */
	for (const char *p = text; (p = strchr(p, '=')); p++)
		lines++;
	assert_int_equal(lines, ELEMENTSOF(all_keys));
	assert_non_null(strstr(text, "\n[Probe]\nMode=auto\nBackend=tracepoint\n"));
	assert_non_null(strstr(text, "\n[Api]\nSocketPath=/run/fdwatch/api.sock\nSocketMode=0660\n"
				     "SocketGroup=\nAdminGroup=\n"));
}

static void test_dump_round_trip_defaults(void **state)
{
	_cleanup_(config_done) struct fdw_config c = {};

	assert_int_equal(config_init(&c), 0);
	assert_round_trip(*state, &c);
}

static void test_dump_round_trip(void **state)
{
	static const char conf[] =
	    "[Probe]\nMode=raw\nMaxProcesses=100\nRingBufferKiB=8\nTickSec=1.25s\n"
	    "RescanSec=90\nProcRoot=/host/proc\n"
	    "[Detect]\nMinGrowth=3\nLeakMinSec=45\nCriticalEtaSec=0.3s\n"
	    "CriticalPercent=12.34\nNearLimitFds=4\nCooldownSec=2min\nWindowSec=1h\n"
	    "[Alert]\nMinInterval=123456789ns\nBurst=7\nHistorySize=99\nJournal=no\n"
	    "LogLevel=crit\n"
	    "[Api]\nSocketPath=/s\nSocketMode=0640\nSocketGroup=g\nAdminGroup=a\n"
	    "MaxRequestBytes=1000\nMaxClients=9\nMaxClientsPerUid=2\n"
	    "RequestTimeoutSec=3s\nIdleTimeoutSec=0\nMaxOutputBytes=5000\n"
	    "[Rule java]\nComm=java\nUnit=*.service\nMinGrowth=256\nLeakMinSec=10min\n"
	    "[Rule]\nUid=1000\nIgnore=yes\nCriticalEtaSec=1.5s\nCriticalPercent=33.3\n"
	    "[Rule odd]\nComm=a=b;c#d\n";
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {}, d = {};
	_cleanup_free_ char *err = NULL, *text = NULL, *def = NULL;

	assert_int_equal(load_text(fx, conf, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(config_init(&d), 0);
	text = dump(&c);
	def = dump(&d);
	assert_string_not_equal(text, def);
	assert_non_null(strstr(text, "\n[Rule java]\nComm=java\nUnit=*.service\nUid=\nIgnore=no\n"
				     "MinGrowth=256\nLeakMinSec=10min\nCriticalEtaSec=\n"
				     "CriticalPercent=\n"));
	assert_non_null(strstr(text, "\n[Rule rule-2]\nComm=\nUnit=\nUid=1000\nIgnore=yes\n"
				     "MinGrowth=\nLeakMinSec=\nCriticalEtaSec=1500ms\n"
				     "CriticalPercent=33.3\n"));
	assert_non_null(strstr(text, "\nCriticalPercent=12.34\n"));
	assert_non_null(strstr(text, "\nMinInterval=123456789ns\n"));
	assert_round_trip(fx, &c);
}

/* --- the shipped config/fdwatch.conf --- */

static char *shipped_conf_path(void)
{
	_cleanup_free_ char *dir = strdup(__FILE__);
	char *slash, *path = NULL;

	/* __FILE__ is tests/test-config.c as make passed it: relative to the source tree. */
	assert_non_null(dir);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (asprintf(&path, "%s/../config/fdwatch.conf", slash ? dir : ".") < 0)
		fail();
	return path;
}

/* The shipped file with lines of one kind uncommented. */
static char *shipped_conf(bool (*uncomment)(const char *line, bool *in_example), size_t *ret_n)
{
	_cleanup_free_ char *path = shipped_conf_path(), *text = NULL;
	char *out = NULL;
	size_t size = 0, n = 0;
	bool in_example = false;
	FILE *f;

	if (read_file_full(path, 1 << 20, &text, NULL) < 0)
		fail_msg("cannot read %s: run the test from the source tree", path);
	f = open_memstream(&out, &size);
	assert_non_null(f);
	for (char *line = text, *nl; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (uncomment(line, &in_example)) {
			fprintf(f, "%s\n", line + (line[1] == ' ' ? 2 : 1));
			n++;
		} else
			fprintf(f, "%s\n", line);
	}
	assert_int_equal(fclose(f), 0);
	*ret_n = n;
	return out;
}

/* "#Key=..." */
static bool is_commented_key(const char *line, bool *in_example)
{
	size_t n;

	if (line[0] != '#' || !isupper((unsigned char)line[1]))
		return false;
	n = strspn(line + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	return line[1 + n] == '=';
}

/* "# [Rule ...]" and the "# Key=..." lines after it. */
static bool is_example_line(const char *line, bool *in_example)
{
	size_t n;

	if (strncmp(line, "# [Rule ", 8) == 0)
		return *in_example = true;
	if (!*in_example || strncmp(line, "# ", 2) != 0)
		return false;
	n = strspn(line + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	return n > 0 && line[2 + n] == '=';
}

/*
 * The README's table of keys gives every key's default: the table is what a reader trusts,
 * so it must be what the code does. Each "`Key=value`" of a "| `[Section]` |" row (the
 * [Rule NAME] row lists keys without defaults).
 */
static void test_readme_defaults(void **state)
{
	_cleanup_free_ char *path = shipped_conf_path(), *readme = NULL, *text = NULL, *dflt = NULL;
	_cleanup_(config_done) struct fdw_config d = {};
	size_t n = 0;

	/* config/fdwatch.conf -> README.md, both relative to the source tree. */
	assert_non_null(strstr(path, "config/fdwatch.conf"));
	strcpy(strstr(path, "config/fdwatch.conf"), "README.md");
	if (read_file_full(path, 1 << 20, &readme, NULL) < 0)
		fail_msg("cannot read %s: run the test from the source tree", path);
	assert_int_equal(config_init(&d), 0);
	dflt = dump(&d);
	for (char *line = readme, *nl; line && *line; line = nl) {
		char section[64];
		const char *p;

		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (sscanf(line, "| `[%63[A-Za-z]]` |", section) != 1 || streq(section, "Rule"))
			continue;
		for (p = strchr(line + 2, '|'); p && (p = strchr(p, '`')); p++) {
			const char *end = strchr(p + 1, '`'), *eq;
			_cleanup_free_ char *key = NULL, *want = NULL;

			assert_non_null(end);
			eq = memchr(p + 1, '=', end - p - 1);
			assert_non_null(eq);
			key = strndup(p + 1, eq - p - 1);
			want = dump_value(dflt, section, key);
			print_message("# README [%s] %.*s\n", section, (int)(end - p - 1), p + 1);
			assert_non_null(want);
			assert_int_equal(strlen(want), end - eq - 1);
			assert_memory_equal(want, eq + 1, end - eq - 1);
			n++;
			p = end;
		}
	}
	/* Every key, each once. */
	assert_int_equal(n, ELEMENTSOF(all_keys));
}

static void test_shipped_conf_is_defaults(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {}, d = {};
	_cleanup_free_ char *text = NULL, *err = NULL, *got = NULL, *want = NULL;
	size_t n;

	text = shipped_conf(is_commented_key, &n);
	/* Every key once. */
	assert_int_equal(n, ELEMENTSOF(all_keys));
	for (size_t i = 0; i < ELEMENTSOF(all_keys); i++) {
		_cleanup_free_ char *v = dump_value(text, all_keys[i].section, all_keys[i].key);

		print_message("# [%s] %s\n", all_keys[i].section, all_keys[i].key);
		assert_non_null(v);
	}
	assert_int_equal(load_text(fx, text, &c, &err), 0);
	assert_string_equal(err, "");
	assert_int_equal(c.n_rules, 0);
	assert_int_equal(config_init(&d), 0);
	got = dump(&c);
	want = dump(&d);
	assert_string_equal(got, want);
}

static void test_shipped_conf_example_rules(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_free_ char *text = NULL, *err = NULL;
	const struct fdw_rule *rule;
	size_t n;

	text = shipped_conf(is_example_line, &n);
	assert_true(n >= 4);
	assert_int_equal(load_text(fx, text, &c, &err), 0);
	assert_string_equal(err, "");
	assert_true(c.n_rules >= 1);
	rule = config_match(&c, "java", "tomcat.service", 1000, NULL);
	assert_non_null(rule);
	assert_string_equal(rule->name, "java-services");
}

/* --- settings from the command line --- */

static const struct setting_case {
	const char *file;
	struct config_setting set[2];
	int r;
	const char *err;  /* "@:" is the file's path */
	const char *want; /* [Probe] TickSec= in the dump, when r == 0 */
} setting_cases[] = {
    {"", {{"--tick", "Probe", "TickSec", "2s"}}, 0, "", "2s"},
    /* A flag wins over the files. */
    {"[Probe]\nTickSec=3s\n", {{"--tick", "Probe", "TickSec", "2s"}}, 0, "", "2s"},
    /* Empty: the built-in default, as "Key=" in a file. */
    {"[Probe]\nTickSec=3s\n", {{"--tick", "Probe", "TickSec", ""}}, 0, "", "1s"},
    /* A later setting of the same key wins. */
    {"",
     {{"--tick", "Probe", "TickSec", "2s"}, {"-t", "Probe", "TickSec", "500ms"}},
     0,
     "",
     "500ms"},
    /* Checked as in a file, so --check-config never prints what does not load back. */
    {"",
     {{"--rescan", "Probe", "RescanSec", "1ns"}},
     -EINVAL,
     "--rescan: [Probe] RescanSec=1ns: out of range, must be 1s to 1h\n"},
    {"",
     {{"--socket", "Api", "SocketPath", "api.sock"}},
     -EINVAL,
     "--socket: [Api] SocketPath=api.sock: must be an absolute path\n"},
    {"",
     {{"--probe-mode", "Probe", "Mode", "fentry"}},
     -EINVAL,
     "--probe-mode: [Probe] Mode=fentry: must be auto, always or poll\n"},
    /* The spelling from before --probe-backend: the backend. */
    {"", {{"--probe-mode", "Probe", "Mode", "raw"}}, 0, "", "1s"},
    /* Every problem, the files' first. */
    {"[Probe]\nTickSec=banana\n",
     {{"--no-journal", "Alert", "Journal", "no"}, {"--tick", "Probe", "TickSec", "5ms"}},
     -EINVAL,
     "@:2: [Probe] TickSec=banana: not a duration (like 500ms, 30s, 2min, 1h)\n"
     "--tick: [Probe] TickSec=5ms: out of range, must be 100ms to 1min\n"},
    /* The cross-key checks see the flags. */
    {"[Detect]\nLeakMinSec=2min\n",
     {{"-x", "Detect", "WindowSec", "1min"}},
     -EINVAL,
     "-x: [Detect] LeakMinSec=2min, WindowSec=1min: LeakMinSec must not be longer than "
     "WindowSec (the history kept)\n"},
};

static void test_settings(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ELEMENTSOF(setting_cases); i++) {
		const struct setting_case *t = &setting_cases[i];
		_cleanup_(config_done) struct fdw_config c = {};
		_cleanup_free_ char *err = NULL, *want_err = expand(t->err, fx->path), *text = NULL,
				    *tick = NULL;
		size_t n = t->set[1].origin ? 2 : 1, size = 0;
		FILE *f;

		print_message("# case %zu\n", i);
		write_file(fx->path, t->file);
		f = open_memstream(&err, &size);
		assert_non_null(f);
		assert_int_equal(config_load(fx->path, t->set, n, f, &c), t->r);
		assert_int_equal(fclose(f), 0);
		assert_string_equal(err, want_err);
		if (t->r < 0)
			continue;
		text = dump(&c);
		tick = dump_value(text, "Probe", "TickSec");
		assert_string_equal(tick, t->want);
		assert_round_trip(fx, &c);
	}
}

static void test_keep_restart_keys(void **state)
{
	struct fixture *fx = *state;
	_cleanup_(config_done) struct fdw_config running = {}, c = {};
	_cleanup_free_ char *err = NULL;

	assert_int_equal(config_init(&running), 0);
	assert_int_equal(load_text(fx,
				   "[Probe]\nMode=raw\nMaxProcesses=4096\nRingBufferKiB=64\n"
				   "ProcRoot=/host/proc\nTickSec=2s\n[Api]\nSocketPath=/x.sock\n",
				   &c, &err),
			 0);
	assert_int_equal(config_restart_needed(&running, &c, NULL), 5);
	assert_int_equal(config_keep_restart_keys(&c, &running), 0);
	assert_int_equal(config_restart_needed(&running, &c, NULL), 0);
	assert_string_equal(c.socket_path, running.socket_path);
	assert_ptr_not_equal(c.socket_path, running.socket_path); /* a copy, each owns its own */
	assert_int_equal(c.tick_ns, 2 * NSEC_PER_SEC);		  /* the rest is the new file's */
}

static void test_probe_mode_names(void **state)
{
	enum probe_backend b;
	enum probe_mode m;

	for (enum probe_mode i = PROBE_MODE_AUTO; i <= PROBE_MODE_POLL; i++) {
		assert_non_null(probe_mode_to_string(i));
		assert_non_null(strstr(PROBE_MODE_NAMES, probe_mode_to_string(i)));
		assert_int_equal(probe_mode_from_string(probe_mode_to_string(i), &m), 0);
		assert_int_equal(m, i);
	}
	assert_null(probe_mode_to_string(PROBE_MODE_POLL + 1));
	assert_int_equal(probe_mode_from_string("Auto", &m), -EINVAL);
	assert_int_equal(probe_mode_from_string(NULL, &m), -EINVAL);
	for (enum probe_backend i = PROBE_BACKEND_TRACEPOINT; i <= PROBE_BACKEND_RAW; i++) {
		assert_non_null(strstr(PROBE_BACKEND_NAMES, probe_backend_to_string(i)));
		assert_int_equal(probe_backend_from_string(probe_backend_to_string(i), &b), 0);
		assert_int_equal(b, i);
	}
	assert_null(probe_backend_to_string(PROBE_BACKEND_RAW + 1));
	assert_int_equal(probe_backend_from_string("Raw", &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T(test_defaults),
	    T(test_missing_main_file),
	    T(test_empty_file),
	    T(test_keys_valid),
	    T(test_keys_fields),
	    T(test_keys_invalid),
	    T(test_duration_units),
	    T(test_format_duration),
	    T(test_format_span),
	    T(test_parse_mode),
	    T(test_log_level),
	    T(test_syntax),
	    T(test_long_values),
	    T(test_nul_byte),
	    T(test_dropin_order),
	    T(test_dropin_file_order_reverse),
	    T(test_dropin_order_full),
	    T(test_dropins_without_main),
	    T(test_dropin_needs_section),
	    T(test_io_errors),
	    T(test_multiple_errors_atomic),
	    T(test_no_err_file),
	    T(test_cross_checks),
	    T(test_rules_parse),
	    T(test_rules_dropin_merge),
	    T(test_rules_errors),
	    T(test_match),
	    T(test_match_no_rules),
	    T(test_restart_needed),
	    T(test_dump_every_key),
	    T(test_dump_round_trip_defaults),
	    T(test_dump_round_trip),
	    T(test_shipped_conf_is_defaults),
	    T(test_readme_defaults),
	    T(test_shipped_conf_example_rules),
	    T(test_settings),
	    T(test_keep_restart_keys),
	    T(test_probe_mode_names),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
