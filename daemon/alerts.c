// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * alerts.c - which verdicts alert, per-process rate limits, the in-memory
 * history, the message and the journald fields (README "Logs").
 *
 * A process's episode starts when its state first reaches leaking (or
 * higher) and ends with one recovered alert: when its state falls below
 * leaking (stopped, or released when the detector saw the fds given back), or
 * when the process exits. Rises alert at once; falls within the episode are
 * silent. Besides each process, a group of processes with the same unit and
 * comm (the backends of one database) shares a rate limit, and gets one flat
 * near-limit warning per interval; so do the children of one parent that hold
 * mostly its fds (the children of a leaking shell), reported as inherited.
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
	bool episode;			  /* reached leaking or higher since the latest recovery */
	bool episode_sent;		  /* ... and an alert of it went out */
	bool exhausted_sent;		  /* its first exhausted alert went out */
	enum fdw_pattern episode_pattern; /* of the episode's first alert that went out */
	bool has_last[ALERT_TYPE_MAX];
	uint64_t last_ns[ALERT_TYPE_MAX]; /* boottime of the latest alert of each type */
	enum fdw_pattern last_pattern[ALERT_TYPE_MAX]; /* ... and what it said */
	uint64_t window_start_ns;		       /* burst window */
	uint64_t window_count;
	uint64_t suppressed; /* since the latest alert that went out */
	UT_hash_handle hh;
};

/* What processes of one unit and comm share. */
struct alert_group {
	char key[sizeof(((struct alert *)0)->unit) + sizeof(((struct alert *)0)->comm) + 1];
	uint64_t window_start_ns; /* burst window */
	uint64_t window_count;
	bool has_flat;
	uint64_t flat_ns; /* the latest flat near-limit warning */
	UT_hash_handle hh;
};

struct alerts {
	struct alerts_config cfg;
	struct alert_group *groups;
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

static const char *const end_names[ALERT_END_MAX] = {
    [ALERT_END_NONE] = "",
    [ALERT_END_STOPPED] = "stopped",
    [ALERT_END_RELEASED] = "released",
    [ALERT_END_EXITED] = "exited",
};

const char *alert_end_to_string(enum alert_end e)
{
	return (unsigned)e < ALERT_END_MAX ? end_names[e] : NULL;
}

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
	    /* 1024 alerts of ~1.7 KiB: 1.7 MiB, days of alerts on a busy host. */
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
	struct alert_group *g, *gtmp;
	struct alert_rec *r, *tmp;

	if (!a)
		return;
	HASH_ITER(hh, a->recs, r, tmp)
	{
		HASH_DEL(a->recs, r);
		free(r);
	}
	HASH_ITER(hh, a->groups, g, gtmp)
	{
		HASH_DEL(a->groups, g);
		free(g);
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

/* Most of its fds are its parent's: a child that holds them did not leak them. */
static bool inherits(const struct alert_subject *subj)
{
	return subj->inherited_fds > 0 && subj->inherited_fds * 2 > subj->fds;
}

static bool group_idle(const struct alerts *a, const struct alert_group *g, uint64_t now)
{
	uint64_t interval = a->cfg.min_interval_ns;

	return now - g->window_start_ns >= interval &&
	       (!g->has_flat || now - g->flat_ns >= interval);
}

/* The group of subj, new when none; groups whose windows all passed are dropped then. NULL: OOM. */
static struct alert_group *alerts_group(struct alerts *a, const struct alert_subject *subj,
					uint64_t now)
{
	struct alert_group *g, *tmp;
	char key[sizeof(g->key)];

	if (inherits(subj))
		snprintf(key, sizeof(key), "children of %d", (int)subj->ppid);
	else
		snprintf(key, sizeof(key), "%s\n%s", subj->unit ?: "", subj->comm ?: "");
	HASH_FIND_STR(a->groups, key, g);
	if (g)
		return g;
	HASH_ITER(hh, a->groups, g, tmp)
	if (group_idle(a, g, now)) {
		HASH_DEL(a->groups, g);
		free(g);
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	memcpy(g->key, key, sizeof(key));
	HASH_ADD_STR(a->groups, key, g);
	return g;
}

static enum alert_type rise_type(enum fdw_state s)
{
	return s == FDW_STATE_EXHAUSTED	 ? ALERT_EXHAUSTED
	       : s == FDW_STATE_CRITICAL ? ALERT_CRITICAL
					 : ALERT_LEAK;
}

/*
 * Within the rate limits of the process and of its group? Counts the alert
 * into both burst windows when it is.
 */
static bool alerts_admit(struct alerts *a, struct alert_rec *r, struct alert_group *g,
			 enum alert_type t, enum fdw_pattern pattern, uint64_t now)
{
	bool flat = t == ALERT_LEAK && pattern == FDW_PATTERN_AT_LIMIT;
	uint64_t interval = a->cfg.min_interval_ns;
	bool exempt = t == ALERT_RECOVERED || (t == ALERT_EXHAUSTED && !r->exhausted_sent);

	if (interval > 0 && (r->window_count == 0 || now - r->window_start_ns >= interval)) {
		r->window_start_ns = now;
		r->window_count = 0;
	}
	if (interval > 0 && (g->window_count == 0 || now - g->window_start_ns >= interval)) {
		g->window_start_ns = now;
		g->window_count = 0;
	}
	if (!exempt && interval > 0) {
		/* The same story again: a new one (a sawtooth's first ramp, then its rising
		 * troughs) is news. */
		if (r->has_last[t] && now - r->last_ns[t] < interval &&
		    r->last_pattern[t] == pattern)
			return false;
		if (a->cfg.burst > 0 &&
		    (r->window_count >= a->cfg.burst || g->window_count >= a->cfg.burst))
			return false;
		if (flat && g->has_flat && now - g->flat_ns < interval)
			return false;
	}
	r->window_count++;
	r->has_last[t] = true;
	r->last_ns[t] = now;
	r->last_pattern[t] = pattern;
	if (!exempt)
		g->window_count++;
	if (flat) {
		g->has_flat = true;
		g->flat_ns = now;
	}
	return true;
}

/*
 * The count when an EMFILE failure happened: every fd number below the soft
 * limit was in use (all but one for a call that makes two, as pipe2() does).
 * The count read now may be lower: the process may have begun to exit.
 */
static uint64_t fds_at_failure(const struct alert_subject *subj)
{
	const char *sc = subj->fail_syscall ?: "";
	uint64_t pair = streq(sc, "pipe") || streq(sc, "pipe2") || streq(sc, "socketpair");

	if (!fd_limit_is_finite(subj->soft_limit))
		return subj->fds;
	return MAX(subj->fds, subj->soft_limit - pair);
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
	enum alert_end end = ALERT_END_NONE;
	struct alert_group *g;
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
	g = alerts_group(a, subj, boottime_ns);
	if (!g)
		return -ENOMEM;

	/*
	 * A rise to leaking or higher alerts, once: the same verdict judged again
	 * (as when the caller retires an exited process) is no new rise.
	 */
	repeat = r->judged && r->last_state == v->state;
	if (v->state >= FDW_STATE_LEAKING && v->state > prev_state && !repeat && !subj->exited)
		type = rise_type(v->state);
	else if (r->episode && (subj->exited || v->state < FDW_STATE_LEAKING))
		type = ALERT_RECOVERED;
	if (type == ALERT_RECOVERED)
		end = subj->exited  ? ALERT_END_EXITED
		      : v->released ? ALERT_END_RELEASED
				    : ALERT_END_STOPPED;

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
	if (!alerts_admit(a, r, g, type, v->pattern, boottime_ns)) {
		r->suppressed++;
		a->suppressed++;
		return 0;
	}
	if (type != ALERT_RECOVERED && !r->episode_sent) {
		r->episode_sent = true;
		r->episode_pattern = v->pattern;
	}
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
	    .exited = end == ALERT_END_EXITED,
	    .end = end,
	    .episode_pattern = type == ALERT_RECOVERED ? r->episode_pattern : v->pattern,
	    .verdict = *v,
	    .suppressed = r->suppressed,
	};
	copy_string(al->comm, sizeof(al->comm), subj->comm);
	al->ppid = subj->ppid;
	copy_string(al->parent_comm, sizeof(al->parent_comm), subj->parent_comm);
	if (inherits(subj))
		al->inherited_fds = subj->inherited_fds;
	copy_string(al->unit, sizeof(al->unit), subj->unit);
	if (subj->container)
		al->container = *subj->container;
	if (type == ALERT_EXHAUSTED) {
		copy_string(al->syscall, sizeof(al->syscall), subj->fail_syscall);
		if (v->fail_err == EMFILE)
			al->fds = fds_at_failure(subj);
	}
	if (type != ALERT_RECOVERED) {
		copy_string(al->top_target, sizeof(al->top_target), subj->top_target);
		copy_string(al->top_site, sizeof(al->top_site), subj->top_site);
	}
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

	/* 0.95 and up prints as 1 (one decimal): "+1/s", as FDWATCH_RATE says 1.0, not "+57/min".
	 */
	while (i + 1 < ELEMENTSOF(units) && fabs(per_sec) * units[i].mult < 0.95)
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
	else
		format_span(s, size, sec);
}

/* "~10 s" to EMFILE: whole seconds below two minutes, cut as FDWATCH_ETA_SEC is. */
static void format_eta(char *s, size_t size, double sec)
{
	if (sec < 120)
		snprintf(s, size, "%.0f s", floor(sec));
	else
		format_duration(s, size, sec);
}

/* "812/1024" or "812" when the limit is unknown or unlimited. */
static void buf_count(struct buf *b, const struct alert *al)
{
	if (fd_limit_is_finite(al->soft_limit))
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
	return p == FDW_PATTERN_LINEAR || p == FDW_PATTERN_STEPWISE ||
	       p == FDW_PATTERN_RETRY_LOOP || p == FDW_PATTERN_RISING_TROUGHS;
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
	case FDW_PATTERN_RISING_TROUGHS:
		format_number(num, sizeof(num), v->per_attempt, 1);
		format_duration(period, sizeof(period), v->period_sec);
		buf_printf(b, "; its troughs rise +%s a cycle (every %s)", num, period);
		return; /* what a cycle closes is its rhythm, not news */
	case FDW_PATTERN_STEPWISE:
		buf_printf(b, "; in steps");
		break;
	case FDW_PATTERN_LINEAR:
		buf_printf(b, "; steady growth");
		break;
	default:
		return;
	}
	if (!v->counted)
		return; /* closes were not counted */
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
			if (al->inherited_fds > 0)
				buf_printf(&b, ", %llu inherited from %s[%d]",
					   (unsigned long long)al->inherited_fds,
					   al->parent_comm[0] ? al->parent_comm : "its parent",
					   (int)al->ppid);
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
		if (al->end == ALERT_END_EXITED) {
			buf_printf(&b, "exited");
			break;
		}
		if (al->end == ALERT_END_RELEASED)
			buf_printf(&b, "released its fds: ");
		else if (al->episode_pattern == FDW_PATTERN_AT_LIMIT)
			buf_printf(&b, "is no longer near its fd limit: ");
		else
			buf_printf(&b, "stopped leaking: ");
		buf_count(&b, al);
		buf_printf(&b, " open");
		break;
	default:
		break;
	}
	/* What is leaking, in words, when a census was taken. */
	if (al->type != ALERT_RECOVERED && al->top_target[0])
		buf_printf(&b, "; %s", al->top_target);
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
	if (limit == FD_LIMIT_INFINITY)
		field_add(f, "%s=infinity", key);
	else if (limit != FD_LIMIT_UNKNOWN)
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
	/* A closing line says the state the process fell back to, or that it is gone. */
	field_add(&f, "FDWATCH_STATE=%s",
		  al->end == ALERT_END_EXITED ? "exited" : fdw_state_to_string(v->state) ?: "ok");
	if (al->end != ALERT_END_NONE)
		field_add(&f, "FDWATCH_END=%s", end_names[al->end]);
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
	} else if (v->pattern == FDW_PATTERN_RISING_TROUGHS) {
		format_number(num, sizeof(num), v->period_sec, 3);
		field_add(&f, "FDWATCH_PERIOD_SEC=%s", num);
		format_number(num, sizeof(num), v->per_attempt, 2);
		field_add(&f, "FDWATCH_RISE_PER_CYCLE=%s", num);
	}
	field_add(&f, "FDWATCH_CONFIDENCE=%.2f", isfinite(v->confidence) ? v->confidence : 0);
	if (al->type == ALERT_EXHAUSTED) {
		if (al->syscall[0])
			field_add(&f, "FDWATCH_SYSCALL=%s", al->syscall);
		field_add(&f, "FDWATCH_ERRNO=%s", v->fail_err == ENFILE ? "ENFILE" : "EMFILE");
		field_add(&f, "FDWATCH_FAILS=%llu", (unsigned long long)v->fails);
	}
	if (al->top_target[0])
		field_add(&f, "FDWATCH_TOP_TARGET=%s", al->top_target);
	if (al->top_site[0])
		field_add(&f, "FDWATCH_TOP_SITE=%s", al->top_site);
	field_add(&f, "FDWATCH_COMM=%s", al->comm);
	if (al->unit[0])
		field_add(&f, "FDWATCH_UNIT=%s", al->unit);
	field_add(&f, "FDWATCH_UID=%u", (unsigned)al->uid);
	if (al->inherited_fds > 0) {
		field_add(&f, "FDWATCH_INHERITED_FDS=%llu", (unsigned long long)al->inherited_fds);
		field_add(&f, "FDWATCH_PPID=%d", (int)al->ppid);
	}
	if (al->container.runtime != CGROUP_RUNTIME_NONE) {
		field_add(&f, "FDWATCH_CONTAINER_RUNTIME=%s",
			  cgroup_runtime_to_string(al->container.runtime));
		field_add(&f, "FDWATCH_CONTAINER_ID=%s", al->container.id);
	}
	if (al->container.pod_uid[0]) {
		field_add(&f, "FDWATCH_POD_UID=%s", al->container.pod_uid);
		field_add(&f, "FDWATCH_POD_QOS=%s", cgroup_qos_to_string(al->container.qos));
	}
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
