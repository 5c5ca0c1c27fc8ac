// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * alerts.c - which verdicts alert, per-process rate limits, the in-memory
 * history, the message and the journald fields (README "Logs").
 *
 * A process's episode starts when its state first reaches leaking (or
 * higher) and ends with one recovered alert: when the detector says it
 * recovered, or when the process exits. Rises alert at once; falls are
 * silent until the recovery.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <syslog.h>
#include <uthash.h>

#include "alerts.h"
#include "util.h"

/* Per process, what the rate limit and the episode need. */
struct alert_rec {
	pid_t pid;
	uint64_t start_ticks;
	enum fdw_state last_state; /* of the latest judged verdict */
	bool judged;
	bool episode;	     /* reached leaking or higher since the latest recovery */
	bool episode_sent;   /* ... and an alert of it went out */
	bool exhausted_sent; /* its first exhausted alert went out */
	bool has_last[ALERT_TYPE_MAX];
	uint64_t last_ns[ALERT_TYPE_MAX]; /* boottime of the latest alert of each type */
	uint64_t window_start_ns;	  /* burst window */
	uint64_t window_count;
	uint64_t suppressed; /* since the latest alert that went out */
	UT_hash_handle hh;
};

struct alerts {
	struct alerts_config cfg;
	struct alert *ring;
	size_t size; /* slots in ring */
	size_t head; /* next slot to write */
	size_t n;
	uint64_t seq;
	uint64_t sent;
	uint64_t suppressed;
	struct alert_rec *recs;
};

/* One fixed id per type (systemd-id128 new), documented in systemd/fdwatch.catalog. */
static const char *const message_ids[ALERT_TYPE_MAX] = {
    [ALERT_LEAK] = "f00df6d75b914840bd8ad44d66f265dd",
    [ALERT_CRITICAL] = "eae34490cdbe4b8ab8fb1f33501a153f",
    [ALERT_EXHAUSTED] = "906349ad43f240c0a2f26458a5af8389",
    [ALERT_RECOVERED] = "6216d3e83ee84325814ffbb8ba3d39db",
};

static const char *const type_names[ALERT_TYPE_MAX] = {
    [ALERT_LEAK] = "leak",
    [ALERT_CRITICAL] = "critical",
    [ALERT_EXHAUSTED] = "exhausted",
    [ALERT_RECOVERED] = "recovered",
};

static const int priorities[ALERT_TYPE_MAX] = {
    [ALERT_LEAK] = LOG_WARNING,
    [ALERT_CRITICAL] = LOG_CRIT,
    [ALERT_EXHAUSTED] = LOG_ALERT,
    [ALERT_RECOVERED] = LOG_NOTICE,
};

const char *alert_type_message_id(enum alert_type t)
{
	return (unsigned)t < ALERT_TYPE_MAX ? message_ids[t] : NULL;
}

const char *alert_type_to_string(enum alert_type t)
{
	return (unsigned)t < ALERT_TYPE_MAX ? type_names[t] : NULL;
}

int alert_type_from_string(const char *s, enum alert_type *ret)
{
	for (int t = 0; s && t < ALERT_TYPE_MAX; t++)
		if (streq(type_names[t], s)) {
			*ret = t;
			return 0;
		}
	return -EINVAL;
}

int alert_type_priority(enum alert_type t)
{
	return (unsigned)t < ALERT_TYPE_MAX ? priorities[t] : -EINVAL;
}

void alerts_config_init(struct alerts_config *c)
{
	*c = (struct alerts_config){
	    /*
	     * 5 min: a leak that flaps around the thresholds (leaking, a
	     * cool-down minute, recovered, leaking again) reaches the
	     * journal at most once per 5 min per type, 12 lines an hour.
	     */
	    .min_interval_ns = 5 * 60 * NSEC_PER_SEC,
	    /*
	     * 3: leak then critical fit, with the first exhausted and the
	     * recovery on top (never held back); a fourth in 5 min is noise.
	     */
	    .burst = 3,
	    /* 1024 alerts of ~1.2 KiB: 1.2 MiB, days of alerts on a busy host. */
	    .history_size = 1024,
	};
}

static int alerts_resize(struct alerts *a, size_t size)
{
	struct alert *ring;
	size_t keep;

	size = MAX(size, (size_t)1); /* alerts_judge() hands out a pointer into the ring */
	if (a->ring && size == a->size)
		return 0;
	ring = calloc(size, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	/* Keep the newest, oldest first. */
	keep = MIN(a->n, size);
	for (size_t i = 0; i < keep; i++)
		ring[i] = a->ring[(a->head + a->size - keep + i) % a->size];
	free(a->ring);
	a->ring = ring;
	a->size = size;
	a->n = keep;
	a->head = keep % size;
	return 0;
}

int alerts_new(const struct alerts_config *cfg, struct alerts **ret)
{
	struct alerts *a;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	if (alerts_resize(a, cfg->history_size) < 0) {
		free(a);
		return -ENOMEM;
	}
	*ret = a;
	return 0;
}

void alerts_free(struct alerts *a)
{
	struct alert_rec *r, *tmp;

	if (!a)
		return;
	HASH_ITER(hh, a->recs, r, tmp)
	{
		HASH_DEL(a->recs, r);
		free(r);
	}
	free(a->ring);
	free(a);
}

void alerts_set_config(struct alerts *a, const struct alerts_config *cfg)
{
	size_t old = a->size;

	a->cfg = *cfg;
	if (alerts_resize(a, cfg->history_size) < 0)
		a->cfg.history_size = old;
}

void alerts_forget(struct alerts *a, pid_t pid)
{
	struct alert_rec *r;

	HASH_FIND(hh, a->recs, &pid, sizeof(pid), r);
	if (!r)
		return;
	HASH_DEL(a->recs, r);
	free(r);
}

uint64_t alerts_sent(const struct alerts *a)
{
	return a->sent;
}

uint64_t alerts_suppressed(const struct alerts *a)
{
	return a->suppressed;
}

size_t alerts_history(const struct alerts *a, uint64_t since_seq, const struct alert **ret,
		      size_t max)
{
	size_t first = a->n, k = 0;

	/* The newest max after since_seq: walk back from the newest, then hand them out in order.
	 */
	while (first > 0 && a->n - first < max &&
	       a->ring[(a->head + a->size - a->n + first - 1) % a->size].seq > since_seq)
		first--;
	for (size_t i = first; i < a->n; i++)
		ret[k++] = &a->ring[(a->head + a->size - a->n + i) % a->size];
	return k;
}

/* The record of subj, new or reset when the PID now names another process. */
static struct alert_rec *alerts_rec(struct alerts *a, const struct alert_subject *subj)
{
	struct alert_rec *r;

	HASH_FIND(hh, a->recs, &subj->pid, sizeof(subj->pid), r);
	if (r && r->start_ticks != subj->start_ticks) {
		HASH_DEL(a->recs, r);
		free(r);
		r = NULL;
	}
	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->pid = subj->pid;
	r->start_ticks = subj->start_ticks;
	HASH_ADD(hh, a->recs, pid, sizeof(r->pid), r);
	return r;
}

static enum alert_type rise_type(enum fdw_state s)
{
	return s == FDW_STATE_EXHAUSTED	 ? ALERT_EXHAUSTED
	       : s == FDW_STATE_CRITICAL ? ALERT_CRITICAL
					 : ALERT_LEAK;
}

/* Within the rate limit? Counts the alert into the burst window when it is. */
static bool alerts_admit(struct alerts *a, struct alert_rec *r, enum alert_type t, uint64_t now)
{
	uint64_t interval = a->cfg.min_interval_ns;
	bool exempt = t == ALERT_RECOVERED || (t == ALERT_EXHAUSTED && !r->exhausted_sent);

	if (interval > 0 && (r->window_count == 0 || now - r->window_start_ns >= interval)) {
		r->window_start_ns = now;
		r->window_count = 0;
	}
	if (!exempt && interval > 0) {
		if (r->has_last[t] && now - r->last_ns[t] < interval)
			return false;
		if (a->cfg.burst > 0 && r->window_count >= a->cfg.burst)
			return false;
	}
	r->window_count++;
	r->has_last[t] = true;
	r->last_ns[t] = now;
	return true;
}

static void copy_string(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ?: "");
}

int alerts_judge(struct alerts *a, const struct alert_subject *subj, enum fdw_state prev_state,
		 const struct detect_verdict *v, uint64_t realtime_ns, uint64_t boottime_ns,
		 const struct alert **ret)
{
	enum alert_type type = ALERT_TYPE_MAX;
	struct alert_rec *r;
	struct alert *al;
	bool repeat;

	if (!a || !subj || !v || (unsigned)v->state >= FDW_STATE_MAX)
		return -EINVAL;
	if (ret)
		*ret = NULL;
	r = alerts_rec(a, subj);
	if (!r)
		return -ENOMEM;

	/*
	 * A rise to leaking or higher alerts, once: the same verdict judged again
	 * (as when the caller retires an exited process) is no new rise.
	 */
	repeat = r->judged && r->last_state == v->state;
	if (v->state >= FDW_STATE_LEAKING && v->state > prev_state && !repeat)
		type = rise_type(v->state);
	else if ((v->recovered || subj->exited) &&
		 (r->episode || prev_state >= FDW_STATE_LEAKING || v->state >= FDW_STATE_LEAKING))
		type = ALERT_RECOVERED;
	r->judged = true;
	r->last_state = v->state;
	if (v->state >= FDW_STATE_LEAKING)
		r->episode = true;
	if (type == ALERT_TYPE_MAX)
		return 0;

	if (type == ALERT_RECOVERED) {
		bool sent = r->episode_sent;

		r->episode = r->episode_sent = false;
		/* The recovery of an episode nobody was told about is not news either. */
		if (!sent) {
			r->suppressed++;
			a->suppressed++;
			return 0;
		}
	}
	if (!alerts_admit(a, r, type, boottime_ns)) {
		r->suppressed++;
		a->suppressed++;
		return 0;
	}
	if (type != ALERT_RECOVERED)
		r->episode_sent = true;
	if (type == ALERT_EXHAUSTED)
		r->exhausted_sent = true;

	al = &a->ring[a->head];
	*al = (struct alert){
	    .seq = ++a->seq,
	    .realtime_ns = realtime_ns,
	    .type = type,
	    .priority = priorities[type],
	    .pid = subj->pid,
	    .start_ticks = subj->start_ticks,
	    .uid = subj->uid,
	    .fds = subj->fds,
	    .soft_limit = subj->soft_limit,
	    .hard_limit = subj->hard_limit,
	    .exited = subj->exited && type == ALERT_RECOVERED,
	    .verdict = *v,
	    .suppressed = r->suppressed,
	};
	copy_string(al->comm, sizeof(al->comm), subj->comm);
	copy_string(al->unit, sizeof(al->unit), subj->unit);
	if (type == ALERT_EXHAUSTED)
		copy_string(al->syscall, sizeof(al->syscall), subj->fail_syscall);
	/* Too long only with an absurd comm: the cut message is still worth sending. */
	(void)alert_format_message(al, al->message, sizeof(al->message));
	r->suppressed = 0;
	a->head = (a->head + 1) % a->size;
	a->n = MIN(a->n + 1, a->size);
	a->sent++;
	if (ret)
		*ret = al;
	return 1;
}

/* ---- formatting ---- */

struct buf {
	char *p;
	size_t size, len; /* len may pass size: what it would have taken */
};

_printf_(2, 3) static void buf_printf(struct buf *b, const char *fmt, ...)
{
	size_t room = b->len < b->size ? b->size - b->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

/* A number with at most `decimals` decimals and no trailing zeros: 2, 1.5, 0.25. */
static void format_number(char *s, size_t size, double x, int decimals)
{
	char *dot, *end;

	snprintf(s, size, "%.*f", decimals, x);
	dot = strchr(s, '.');
	if (!dot)
		return;
	end = s + strlen(s) - 1;
	while (end > dot && *end == '0')
		*end-- = '\0';
	if (end == dot)
		*end = '\0';
}

/* "+20/s", "+1.5/s", "+1/min", "+3/h": the unit that gives a number >= 1. */
static void format_rate(char *s, size_t size, double per_sec)
{
	static const struct {
		double mult;
		const char *unit;
	} units[] = {{1, "s"}, {60, "min"}, {3600, "h"}, {86400, "d"}};
	char num[24];
	size_t i = 0;

	while (i + 1 < ELEMENTSOF(units) && fabs(per_sec) * units[i].mult < 1)
		i++;
	format_number(num, sizeof(num), per_sec * units[i].mult,
		      fabs(per_sec) * units[i].mult >= 10 ? 0 : 1);
	snprintf(s, size, "%s%s/%s", per_sec >= 0 ? "+" : "", num, units[i].unit);
}

/* "10 s", "15 min", "3 h", "2 d"; below 10 s with decimals: "0.10 s". */
static void format_duration(char *s, size_t size, double sec)
{
	if (sec < 10)
		snprintf(s, size, "%.2f s", sec);
	else if (sec < 120)
		snprintf(s, size, "%.0f s", sec);
	else if (sec < 7200)
		snprintf(s, size, "%.0f min", sec / 60);
	else if (sec < 172800)
		snprintf(s, size, "%.0f h", sec / 3600);
	else
		snprintf(s, size, "%.0f d", sec / 86400);
}

/* "~10 s" to EMFILE: whole seconds below two minutes. */
static void format_eta(char *s, size_t size, double sec)
{
	if (sec < 120)
		snprintf(s, size, "%.0f s", sec);
	else
		format_duration(s, size, sec);
}

static bool limit_known(uint64_t limit)
{
	return limit > 0 && limit != UINT64_MAX;
}

/* "812/1024" or "812" when the limit is unknown or unlimited. */
static void buf_count(struct buf *b, const struct alert *al)
{
	if (limit_known(al->soft_limit))
		buf_printf(b, "%llu/%llu", (unsigned long long)al->fds,
			   (unsigned long long)al->soft_limit);
	else
		buf_printf(b, "%llu", (unsigned long long)al->fds);
}

static const char *main_kind(const struct detect_verdict *v)
{
	return v->kinds && v->main_kind < FDW_KIND_MAX ? fdw_kind_to_string(v->main_kind) : NULL;
}

static bool is_leak_pattern(enum fdw_pattern p)
{
	return p == FDW_PATTERN_LINEAR || p == FDW_PATTERN_STEPWISE || p == FDW_PATTERN_RETRY_LOOP;
}

/* "; retry loop: +2 pipe every 0.10 s, none closed" / "; steady growth, 40 closed". */
static void buf_pattern(struct buf *b, const struct detect_verdict *v)
{
	char num[32], period[32];
	const char *kind = main_kind(v);

	switch (v->pattern) {
	case FDW_PATTERN_RETRY_LOOP:
		format_number(num, sizeof(num), v->per_attempt, 1);
		format_duration(period, sizeof(period), v->period_sec);
		buf_printf(b, "; retry loop: +%s%s%s every %s", num, kind ? " " : "", kind ?: "",
			   period);
		break;
	case FDW_PATTERN_STEPWISE:
		buf_printf(b, "; in steps");
		break;
	case FDW_PATTERN_LINEAR:
		buf_printf(b, "; steady growth");
		break;
	default:
		return;
	}
	if (v->closed_recent == 0)
		buf_printf(b, ", none closed");
	else
		buf_printf(b, ", %llu closed", (unsigned long long)v->closed_recent);
}

/* ", +20/s, EMFILE in ~10 s" (each part when known). */
static void buf_rate_eta(struct buf *b, const struct detect_verdict *v)
{
	char s[64];

	if (v->rate > 0) {
		format_rate(s, sizeof(s), v->rate);
		buf_printf(b, ", %s", s);
	}
	if (v->eta_sec >= 0 && isfinite(v->eta_sec)) {
		format_eta(s, sizeof(s), v->eta_sec);
		buf_printf(b, ", EMFILE in ~%s", s);
	}
}

int alert_format_message(const struct alert *al, char *buf, size_t size)
{
	const struct detect_verdict *v;
	struct buf b = {.p = buf, .size = size};
	const char *kind;

	if (!al || !buf || size == 0 || (unsigned)al->type >= ALERT_TYPE_MAX)
		return -EINVAL;
	v = &al->verdict;
	kind = main_kind(v);
	buf[0] = '\0';
	buf_printf(&b, "%s[%d] ", al->comm[0] ? al->comm : "?", (int)al->pid);

	switch (al->type) {
	case ALERT_LEAK:
	case ALERT_CRITICAL:
		if (!is_leak_pattern(v->pattern)) {
			/* Critical without a leak: at or near the limit. */
			buf_printf(
			    &b, "is %s its fd limit: ", al->fds >= al->soft_limit ? "at" : "near");
			buf_count(&b, al);
			buf_printf(&b, " open");
			buf_rate_eta(&b, v);
			break;
		}
		buf_printf(&b, "leaks %s%sfds: ", kind ?: "", kind ? " " : "");
		buf_count(&b, al);
		buf_printf(&b, " open");
		buf_rate_eta(&b, v);
		buf_pattern(&b, v);
		break;
	case ALERT_EXHAUSTED:
		buf_printf(&b, "hit %s", v->fail_err == ENFILE ? "ENFILE" : "EMFILE");
		if (al->syscall[0])
			buf_printf(&b, " in %s", al->syscall);
		buf_printf(&b, ": ");
		buf_count(&b, al);
		buf_printf(&b, " fds open");
		if (v->fail_err == ENFILE)
			buf_printf(&b, " (the system-wide file table is full)");
		if (is_leak_pattern(v->pattern)) {
			buf_printf(&b, "; it leaked %s%sfds", kind ?: "", kind ? " " : "");
			buf_pattern(&b, v);
		}
		break;
	case ALERT_RECOVERED:
		if (al->exited) {
			buf_printf(&b, "exited");
			break;
		}
		buf_printf(&b, "stopped leaking: ");
		buf_count(&b, al);
		buf_printf(&b, " open");
		break;
	default:
		break;
	}
	return b.len < size ? (int)b.len : -ENOBUFS;
}

/* ---- journald fields ---- */

struct fields {
	char **v;
	size_t n, max;
	bool oom;
};

_printf_(2, 3) static void field_add(struct fields *f, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (f->oom || f->n >= f->max)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		f->oom = true;
	else
		f->v[f->n++] = s;
	va_end(ap);
}

static void field_limit(struct fields *f, const char *key, uint64_t limit)
{
	if (limit == UINT64_MAX)
		field_add(f, "%s=infinity", key);
	else if (limit > 0)
		field_add(f, "%s=%llu", key, (unsigned long long)limit);
}

int alert_to_fields(const struct alert *al, char **ret, size_t max)
{
	const struct detect_verdict *v;
	struct fields f = {.v = ret, .max = max};
	char num[32];

	if (!al || !ret || (unsigned)al->type >= ALERT_TYPE_MAX)
		return -EINVAL;
	v = &al->verdict;
	field_add(&f, "MESSAGE=%s", al->message);
	field_add(&f, "MESSAGE_ID=%s", message_ids[al->type]);
	field_add(&f, "PRIORITY=%d", al->priority);
	field_add(&f, "SYSLOG_IDENTIFIER=fdwatchd");
	field_add(&f, "OBJECT_PID=%d", (int)al->pid);
	field_add(&f, "FDWATCH_TYPE=%s", type_names[al->type]);
	field_add(&f, "FDWATCH_STATE=%s", fdw_state_to_string(v->state) ?: "ok");
	field_add(&f, "FDWATCH_FDS=%llu", (unsigned long long)al->fds);
	field_limit(&f, "FDWATCH_LIMIT", al->soft_limit);
	field_limit(&f, "FDWATCH_HARD_LIMIT", al->hard_limit);
	/* fds/s; slow leaks (1 fd/min = 0.0167) keep their digits. */
	field_add(&f, "FDWATCH_RATE=%.*f", fabs(v->rate) >= 1 ? 1 : 4,
		  isfinite(v->rate) ? v->rate : 0);
	if (v->eta_sec >= 0 && isfinite(v->eta_sec))
		field_add(&f, "FDWATCH_ETA_SEC=%.0f", floor(v->eta_sec));
	if (main_kind(v)) {
		char kinds[256] = "";
		struct buf b = {.p = kinds, .size = sizeof(kinds)};

		field_add(&f, "FDWATCH_KIND=%s", main_kind(v));
		for (int k = 0; k < FDW_KIND_MAX; k++)
			if (v->kinds & (1U << k))
				buf_printf(&b, "%s%s", b.len ? "," : "", fdw_kind_to_string(k));
		field_add(&f, "FDWATCH_KINDS=%s", kinds);
	}
	field_add(&f, "FDWATCH_PATTERN=%s", fdw_pattern_to_string(v->pattern) ?: "none");
	if (v->pattern == FDW_PATTERN_RETRY_LOOP) {
		format_number(num, sizeof(num), v->period_sec, 3);
		field_add(&f, "FDWATCH_PERIOD_SEC=%s", num);
		format_number(num, sizeof(num), v->per_attempt, 2);
		field_add(&f, "FDWATCH_PER_ATTEMPT=%s", num);
	}
	field_add(&f, "FDWATCH_CONFIDENCE=%.2f", isfinite(v->confidence) ? v->confidence : 0);
	if (al->type == ALERT_EXHAUSTED) {
		if (al->syscall[0])
			field_add(&f, "FDWATCH_SYSCALL=%s", al->syscall);
		field_add(&f, "FDWATCH_ERRNO=%s", v->fail_err == ENFILE ? "ENFILE" : "EMFILE");
		field_add(&f, "FDWATCH_FAILS=%llu", (unsigned long long)v->fails);
	}
	field_add(&f, "FDWATCH_COMM=%s", al->comm);
	if (al->unit[0])
		field_add(&f, "FDWATCH_UNIT=%s", al->unit);
	field_add(&f, "FDWATCH_UID=%u", (unsigned)al->uid);
	field_add(&f, "FDWATCH_SUPPRESSED=%llu", (unsigned long long)al->suppressed);
	if (f.oom) {
		alert_fields_free(ret, f.n);
		return -ENOMEM;
	}
	return (int)f.n;
}

void alert_fields_free(char **fields, size_t n)
{
	for (size_t i = 0; fields && i < n; i++)
		free(fields[i]);
}
