// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* json.c - API objects as cJSON trees, filters and risk order (see json.h). */
#include <fnmatch.h>
#include <math.h>

#include "json.h"
#include "syscalls.h"
#include "varlink.h"

/* Limits above 2^53 (RLIM_INFINITY is 2^64-1) mean unlimited; 0 means not known (yet). */
#define LIMIT_UNLIMITED_ABOVE (1ULL << 53)

/* Longest glob accepted in a filter: a unit name is at most 255 bytes. */
#define FILTER_GLOB_MAX 256

int proc_filter_from_params(const cJSON *params, struct proc_filter *ret, const char **ret_bad)
{
	static const char *const allowed[] = {
	    "uid",   "unit", "comm", "runtime", "container", "pod_uid", "state", "min_use_percent",
	    "limit", NULL,
	};
	static const struct {
		const char *name;
		size_t offset;
	} strings[] = {
	    {"unit", offsetof(struct proc_filter, unit)},
	    {"comm", offsetof(struct proc_filter, comm)},
	    {"runtime", offsetof(struct proc_filter, runtime)},
	    {"container", offsetof(struct proc_filter, container)},
	    {"pod_uid", offsetof(struct proc_filter, pod_uid)},
	};
	struct proc_filter f = {.min_state = FDW_STATE_OK};
	const cJSON *v;
	const char *bad, *s;
	uint64_t u;
	int r;

	bad = varlink_params_unknown(params, allowed);
	if (bad) {
		*ret_bad = bad;
		return -EINVAL;
	}
	r = varlink_param_u64(params, "uid", UINT32_MAX - 1, &u);
	if (r == -EINVAL) {
		*ret_bad = "uid";
		return r;
	}
	if (r == 0) {
		f.has_uid = true;
		f.uid = (uid_t)u;
	}
	for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
		r = varlink_param_string(params, strings[i].name, FILTER_GLOB_MAX,
					 (const char **)((char *)&f + strings[i].offset));
		if (r == -EINVAL) {
			*ret_bad = strings[i].name;
			return r;
		}
	}
	r = varlink_param_string(params, "state", 32, &s);
	if (r == 0)
		r = fdw_state_from_string(s, &f.min_state);
	if (r == -EINVAL) {
		*ret_bad = "state";
		return r;
	}
	v = cJSON_GetObjectItemCaseSensitive(params, "min_use_percent");
	if (v && !cJSON_IsNull(v)) {
		if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 100)) {
			*ret_bad = "min_use_percent";
			return -EINVAL;
		}
		f.min_use_percent = v->valuedouble;
	}
	r = varlink_param_u64(params, "limit", UINT32_MAX, &f.limit);
	if (r == -EINVAL) {
		*ret_bad = "limit";
		return r;
	}
	*ret = f;
	return 0;
}

bool proc_filter_match(const struct proc_filter *f, const struct proc_entry *e)
{
	if (f->has_uid && e->uid != f->uid)
		return false;
	if (e->verdict.state < f->min_state)
		return false;
	if (f->comm && fnmatch(f->comm, e->comm, 0) != 0)
		return false;
	if (f->unit && (!e->unit || fnmatch(f->unit, e->unit, 0) != 0))
		return false;
	if (f->runtime && (!e->container ||
			   !streq_ptr(f->runtime, cgroup_runtime_to_string(e->container->runtime))))
		return false;
	if (f->container && (!e->container || !e->container->id[0] ||
			     strncmp(e->container->id, f->container, strlen(f->container)) != 0))
		return false;
	if (f->min_use_percent > 0 &&
	    (e->soft_limit == 0 || e->soft_limit >= LIMIT_UNLIMITED_ABOVE ||
	     (double)e->fds * 100.0 < f->min_use_percent * (double)e->soft_limit))
		return false;
	if (f->pod_uid && (!e->container || !e->container->pod_uid[0] ||
			   strncmp(e->container->pod_uid, f->pod_uid, strlen(f->pod_uid)) != 0))
		return false;
	return true;
}

/*
 * Whether the verdict has an ETA: the detector sets one (>= 0) only from growing up; a
 * process not judged yet has a zeroed verdict, whose 0 must not read as "EMFILE now".
 */
static bool verdict_has_eta(const struct detect_verdict *v)
{
	return v->state >= FDW_STATE_GROWING && isfinite(v->eta_sec) && v->eta_sec >= 0;
}

static bool has_eta(const struct proc_entry *e)
{
	return verdict_has_eta(&e->verdict);
}

int proc_entry_cmp_risk(const struct proc_entry *a, const struct proc_entry *b)
{
	if (a->verdict.state != b->verdict.state)
		return a->verdict.state > b->verdict.state ? -1 : 1;
	if (has_eta(a) != has_eta(b))
		return has_eta(a) ? -1 : 1;
	if (has_eta(a) && a->verdict.eta_sec != b->verdict.eta_sec)
		return a->verdict.eta_sec < b->verdict.eta_sec ? -1 : 1;
	if (a->fds != b->fds)
		return a->fds > b->fds ? -1 : 1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return 0;
}

static int cmp_risk_qsort(const void *a, const void *b)
{
	return proc_entry_cmp_risk(*(const struct proc_entry *const *)a,
				   *(const struct proc_entry *const *)b);
}

void proc_entries_sort_by_risk(struct proc_entry **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_risk_qsort);
}

cJSON *json_add_limit(cJSON *obj, const char *name, uint64_t limit)
{
	if (!fd_limit_is_finite(limit))
		return cJSON_AddNullToObject(obj, name);
	return json_add_u64(obj, name, limit);
}

/* A finite double, or null. */
static cJSON *add_double_or_null(cJSON *obj, const char *name, double v, bool present)
{
	if (!present || !isfinite(v))
		return cJSON_AddNullToObject(obj, name);
	return cJSON_AddNumberToObject(obj, name, v);
}

static cJSON *add_string_or_null(cJSON *obj, const char *name, const char *s)
{
	if (!s || !*s)
		return cJSON_AddNullToObject(obj, name);
	return json_add_string(obj, name, s);
}

/* Round to 3 decimals: rates and ETAs are estimates, 17 digits would be noise. */
static double round3(double v)
{
	return isfinite(v) ? round(v * 1000.0) / 1000.0 : v;
}

static cJSON *add_kinds(cJSON *obj, uint32_t kinds)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, "kinds");

	if (!arr)
		return NULL;
	for (int k = 0; k < FDW_KIND_MAX; k++)
		if ((kinds & (1U << k)) &&
		    !json_append(arr, cJSON_CreateString(fdw_kind_to_string(k))))
			return NULL;
	return arr;
}

/* The verdict fields shared by processes and alerts. true on success. */
static bool add_verdict(cJSON *o, const struct detect_verdict *v)
{
	bool ok = true;

	ok = ok && cJSON_AddNumberToObject(o, "rate", isfinite(v->rate) ? round3(v->rate) : 0);
	ok = ok && add_double_or_null(o, "eta_sec", round3(v->eta_sec), verdict_has_eta(v));
	ok = ok && cJSON_AddStringToObject(o, "state", fdw_state_to_string(v->state));
	ok = ok && cJSON_AddStringToObject(o, "pattern", fdw_pattern_to_string(v->pattern));
	if (v->kinds && v->main_kind < FDW_KIND_MAX)
		ok = ok && cJSON_AddStringToObject(o, "kind", fdw_kind_to_string(v->main_kind));
	else
		ok = ok && cJSON_AddNullToObject(o, "kind");
	ok = ok && add_kinds(o, v->kinds);
	ok = ok && cJSON_AddNumberToObject(o, "confidence",
					   isfinite(v->confidence) ? round3(v->confidence) : 0);
	return ok;
}

static bool add_retry(cJSON *o, const struct detect_verdict *v)
{
	bool retry = v->pattern == FDW_PATTERN_RETRY_LOOP && v->period_sec > 0;

	return add_double_or_null(o, "period_sec", round3(v->period_sec), retry) &&
	       add_double_or_null(o, "per_attempt", round3(v->per_attempt), retry);
}

static bool add_use_percent(cJSON *o, uint64_t fds, uint64_t limit)
{
	bool finite = fd_limit_is_finite(limit);

	return add_double_or_null(o, "use_percent",
				  finite ? round(fds * 1000.0 / (double)limit) / 10.0 : 0, finite);
}

static cJSON *add_syscall(cJSON *o, int nr)
{
	const char *name;
	char buf[32];

	if (nr < 0)
		return cJSON_AddNullToObject(o, "syscall");
	name = fdw_syscall_name(nr);
	if (!name) {
		snprintf(buf, sizeof(buf), "syscall %d", nr);
		name = buf;
	}
	return cJSON_AddStringToObject(o, "syscall", name);
}

/* container_runtime, container_id, pod_uid, pod_qos: null when the cgroup names none. */
static bool add_container(cJSON *o, const struct cgroup_container *c)
{
	static const struct cgroup_container none = {};

	if (!c)
		c = &none;
	return add_string_or_null(o, "container_runtime", cgroup_runtime_to_string(c->runtime)) &&
	       add_string_or_null(o, "container_id", c->id) &&
	       add_string_or_null(o, "pod_uid", c->pod_uid) &&
	       add_string_or_null(o, "pod_qos", cgroup_qos_to_string(c->qos));
}

static bool add_summary(cJSON *o, const struct proc_entry *e)
{
	return json_add_u64(o, "pid", (uint64_t)e->pid) &&
	       json_add_u64(o, "start_ticks", e->start_ticks) &&
	       json_add_u64(o, "uid", (uint64_t)e->uid) && json_add_string(o, "comm", e->comm) &&
	       add_string_or_null(o, "unit", e->unit) && add_container(o, e->container) &&
	       json_add_u64(o, "fds", e->fds) && json_add_limit(o, "limit", e->soft_limit) &&
	       json_add_limit(o, "hard_limit", e->hard_limit) &&
	       add_use_percent(o, e->fds, e->soft_limit) && add_verdict(o, &e->verdict) &&
	       cJSON_AddBoolToObject(o, "exited", e->exited) &&
	       cJSON_AddBoolToObject(o, "ignored", e->ignored);
}

static int cmp_unit(const void *a, const void *b)
{
	const struct proc_entry *x = *(const struct proc_entry *const *)a;
	const struct proc_entry *y = *(const struct proc_entry *const *)b;

	if (!x->unit || !y->unit)
		return !x->unit - !y->unit; /* no unit last */
	return strcmp(x->unit, y->unit);
}

struct unit_group {
	const char *unit;
	uint64_t processes, fds, at_risk;
	enum fdw_state worst;
};

static int cmp_group(const void *a, const void *b)
{
	const struct unit_group *x = a, *y = b;

	if (x->worst != y->worst)
		return x->worst > y->worst ? -1 : 1;
	if (x->fds != y->fds)
		return x->fds > y->fds ? -1 : 1;
	if (!x->unit || !y->unit)
		return !x->unit - !y->unit;
	return strcmp(x->unit, y->unit);
}

cJSON *json_unit_summaries(struct proc_entry **v, size_t n, uint64_t limit)
{
	_cleanup_free_ struct unit_group *g = NULL;
	_cleanup_cjson_ cJSON *arr = cJSON_CreateArray();
	size_t k = 0;

	if (!arr)
		return NULL;
	if (n == 0)
		return TAKE_PTR(arr);
	g = calloc(n, sizeof(*g));
	if (!g)
		return NULL;
	qsort(v, n, sizeof(*v), cmp_unit);
	for (size_t i = 0; i < n; i++) {
		if (k == 0 || !streq_ptr(g[k - 1].unit, v[i]->unit))
			g[k++] = (struct unit_group){.unit = v[i]->unit};
		g[k - 1].processes++;
		g[k - 1].fds += v[i]->fds;
		g[k - 1].worst = MAX(g[k - 1].worst, v[i]->verdict.state);
		if (v[i]->verdict.state >= FDW_STATE_LEAKING)
			g[k - 1].at_risk++;
	}
	qsort(g, k, sizeof(*g), cmp_group);
	for (size_t i = 0; i < k && (limit == 0 || i < limit); i++) {
		cJSON *o = cJSON_CreateObject();

		if (!json_append(arr, o))
			return NULL;
		if (!add_string_or_null(o, "unit", g[i].unit) ||
		    !json_add_u64(o, "processes", g[i].processes) ||
		    !json_add_u64(o, "fds", g[i].fds) ||
		    !cJSON_AddStringToObject(o, "state", fdw_state_to_string(g[i].worst)) ||
		    !json_add_u64(o, "leaking", g[i].at_risk))
			return NULL;
	}
	return TAKE_PTR(arr);
}

cJSON *json_proc_summary(const struct proc_entry *e)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !add_summary(o, e)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static double ns_to_sec(uint64_t ns)
{
	return round3((double)ns / 1e9);
}

static cJSON *add_history(cJSON *o, const struct proc_entry *e, uint64_t now_ns)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "history");

	if (!arr)
		return NULL;
	/* history_head is the oldest point; history_len points follow it around the ring. */
	for (unsigned i = 0; i < e->history_len && i < PROC_HISTORY; i++) {
		const struct proc_point *p = &e->history[(e->history_head + i) % PROC_HISTORY];
		cJSON *s = cJSON_CreateObject();

		if (!json_append(arr, s))
			return NULL;
		if (!cJSON_AddNumberToObject(s, "ago_sec",
					     now_ns > p->t_ns ? ns_to_sec(now_ns - p->t_ns) : 0) ||
		    !json_add_u64(s, "fds", p->fds))
			return NULL;
	}
	return arr;
}

cJSON *json_proc_full(const struct proc_entry *e, uint64_t now_ns)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	cJSON *created;
	bool ok;

	if (!o || !add_summary(o, e))
		return NULL;
	created = cJSON_AddObjectToObject(o, "created");
	if (!created)
		return NULL;
	for (int k = 0; k < FDW_KIND_MAX; k++)
		if (!json_add_u64(created, fdw_kind_to_string(k), e->created[k]))
			return NULL;
	ok = json_add_string(o, "cmdline", e->cmdline ?: "") &&
	     add_string_or_null(o, "cgroup", e->cgroup) && json_add_u64(o, "closed", e->closed) &&
	     json_add_u64(o, "emfile", e->emfile) && json_add_u64(o, "enfile", e->enfile) &&
	     add_syscall(o, e->last_fail_nr) &&
	     (e->max_fd >= 0 ? json_add_u64(o, "max_fd", (uint64_t)e->max_fd)
			     : cJSON_AddNullToObject(o, "max_fd")) &&
	     add_retry(o, &e->verdict) &&
	     json_add_u64(o, "closed_recent", e->verdict.closed_recent) &&
	     json_add_u64(o, "first_seen_usec", e->first_seen_realtime_ns / NSEC_PER_USEC) &&
	     cJSON_AddNumberToObject(
		 o, "age_sec",
		 now_ns > e->first_seen_ns ? ns_to_sec(now_ns - e->first_seen_ns) : 0) &&
	     add_double_or_null(
		 o, "idle_sec",
		 now_ns > e->last_activity_ns ? ns_to_sec(now_ns - e->last_activity_ns) : 0,
		 e->last_activity_ns > 0) &&
	     json_add_u64(o, "unseen_opens", e->unseen_opens) &&
	     json_add_u64(o, "unseen_closes", e->unseen_closes) &&
	     json_add_i64(o, "last_drift", e->last_drift) && add_history(o, e, now_ns);
	if (!ok)
		return NULL;
	return TAKE_PTR(o);
}

cJSON *json_alert(const struct alert *a)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	const struct detect_verdict *v = &a->verdict;
	bool ok;

	if (!o)
		return NULL;
	ok = json_add_u64(o, "seq", a->seq) &&
	     json_add_u64(o, "realtime_usec", a->realtime_ns / NSEC_PER_USEC) &&
	     cJSON_AddStringToObject(o, "type", alert_type_to_string(a->type)) &&
	     json_add_i64(o, "priority", a->priority) &&
	     cJSON_AddStringToObject(o, "message_id", alert_type_message_id(a->type)) &&
	     json_add_string(o, "message", a->message) &&
	     json_add_u64(o, "pid", (uint64_t)a->pid) &&
	     json_add_u64(o, "start_ticks", a->start_ticks) &&
	     json_add_u64(o, "uid", (uint64_t)a->uid) && json_add_string(o, "comm", a->comm) &&
	     add_string_or_null(o, "unit", a->unit) && add_container(o, &a->container) &&
	     json_add_u64(o, "fds", a->fds) && json_add_limit(o, "limit", a->soft_limit) &&
	     add_verdict(o, v) && add_retry(o, v) && json_add_u64(o, "fails", v->fails) &&
	     (a->syscall[0] ? cJSON_AddStringToObject(o, "syscall", a->syscall)
			    : add_syscall(o, v->fail_nr)) &&
	     (a->type == ALERT_EXHAUSTED
		  ? cJSON_AddStringToObject(o, "errno", v->fail_err == ENFILE ? "ENFILE" : "EMFILE")
		  : cJSON_AddNullToObject(o, "errno")) &&
	     json_add_limit(o, "hard_limit", a->hard_limit) &&
	     cJSON_AddBoolToObject(o, "exited", a->exited) &&
	     json_add_u64(o, "suppressed", a->suppressed) &&
	     (a->top_target[0] ? cJSON_AddStringToObject(o, "top_target", a->top_target)
			       : cJSON_AddNullToObject(o, "top_target")) &&
	     (a->top_site[0] ? cJSON_AddStringToObject(o, "top_site", a->top_site)
			     : cJSON_AddNullToObject(o, "top_site"));
	if (!ok)
		return NULL;
	return TAKE_PTR(o);
}

/* name: an array of the n PIDs. */
static bool json_add_pids(cJSON *obj, const char *name, const pid_t *pids, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, name);

	for (size_t i = 0; arr && i < n; i++) {
		cJSON *v = cJSON_CreateNumber(pids[i]);

		if (!v || !cJSON_AddItemToArray(arr, v)) {
			cJSON_Delete(v);
			return false;
		}
	}
	return arr != NULL;
}

static cJSON *add_hooks(cJSON *obj, const struct hooks_stats *h)
{
	cJSON *o = cJSON_AddObjectToObject(obj, "hooks");

	if (!o || !json_add_u64(o, "started", h->started) ||
	    !json_add_u64(o, "succeeded", h->succeeded) || !json_add_u64(o, "failed", h->failed) ||
	    !json_add_u64(o, "timed_out", h->timed_out) ||
	    !json_add_u64(o, "exec_failed", h->exec_failed) ||
	    !json_add_u64(o, "dropped", h->dropped) || !json_add_u64(o, "running", h->running) ||
	    !json_add_u64(o, "queued", h->queued))
		return NULL;
	return o;
}

cJSON *json_status(const struct status_info *s)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	cJSON *j;
	bool ok;

	if (!o)
		return NULL;
	ok = cJSON_AddStringToObject(o, "version", s->version) &&
	     cJSON_AddNumberToObject(o, "uptime_sec", round3(s->uptime_sec)) &&
	     json_add_u64(o, "started_usec", s->started_realtime_ns / NSEC_PER_USEC) &&
	     cJSON_AddStringToObject(o, "probe_mode", s->probe_mode) &&
	     cJSON_AddNumberToObject(o, "tick_sec", ns_to_sec(s->tick_ns)) &&
	     cJSON_AddNumberToObject(o, "rescan_sec", ns_to_sec(s->rescan_ns)) &&
	     json_add_u64(o, "processes", s->processes) && json_add_u64(o, "visible", s->visible) &&
	     json_add_u64(o, "ticks", s->ticks) &&
	     json_add_u64(o, "last_tick_usec", s->last_tick_usec) &&
	     json_add_u64(o, "ringbuf_dropped", s->ringbuf_dropped) &&
	     json_add_u64(o, "map_full", s->map_full) &&
	     json_add_u64(o, "events_fail", s->events_fail) &&
	     json_add_u64(o, "events_exec", s->events_exec) &&
	     json_add_u64(o, "events_exit", s->events_exit) &&
	     json_add_u64(o, "reconciliations", s->reconciliations) &&
	     json_add_u64(o, "count_passes", s->count_passes) &&
	     json_add_u64(o, "last_pass_usec", s->last_pass_usec) &&
	     json_add_u64(o, "count_reads", s->count_reads) &&
	     json_add_u64(o, "unseen_opens", s->unseen_opens) &&
	     json_add_u64(o, "unseen_closes", s->unseen_closes) &&
	     json_add_u64(o, "tracked_processes", s->tracked_processes) &&
	     json_add_u64(o, "censuses", s->censuses) &&
	     json_add_u64(o, "sites_full", s->sites_full) &&
	     json_add_u64(o, "sites_no_stack", s->sites_no_stack) &&
	     json_add_u64(o, "alerts_sent", s->alerts_sent) &&
	     json_add_u64(o, "alerts_suppressed", s->alerts_suppressed) &&
	     cJSON_AddStringToObject(o, "probe_backend", s->probe_backend) &&
	     cJSON_AddBoolToObject(o, "probe_armed", s->probe_armed) &&
	     json_add_u64(o, "probe_armed_since_usec",
			  s->probe_armed_since_realtime_ns / NSEC_PER_USEC) &&
	     cJSON_AddNumberToObject(o, "probe_armed_share", round3(s->probe_armed_share)) &&
	     cJSON_AddNumberToObject(o, "probe_share_window_sec",
				     ns_to_sec(s->probe_share_window_ns)) &&
	     json_add_u64(o, "probe_arm_usec", s->probe_arm_usec) &&
	     json_add_u64(o, "probe_detach_usec", s->probe_detach_usec) &&
	     json_add_u64(o, "events_fork", s->events_fork) &&
	     json_add_u64(o, "suspects", s->suspects) &&
	     json_add_pids(o, "suspect_pids", s->visible_suspects, s->n_visible_suspects) &&
	     (j = cJSON_AddObjectToObject(o, "journal")) &&
	     json_add_u64(j, "queued", s->journal_queued) &&
	     json_add_u64(j, "sent", s->journal_sent) &&
	     json_add_u64(j, "dropped", s->journal_dropped) &&
	     json_add_u64(j, "failed", s->journal_failed) &&
	     json_add_u64(o, "log_dropped", s->log_dropped) && add_hooks(o, &s->hooks) &&
	     json_add_u64(o, "clients", s->clients) &&
	     json_add_u64(o, "subscribers", s->subscribers) &&
	     json_add_u64(o, "client_uid", s->client_uid) &&
	     cJSON_AddBoolToObject(o, "client_admin", s->client_admin);
	if (!ok)
		return NULL;
	return TAKE_PTR(o);
}
