// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * api.c - the io.fdwatch methods (see api.h). Each is a function of the
 * call and what struct api_sources lends; the transport (sockets, limits,
 * peer credentials, streaming) is varlink-server.c's, and JSON shapes are
 * json.c's.
 */
#include "api.h"
#include "attribution.h"
#include "log.h"
#include "varlink-server.h"

/* Subscribe(since) replays at most this many alerts: ~70 KiB, well inside a socket's buffer. */
#define API_REPLAY_MAX 100
#define API_VENDOR     "fdwatch"
#define API_PRODUCT    "fdwatchd"
#define API_URL	       "man:fdwatchd(8)"

struct api {
	struct varlink_server *server;
	const struct fdw_config *config;
	struct api_sources sources;
};

/*
 * Who sees what, the one rule: root and admins (AdminGroup=) see every
 * process and every alert; anyone else the processes running under its own
 * uid and the alerts about them.
 */
static bool client_may_see(const struct varlink_connection *c, uid_t owner)
{
	return varlink_connection_is_admin(c) || varlink_connection_uid(c) == owner;
}

static bool client_may_see_alert(const struct varlink_connection *c, void *userdata)
{
	const struct alert *a = userdata;

	return client_may_see(c, a->uid);
}

static int reply_invalid(struct varlink_connection *c, const struct varlink_call *call,
			 const char *name)
{
	return varlink_error_string(c, call, FDW_ERROR_INVALID_PARAMETER, "parameter", name);
}

static int method_get_status(struct varlink_connection *c, const struct varlink_call *call,
			     void *userdata)
{
	static const char *const none[] = {NULL};
	struct api *a = userdata;
	struct status_info si = {};
	const char *bad;
	cJSON *p;

	bad = varlink_params_unknown(call->parameters, none);
	if (bad)
		return reply_invalid(c, call, bad);
	a->sources.get_status(a->sources.userdata, &si);
	si.clients = varlink_server_connections(a->server);
	si.subscribers = varlink_server_subscribers(a->server);
	si.client_uid = varlink_connection_uid(c);
	si.client_admin = varlink_connection_is_admin(c);
	for (struct proc_entry *e = proc_table_first(a->sources.procs); e; e = proc_table_next(e))
		if (client_may_see(c, e->uid))
			si.visible++;
	p = json_status(&si);
	if (!p)
		return -ENOMEM;
	return varlink_reply(c, call, p);
}

/* The processes the caller may see that pass f, unsorted. *ret malloc'd. 0 or -ENOMEM. */
static int visible_matching(struct varlink_connection *c, struct proc_table *t,
			    const struct proc_filter *f, struct proc_entry ***ret, size_t *ret_n)
{
	size_t n = 0, total = proc_table_size(t);
	struct proc_entry **v = malloc(MAX(total, (size_t)1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (struct proc_entry *e = proc_table_first(t); e && n < total; e = proc_table_next(e))
		if (client_may_see(c, e->uid) && proc_filter_match(f, e))
			v[n++] = e;
	*ret = v;
	*ret_n = n;
	return 0;
}

static int method_list_processes(struct varlink_connection *c, const struct varlink_call *call,
				 void *userdata)
{
	struct api *a = userdata;
	_cleanup_free_ struct proc_entry **v = NULL;
	_cleanup_cjson_ cJSON *p = NULL;
	struct proc_filter f;
	const char *bad = NULL;
	size_t n = 0;
	cJSON *arr;

	if (proc_filter_from_params(call->parameters, &f, &bad) < 0)
		return reply_invalid(c, call, bad);
	if (visible_matching(c, a->sources.procs, &f, &v, &n) < 0)
		return -ENOMEM;
	proc_entries_sort_by_risk(v, n);

	p = cJSON_CreateObject();
	if (!p)
		return -ENOMEM;
	arr = cJSON_AddArrayToObject(p, "processes");
	if (!arr || !json_add_u64(p, "matched", n))
		return -ENOMEM;
	for (size_t i = 0; i < n && (f.limit == 0 || i < f.limit); i++)
		if (!json_append(arr, json_proc_summary(v[i])))
			return -ENOMEM;
	return varlink_reply(c, call, TAKE_PTR(p));
}

/* GetProcess's "census" and "sites": null when not known. -ENOMEM only. */
static int add_attribution(struct api *a, const struct proc_entry *e, cJSON *p)
{
	uint64_t now = now_boottime_ns();
	struct attribution_view v = {};
	cJSON *census = NULL, *sites = NULL;
	int r = -ENOENT;

	if (a->sources.attribution)
		r = attribution_report(a->sources.attribution, a->sources.probe, e, now,
				       ATTRIBUTION_ON_DEMAND_NS, &v);
	if (r == -ENOMEM)
		return r;
	if (r >= 0 && v.census) {
		census = json_census(v.census, now_realtime_ns());
		if (!census)
			return -ENOMEM;
	}
	if (r >= 0 && v.sites && (v.tracking || v.sites->n)) {
		sites = json_sites(v.sites, v.tracking, now);
		if (!sites) {
			cJSON_Delete(census);
			return -ENOMEM;
		}
	}
	census = census ?: cJSON_CreateNull();
	if (!census || !cJSON_AddItemToObject(p, "census", census)) {
		cJSON_Delete(census);
		cJSON_Delete(sites);
		return -ENOMEM;
	}
	sites = sites ?: cJSON_CreateNull();
	if (!sites || !cJSON_AddItemToObject(p, "sites", sites)) {
		cJSON_Delete(sites);
		return -ENOMEM;
	}
	return 0;
}

static int method_get_process(struct varlink_connection *c, const struct varlink_call *call,
			      void *userdata)
{
	static const char *const allowed[] = {"pid", NULL};
	struct api *a = userdata;
	struct proc_entry *e;
	const char *bad;
	uint64_t pid;
	cJSON *p;

	bad = varlink_params_unknown(call->parameters, allowed);
	if (bad)
		return reply_invalid(c, call, bad);
	if (varlink_param_u64(call->parameters, "pid", INT32_MAX, &pid) < 0 || pid == 0)
		return reply_invalid(c, call, "pid");
	e = proc_table_get(a->sources.procs, (pid_t)pid);
	if (!e)
		return varlink_error_u64(c, call, FDW_ERROR_NO_SUCH_PROCESS, "pid", pid);
	if (!client_may_see(c, e->uid))
		return varlink_error(c, call, FDW_ERROR_PERMISSION_DENIED, NULL);
	p = json_wrap("process", json_proc_full(e, now_boottime_ns()));
	if (!p)
		return -ENOMEM;
	if (add_attribution(a, e, p) < 0) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return varlink_reply(c, call, p);
}

/* The visible alerts after since, oldest first, at most limit (0: all). *ret malloc'd. */
static int visible_alerts(struct api *a, const struct varlink_connection *c, uint64_t since,
			  uint64_t limit, const struct alert ***ret, size_t *ret_n)
{
	size_t max = MAX(a->config->alerts.history_size, (size_t)1), n, k = 0;
	_cleanup_free_ const struct alert **v = NULL;

	v = calloc(max, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = alerts_history(a->sources.alerts, since, v, max);
	for (size_t i = 0; i < n; i++)
		if (client_may_see(c, v[i]->uid))
			v[k++] = v[i];
	if (limit > 0 && k > limit) {
		/* The latest ones: a limit on a history is "the last N". */
		memmove(v, v + (k - limit), limit * sizeof(*v));
		k = limit;
	}
	*ret = TAKE_PTR(v);
	*ret_n = k;
	return 0;
}

static int method_list_alerts(struct varlink_connection *c, const struct varlink_call *call,
			      void *userdata)
{
	static const char *const allowed[] = {"since", "limit", NULL};
	struct api *a = userdata;
	_cleanup_free_ const struct alert **v = NULL;
	_cleanup_cjson_ cJSON *p = NULL;
	uint64_t since = 0, limit = 0;
	const char *bad;
	size_t n;
	cJSON *arr;
	int r;

	bad = varlink_params_unknown(call->parameters, allowed);
	if (bad)
		return reply_invalid(c, call, bad);
	if (varlink_param_u64(call->parameters, "since", UINT64_MAX, &since) == -EINVAL)
		return reply_invalid(c, call, "since");
	if (varlink_param_u64(call->parameters, "limit", UINT32_MAX, &limit) == -EINVAL)
		return reply_invalid(c, call, "limit");
	r = visible_alerts(a, c, since, limit, &v, &n);
	if (r < 0)
		return r;
	p = cJSON_CreateObject();
	arr = p ? cJSON_AddArrayToObject(p, "alerts") : NULL;
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!json_append(arr, json_alert(v[i])))
			return -ENOMEM;
	return varlink_reply(c, call, TAKE_PTR(p));
}

/* {"alert": Alert}, the message of the Subscribe stream. NULL on ENOMEM. */
static cJSON *alert_message(const struct alert *alert)
{
	return json_wrap("alert", json_alert(alert));
}

static int method_subscribe(struct varlink_connection *c, const struct varlink_call *call,
			    void *userdata)
{
	static const char *const allowed[] = {"since", NULL};
	struct api *a = userdata;
	_cleanup_free_ const struct alert **v = NULL;
	uint64_t since = 0;
	bool replay;
	const char *bad;
	size_t n = 0;
	int r;

	if (!(call->flags & VARLINK_MORE))
		return varlink_error(c, call, VARLINK_ERROR_EXPECTED_MORE, NULL);
	bad = varlink_params_unknown(call->parameters, allowed);
	if (bad)
		return reply_invalid(c, call, bad);
	r = varlink_param_u64(call->parameters, "since", UINT64_MAX, &since);
	if (r == -EINVAL)
		return reply_invalid(c, call, "since");
	replay = r == 0;
	if (replay) {
		r = visible_alerts(a, c, since, API_REPLAY_MAX, &v, &n);
		if (r < 0)
			return r;
	}
	varlink_connection_subscribe(c);
	for (size_t i = 0; i < n; i++) {
		cJSON *p = alert_message(v[i]);

		if (!p)
			return -ENOMEM;
		r = varlink_notify(c, p);
		if (r < 0)
			return r;
	}
	return 0;
}

static int method_list_units(struct varlink_connection *c, const struct varlink_call *call,
			     void *userdata)
{
	struct api *a = userdata;
	_cleanup_free_ struct proc_entry **v = NULL;
	_cleanup_cjson_ cJSON *p = NULL;
	struct proc_filter f;
	const char *bad = NULL;
	size_t n = 0;

	if (proc_filter_from_params(call->parameters, &f, &bad) < 0)
		return reply_invalid(c, call, bad);
	if (visible_matching(c, a->sources.procs, &f, &v, &n) < 0)
		return -ENOMEM;
	p = json_wrap("units", json_unit_summaries(v, n, f.limit));
	if (!p)
		return -ENOMEM;
	return varlink_reply(c, call, TAKE_PTR(p));
}

static const struct varlink_method methods[] = {
    {FDW_METHOD_GET_STATUS, method_get_status},
    {FDW_METHOD_LIST_PROCESSES, method_list_processes},
    {FDW_METHOD_LIST_UNITS, method_list_units},
    {FDW_METHOD_GET_PROCESS, method_get_process},
    {FDW_METHOD_LIST_ALERTS, method_list_alerts},
    {FDW_METHOD_SUBSCRIBE, method_subscribe},
};

static const struct varlink_interface interfaces[] = {
    {VARLINK_FDWATCH_INTERFACE, varlink_fdwatch_description},
};

/* [Api]'s limits; the defaults and ranges are config.c's (every one is set, none is 0). */
static void limits_from_config(const struct fdw_config *c, struct varlink_server_limits *ret)
{
	*ret = (struct varlink_server_limits){
	    .max_request_bytes = c->max_request_bytes,
	    .max_clients = c->max_clients,
	    .max_clients_per_uid = c->max_clients_per_uid,
	    .request_timeout_usec = c->request_timeout_ns / NSEC_PER_USEC,
	    .idle_timeout_usec = c->idle_timeout_ns / NSEC_PER_USEC, /* IdleTimeoutSec=0: never */
	    .max_output_bytes = c->max_output_bytes,
	};
}

int api_new(sd_event *event, const struct fdw_config *config, int listen_fd,
	    const struct api_sources *sources, struct api **ret)
{
	_cleanup_free_ struct api *a = NULL;
	struct varlink_server_options o = {
	    .vendor = API_VENDOR,
	    .product = API_PRODUCT,
	    .version = FDWATCH_VERSION,
	    .url = API_URL,
	    .interfaces = interfaces,
	    .n_interfaces = ELEMENTSOF(interfaces),
	    .methods = methods,
	    .n_methods = ELEMENTSOF(methods),
	    .listen_fd = listen_fd,
	    .socket_path = config->socket_path ?: FDW_SOCKET_PATH,
	    .socket_mode = config->socket_mode,
	    .socket_group = config->socket_group,
	    .admin_group = config->admin_group,
	};
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->config = config;
	a->sources = *sources;
	o.userdata = a;
	limits_from_config(config, &o.limits);
	r = varlink_server_new(event, &o, &a->server);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(a);
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	varlink_server_free(a->server);
	free(a);
}

void api_set_config(struct api *a, const struct fdw_config *config)
{
	struct varlink_server_limits l;

	a->config = config;
	limits_from_config(config, &l);
	varlink_server_set_limits(a->server, &l);
	if (varlink_server_set_admin_group(a->server, config->admin_group) < 0)
		log_warning_errno(ENOMEM, "Out of memory, keeping the previous AdminGroup=.");
}

void api_publish_alert(struct api *a, const struct alert *alert)
{
	cJSON *p;

	if (!a || varlink_server_subscribers(a->server) == 0)
		return;
	p = alert_message(alert);
	if (!p) {
		log_warning_errno(ENOMEM, "Failed to build an alert for subscribers: %m");
		return;
	}
	varlink_server_broadcast(a->server, p, client_may_see_alert, (void *)alert);
}
