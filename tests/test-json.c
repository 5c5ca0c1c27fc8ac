// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test-json - the objects the API serves (daemon/json.c): every field the
 * IDL in varlink.c declares and no other, the risk order and filters of
 * ListProcesses, and alert fields named after their journald fields.
 */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "idl-fixture.h"
#include "json.h"
#include "syscalls.h"
#include "varlink.h"
#include "verdict-fixture.h"

static struct proc_entry *entry_new(pid_t pid, const char *comm, enum fdw_state state, double eta,
				    uint64_t fds)
{
	struct proc_entry *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->pid = pid;
	e->uid = 1000;
	snprintf(e->comm, sizeof(e->comm), "%s", comm);
	e->fds = fds;
	e->soft_limit = 1024;
	e->hard_limit = 524288;
	e->max_fd = -1;
	e->last_fail_nr = -1;
	e->verdict.state = state;
	e->verdict.eta_sec = eta;
	e->verdict.fail_nr = -1;
	return e;
}

static double num(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v))
		fail_msg("%s is not a number", name);
	return v->valuedouble;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v))
		fail_msg("%s is not a string", name);
	return v->valuestring;
}

/* Raw numbers (json_add_u64) parse back only through printing: round-trip every object. */
static cJSON *reparse(cJSON *o)
{
	_cleanup_free_ char *s = cJSON_PrintUnformatted(o);
	cJSON *r;

	cJSON_Delete(o);
	assert_non_null(s);
	r = cJSON_Parse(s);
	assert_non_null(r);
	return r;
}

static void test_summary(void **state)
{
	_cleanup_free_ struct proc_entry *e =
	    entry_new(4242, "python3", FDW_STATE_LEAKING, 10.25, 812);
	_cleanup_cjson_ cJSON *o = NULL;
	const cJSON *kinds;

	e->unit = "origin.service";
	e->start_ticks = 123456;
	e->verdict.rate = 20.0004;
	e->verdict.pattern = FDW_PATTERN_RETRY_LOOP;
	e->verdict.kinds = (1U << FDW_KIND_PIPE) | (1U << FDW_KIND_FILE);
	e->verdict.main_kind = FDW_KIND_PIPE;
	e->verdict.confidence = 0.9;
	o = reparse(json_proc_summary(e));
	assert_matches_idl(o, "type ProcessSummary (");
	assert_int_equal(num(o, "pid"), 4242);
	assert_int_equal(num(o, "start_ticks"), 123456);
	assert_int_equal(num(o, "uid"), 1000);
	assert_string_equal(str(o, "comm"), "python3");
	assert_string_equal(str(o, "unit"), "origin.service");
	assert_int_equal(num(o, "fds"), 812);
	assert_int_equal(num(o, "limit"), 1024);
	assert_int_equal(num(o, "hard_limit"), 524288);
	assert_true(fabs(num(o, "use_percent") - 79.3) < 1e-9);
	assert_true(fabs(num(o, "rate") - 20.0) < 1e-9); /* rounded to 3 decimals */
	assert_true(fabs(num(o, "eta_sec") - 10.25) < 1e-9);
	assert_string_equal(str(o, "state"), "leaking");
	assert_string_equal(str(o, "pattern"), "retry-loop");
	assert_string_equal(str(o, "kind"), "pipe");
	kinds = cJSON_GetObjectItem(o, "kinds");
	assert_int_equal(cJSON_GetArraySize(kinds), 2);
	assert_string_equal(cJSON_GetArrayItem(kinds, 0)->valuestring, "file");
	assert_string_equal(cJSON_GetArrayItem(kinds, 1)->valuestring, "pipe");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "exited")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "container_id")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "pod_uid")));
}

static const struct cgroup_container pod_container = {
    .runtime = CGROUP_RUNTIME_CONTAINERD,
    .id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    .pod_uid = "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f",
    .qos = CGROUP_QOS_BURSTABLE,
};

static void test_summary_container(void **state)
{
	_cleanup_free_ struct proc_entry *e = entry_new(99, "java", FDW_STATE_OK, -1, 30);
	struct cgroup_container c = pod_container;
	_cleanup_cjson_ cJSON *o = NULL, *full = NULL;

	e->container = &c;
	o = reparse(json_proc_summary(e));
	assert_matches_idl(o, "type ProcessSummary (");
	assert_string_equal(str(o, "container_runtime"), "containerd");
	assert_string_equal(str(o, "container_id"), pod_container.id);
	assert_string_equal(str(o, "pod_uid"), pod_container.pod_uid);
	assert_string_equal(str(o, "pod_qos"), "burstable");
	/* A pod's own cgroup: a pod, no container. */
	c.runtime = CGROUP_RUNTIME_NONE;
	c.id[0] = 0;
	full = reparse(json_proc_full(e, 1));
	assert_matches_idl(full, "type Process (");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(full, "container_runtime")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(full, "container_id")));
	assert_string_equal(str(full, "pod_uid"), pod_container.pod_uid);
}

static void test_summary_nulls(void **state)
{
	_cleanup_free_ struct proc_entry *e = entry_new(7, "sleep", FDW_STATE_OK, -1, 3);
	_cleanup_cjson_ cJSON *o = NULL;

	snprintf(e->comm, sizeof(e->comm), "bad\xff\xfe"); /* prctl(PR_SET_NAME) takes any bytes */
	e->soft_limit = UINT64_MAX;			   /* RLIM_INFINITY */
	e->hard_limit = UINT64_MAX;
	e->verdict.rate = NAN;
	o = reparse(json_proc_summary(e));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "unit")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "limit")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "hard_limit")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "use_percent")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "eta_sec")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "kind")));
	assert_int_equal(num(o, "rate"), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "kinds")), 0);
	assert_string_equal(str(o, "state"), "ok");
	assert_string_equal(str(o, "comm"), "bad\xef\xbf\xbd\xef\xbf\xbd");

	/* Not judged yet: a zeroed verdict's eta_sec 0 is no ETA. */
	cJSON_Delete(o);
	memset(&e->verdict, 0, sizeof(e->verdict));
	o = reparse(json_proc_summary(e));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "eta_sec")));
}

static void test_full(void **state)
{
	_cleanup_free_ struct proc_entry *e =
	    entry_new(4242, "python3", FDW_STATE_CRITICAL, 3, 1000);
	_cleanup_free_ struct proc_point *history = calloc(PROC_HISTORY, sizeof(*history));
	_cleanup_cjson_ cJSON *o = NULL;
	const uint64_t now = 1000 * NSEC_PER_SEC;
	const cJSON *h, *created;

	e->cmdline = "python3 origin_story.py --retry";
	e->cgroup = "/system.slice/origin.service";
	e->created[FDW_KIND_PIPE] = 600;
	e->created[FDW_KIND_FILE] = 7;
	e->closed = 2;
	e->emfile = 3;
	e->max_fd = 1001;
	e->first_seen_ns = now - 60 * NSEC_PER_SEC;
	e->first_seen_realtime_ns = 1700000000123456789ULL;
	e->last_activity_ns = now - NSEC_PER_SEC / 2;
	e->unseen_opens = 4;
	e->last_drift = -2;
	e->verdict.pattern = FDW_PATTERN_RETRY_LOOP;
	e->verdict.period_sec = 0.1;
	e->verdict.per_attempt = 2;
	/* A ring that wrapped: the oldest point sits at history_head. */
	e->history = history;
	for (unsigned i = 0; i < PROC_HISTORY + 5; i++) {
		unsigned slot = i % PROC_HISTORY;

		e->history[slot] = (struct proc_point){
		    .t_ns = now - (PROC_HISTORY + 5 - i) * NSEC_PER_SEC, .fds = 100 + i};
	}
	e->history_len = PROC_HISTORY;
	e->history_head = 5;

	o = reparse(json_proc_full(e, now));
	assert_matches_idl(o, "type Process (");
	assert_string_equal(str(o, "cmdline"), "python3 origin_story.py --retry");
	assert_string_equal(str(o, "cgroup"), "/system.slice/origin.service");
	created = cJSON_GetObjectItem(o, "created");
	assert_int_equal(cJSON_GetArraySize(created), FDW_KIND_MAX);
	assert_int_equal(num(created, "pipe"), 600);
	assert_int_equal(num(created, "file"), 7);
	assert_int_equal(num(created, "io_uring"), 0);
	assert_int_equal(num(o, "closed"), 2);
	assert_int_equal(num(o, "emfile"), 3);
	assert_int_equal(num(o, "max_fd"), 1001);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "syscall")));
	assert_true(fabs(num(o, "period_sec") - 0.1) < 1e-9);
	assert_int_equal(num(o, "per_attempt"), 2);
	assert_int_equal(num(o, "first_seen_usec"), 1700000000123456.0);
	assert_true(fabs(num(o, "age_sec") - 60) < 1e-9);
	assert_true(fabs(num(o, "idle_sec") - 0.5) < 1e-9);
	assert_int_equal(num(o, "unseen_opens"), 4);
	assert_int_equal(num(o, "last_drift"), -2);
	h = cJSON_GetObjectItem(o, "history");
	assert_int_equal(cJSON_GetArraySize(h), PROC_HISTORY);
	/* Oldest first: the point written 5th (i = 5) is the oldest kept. */
	assert_int_equal(num(cJSON_GetArrayItem(h, 0), "fds"), 105);
	assert_int_equal(num(cJSON_GetArrayItem(h, PROC_HISTORY - 1), "fds"),
			 100 + PROC_HISTORY + 4);
	assert_true(fabs(num(cJSON_GetArrayItem(h, PROC_HISTORY - 1), "ago_sec") - 1) < 1e-9);
	assert_matches_idl(cJSON_GetArrayItem(h, 0), "type Sample (");
}

static void test_full_failed_syscall(void **state)
{
	_cleanup_free_ struct proc_entry *e = entry_new(1, "x", FDW_STATE_EXHAUSTED, -1, 1024);
	_cleanup_cjson_ cJSON *o = NULL;
	const struct fdw_syscall *t;
	size_t n;

	t = fdw_syscalls(&n);
	assert_true(n > 0);
	e->last_fail_nr = t[0].nr;
	o = reparse(json_proc_full(e, 0));
	assert_string_equal(str(o, "syscall"), t[0].name);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "history")), 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "idle_sec")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "period_sec")));
}

static struct alert sample_alert(void)
{
	struct alert a = {
	    .seq = 7,
	    .realtime_ns = 1700000000000000000ULL,
	    .type = ALERT_LEAK,
	    .priority = 4,
	    .pid = 4242,
	    .start_ticks = 99,
	    .uid = 1000,
	    .comm = "python3",
	    .unit = "origin.service",
	    .fds = 812,
	    .soft_limit = 1024,
	    .suppressed = 1,
	    .verdict = verdict(FDW_STATE_LEAKING),
	};

	snprintf(a.message, sizeof(a.message), "python3[4242] leaks pipe fds");
	return a;
}

static void test_alert(void **state)
{
	struct alert a = sample_alert();
	_cleanup_cjson_ cJSON *o = reparse(json_alert(&a));

	assert_matches_idl(o, "type Alert (");
	assert_int_equal(num(o, "seq"), 7);
	assert_int_equal(num(o, "realtime_usec"), 1700000000000000.0);
	assert_string_equal(str(o, "type"), "leak");
	assert_string_equal(str(o, "message_id"), alert_type_message_id(ALERT_LEAK));
	assert_string_equal(str(o, "message"), "python3[4242] leaks pipe fds");
	assert_string_equal(str(o, "unit"), "origin.service");
	assert_int_equal(num(o, "limit"), 1024);
	assert_string_equal(str(o, "kind"), "pipe");
	assert_true(fabs(num(o, "eta_sec") - 10.6) < 1e-9);
	assert_true(fabs(num(o, "period_sec") - 0.1) < 1e-9);
	assert_int_equal(num(o, "suppressed"), 1);
}

/*
 * Every FDWATCH_* journald field of an alert has its JSON twin, lowercased
 * without the prefix (the naming rule the IDL documents).
 */
static void test_alert_matches_journal(void **state)
{
	for (int t = 0; t < ALERT_TYPE_MAX; t++) {
		struct alert a = sample_alert();
		_cleanup_cjson_ cJSON *o = NULL;
		char *fields[64];
		const cJSON *v;
		int n;

		a.type = t;
		/* In a pod's container: the journal's FDWATCH_CONTAINER_*, FDWATCH_POD_* too. */
		if (t == ALERT_LEAK)
			a.container = pod_container;
		if (t == ALERT_EXHAUSTED) {
			a.verdict.state = FDW_STATE_EXHAUSTED;
			a.verdict.fail_nr = fdw_syscalls(&(size_t){0})[0].nr;
			a.verdict.fail_err = ENFILE;
			a.verdict.fails = 3;
			snprintf(a.syscall, sizeof(a.syscall), "pipe2");
		}
		o = reparse(json_alert(&a));
		n = alert_to_fields(&a, fields, ELEMENTSOF(fields));
		assert_true(n > 0);
		if (t == ALERT_LEAK) {
			bool pod = false, id = false;

			for (int i = 0; i < n; i++) {
				pod = pod ||
				      streq(fields[i], "FDWATCH_POD_UID=8f3c1a2e-4b5d-4c6e-9f70-"
						       "1a2b3c4d5e6f");
				id = id || strncmp(fields[i], "FDWATCH_CONTAINER_ID=0123456789ab",
						   33) == 0;
			}
			assert_true(pod && id);
		}
		for (int i = 0; i < n; i++) {
			char key[64];
			const char *eq = strchr(fields[i], '=');
			size_t k;

			assert_non_null(eq);
			if (strncmp(fields[i], "FDWATCH_", 8) != 0)
				continue;
			for (k = 0; fields[i] + 8 + k < eq && k < sizeof(key) - 1; k++)
				key[k] = tolower((unsigned char)fields[i][8 + k]);
			key[k] = 0;
			v = cJSON_GetObjectItemCaseSensitive(o, key);
			if (!v)
				fail_msg("journald field %.*s has no JSON field \"%s\"",
					 (int)(eq - fields[i]), fields[i], key);
			/* Same value too (journald's numbers are rounded for reading). */
			if (cJSON_IsString(v) && !streq(v->valuestring, eq + 1))
				fail_msg("%s: JSON has \"%s\"", fields[i], v->valuestring);
			if (cJSON_IsNumber(v) && fabs(v->valuedouble - atof(eq + 1)) > 1.0)
				fail_msg("%s: JSON has %g", fields[i], v->valuedouble);
			if (cJSON_IsArray(v)) {
				char joined[256] = "";

				for (const cJSON *x = v->child; x; x = x->next)
					snprintf(joined + strlen(joined),
						 sizeof(joined) - strlen(joined), "%s%s",
						 x == v->child ? "" : ",", x->valuestring);
				if (!streq(joined, eq + 1))
					fail_msg("%s: JSON has [%s]", fields[i], joined);
			}
		}
		alert_fields_free(fields, n);
	}
}

static void test_status(void **state)
{
	struct status_info si = {
	    .version = "0.1.0",
	    .uptime_sec = 12.5,
	    .started_realtime_ns = 1700000000000000000ULL,
	    .probe_mode = "auto",
	    .probe_backend = "tracepoint",
	    .probe_armed = true,
	    .probe_armed_since_realtime_ns = 1700000005000000000ULL,
	    .probe_armed_share = 0.0512,
	    .probe_share_window_ns = 3600 * NSEC_PER_SEC,
	    .suspects = 3,
	    .visible_suspects = {42, 43},
	    .n_visible_suspects = 2,
	    .tick_ns = NSEC_PER_SEC,
	    .rescan_ns = 30 * NSEC_PER_SEC,
	    .processes = 300,
	    .visible = 12,
	    .ringbuf_dropped = 1,
	    .alerts_sent = 5,
	    .clients = 2,
	    .client_uid = 1000,
	};
	_cleanup_cjson_ cJSON *o = reparse(json_status(&si));

	assert_matches_idl(o, "method GetStatus(");
	assert_string_equal(str(o, "probe_mode"), "auto");
	assert_string_equal(str(o, "probe_backend"), "tracepoint");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "probe_armed")));
	assert_int_equal(num(o, "probe_armed_since_usec"), 1700000005000000ULL);
	assert_true(num(o, "probe_armed_share") == 0.051);
	assert_int_equal(num(o, "probe_share_window_sec"), 3600);
	assert_int_equal(num(o, "suspects"), 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "suspect_pids")), 2);
	assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "suspect_pids"), 1)->valueint,
			 43);
	assert_int_equal(num(o, "tick_sec"), 1);
	assert_int_equal(num(o, "rescan_sec"), 30);
	assert_int_equal(num(o, "processes"), 300);
	assert_int_equal(num(o, "visible"), 12);
	assert_int_equal(num(o, "ringbuf_dropped"), 1);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "client_admin")));
	assert_matches_idl(cJSON_GetObjectItem(o, "hooks"), "type HookStats (");
}

static void test_status_hooks(void **state)
{
	struct status_info si = {
	    .version = "0.1.0",
	    .probe_mode = "auto",
	    .probe_backend = "raw",
	    .hooks = {.started = 9,
		      .succeeded = 5,
		      .failed = 2,
		      .timed_out = 2,
		      .exec_failed = 1,
		      .dropped = 7,
		      .running = 0,
		      .queued = 3},
	};
	_cleanup_cjson_ cJSON *o = reparse(json_status(&si));
	const cJSON *h = cJSON_GetObjectItem(o, "hooks");

	assert_int_equal(num(h, "started"), 9);
	assert_int_equal(num(h, "succeeded"), 5);
	assert_int_equal(num(h, "failed"), 2);
	assert_int_equal(num(h, "timed_out"), 2);
	assert_int_equal(num(h, "exec_failed"), 1);
	assert_int_equal(num(h, "dropped"), 7);
	assert_int_equal(num(h, "running"), 0);
	assert_int_equal(num(h, "queued"), 3);
}

static void test_filter_params(void **state)
{
	static const struct {
		const char *json;
		const char *bad; /* NULL: valid */
	} cases[] = {
	    {"{}", NULL},
	    {"{\"uid\":1000,\"unit\":\"*.service\",\"comm\":\"py*\",\"state\":\"leaking\","
	     "\"limit\":5}",
	     NULL},
	    {"{\"uid\":null}", NULL},
	    {"{\"uid\":-1}", "uid"},
	    {"{\"uid\":\"0\"}", "uid"},
	    {"{\"uid\":4294967295}", "uid"}, /* (uid_t)-1 is not a user */
	    {"{\"uid\":1.5}", "uid"},
	    {"{\"state\":\"bogus\"}", "state"},
	    {"{\"state\":3}", "state"},
	    {"{\"limit\":-5}", "limit"},
	    {"{\"limit\":true}", "limit"},
	    {"{\"comm\":5}", "comm"},
	    {"{\"unit\":[]}", "unit"},
	    {"{\"runtime\":\"docker\",\"container\":\"0123\",\"pod_uid\":\"8f3c\"}", NULL},
	    {"{\"runtime\":1}", "runtime"},
	    {"{\"min_use_percent\":50.5}", NULL},
	    {"{\"min_use_percent\":0}", NULL},
	    {"{\"min_use_percent\":100}", NULL},
	    {"{\"min_use_percent\":101}", "min_use_percent"},
	    {"{\"min_use_percent\":-1}", "min_use_percent"},
	    {"{\"min_use_percent\":\"50\"}", "min_use_percent"},
	    {"{\"container\":false}", "container"},
	    {"{\"pod_uid\":{}}", "pod_uid"},
	    {"{\"bogus\":1}", "bogus"},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_cjson_ cJSON *p = cJSON_Parse(cases[i].json);
		struct proc_filter f;
		const char *bad = NULL;
		int r;

		print_message("case %s\n", cases[i].json);
		assert_non_null(p);
		r = proc_filter_from_params(p, &f, &bad);
		if (!cases[i].bad) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_string_equal(bad, cases[i].bad);
	}
}

static void test_filter_match(void **state)
{
	_cleanup_cjson_ cJSON *p = cJSON_Parse("{\"uid\":1000,\"unit\":\"*.service\","
					       "\"comm\":\"py*\",\"state\":\"leaking\"}");
	_cleanup_free_ struct proc_entry *e = entry_new(1, "python3", FDW_STATE_LEAKING, 5, 10);
	struct proc_filter f;
	const char *bad;

	assert_int_equal(proc_filter_from_params(p, &f, &bad), 0);
	assert_true(f.has_uid);
	assert_int_equal(f.min_state, FDW_STATE_LEAKING);
	e->unit = "origin.service";
	assert_true(proc_filter_match(&f, e));
	e->verdict.state = FDW_STATE_EXHAUSTED; /* state is a minimum */
	assert_true(proc_filter_match(&f, e));
	e->verdict.state = FDW_STATE_GROWING;
	assert_false(proc_filter_match(&f, e));
	e->verdict.state = FDW_STATE_LEAKING;
	e->uid = 0;
	assert_false(proc_filter_match(&f, e));
	e->uid = 1000;
	e->unit = NULL; /* a unit filter never matches a process outside units */
	assert_false(proc_filter_match(&f, e));
	e->unit = "session-1.scope";
	assert_false(proc_filter_match(&f, e));
	e->unit = "origin.service";
	snprintf(e->comm, sizeof(e->comm), "bash");
	assert_false(proc_filter_match(&f, e));
}

static void test_filter_container(void **state)
{
	static const struct {
		const char *json;
		bool in_pod, host;
	} cases[] = {
	    {"{}", true, true},
	    {"{\"runtime\":\"containerd\"}", true, false},
	    {"{\"runtime\":\"docker\"}", false, false},
	    {"{\"container\":\"0123456789ab\"}", true, false},
	    {"{\"container\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
	     true, false},
	    {"{\"container\":\"1234\"}", false, false},
	    {"{\"pod_uid\":\"8f3c1a2e\"}", true, false},
	    {"{\"pod_uid\":\"8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f\"}", true, false},
	    {"{\"pod_uid\":\"9\"}", false, false},
	    {"{\"runtime\":\"containerd\",\"pod_uid\":\"8f3c\",\"container\":\"01\"}", true, false},
	};
	_cleanup_free_ struct proc_entry *e = entry_new(1, "java", FDW_STATE_OK, -1, 10);
	struct cgroup_container c = pod_container;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_cjson_ cJSON *p = cJSON_Parse(cases[i].json);
		struct proc_filter f;
		const char *bad;

		print_message("case %s\n", cases[i].json);
		assert_int_equal(proc_filter_from_params(p, &f, &bad), 0);
		e->container = &c;
		assert_int_equal(proc_filter_match(&f, e), cases[i].in_pod);
		e->container = NULL;
		assert_int_equal(proc_filter_match(&f, e), cases[i].host);
	}
}

static void test_filter_min_use(void **state)
{
	static const struct {
		uint64_t fds, limit;
		double min;
		bool match;
	} cases[] = {
	    {512, 1024, 50, true},	{511, 1024, 50, false}, {1024, 1024, 100, true},
	    {0, 1024, 0, true},		{10, 0, 1, false}, /* limit unknown */
	    {10, UINT64_MAX, 1, false},			   /* unlimited */
	    {10, UINT64_MAX, 0, true},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ struct proc_entry *e =
		    entry_new(1, "x", FDW_STATE_OK, -1, cases[i].fds);
		char json[64];
		_cleanup_cjson_ cJSON *p = NULL;
		struct proc_filter f;
		const char *bad;

		snprintf(json, sizeof(json), "{\"min_use_percent\":%g}", cases[i].min);
		p = cJSON_Parse(json);
		e->soft_limit = cases[i].limit;
		print_message("case %zu\n", i);
		assert_int_equal(proc_filter_from_params(p, &f, &bad), 0);
		assert_int_equal(proc_filter_match(&f, e), cases[i].match);
	}
}

static void test_unit_summaries(void **state)
{
	static const struct {
		const char *unit;
		enum fdw_state state;
		uint64_t fds;
	} procs[] = {
	    {"web.service", FDW_STATE_OK, 10},
	    {"db.service", FDW_STATE_OK, 500},
	    {NULL, FDW_STATE_OK, 3},
	    {"web.service", FDW_STATE_LEAKING, 700},
	    {"web.service", FDW_STATE_GROWING, 20},
	    {"db.service", FDW_STATE_OK, 100},
	    {NULL, FDW_STATE_OK, 4},
	    {"cron.service", FDW_STATE_OK, 600},
	};
	static const struct {
		const char *unit; /* NULL: null */
		uint64_t processes, fds, leaking;
		const char *state;
	} want[] = {
	    /* Worst state first, then most fds; processes outside units are one group. */
	    {"web.service", 3, 730, 1, "leaking"},
	    {"cron.service", 1, 600, 0, "ok"},
	    {"db.service", 2, 600, 0, "ok"},
	    {NULL, 2, 7, 0, "ok"},
	};
	struct proc_entry *v[ELEMENTSOF(procs)];
	_cleanup_cjson_ cJSON *all = NULL, *two = NULL, *none = NULL;

	for (size_t i = 0; i < ELEMENTSOF(procs); i++) {
		v[i] = entry_new((pid_t)(100 + i), "x", procs[i].state, -1, procs[i].fds);
		v[i]->unit = (char *)procs[i].unit;
	}
	all = reparse(json_unit_summaries(v, ELEMENTSOF(v), 0));
	assert_int_equal(cJSON_GetArraySize(all), ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		const cJSON *o = cJSON_GetArrayItem(all, (int)i);

		assert_matches_idl(o, "type UnitSummary (");
		if (want[i].unit)
			assert_string_equal(str(o, "unit"), want[i].unit);
		else
			assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "unit")));
		assert_int_equal(num(o, "processes"), want[i].processes);
		assert_int_equal(num(o, "fds"), want[i].fds);
		assert_int_equal(num(o, "leaking"), want[i].leaking);
		assert_string_equal(str(o, "state"), want[i].state);
	}
	two = reparse(json_unit_summaries(v, ELEMENTSOF(v), 2));
	assert_int_equal(cJSON_GetArraySize(two), 2);
	none = reparse(json_unit_summaries(v, 0, 0));
	assert_int_equal(cJSON_GetArraySize(none), 0);
	for (size_t i = 0; i < ELEMENTSOF(v); i++)
		free(v[i]);
}

static void test_risk_order(void **state)
{
	struct proc_entry *v[7];

	/* Shuffled on purpose; expected order is by pid. */
	v[0] = entry_new(6, "ok-small", FDW_STATE_OK, -1, 5);
	v[1] = entry_new(2, "crit-late", FDW_STATE_CRITICAL, 50, 900);
	v[2] = entry_new(5, "ok-big", FDW_STATE_OK, -1, 500);
	v[3] = entry_new(1, "exhausted", FDW_STATE_EXHAUSTED, -1, 1024);
	v[4] = entry_new(4, "leak-noeta", FDW_STATE_LEAKING, -1, 100);
	v[5] = entry_new(3, "leak-soon", FDW_STATE_LEAKING, 10, 50);
	v[6] = entry_new(7, "ok-small2", FDW_STATE_OK, -1, 5); /* ties with 6: pid decides */
	proc_entries_sort_by_risk(v, ELEMENTSOF(v));
	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		print_message("%zu: %s\n", i, v[i]->comm);
		assert_int_equal(v[i]->pid, (pid_t)(i + 1));
	}
	for (size_t i = 0; i + 1 < ELEMENTSOF(v); i++) {
		assert_true(proc_entry_cmp_risk(v[i], v[i + 1]) < 0);
		assert_true(proc_entry_cmp_risk(v[i + 1], v[i]) > 0);
	}
	assert_int_equal(proc_entry_cmp_risk(v[0], v[0]), 0);
	for (size_t i = 0; i < ELEMENTSOF(v); i++)
		free(v[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_summary),
	    cmocka_unit_test(test_summary_nulls),
	    cmocka_unit_test(test_summary_container),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_full_failed_syscall),
	    cmocka_unit_test(test_alert),
	    cmocka_unit_test(test_alert_matches_journal),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_status_hooks),
	    cmocka_unit_test(test_filter_params),
	    cmocka_unit_test(test_filter_match),
	    cmocka_unit_test(test_filter_container),
	    cmocka_unit_test(test_filter_min_use),
	    cmocka_unit_test(test_unit_summaries),
	    cmocka_unit_test(test_risk_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
