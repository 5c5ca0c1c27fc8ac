// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * config.c - fdwatch.conf: built-in defaults, the main file and its drop-ins,
 * per-process rules, command-line settings, dump and reload checks.
 *
 * One reader does the whole syntax (config.h), line by line, so every problem
 * is reported with its file:line and all of them are, not just the first.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>

#include "config.h"
#include "util.h"

enum section {
	SECTION_NONE = 0, /* before the first header of a file */
	SECTION_PROBE,
	SECTION_DETECT,
	SECTION_ALERT,
	SECTION_API,
	SECTION_RULE,
	SECTION_INVALID, /* unknown or malformed header, reported once: its keys are skipped */
};

static const char *const section_names[] = {
    [SECTION_PROBE] = "Probe",
    [SECTION_DETECT] = "Detect",
    [SECTION_ALERT] = "Alert",
    [SECTION_API] = "Api",
};

enum key_type {
	KEY_PROBE_MODE,	 /* enum probe_mode */
	KEY_U32,	 /* uint32_t */
	KEY_U64,	 /* uint64_t */
	KEY_SIZE,	 /* size_t */
	KEY_RINGBUF_KIB, /* uint32_t, a power of two of at least a page */
	KEY_NSEC,	 /* uint64_t ns, written as a duration */
	KEY_SEC,	 /* uint64_t whole seconds, written as a duration */
	KEY_SEC_DOUBLE,	 /* double seconds, written as a duration */
	KEY_PERCENT,	 /* double 0..100, optional '%' */
	KEY_BOOL,	 /* bool, yes/no */
	KEY_LOG_LEVEL,	 /* int LOG_* */
	KEY_MODE,	 /* uint32_t permission bits, octal */
	KEY_PATH,	 /* char *, absolute */
	KEY_GROUP,	 /* char *, a group name or number; NULL when empty */
};

struct key_desc {
	enum section section;
	const char *name;
	enum key_type type;
	size_t offset;	    /* of the field in struct fdw_config */
	uint64_t min, max;  /* inclusive, in the field's unit; for KEY_PATH: max length */
	bool zero_is_never; /* 0 is allowed below min and means "never" */
	bool restart;	    /* takes effect only at start */
};

#define NSEC_PER_MSEC 1000000ULL
#define SEC(s)	      ((uint64_t)(s)*NSEC_PER_SEC)
#define CFG(f)	      offsetof(struct fdw_config, f)
/*
 * The longest line, without its newline and surrounding whitespace: what the format
 * has always allowed (it was the buffer of the INI library it was first read with),
 * so every file that loaded before loads the same.
 */
#define LINE_MAX_BYTES 199
/* A value must fit a line of its own in a dump, so a path set by a flag stays loadable. */
#define PATH_VALUE_MAX 160

/* In dump order. The ranges keep a typo from becoming a daemon that does nothing or eats RAM. */
static const struct key_desc keys[] = {
    {SECTION_PROBE, "Mode", KEY_PROBE_MODE, CFG(probe_mode), .restart = true},
    /*
     * One BPF hash entry per process, ~300 bytes (struct fdw_counts is 240, plus key and
     * hash element): the top, 4M (PID_MAX_LIMIT), is 1.2 GiB of kernel memory.
     */
    {SECTION_PROBE, "MaxProcesses", KEY_U32, CFG(max_processes), 64, 4194304, .restart = true},
    {SECTION_PROBE, "RingBufferKiB", KEY_RINGBUF_KIB, CFG(ringbuf_kib), 4, 262144, .restart = true},
    /*
     * Creation records of suspects' open fds: 24 B of key and value, ~88 B per entry with the
     * preallocated hash (131072 took 11.0 MiB, make bench); the top, 16M, is 1.4 GiB.
     */
    {SECTION_PROBE, "MaxTrackedFds", KEY_U32, CFG(max_tracked_fds), 1024, 16777216,
     .restart = true},
    /* Distinct user stacks of the records, 256 B each (4096 took 1.1 MiB). */
    {SECTION_PROBE, "MaxStacks", KEY_U32, CFG(max_stacks), 64, 1048576, .restart = true},
    {SECTION_PROBE, "TickSec", KEY_NSEC, CFG(tick_ns), 100 * NSEC_PER_MSEC, SEC(60)},
    {SECTION_PROBE, "RescanSec", KEY_NSEC, CFG(rescan_ns), SEC(1), SEC(3600)},
    {SECTION_PROBE, "ProcRoot", KEY_PATH, CFG(proc_root), 0, PATH_VALUE_MAX, .restart = true},

    /* fs.nr_open cannot exceed 1073741816 (~2^30): no process holds more fds. */
    {SECTION_DETECT, "MinGrowth", KEY_U64, CFG(detect.min_growth), 1, 1U << 30},
    {SECTION_DETECT, "LeakMinSec", KEY_SEC, CFG(detect.leak_min_sec), 1, 86400},
    {SECTION_DETECT, "CriticalEtaSec", KEY_SEC_DOUBLE, CFG(detect.critical_eta_sec), 0, 86400},
    {SECTION_DETECT, "CriticalPercent", KEY_PERCENT, CFG(detect.critical_percent), 0, 100},
    {SECTION_DETECT, "NearLimitFds", KEY_U64, CFG(detect.near_limit_fds), 0, 1U << 30},
    {SECTION_DETECT, "CooldownSec", KEY_SEC, CFG(detect.cooldown_sec), 0, 86400},
    {SECTION_DETECT, "WindowSec", KEY_SEC, CFG(detect.window_sec), 1, 86400},

    {SECTION_ALERT, "MinInterval", KEY_NSEC, CFG(alerts.min_interval_ns), 0, SEC(86400)},
    {SECTION_ALERT, "Burst", KEY_U64, CFG(alerts.burst), 1, 1000},
    /* struct alert is about 1 KiB: 65536 of them is 64 MiB. */
    {SECTION_ALERT, "HistorySize", KEY_SIZE, CFG(alerts.history_size), 1, 65536},
    {SECTION_ALERT, "Journal", KEY_BOOL, CFG(alert_journal)},
    /* A queued alert is ~1 KiB (513 bytes of fields, iovecs, malloc): 65536 is 64 MiB. */
    {SECTION_ALERT, "JournalQueue", KEY_U32, CFG(journal_queue), 1, 65536},
    {SECTION_ALERT, "LogLevel", KEY_LOG_LEVEL, CFG(log_level)},
    {SECTION_ALERT, "HooksDirectory", KEY_PATH, CFG(hooks.directory), 0, PATH_VALUE_MAX},
    {SECTION_ALERT, "HookTimeoutSec", KEY_NSEC, CFG(hooks.timeout_ns), 100 * NSEC_PER_MSEC,
     SEC(3600)},
    /*
     * Each running hook is a process: the shipped Alertmanager hook (python3) peaks at 19 MiB
     * RSS (measured), so 64 at once stay near 1.2 GiB.
     */
    {SECTION_ALERT, "MaxConcurrentHooks", KEY_U32, CFG(hooks.max_concurrent), 1, 64},
    /* A queued run holds the alert's JSON, at most 1.6 KiB (hooks.c): 65536 are 106 MiB. */
    {SECTION_ALERT, "HookQueueSize", KEY_U32, CFG(hooks.queue_size), 0, 65536},

    {SECTION_API, "SocketPath", KEY_PATH, CFG(socket_path), 0,
     sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1, .restart = true},
    {SECTION_API, "SocketMode", KEY_MODE, CFG(socket_mode), 0, 0777},
    {SECTION_API, "SocketGroup", KEY_GROUP, CFG(socket_group)},
    {SECTION_API, "AdminGroup", KEY_GROUP, CFG(admin_group)},
    {SECTION_API, "MaxRequestBytes", KEY_U32, CFG(max_request_bytes), 512, 16 << 20},
    {SECTION_API, "MaxClients", KEY_U32, CFG(max_clients), 1, 65536},
    {SECTION_API, "MaxClientsPerUid", KEY_U32, CFG(max_clients_per_uid), 1, 65536},
    {SECTION_API, "RequestTimeoutSec", KEY_NSEC, CFG(request_timeout_ns), 100 * NSEC_PER_MSEC,
     SEC(3600)},
    {SECTION_API, "IdleTimeoutSec", KEY_NSEC, CFG(idle_timeout_ns), SEC(1), SEC(30 * 86400),
     .zero_is_never = true},
    {SECTION_API, "MaxOutputBytes", KEY_U32, CFG(max_output_bytes), 4096, 256 << 20},
};

/* [Rule] keys that override a [Detect] key of the same name. */
static const struct rule_override {
	const char *name;
	size_t offset, has_offset; /* in struct fdw_rule */
} rule_overrides[] = {
#define RULE_OVERRIDE(n, f)                                                                        \
	{                                                                                          \
		n, offsetof(struct fdw_rule, f), offsetof(struct fdw_rule, has_##f)                \
	}
    RULE_OVERRIDE("MinGrowth", min_growth),
    RULE_OVERRIDE("LeakMinSec", leak_min_sec),
    RULE_OVERRIDE("CriticalEtaSec", critical_eta_sec),
    RULE_OVERRIDE("CriticalPercent", critical_percent),
#undef RULE_OVERRIDE
};

static const char *const probe_modes[] = {
    [PROBE_MODE_TRACEPOINT] = "tracepoint",
    [PROBE_MODE_RAW] = "raw",
};

const char *probe_mode_to_string(enum probe_mode m)
{
	if ((size_t)m >= ELEMENTSOF(probe_modes))
		return NULL;
	return probe_modes[m];
}

int probe_mode_from_string(const char *s, enum probe_mode *ret)
{
	for (size_t i = 0; s && i < ELEMENTSOF(probe_modes); i++)
		if (streq(s, probe_modes[i])) {
			*ret = (enum probe_mode)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const log_levels[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",	[LOG_CRIT] = "crit", [LOG_ERR] = "err",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int config_parse_log_level(const char *s, int *ret)
{
	for (size_t i = 0; s && i < ELEMENTSOF(log_levels); i++)
		if (streq(s, log_levels[i])) {
			*ret = (int)i;
			return 0;
		}
	return -EINVAL;
}

const char *config_log_level_to_string(int level)
{
	if (level < 0 || (size_t)level >= ELEMENTSOF(log_levels))
		return NULL;
	return log_levels[level];
}

int config_init(struct fdw_config *c)
{
	*c = (struct fdw_config){
	    .probe_mode = PROBE_MODE_TRACEPOINT,
	    .max_processes = 16384,
	    .ringbuf_kib = 256,
	    .max_tracked_fds = 131072,
	    .max_stacks = 4096,
	    .tick_ns = SEC(1),
	    .rescan_ns = SEC(5),
	    .alert_journal = true,
	    /* 4x the history; alerts are rate limited per process (Burst= per MinInterval=), so
	     * it takes thousands of leaking processes to fill it while journald is stuck. ~4 MiB.
	     */
	    .journal_queue = 4096,
	    .log_level = LOG_INFO,
	    .socket_mode = 0660,
	    .max_request_bytes = 65536,
	    .max_clients = 64,
	    .max_clients_per_uid = 16,
	    .request_timeout_ns = SEC(5),
	    .idle_timeout_ns = SEC(300),
	    .max_output_bytes = 1048576,
	    .hooks = {.timeout_ns = SEC(10), .max_concurrent = 4, .queue_size = 64},
	};
	detect_config_init(&c->detect);
	alerts_config_init(&c->alerts);
	c->proc_root = strdup("/proc");
	c->socket_path = strdup(FDW_SOCKET_PATH);
	c->hooks.directory = strdup(FDW_HOOKS_DIR);
	if (!c->proc_root || !c->socket_path || !c->hooks.directory) {
		config_done(c);
		return -ENOMEM;
	}
	return 0;
}

static void rule_done(struct fdw_rule *r)
{
	free(r->name);
	free(r->comm_glob);
	free(r->unit_glob);
}

void config_done(struct fdw_config *c)
{
	if (!c)
		return;
	free(c->proc_root);
	free(c->socket_path);
	free(c->hooks.directory);
	free(c->socket_group);
	free(c->admin_group);
	for (size_t i = 0; i < c->n_rules; i++)
		rule_done(&c->rules[i]);
	free(c->rules);
	*c = (struct fdw_config){};
}

/* --- values: parse, print, compare, per key type --- */

static size_t key_size(enum key_type t)
{
	switch (t) {
	case KEY_PROBE_MODE:
		return sizeof(enum probe_mode);
	case KEY_U32:
	case KEY_RINGBUF_KIB:
	case KEY_MODE:
		return sizeof(uint32_t);
	case KEY_U64:
	case KEY_NSEC:
	case KEY_SEC:
		return sizeof(uint64_t);
	case KEY_SIZE:
		return sizeof(size_t);
	case KEY_SEC_DOUBLE:
	case KEY_PERCENT:
		return sizeof(double);
	case KEY_BOOL:
		return sizeof(bool);
	case KEY_LOG_LEVEL:
		return sizeof(int);
	case KEY_PATH:
	case KEY_GROUP:
		return sizeof(char *);
	}
	return 0;
}

static bool key_is_string(enum key_type t)
{
	return t == KEY_PATH || t == KEY_GROUP;
}

/* The shortest "%g" text that reads back as v, without an exponent when one is avoidable. */
static void format_double(char *buf, size_t size, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (!strchr(buf, 'e') && strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, size, "%.17g", v);
}

static uint64_t sec_double_to_ns(double sec)
{
	return (uint64_t)llround(sec * 1e9);
}

/* Print a value in the unit its key is written in; min/max of the key use the same. */
static void key_format_number(const struct key_desc *k, uint64_t v, char *buf, size_t size)
{
	switch (k->type) {
	case KEY_NSEC:
		format_duration_ns(buf, size, v);
		break;
	case KEY_SEC:
	case KEY_SEC_DOUBLE:
		format_duration_ns(buf, size, SEC(v));
		break;
	default:
		snprintf(buf, size, "%llu", (unsigned long long)v);
	}
}

static void key_print(const struct key_desc *k, const void *field, FILE *f)
{
	char buf[64];

	switch (k->type) {
	case KEY_PROBE_MODE:
		fputs(probe_mode_to_string(*(const enum probe_mode *)field), f);
		return;
	case KEY_U32:
	case KEY_RINGBUF_KIB:
		fprintf(f, "%" PRIu32, *(const uint32_t *)field);
		return;
	case KEY_U64:
		fprintf(f, "%" PRIu64, *(const uint64_t *)field);
		return;
	case KEY_SIZE:
		fprintf(f, "%zu", *(const size_t *)field);
		return;
	case KEY_NSEC:
		fputs(format_duration_ns(buf, sizeof(buf), *(const uint64_t *)field), f);
		return;
	case KEY_SEC:
		fputs(format_duration_ns(buf, sizeof(buf), SEC(*(const uint64_t *)field)), f);
		return;
	case KEY_SEC_DOUBLE: {
		uint64_t ns = sec_double_to_ns(*(const double *)field);

		fputs(format_duration_ns(buf, sizeof(buf), ns), f);
		return;
	}
	case KEY_PERCENT:
		format_double(buf, sizeof(buf), *(const double *)field);
		fputs(buf, f);
		return;
	case KEY_BOOL:
		fputs(*(const bool *)field ? "yes" : "no", f);
		return;
	case KEY_LOG_LEVEL: {
		const char *s = config_log_level_to_string(*(const int *)field);

		if (s)
			fputs(s, f);
		else
			fprintf(f, "%d", *(const int *)field);
		return;
	}
	case KEY_MODE:
		fprintf(f, "%04" PRIo32, *(const uint32_t *)field);
		return;
	case KEY_PATH:
	case KEY_GROUP:
		if (*(char *const *)field)
			fputs(*(char *const *)field, f);
		return;
	}
}

static bool key_equal(const struct key_desc *k, const void *a, const void *b)
{
	if (key_is_string(k->type))
		return streq_ptr(*(char *const *)a, *(char *const *)b);
	return memcmp(a, b, key_size(k->type)) == 0;
}

/* Copy the value of src's field to dst's field. 0 or -ENOMEM. */
static int key_copy(const struct key_desc *k, void *dst, const void *src)
{
	if (key_is_string(k->type))
		return free_and_strdup(dst, *(char *const *)src);
	memcpy(dst, src, key_size(k->type));
	return 0;
}

static int reason_range(const struct key_desc *k, char *reason, size_t size)
{
	char lo[DURATION_STR_MAX], hi[DURATION_STR_MAX];

	key_format_number(k, k->min, lo, sizeof(lo));
	key_format_number(k, k->max, hi, sizeof(hi));
	snprintf(reason, size, "out of range, must be %s%s to %s", k->zero_is_never ? "0 or " : "",
		 lo, hi);
	return -ERANGE;
}

static bool in_range(const struct key_desc *k, uint64_t v)
{
	return (v >= k->min && v <= k->max) || (k->zero_is_never && v == 0);
}

static bool is_user_or_group_name(const char *s)
{
	/* The portable user/group name set (useradd(8)), or a number. */
	if (s[strspn(s, "0123456789")] == '\0')
		return strlen(s) <= 10;
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	return strlen(s) <= 32 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
		   strlen(s);
}

static bool has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/*
 * Parse a non-empty value of key k into *field (untouched on error). 0; -ENOMEM; or another
 * -errno with a reason for the user in reason.
 */
static int key_parse(const struct key_desc *k, const char *value, void *field, char *reason,
		     size_t size)
{
	uint64_t u;
	double d;
	int r;

	switch (k->type) {
	case KEY_PROBE_MODE:
		r = probe_mode_from_string(value, field);
		if (r < 0)
			snprintf(reason, size, "must be %s", PROBE_MODE_NAMES);
		return r;

	case KEY_U32:
	case KEY_U64:
	case KEY_SIZE:
	case KEY_RINGBUF_KIB:
		r = parse_u64(value, &u);
		if (r == -EINVAL) {
			snprintf(reason, size, "not a number");
			return r;
		}
		if (r < 0 || !in_range(k, u))
			return reason_range(k, reason, size);
		if (k->type == KEY_RINGBUF_KIB) {
			/* BPF ring buffers are a power of two of pages (bpf_ringbuf_alloc()). */
			uint64_t page_kib = (uint64_t)MAX(sysconf(_SC_PAGESIZE), 1024) / 1024;

			if (u & (u - 1)) {
				snprintf(reason, size, "must be a power of two");
				return -EINVAL;
			}
			if (u < page_kib) {
				snprintf(reason, size, "must be at least a page (%" PRIu64 " KiB)",
					 page_kib);
				return -ERANGE;
			}
		}
		if (k->type == KEY_U64)
			*(uint64_t *)field = u;
		else if (k->type == KEY_SIZE)
			*(size_t *)field = (size_t)u;
		else
			*(uint32_t *)field = (uint32_t)u;
		return 0;

	case KEY_NSEC:
	case KEY_SEC:
	case KEY_SEC_DOUBLE:
		r = parse_duration_ns(value, &u);
		if (r < 0) {
			snprintf(reason, size, "not a duration (like 500ms, 30s, 2min, 1h)");
			return r;
		}
		if (k->type == KEY_NSEC) {
			if (!in_range(k, u))
				return reason_range(k, reason, size);
			*(uint64_t *)field = u;
		} else if (k->type == KEY_SEC) {
			if (u % NSEC_PER_SEC) {
				snprintf(reason, size, "must be whole seconds");
				return -EINVAL;
			}
			if (!in_range(k, u / NSEC_PER_SEC))
				return reason_range(k, reason, size);
			*(uint64_t *)field = u / NSEC_PER_SEC;
		} else {
			if (u < SEC(k->min) || u > SEC(k->max))
				return reason_range(k, reason, size);
			*(double *)field = (double)u / 1e9;
		}
		return 0;

	case KEY_PERCENT: {
		_cleanup_free_ char *copy = strdup(value);
		size_t n;

		if (!copy)
			return -ENOMEM;
		n = strlen(copy);
		if (n > 1 && copy[n - 1] == '%')
			copy[n - 1] = '\0';
		r = parse_double(copy, &d);
		if (r < 0) {
			snprintf(reason, size, "not a number");
			return -EINVAL;
		}
		if (d < (double)k->min || d > (double)k->max)
			return reason_range(k, reason, size);
		*(double *)field = d;
		return 0;
	}

	case KEY_BOOL:
		r = parse_bool(value, (bool *)field);
		if (r < 0)
			snprintf(reason, size, "must be yes or no");
		return r;

	case KEY_LOG_LEVEL:
		r = config_parse_log_level(value, (int *)field);
		if (r < 0)
			snprintf(reason, size,
				 "must be one of debug, info, notice, warning, err, "
				 "crit, alert, emerg");
		return r;

	case KEY_MODE: {
		uint32_t mode;

		r = parse_mode(value, &mode);
		if (r < 0 || mode > k->max) {
			snprintf(reason, size, "must be octal permission bits, 0000 to 0777");
			return -EINVAL;
		}
		*(uint32_t *)field = mode;
		return 0;
	}

	case KEY_PATH:
		if (value[0] != '/' || has_control_chars(value)) {
			snprintf(reason, size, "must be an absolute path");
			return -EINVAL;
		}
		if (strlen(value) > k->max) {
			snprintf(reason, size, "too long, at most %" PRIu64 " bytes", k->max);
			return -ENAMETOOLONG;
		}
		return free_and_strdup(field, value);

	case KEY_GROUP:
		if (!is_user_or_group_name(value)) {
			snprintf(reason, size, "not a valid group name or number");
			return -EINVAL;
		}
		return free_and_strdup(field, value);
	}
	return -EINVAL;
}

static const struct key_desc *key_find(enum section s, const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if ((s == SECTION_NONE || keys[i].section == s) && streq(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* --- parsing --- */

struct loc {
	int file; /* index into parse_ctx.files; -1: built-in default */
	unsigned line;
};

struct rule_meta {
	struct loc header;   /* where the rule was first defined */
	struct loc leak_min; /* where its LeakMinSec= was last set */
};

struct parse_ctx {
	struct fdw_config *c;	    /* being built */
	struct fdw_config defaults; /* for "Key=" */
	struct rule_meta *meta;	    /* parallel to c->rules */
	FILE *err;
	unsigned n_errors;
	int error; /* -errno that aborts the load: ENOMEM or an I/O error */

	char **files; /* every file read, for struct loc */
	size_t n_files;

	/* The file being read. */
	FILE *f;
	unsigned line;
	char *buf;
	size_t buf_size;

	/* The section being read. */
	enum section section;
	char section_name[256]; /* as written: "Probe", "Rule java" */
	size_t rule;		/* SECTION_RULE: index into c->rules */

	struct loc key_loc[ELEMENTSOF(keys)]; /* where each key was last set */
};

static void parse_ctx_done(struct parse_ctx *ctx)
{
	config_done(&ctx->defaults);
	free(ctx->meta);
	for (size_t i = 0; i < ctx->n_files; i++)
		free(ctx->files[i]);
	free(ctx->files);
	free(ctx->buf);
}

static struct loc here(const struct parse_ctx *ctx)
{
	return (struct loc){.file = (int)ctx->n_files - 1, .line = ctx->line};
}

static bool loc_after(struct loc a, struct loc b)
{
	return a.file > b.file || (a.file == b.file && a.line > b.line);
}

_printf_(3, 4) static void report(struct parse_ctx *ctx, struct loc loc, const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	if (!ctx->err)
		return;
	if (loc.file >= 0 && loc.line > 0)
		fprintf(ctx->err, "%s:%u: ", ctx->files[loc.file], loc.line);
	else if (loc.file >= 0) /* a setting from the command line: its flag */
		fprintf(ctx->err, "%s: ", ctx->files[loc.file]);
	va_start(ap, fmt);
	vfprintf(ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', ctx->err);
}

static void report_key(struct parse_ctx *ctx, const char *key, const char *value,
		       const char *reason)
{
	report(ctx, here(ctx), "[%s] %s=%s: %s", ctx->section_name, key, value, reason);
}

static void fail(struct parse_ctx *ctx, int r)
{
	if (!ctx->error)
		ctx->error = r;
}

static void global_set(struct parse_ctx *ctx, const char *name, const char *value)
{
	const struct key_desc *k = key_find(ctx->section, name);
	char reason[192];
	void *field;
	int r;

	if (!k) {
		const struct key_desc *other = key_find(SECTION_NONE, name);

		if (other) {
			snprintf(reason, sizeof(reason), "unknown key (it belongs in [%s])",
				 section_names[other->section]);
			report_key(ctx, name, value, reason);
		} else
			report_key(ctx, name, value, "unknown key");
		return;
	}

	field = (char *)ctx->c + k->offset;
	if (!*value)
		r = key_copy(k, field, (const char *)&ctx->defaults + k->offset);
	else
		r = key_parse(k, value, field, reason, sizeof(reason));
	if (r == -ENOMEM)
		fail(ctx, r);
	else if (r < 0)
		report_key(ctx, name, value, reason);
	else
		ctx->key_loc[k - keys] = here(ctx);
}

static int parse_uid(const char *s, int64_t *ret, char *reason, size_t size)
{
	struct passwd pw, *result = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t buf_size = 1024;
	uint64_t u;
	int r;

	if (parse_u64(s, &u) >= 0) {
		/* (uid_t)-1 is "no uid" in chown(2) and friends. */
		if (u >= UINT32_MAX) {
			snprintf(reason, size, "out of range");
			return -ERANGE;
		}
		*ret = (int64_t)u;
		return 0;
	}
	if (!is_user_or_group_name(s)) {
		snprintf(reason, size, "not a user name or number");
		return -EINVAL;
	}
	for (;;) {
		free(buf);
		buf = malloc(buf_size);
		if (!buf)
			return -ENOMEM;
		r = getpwnam_r(s, &pw, buf, buf_size, &result);
		if (r != ERANGE || buf_size >= 1024 * 1024)
			break;
		buf_size *= 2;
	}
	if (r == ENOMEM)
		return -ENOMEM;
	/* getpwnam_r(3): some NSS modules say "not found" with one of these. */
	if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
		r = 0;
	if (r) {
		snprintf(reason, size, "cannot look up the user: %s", strerror(r));
		return -r;
	}
	if (!result) {
		snprintf(reason, size, "unknown user");
		return -ESRCH;
	}
	*ret = pw.pw_uid;
	return 0;
}

static void rule_set(struct parse_ctx *ctx, const char *name, const char *value)
{
	struct fdw_rule *rule = &ctx->c->rules[ctx->rule];
	char reason[192];
	int r = 0;

	if (streq(name, "Comm") || streq(name, "Unit")) {
		char **glob = streq(name, "Comm") ? &rule->comm_glob : &rule->unit_glob;

		if (has_control_chars(value)) {
			snprintf(reason, sizeof(reason), "control characters in the pattern");
			r = -EINVAL;
		} else
			r = free_and_strdup(glob, *value ? value : NULL);
	} else if (streq(name, "Uid")) {
		if (!*value)
			rule->uid = -1;
		else
			r = parse_uid(value, &rule->uid, reason, sizeof(reason));
	} else if (streq(name, "Ignore")) {
		if (!*value)
			rule->ignore = false;
		else {
			r = parse_bool(value, &rule->ignore);
			if (r < 0)
				snprintf(reason, sizeof(reason), "must be yes or no");
		}
	} else {
		const struct rule_override *o = NULL;
		const struct key_desc *k;

		for (size_t i = 0; i < ELEMENTSOF(rule_overrides); i++)
			if (streq(rule_overrides[i].name, name))
				o = &rule_overrides[i];
		if (!o) {
			report_key(ctx, name, value, "unknown key");
			return;
		}
		k = key_find(SECTION_DETECT, name);
		if (!*value)
			*(bool *)((char *)rule + o->has_offset) = false;
		else {
			r = key_parse(k, value, (char *)rule + o->offset, reason, sizeof(reason));
			if (r >= 0)
				*(bool *)((char *)rule + o->has_offset) = true;
		}
		if (r >= 0 && streq(name, "LeakMinSec"))
			ctx->meta[ctx->rule].leak_min = here(ctx);
	}
	if (r == -ENOMEM)
		fail(ctx, r);
	else if (r < 0)
		report_key(ctx, name, value, reason);
}

/* One Key=value line, split and stripped, in the section being read. */
static void key_set(struct parse_ctx *ctx, const char *name, const char *value)
{
	switch (ctx->section) {
	case SECTION_INVALID:
		break;
	case SECTION_NONE:
		report(ctx, here(ctx), "%s=%s: not in a section", name, value);
		break;
	case SECTION_RULE:
		rule_set(ctx, name, value);
		break;
	default:
		global_set(ctx, name, value);
	}
}

static bool is_rule_name(const char *s)
{
	return *s && strlen(s) <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-") ==
		   strlen(s);
}

static int rule_find_or_add(struct parse_ctx *ctx, const char *name, size_t *ret)
{
	struct fdw_config *c = ctx->c;
	_cleanup_free_ char *n = NULL;
	struct fdw_rule *rules;
	struct rule_meta *meta;

	if (name) {
		for (size_t i = 0; i < c->n_rules; i++)
			if (streq(c->rules[i].name, name)) {
				*ret = i;
				return 0;
			}
		n = strdup(name);
	} else {
		/* "rule-N" after its position, made unique against named rules. */
		for (size_t i = c->n_rules + 1;; i++) {
			bool taken = false;

			free(n);
			if (asprintf(&n, "rule-%zu", i) < 0)
				return -ENOMEM;
			for (size_t j = 0; j < c->n_rules; j++)
				taken = taken || streq(c->rules[j].name, n);
			if (!taken)
				break;
		}
	}
	if (!n)
		return -ENOMEM;

	rules = reallocarray(c->rules, c->n_rules + 1, sizeof(*rules));
	if (!rules)
		return -ENOMEM;
	c->rules = rules;
	meta = reallocarray(ctx->meta, c->n_rules + 1, sizeof(*meta));
	if (!meta)
		return -ENOMEM;
	ctx->meta = meta;

	rules[c->n_rules] = (struct fdw_rule){.name = TAKE_PTR(n), .uid = -1};
	meta[c->n_rules] = (struct rule_meta){.header = here(ctx), .leak_min = {-1, 0}};
	*ret = c->n_rules++;
	return 0;
}

/* A "[...]" line, stripped. */
static void section_begin(struct parse_ctx *ctx, const char *s, size_t len)
{
	const char *name;
	int r;

	ctx->section = SECTION_INVALID;
	if (len < 2 || s[len - 1] != ']') {
		snprintf(ctx->section_name, sizeof(ctx->section_name), "%s", s);
		report(ctx, here(ctx), "%s: invalid section header, expected [Name]", s);
		return;
	}
	snprintf(ctx->section_name, sizeof(ctx->section_name), "%.*s", (int)(len - 2), s + 1);
	name = ctx->section_name;

	for (size_t i = 0; i < ELEMENTSOF(section_names); i++)
		if (section_names[i] && streq(name, section_names[i])) {
			ctx->section = (enum section)i;
			return;
		}

	if (streq(name, "Rule") || strncmp(name, "Rule ", 5) == 0) {
		const char *rule_name = name[4] ? name + 5 : NULL;

		if (rule_name && !is_rule_name(rule_name)) {
			report(ctx, here(ctx),
			       "[%s]: invalid rule name, want 1 to 64 of A-Z a-z 0-9 _ . : @ -",
			       name);
			return;
		}
		r = rule_find_or_add(ctx, rule_name, &ctx->rule);
		if (r < 0)
			fail(ctx, r);
		else
			ctx->section = SECTION_RULE;
		return;
	}
	report(ctx, here(ctx), "[%s]: unknown section", name);
}

/*
 * A stripped line that is neither a comment nor a header: split it at its first '=' into a
 * key (a plain name) and a value without surrounding whitespace and without an inline
 * comment (";" after whitespace, to the end of the line). s is modified. false, after
 * reporting it, when the line is not Key=value.
 */
static bool key_line_split(struct parse_ctx *ctx, char *s, char **ret_key, char **ret_value)
{
	char *eq = strchr(s, '='), *value;
	const char *reason = NULL;
	size_t klen = eq ? (size_t)(eq - s) : 0;
	bool was_space = false;

	while (klen > 0 && isspace((unsigned char)s[klen - 1]))
		klen--;
	if (!eq)
		reason = "expected Key=value";
	else if (klen == 0 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789_") != klen)
		reason = "invalid key name";
	if (reason) {
		if (ctx->section_name[0])
			report(ctx, here(ctx), "[%s] %s: %s", ctx->section_name, s, reason);
		else
			report(ctx, here(ctx), "%s: %s", s, reason);
		return false;
	}
	s[klen] = '\0';
	value = eq + 1;
	for (char *p = value; *p; p++) {
		if (was_space && *p == ';') {
			*p = '\0';
			break;
		}
		was_space = isspace((unsigned char)*p);
	}
	while (isspace((unsigned char)*value))
		value++;
	for (size_t n = strlen(value); n > 0 && isspace((unsigned char)value[n - 1]);)
		value[--n] = '\0';
	*ret_key = s;
	*ret_value = value;
	return true;
}

/* Read ctx->f line by line: headers, Key=value lines, comments; every problem with its line. */
static void parse_lines(struct parse_ctx *ctx)
{
	for (;;) {
		char *s, *key, *value;
		ssize_t n;
		size_t len;

		errno = 0;
		n = getline(&ctx->buf, &ctx->buf_size, ctx->f);
		if (n < 0) {
			if (ferror(ctx->f)) {
				fail(ctx, negative_errno());
				if (ctx->err)
					fprintf(ctx->err, "%s: read failed: %s\n",
						ctx->files[ctx->n_files - 1],
						strerror(-ctx->error));
			} else if (errno == ENOMEM)
				fail(ctx, -ENOMEM);
			return;
		}
		ctx->line++;
		s = ctx->buf;
		if (strlen(s) != (size_t)n) {
			report(ctx, here(ctx), "NUL byte in the line");
			continue;
		}
		if (ctx->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		/* Leading whitespace goes: an indented line is a line of its own, never a
		 * continuation. */
		s += strspn(s, " \t\r\n\f\v");
		len = strlen(s);
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			s[--len] = '\0';
		if (len > LINE_MAX_BYTES) {
			report(ctx, here(ctx), "line too long, at most %d bytes", LINE_MAX_BYTES);
			continue;
		}
		if (len == 0 || *s == '#' || *s == ';')
			continue;
		if (*s == '[')
			section_begin(ctx, s, len);
		else if (key_line_split(ctx, s, &key, &value))
			key_set(ctx, key, value);
		if (ctx->error)
			return;
	}
}

/* Parse one file into ctx->c. A missing file is fine. 0 or -errno (also reported). */
static int parse_file(struct parse_ctx *ctx, const char *path)
{
	_cleanup_fclose_ FILE *f = NULL;
	char **files;
	struct stat st;
	int r;

	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		r = negative_errno();
		goto fail;
	}
	if (fstat(fileno(f), &st) < 0) {
		r = negative_errno();
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto fail;
	}

	files = reallocarray(ctx->files, ctx->n_files + 1, sizeof(*files));
	if (!files)
		return -ENOMEM;
	ctx->files = files;
	files[ctx->n_files] = strdup(path);
	if (!files[ctx->n_files])
		return -ENOMEM;
	ctx->n_files++;

	/* Each file starts outside any section, as in systemd's drop-ins. */
	ctx->f = f;
	ctx->line = 0;
	ctx->section = SECTION_NONE;
	ctx->section_name[0] = '\0';
	parse_lines(ctx);
	ctx->f = NULL;
	return ctx->error;

fail:
	if (ctx->err)
		fprintf(ctx->err, "%s: %s\n", path, strerror(-r));
	return r;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_dropins(struct parse_ctx *ctx, const char *dir)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_(strv_freep) char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	int r;

	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		r = negative_errno();
		if (ctx->err)
			fprintf(ctx->err, "%s: %s\n", dir, strerror(-r));
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **v;

		/* Hidden files are editor and package manager leftovers, as systemd treats them. */
		if (de->d_name[0] == '.' || len <= 5 || !streq(de->d_name + len - 5, ".conf"))
			continue;
		v = reallocarray(names, n + 2, sizeof(*v));
		if (!v)
			return -ENOMEM;
		names = v;
		names[n] = strdup(de->d_name);
		if (!names[n])
			return -ENOMEM;
		names[++n] = NULL;
	}
	if (errno) {
		r = negative_errno();
		if (ctx->err)
			fprintf(ctx->err, "%s: %s\n", dir, strerror(-r));
		return r;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
			return -ENOMEM;
		r = parse_file(ctx, path);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A setting from outside the files, as if it were a line of a last file named after its origin. */
static int apply_setting(struct parse_ctx *ctx, const struct config_setting *set)
{
	char **files;

	files = reallocarray(ctx->files, ctx->n_files + 1, sizeof(*files));
	if (!files)
		return -ENOMEM;
	ctx->files = files;
	files[ctx->n_files] = strdup(set->origin);
	if (!files[ctx->n_files])
		return -ENOMEM;
	ctx->n_files++;
	ctx->line = 0;
	ctx->section = SECTION_INVALID;
	snprintf(ctx->section_name, sizeof(ctx->section_name), "%s", set->section);
	for (size_t i = 0; i < ELEMENTSOF(section_names); i++)
		if (section_names[i] && streq(set->section, section_names[i]))
			ctx->section = (enum section)i;
	if (ctx->section == SECTION_INVALID)
		report(ctx, here(ctx), "[%s]: unknown section", set->section);
	else
		global_set(ctx, set->key, set->value);
	return ctx->error;
}

static const struct key_desc *key_by_name(const char *name)
{
	return key_find(SECTION_NONE, name);
}

/* An integer-valued key's value, in the unit key_format_number() takes. */
static uint64_t key_number(const struct key_desc *k, const struct fdw_config *c)
{
	const void *field = (const char *)c + k->offset;

	return key_size(k->type) == sizeof(uint32_t) ? *(const uint32_t *)field
						     : *(const uint64_t *)field;
}

/*
 * A check between two integer keys of one section, after every file: reported where the later
 * of the two was set, since that is the one the user just changed. Only for combinations that
 * break something: a per-user limit above the total, or a rescan more often than the tick (it
 * then runs every tick) are merely redundant.
 */
static void check_pair(struct parse_ctx *ctx, const char *name_a, const char *name_b, bool ok,
		       const char *what)
{
	const struct key_desc *a = key_by_name(name_a), *b = key_by_name(name_b);
	struct loc la = ctx->key_loc[a - keys], lb = ctx->key_loc[b - keys];
	char va[DURATION_STR_MAX], vb[DURATION_STR_MAX];

	if (ok)
		return;
	key_format_number(a, key_number(a, ctx->c), va, sizeof(va));
	key_format_number(b, key_number(b, ctx->c), vb, sizeof(vb));
	report(ctx, loc_after(la, lb) ? la : lb, "[%s] %s=%s, %s=%s: %s", section_names[a->section],
	       a->name, va, b->name, vb, what);
}

static void config_check(struct parse_ctx *ctx)
{
	const struct fdw_config *c = ctx->c;
	struct loc lw = ctx->key_loc[key_by_name("WindowSec") - keys];
	char buf[DURATION_STR_MAX], window[DURATION_STR_MAX];

	/* The detector keeps window_sec of history: a longer leak_min_sec could never be seen. */
	check_pair(ctx, "LeakMinSec", "WindowSec", c->detect.leak_min_sec <= c->detect.window_sec,
		   "LeakMinSec must not be longer than WindowSec (the history kept)");

	format_duration_ns(window, sizeof(window), SEC(c->detect.window_sec));
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct fdw_rule *rule = &c->rules[i];
		const struct rule_meta *m = &ctx->meta[i];

		if (!rule->comm_glob && !rule->unit_glob && rule->uid < 0)
			report(ctx, m->header,
			       "[Rule %s]: no match key, want Comm=, Unit= or Uid=", rule->name);
		if (rule->has_leak_min_sec && rule->leak_min_sec > c->detect.window_sec) {
			format_duration_ns(buf, sizeof(buf), SEC(rule->leak_min_sec));
			report(ctx, loc_after(m->leak_min, lw) ? m->leak_min : lw,
			       "[Rule %s] LeakMinSec=%s: longer than [Detect] WindowSec=%s",
			       rule->name, buf, window);
		}
	}
}

int config_load(const char *path, const struct config_setting *settings, size_t n_settings,
		FILE *err, struct fdw_config *ret)
{
	_cleanup_(config_done) struct fdw_config c = {};
	_cleanup_(parse_ctx_done) struct parse_ctx ctx = {.c = &c, .err = err};
	_cleanup_free_ char *dropins = NULL;
	int r;

	if (!path)
		path = FDW_CONFIG_FILE;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		ctx.key_loc[i] = (struct loc){-1, 0};
	r = config_init(&c);
	if (r < 0)
		return r;
	r = config_init(&ctx.defaults);
	if (r < 0)
		return r;

	r = parse_file(&ctx, path);
	if (r < 0)
		return r;
	if (asprintf(&dropins, "%s.d", path) < 0)
		return -ENOMEM;
	r = parse_dropins(&ctx, dropins);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_settings; i++) {
		r = apply_setting(&ctx, &settings[i]);
		if (r < 0)
			return r;
	}
	config_check(&ctx);
	if (ctx.error)
		return ctx.error;
	if (ctx.n_errors > 0)
		return -EINVAL;

	*ret = c;
	c = (struct fdw_config){};
	return 0;
}

void config_dump(const struct fdw_config *c, FILE *f)
{
	enum section s = SECTION_NONE;

	fputs("# fdwatch effective configuration\n", f);
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const struct key_desc *k = &keys[i];

		if (k->section != s) {
			s = k->section;
			fprintf(f, "\n[%s]\n", section_names[s]);
		}
		fprintf(f, "%s=", k->name);
		key_print(k, (const char *)c + k->offset, f);
		fputc('\n', f);
	}

	for (size_t i = 0; i < c->n_rules; i++) {
		const struct fdw_rule *rule = &c->rules[i];

		fprintf(f, "\n[Rule %s]\n", rule->name);
		fprintf(f, "Comm=%s\n", rule->comm_glob ?: "");
		fprintf(f, "Unit=%s\n", rule->unit_glob ?: "");
		if (rule->uid >= 0)
			fprintf(f, "Uid=%" PRId64 "\n", rule->uid);
		else
			fputs("Uid=\n", f);
		fprintf(f, "Ignore=%s\n", rule->ignore ? "yes" : "no");
		for (size_t j = 0; j < ELEMENTSOF(rule_overrides); j++) {
			const struct rule_override *o = &rule_overrides[j];

			fprintf(f, "%s=", o->name);
			if (*(const bool *)((const char *)rule + o->has_offset))
				key_print(key_find(SECTION_DETECT, o->name),
					  (const char *)rule + o->offset, f);
			fputc('\n', f);
		}
	}
}

static bool glob_match(const char *glob, const char *s)
{
	return !glob || (s && fnmatch(glob, s, 0) == 0);
}

const struct fdw_rule *config_match(const struct fdw_config *c, const char *comm, const char *unit,
				    uid_t uid, struct detect_config *ret)
{
	const struct fdw_rule *match = NULL;

	for (size_t i = 0; i < c->n_rules && !match; i++) {
		const struct fdw_rule *rule = &c->rules[i];

		if (glob_match(rule->comm_glob, comm) && glob_match(rule->unit_glob, unit) &&
		    (rule->uid < 0 || (uid_t)rule->uid == uid))
			match = rule;
	}
	if (ret) {
		*ret = c->detect;
		if (match && match->has_min_growth)
			ret->min_growth = match->min_growth;
		if (match && match->has_leak_min_sec)
			ret->leak_min_sec = match->leak_min_sec;
		if (match && match->has_critical_eta_sec)
			ret->critical_eta_sec = match->critical_eta_sec;
		if (match && match->has_critical_percent)
			ret->critical_percent = match->critical_percent;
	}
	return match;
}

int config_keep_restart_keys(struct fdw_config *dst, const struct fdw_config *running)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const struct key_desc *k = &keys[i];
		int r;

		if (!k->restart)
			continue;
		r = key_copy(k, (char *)dst + k->offset, (const char *)running + k->offset);
		if (r < 0)
			return r;
	}
	return 0;
}

int config_restart_needed(const struct fdw_config *a, const struct fdw_config *b, FILE *err)
{
	int n = 0;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const struct key_desc *k = &keys[i];
		const void *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;

		if (!k->restart || key_equal(k, fa, fb))
			continue;
		n++;
		if (!err)
			continue;
		fprintf(err, "[%s] %s=", section_names[k->section], k->name);
		key_print(k, fa, err);
		fputs(" -> ", err);
		key_print(k, fb, err);
		fputc('\n', err);
	}
	return n;
}
