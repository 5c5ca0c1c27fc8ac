// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * api.c - the API socket server (see api.h). Everything is non-blocking on
 * the manager's event loop: a client is an IO source and a timer; replies
 * go out at once when the socket takes them and are queued otherwise, within
 * MaxOutputBytes. Parsing and JSON building are varlink.c's and json.c's.
 */
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <utlist.h>

#include "api.h"
#include "json.h"
#include "log.h"
#include "manager.h"
#include "varlink.h"

/* Fallbacks when a config field is 0 (the documented defaults of [Api]). */
#define API_DEFAULT_MAX_REQUEST		 (64U * 1024)
#define API_DEFAULT_MAX_CLIENTS		 64U
#define API_DEFAULT_MAX_PER_UID		 16U
#define API_DEFAULT_REQUEST_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define API_DEFAULT_MAX_OUTPUT		 (1024U * 1024)
/* A client whose connection we are closing gets this long to read our last words. */
#define API_LINGER_USEC (1 * USEC_PER_SEC)
/* Reads per wake-up before yielding to other clients (level-triggered: we come back). */
#define API_READS_PER_DISPATCH	 4
#define API_ACCEPTS_PER_DISPATCH 32
/* accept() failing for lack of fds or memory: try again after this long. */
#define API_ACCEPT_PAUSE_USEC (250 * 1000)
/* Subscribe(since) replays at most this many alerts: ~70 KiB, well inside a socket's buffer. */
#define API_REPLAY_MAX 100
#define API_READ_CHUNK 16384
#define API_VENDOR     "fdwatch"
#define API_PRODUCT    "fdwatchd"
#define API_URL	       "man:fdwatchd(8)"
#define PID_FMT	       "%d"
#define UID_FMT	       "%u"

struct api_client {
	struct api_server *server;
	int fd;
	sd_event_source *io_source;
	sd_event_source *timer_source;
	struct ucred cred;
	bool admin;

	char *in; /* bytes of requests not yet complete */
	size_t in_len, in_alloc;
	uint64_t request_start_usec; /* CLOCK_MONOTONIC when in[] became non-empty */
	uint64_t active_usec;	     /* last complete request or output progress */

	char *out; /* replies the socket did not take yet: out[out_start, out_len) */
	size_t out_start, out_len, out_alloc;

	bool subscribed;
	bool eof;     /* the peer shut down its sending side */
	bool closing; /* hang up once out[] is flushed (or API_LINGER_USEC passed) */
	uint64_t closing_usec;

	struct api_client *prev, *next;
};

struct api_server {
	struct manager *m;
	int listen_fd;
	sd_event_source *listen_source;
	sd_event_source *resume_source; /* re-enables listen_source after an accept failure */
	bool accept_failing;		/* warned already; quiet until an accept succeeds */
	char *bound_path;		/* set when we bound the socket (not socket activation) */
	dev_t bound_dev;
	ino_t bound_ino;
	struct api_client *clients;
	unsigned n_clients, n_subscribers;
	char *admin_group_name; /* AdminGroup= as last resolved, and its gid */
	gid_t admin_gid;
};

static uint32_t cfg_u32(uint32_t v, uint32_t dflt)
{
	return v ? v : dflt;
}

static uint64_t cfg_usec(uint64_t ns, uint64_t dflt_usec)
{
	return ns ? MAX(ns / NSEC_PER_USEC, 1ULL) : dflt_usec;
}

static uint64_t loop_now_usec(struct api_server *s)
{
	uint64_t usec = 0;

	if (sd_event_now(s->m->event, CLOCK_MONOTONIC, &usec) < 0)
		usec = now_boottime_ns() / NSEC_PER_USEC; /* not reached: the loop has run */
	return usec;
}

static void client_free(struct api_client *c)
{
	struct api_server *s;

	if (!c)
		return;
	s = c->server;
	c->io_source = sd_event_source_disable_unref(c->io_source);
	c->timer_source = sd_event_source_disable_unref(c->timer_source);
	if (c->fd >= 0)
		close(c->fd);
	if (s) {
		DL_DELETE(s->clients, c);
		s->n_clients--;
		if (c->subscribed)
			s->n_subscribers--;
	}
	free(c->in);
	free(c->out);
	free(c);
}

/* EPOLLIN while we take requests; EPOLLOUT while output waits. */
static int client_update_io(struct api_client *c)
{
	uint32_t events = 0;

	/* Backpressure: no new requests while the client is not reading our replies. */
	if (!c->eof && !c->closing && c->out_len == c->out_start)
		events |= EPOLLIN;
	if (c->out_len > c->out_start)
		events |= EPOLLOUT;
	return sd_event_source_set_io_events(c->io_source, events);
}

/* The next deadline: request completion, idle, or linger. Subscribers have no idle limit. */
static int client_update_timer(struct api_client *c)
{
	const struct fdw_config *cfg = &c->server->m->config;
	uint64_t deadline;
	int r;

	if (c->closing)
		deadline = c->closing_usec + API_LINGER_USEC;
	else if (c->in_len > 0)
		deadline = c->request_start_usec +
			   cfg_usec(cfg->request_timeout_ns, API_DEFAULT_REQUEST_TIMEOUT_USEC);
	else if (c->subscribed || cfg->idle_timeout_ns == 0) /* IdleTimeoutSec=0: never */
		return sd_event_source_set_enabled(c->timer_source, SD_EVENT_OFF);
	else
		deadline = c->active_usec + MAX(cfg->idle_timeout_ns / NSEC_PER_USEC, 1ULL);
	r = sd_event_source_set_time(c->timer_source, deadline);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(c->timer_source, SD_EVENT_ONESHOT);
}

static int client_flush(struct api_client *c)
{
	while (c->out_len > c->out_start) {
		ssize_t n = send(c->fd, c->out + c->out_start, c->out_len - c->out_start,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return negative_errno(); /* EPIPE, ECONNRESET: the client is gone */
		}
		c->out_start += n;
		c->active_usec = loop_now_usec(c->server);
	}
	if (c->out_start == c->out_len) {
		c->out_start = c->out_len = 0;
		/* Give back a large buffer once it drained (a big ListProcesses). */
		if (c->out_alloc > 65536) {
			free(c->out);
			c->out = NULL;
			c->out_alloc = 0;
		}
	}
	return 0;
}

/*
 * Queue buf[0..size) (consumed) for the client and send what the socket
 * takes now. -ENOBUFS when the client already has MaxOutputBytes unread
 * (the caller drops it), -EPIPE etc. when it is gone, -ENOMEM.
 */
static int client_send(struct api_client *c, char *buf, size_t size)
{
	_cleanup_free_ char *b = buf;
	size_t max = cfg_u32(c->server->m->config.max_output_bytes, API_DEFAULT_MAX_OUTPUT);
	size_t pending = c->out_len - c->out_start;
	int r;

	/* One reply always fits an empty queue; the limit is on what piles up unread. */
	if (pending > 0 && pending + size > max)
		return -ENOBUFS;
	if (c->out_start > 0 && c->out_start >= c->out_len / 2) {
		memmove(c->out, c->out + c->out_start, pending);
		c->out_start = 0;
		c->out_len = pending;
	}
	if (c->out_len + size > c->out_alloc) {
		size_t n = MAX(c->out_len + size, c->out_alloc * 2);
		char *p = realloc(c->out, n);

		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_alloc = n;
	}
	memcpy(c->out + c->out_len, b, size);
	c->out_len += size;
	r = client_flush(c);
	if (r < 0)
		return r;
	return client_update_io(c);
}

/* Send a reply (error NULL) or an error reply, unless the call was oneway. Takes params. */
static int reply_full(struct api_client *c, const struct varlink_call *call, const char *error,
		      cJSON *params, bool continues)
{
	char *buf;
	size_t size;
	int r;

	if (call && (call->flags & VARLINK_ONEWAY)) {
		cJSON_Delete(params);
		return 0;
	}
	r = error ? varlink_error_build(error, params, &buf, &size)
		  : varlink_reply_build(params, continues, &buf, &size);
	if (r < 0)
		return r;
	return client_send(c, buf, size);
}

static int reply(struct api_client *c, const struct varlink_call *call, cJSON *params,
		 bool continues)
{
	return reply_full(c, call, NULL, params, continues);
}

static int reply_error(struct api_client *c, const struct varlink_call *call, const char *error,
		       cJSON *params)
{
	return reply_full(c, call, error, params, false);
}

static int reply_error_string(struct api_client *c, const struct varlink_call *call,
			      const char *error, const char *key, const char *value)
{
	cJSON *p = cJSON_CreateObject();

	if (!p || (key && !cJSON_AddStringToObject(p, key, value))) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return reply_error(c, call, error, p);
}

static int reply_error_u64(struct api_client *c, const struct varlink_call *call, const char *error,
			   const char *key, uint64_t value)
{
	cJSON *p = cJSON_CreateObject();

	if (!p || !json_add_u64(p, key, value)) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return reply_error(c, call, error, p);
}

static bool is_fdwatch_call(const struct varlink_call *call)
{
	return strncmp(call->method, VARLINK_FDWATCH_INTERFACE ".",
		       strlen(VARLINK_FDWATCH_INTERFACE) + 1) == 0;
}

/* InvalidParameter of the interface the method belongs to. */
static int reply_invalid(struct api_client *c, const struct varlink_call *call, const char *name)
{
	return reply_error_string(c, call,
				  is_fdwatch_call(call) ? FDW_ERROR_INVALID_PARAMETER
							: VARLINK_ERROR_INVALID_PARAMETER,
				  "parameter", name);
}

/*
 * Before the connection closes: a best-effort error the peer finds when it
 * reads. Never queued, never blocks; used where the client is dropped anyway.
 */
static void send_last_words(int fd, const char *error, const char *key, const char *svalue,
			    uint64_t uvalue)
{
	_cleanup_free_ char *buf = NULL;
	cJSON *p = cJSON_CreateObject();
	size_t size;

	if (!p)
		return;
	if (svalue ? !cJSON_AddStringToObject(p, key, svalue) : !json_add_u64(p, key, uvalue)) {
		cJSON_Delete(p);
		return;
	}
	if (varlink_error_build(error, p, &buf, &size) < 0)
		return;
	(void)!send(fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Stop taking requests; hang up once what is queued has gone (or after the linger time). */
static int client_close_after_flush(struct api_client *c)
{
	c->closing = true;
	c->closing_usec = loop_now_usec(c->server);
	if (c->out_len == c->out_start)
		return -ECONNABORTED; /* nothing left to say: hang up now */
	return 0;
}

/* ---- methods ---- */

static int no_params(struct api_client *c, const struct varlink_call *call)
{
	static const char *const none[] = {NULL};
	const char *bad = varlink_params_unknown(call->parameters, none);

	if (bad) {
		reply_invalid(c, call, bad);
		return 1;
	}
	return 0;
}

static int method_get_info(struct api_client *c, const struct varlink_call *call)
{
	_cleanup_cjson_ cJSON *p = cJSON_CreateObject();
	const char *const interfaces[] = {VARLINK_SERVICE_INTERFACE, VARLINK_FDWATCH_INTERFACE};
	cJSON *arr;
	int r;

	r = no_params(c, call);
	if (r != 0)
		return r < 0 ? r : 0;
	if (!p || !cJSON_AddStringToObject(p, "vendor", API_VENDOR) ||
	    !cJSON_AddStringToObject(p, "product", API_PRODUCT) ||
	    !cJSON_AddStringToObject(p, "version", FDWATCH_VERSION) ||
	    !cJSON_AddStringToObject(p, "url", API_URL))
		return -ENOMEM;
	arr = cJSON_CreateStringArray(interfaces, ELEMENTSOF(interfaces));
	if (!arr || !cJSON_AddItemToObject(p, "interfaces", arr)) {
		cJSON_Delete(arr);
		return -ENOMEM;
	}
	return reply(c, call, TAKE_PTR(p), false);
}

static int method_get_interface_description(struct api_client *c, const struct varlink_call *call)
{
	static const char *const allowed[] = {"interface", NULL};
	const char *bad, *interface = NULL, *description;
	cJSON *p;

	bad = varlink_params_unknown(call->parameters, allowed);
	if (bad)
		return reply_invalid(c, call, bad);
	if (varlink_param_string(call->parameters, "interface", 255, &interface) < 0)
		return reply_invalid(c, call, "interface");
	description = varlink_interface_description(interface);
	if (!description)
		return reply_error_string(c, call, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface",
					  interface);
	p = cJSON_CreateObject();
	if (!p || !cJSON_AddStringToObject(p, "description", description)) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return reply(c, call, p, false);
}

static bool client_may_see(const struct api_client *c, const struct proc_entry *e)
{
	return manager_may_see(c->server->m, c->cred.uid, c->admin, e);
}

static bool client_may_see_alert(const struct api_client *c, const struct alert *a)
{
	return c->cred.uid == 0 || c->admin || a->uid == c->cred.uid;
}

static int method_get_status(struct api_client *c, const struct varlink_call *call)
{
	struct manager *m = c->server->m;
	struct status_info si = {
	    .version = FDWATCH_VERSION,
	    .uptime_sec = (double)(now_boottime_ns() - m->started_boottime_ns) / 1e9,
	    .started_realtime_ns = m->started_realtime_ns,
	    .probe_mode = m->config.probe_backend == PROBE_BACKEND_RAW ? "raw" : "tracepoint",
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
	    .unseen_opens = m->stats.unseen_opens,
	    .unseen_closes = m->stats.unseen_closes,
	    .alerts_sent = alerts_sent(m->alerts),
	    .alerts_suppressed = alerts_suppressed(m->alerts),
	    .clients = c->server->n_clients,
	    .subscribers = c->server->n_subscribers,
	    .client_uid = c->cred.uid,
	    .client_admin = c->cred.uid == 0 || c->admin,
	};
	cJSON *p;
	int r;

	r = no_params(c, call);
	if (r != 0)
		return r < 0 ? r : 0;
	for (struct proc_entry *e = proc_table_first(m->procs); e; e = proc_table_next(e))
		if (client_may_see(c, e))
			si.visible++;
	p = json_status(&si);
	if (!p)
		return -ENOMEM;
	return reply(c, call, p, false);
}

static int method_list_processes(struct api_client *c, const struct varlink_call *call)
{
	struct proc_table *t = c->server->m->procs;
	_cleanup_free_ struct proc_entry **v = NULL;
	_cleanup_cjson_ cJSON *p = NULL;
	struct proc_filter f;
	const char *bad = NULL;
	size_t n = 0, total;
	cJSON *arr;

	if (proc_filter_from_params(call->parameters, &f, &bad) < 0)
		return reply_invalid(c, call, bad);
	total = proc_table_size(t);
	v = malloc(MAX(total, (size_t)1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (struct proc_entry *e = proc_table_first(t); e && n < total; e = proc_table_next(e))
		if (client_may_see(c, e) && proc_filter_match(&f, e))
			v[n++] = e;
	proc_entries_sort_by_risk(v, n);

	p = cJSON_CreateObject();
	if (!p)
		return -ENOMEM;
	arr = cJSON_AddArrayToObject(p, "processes");
	if (!arr || !json_add_u64(p, "matched", n))
		return -ENOMEM;
	for (size_t i = 0; i < n && (f.limit == 0 || i < f.limit); i++) {
		cJSON *o = json_proc_summary(v[i]);

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
	}
	return reply(c, call, TAKE_PTR(p), false);
}

static int method_get_process(struct api_client *c, const struct varlink_call *call)
{
	static const char *const allowed[] = {"pid", NULL};
	struct proc_entry *e;
	const char *bad;
	uint64_t pid;
	cJSON *o, *p;

	bad = varlink_params_unknown(call->parameters, allowed);
	if (bad)
		return reply_invalid(c, call, bad);
	if (varlink_param_u64(call->parameters, "pid", INT32_MAX, &pid) < 0 || pid == 0)
		return reply_invalid(c, call, "pid");
	e = proc_table_get(c->server->m->procs, (pid_t)pid);
	if (!e)
		return reply_error_u64(c, call, FDW_ERROR_NO_SUCH_PROCESS, "pid", pid);
	if (!client_may_see(c, e))
		return reply_error(c, call, FDW_ERROR_PERMISSION_DENIED, NULL);
	o = json_proc_full(e, now_boottime_ns());
	p = cJSON_CreateObject();
	if (!o || !p || !cJSON_AddItemToObject(p, "process", o)) {
		cJSON_Delete(o);
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return reply(c, call, p, false);
}

/* The visible alerts after since, oldest first, at most limit (0: all). *ret malloc'd. */
static int visible_alerts(struct api_client *c, uint64_t since, uint64_t limit,
			  const struct alert ***ret, size_t *ret_n)
{
	struct manager *m = c->server->m;
	size_t max = MAX(m->config.alerts.history_size, (size_t)1), n, k = 0;
	_cleanup_free_ const struct alert **v = NULL;

	v = calloc(max, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = alerts_history(m->alerts, since, v, max);
	for (size_t i = 0; i < n; i++)
		if (client_may_see_alert(c, v[i]))
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

static int method_list_alerts(struct api_client *c, const struct varlink_call *call)
{
	static const char *const allowed[] = {"since", "limit", NULL};
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
	r = visible_alerts(c, since, limit, &v, &n);
	if (r < 0)
		return r;
	p = cJSON_CreateObject();
	arr = p ? cJSON_AddArrayToObject(p, "alerts") : NULL;
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = json_alert(v[i]);

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
	}
	return reply(c, call, TAKE_PTR(p), false);
}

static int alert_reply(const struct alert *a, char **ret, size_t *ret_size)
{
	cJSON *o = json_alert(a), *p = cJSON_CreateObject();

	if (!o || !p || !cJSON_AddItemToObject(p, "alert", o)) {
		cJSON_Delete(o);
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return varlink_reply_build(p, true, ret, ret_size);
}

static int method_subscribe(struct api_client *c, const struct varlink_call *call)
{
	static const char *const allowed[] = {"since", NULL};
	_cleanup_free_ const struct alert **v = NULL;
	uint64_t since = 0;
	bool replay;
	const char *bad;
	size_t n = 0;
	int r;

	if (!(call->flags & VARLINK_MORE))
		return reply_error(c, call, VARLINK_ERROR_EXPECTED_MORE, NULL);
	bad = varlink_params_unknown(call->parameters, allowed);
	if (bad)
		return reply_invalid(c, call, bad);
	r = varlink_param_u64(call->parameters, "since", UINT64_MAX, &since);
	if (r == -EINVAL)
		return reply_invalid(c, call, "since");
	replay = r == 0;
	if (c->subscribed)
		return reply_error_string(c, call, FDW_ERROR_PROTOCOL, "reason",
					  "already subscribed");
	if (replay) {
		r = visible_alerts(c, since, API_REPLAY_MAX, &v, &n);
		if (r < 0)
			return r;
	}
	c->subscribed = true;
	c->server->n_subscribers++;
	for (size_t i = 0; i < n; i++) {
		char *buf;
		size_t size;

		r = alert_reply(v[i], &buf, &size);
		if (r < 0)
			return r;
		r = client_send(c, buf, size);
		if (r < 0)
			return r;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct api_client *c, const struct varlink_call *call);
} methods[] = {
    {"org.varlink.service.GetInfo", method_get_info},
    {"org.varlink.service.GetInterfaceDescription", method_get_interface_description},
    {"io.fdwatch.GetStatus", method_get_status},
    {"io.fdwatch.ListProcesses", method_list_processes},
    {"io.fdwatch.GetProcess", method_get_process},
    {"io.fdwatch.ListAlerts", method_list_alerts},
    {"io.fdwatch.Subscribe", method_subscribe},
};

/* One framed message. < 0: drop the client. */
static int client_handle_message(struct api_client *c, const char *msg, size_t len)
{
	_cleanup_(varlink_call_donep) struct varlink_call call = {};
	struct varlink_fault fault = {};
	_cleanup_free_ char *buf = NULL;
	size_t size;
	int r;

	c->active_usec = loop_now_usec(c->server);
	if (c->subscribed) {
		/* Its replies are a stream that never ends: another call could not be answered in
		 * order. */
		send_last_words(c->fd, FDW_ERROR_PROTOCOL, "reason",
				"no calls allowed on a subscribed connection", 0);
		return -EPROTO;
	}
	r = varlink_call_parse(msg, len, &call, &fault);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_debug("API client pid " PID_FMT ": bad request: %s %s", c->cred.pid, fault.error,
			  fault.reason ?: fault.parameter ?: "");
		r = varlink_fault_build(&fault, &buf, &size);
		if (r < 0)
			return r;
		return client_send(c, TAKE_PTR(buf), size);
	}
	for (size_t i = 0; i < ELEMENTSOF(methods); i++)
		if (streq(call.method, methods[i].name))
			return methods[i].fn(c, &call);
	return reply_error_string(c, &call, VARLINK_ERROR_METHOD_NOT_FOUND, "method", call.method);
}

/* Split what arrived into messages and answer each. < 0: drop the client. */
static int client_process_input(struct api_client *c)
{
	size_t max = cfg_u32(c->server->m->config.max_request_bytes, API_DEFAULT_MAX_REQUEST);
	size_t off = 0, len;
	int r = 0;

	while (off < c->in_len && !c->closing) {
		r = varlink_frame_next(c->in + off, c->in_len - off, max, &len);
		if (r == 0)
			break;
		if (r == -EBADMSG) {
			/* A stray NUL: an empty message. Say so, skip it, carry on. */
			off++;
			r = reply_error_string(c, NULL, FDW_ERROR_PROTOCOL, "reason",
					       "empty message");
			if (r < 0)
				return r;
			continue;
		}
		if (r == -EMSGSIZE) {
			log_debug("API client pid " PID_FMT
				  ": request over %zu bytes, disconnecting.",
				  c->cred.pid, max);
			off = c->in_len;
			r = reply_error_u64(c, NULL, FDW_ERROR_REQUEST_TOO_LARGE, "max_bytes", max);
			if (r < 0)
				return r;
			r = client_close_after_flush(c);
			break;
		}
		r = client_handle_message(c, c->in + off, len);
		off += len + 1;
		if (r < 0)
			return r;
		/* Replies pile up unread: leave the rest for when the client reads. */
		if (c->out_len > c->out_start)
			break;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		if (c->in_len > 0)
			c->request_start_usec = loop_now_usec(c->server);
	}
	if (c->in_len == 0 && c->in_alloc > 65536) {
		free(c->in);
		c->in = NULL;
		c->in_alloc = 0;
	}
	return r < 0 ? r : 0;
}

static int client_read(struct api_client *c)
{
	size_t max = cfg_u32(c->server->m->config.max_request_bytes, API_DEFAULT_MAX_REQUEST);
	size_t cap = max + 1; /* a request of max bytes plus its NUL */
	int r;

	for (int i = 0; i < API_READS_PER_DISPATCH && !c->eof && !c->closing; i++) {
		size_t want;
		ssize_t n;

		if (c->out_len > c->out_start)
			break; /* backpressure, see client_update_io() */
		if (c->in_alloc - c->in_len < API_READ_CHUNK && c->in_alloc < cap) {
			size_t a = MIN(MAX(c->in_alloc * 2, c->in_len + API_READ_CHUNK), cap);
			char *p = realloc(c->in, a);

			if (!p)
				return -ENOMEM;
			c->in = p;
			c->in_alloc = a;
		}
		want = c->in_alloc - c->in_len;
		if (want == 0)
			return -EMSGSIZE; /* not reached: a full buffer without NUL was refused */
		n = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return negative_errno();
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (c->in_len == 0)
			c->request_start_usec = loop_now_usec(c->server);
		c->in_len += n;
		r = client_process_input(c);
		if (r < 0)
			return r;
	}
	if (c->eof && c->in_len > 0 && !c->closing) {
		/* The peer stopped sending in the middle of a request. */
		c->in_len = 0;
		r = reply_error_string(c, NULL, FDW_ERROR_PROTOCOL, "reason",
				       "connection closed before the request's NUL terminator");
		if (r < 0)
			return r;
	}
	/* Half-closed: answer what came, then hang up; a subscriber keeps listening. */
	if (c->eof && !c->subscribed && !c->closing)
		return client_close_after_flush(c);
	return 0;
}

static int on_client_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct api_client *c = userdata;
	int r = 0;

	if (revents & EPOLLOUT) {
		r = client_flush(c);
		if (r < 0)
			goto drop;
		if (c->closing && c->out_len == c->out_start)
			goto drop;
		/* Drained: answer the calls that waited behind the backlog. */
		if (c->out_len == c->out_start && c->in_len > 0) {
			r = client_process_input(c);
			if (r < 0)
				goto drop;
		}
	}
	if (revents & EPOLLIN) {
		r = client_read(c);
		if (r < 0)
			goto drop;
	} else if (revents & (EPOLLHUP | EPOLLERR)) {
		/* Not reading (backpressure or closing) and the peer is gone. */
		r = -ECONNRESET;
		goto drop;
	}
	r = client_update_io(c);
	if (r >= 0)
		r = client_update_timer(c);
	if (r < 0)
		goto drop;
	return 0;
drop:
	if (r == -ENOBUFS)
		log_debug("API client pid " PID_FMT " (uid " UID_FMT ") does not read its replies: "
			  "output queue full, disconnecting.",
			  c->cred.pid, c->cred.uid);
	else if (r != -ECONNABORTED)
		log_debug_errno(r, "API client pid " PID_FMT " disconnected: %m", c->cred.pid);
	client_free(c);
	return 0;
}

static int on_client_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct api_client *c = userdata;
	bool idle = c->in_len == 0;

	if (!c->closing && c->out_len == c->out_start)
		send_last_words(c->fd, FDW_ERROR_TIMEOUT, "reason",
				idle ? "idle timeout" : "request not completed in time", 0);
	log_debug("API client pid " PID_FMT ": %s, disconnecting.", c->cred.pid,
		  c->closing ? "linger time over"
		  : idle     ? "idle timeout"
			     : "request timeout");
	client_free(c);
	return 0;
}

/* Whether gid is the peer's primary or among its supplementary groups. */
static bool peer_in_group(int fd, const struct ucred *cred, gid_t gid)
{
	_cleanup_free_ gid_t *groups = NULL;
	socklen_t len = 64 * sizeof(gid_t);

	if (cred->gid == gid)
		return true;
	/* SO_PEERGROUPS (Linux 4.13): the groups at connect time, immune to PID reuse. */
	for (int tries = 0; tries < 3; tries++) {
		gid_t *g = realloc(groups, len);

		if (!g)
			return false;
		groups = g;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
			for (size_t i = 0; i < len / sizeof(gid_t); i++)
				if (groups[i] == gid)
					return true;
			return false;
		}
		if (errno != ERANGE)
			break;
	}
	/* Fallback: the Groups: line of the peer's /proc status. */
	{
		char path[64], *line = NULL;
		_cleanup_fclose_ FILE *f = NULL;
		size_t n = 0;
		bool found = false;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)cred->pid);
		f = fopen(path, "re");
		if (!f)
			return false;
		while (getline(&line, &n, f) > 0) {
			char *p, *end;

			if (strncmp(line, "Groups:", 7) != 0)
				continue;
			for (p = line + 7;; p = end) {
				unsigned long v = strtoul(p, &end, 10);

				if (end == p)
					break;
				if (v == gid)
					found = true;
			}
			break;
		}
		free(line);
		return found;
	}
}

static bool peer_is_admin(struct api_server *s, int fd, const struct ucred *cred)
{
	const char *name = s->m->config.admin_group;
	struct group *gr;

	if (cred->uid == 0)
		return true;
	if (!name || !*name)
		return false;
	/* getgrnam() may ask NSS (LDAP, sssd) and block the loop: once per group
	 * name, not once per connection. A reload that names another group
	 * resolves it again. */
	if (!streq_ptr(s->admin_group_name, name)) {
		gr = getgrnam(name);
		if (!gr)
			return false; /* not cached: a group created later is found */
		if (free_and_strdup(&s->admin_group_name, name) < 0)
			return false;
		s->admin_gid = gr->gr_gid;
	}
	return peer_in_group(fd, cred, s->admin_gid);
}

static void server_accept_one(struct api_server *s, int fd)
{
	const struct fdw_config *cfg = &s->m->config;
	uint32_t max_clients = cfg_u32(cfg->max_clients, API_DEFAULT_MAX_CLIENTS);
	uint32_t max_per_uid = cfg_u32(cfg->max_clients_per_uid, API_DEFAULT_MAX_PER_UID);
	_cleanup_close_ int cfd = fd;
	struct api_client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned same_uid = 0;
	uint64_t now;
	int r;

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_debug_errno(negative_errno(), "SO_PEERCRED failed, refusing the client: %m");
		return;
	}
	LL_FOREACH(s->clients, c)
	if (c->cred.uid == cred.uid)
		same_uid++;
	if (s->n_clients >= max_clients || same_uid >= max_per_uid) {
		uint32_t limit = s->n_clients >= max_clients ? max_clients : max_per_uid;

		log_debug("API: refusing pid " PID_FMT " (uid " UID_FMT
			  "): %u clients, %u of that uid.",
			  cred.pid, cred.uid, s->n_clients, same_uid);
		send_last_words(cfd, FDW_ERROR_TOO_MANY_CLIENTS, "max", NULL, limit);
		return;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->server = s;
	c->fd = TAKE_FD(cfd);
	c->cred = cred;
	c->admin = peer_is_admin(s, c->fd, &cred);
	now = loop_now_usec(s);
	c->active_usec = now;
	DL_APPEND(s->clients, c);
	s->n_clients++;

	r = sd_event_add_io(s->m->event, &c->io_source, c->fd, EPOLLIN, on_client_io, c);
	if (r >= 0)
		r = sd_event_add_time(s->m->event, &c->timer_source, CLOCK_MONOTONIC, now, 0,
				      on_client_timer, c);
	if (r >= 0)
		r = client_update_timer(c);
	if (r < 0) {
		log_warning_errno(r, "Failed to set up an API client, dropping it: %m");
		client_free(c);
		return;
	}
	log_debug("API client pid " PID_FMT " uid " UID_FMT "%s connected (%u clients).", cred.pid,
		  cred.uid, c->admin ? " (admin)" : "", s->n_clients);
}

static int on_listen_resume(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct api_server *s = userdata;

	return sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
}

static int on_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct api_server *s = userdata;

	for (int i = 0; i < API_ACCEPTS_PER_DISPATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int r;

		if (cfd >= 0) {
			s->accept_failing = false;
			server_accept_one(s, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN)
			break;
		/*
		 * EMFILE/ENFILE/ENOBUFS/ENOMEM: the connection stays pending and the socket
		 * readable, so a level-triggered source would spin. Pause accepting a while.
		 */
		r = negative_errno();
		/* Once per episode: an fd shortage may last, the log must not fill with it. */
		log_full_errno(s->accept_failing ? LOG_DEBUG : LOG_WARNING, r,
			       "Failed to accept an API client, pausing accept for %llu ms: %m",
			       (unsigned long long)(API_ACCEPT_PAUSE_USEC / 1000));
		s->accept_failing = true;
		if (sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF) >= 0) {
			uint64_t now = loop_now_usec(s);

			if (s->resume_source) {
				sd_event_source_set_time(s->resume_source,
							 now + API_ACCEPT_PAUSE_USEC);
				sd_event_source_set_enabled(s->resume_source, SD_EVENT_ONESHOT);
			} else if (sd_event_add_time(s->m->event, &s->resume_source,
						     CLOCK_MONOTONIC, now + API_ACCEPT_PAUSE_USEC,
						     0, on_listen_resume, s) < 0) {
				sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
			}
		}
		break;
	}
	return 0;
}

/* mkdir -p of path's parent, 0755 for what it creates. */
static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *p = strdup(path);
	char *slash;

	if (!p)
		return -ENOMEM;
	slash = strrchr(p, '/');
	if (!slash || slash == p)
		return 0;
	*slash = 0;
	for (char *q = p + 1;; q++) {
		if (*q == '/' || *q == 0) {
			char saved = *q;

			*q = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return negative_errno();
			*q = saved;
			if (saved == 0)
				break;
		}
	}
	return 0;
}

/* A socket file at path: -EADDRINUSE when a server answers, 0 after removing a stale one. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t salen)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST; /* never delete what is not a socket */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return negative_errno();
	log_info("Removing stale socket %s.", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}

static int server_bind(struct api_server *s, const char *path)
{
	const struct fdw_config *cfg = &s->m->config;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	socklen_t salen;
	struct stat st;
	mode_t old_umask;
	int r;

	if (path[0] != '/')
		return log_error_errno(-EINVAL, "Socket path %s is not absolute.", path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(-ENAMETOOLONG, "Socket path %s is too long.", path);
	strcpy(sa.sun_path, path);
	salen = offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;

	r = mkdir_parents(path);
	if (r < 0)
		return log_error_errno(r, "Failed to create the directory of %s: %m", path);
	r = remove_stale_socket(path, &sa, salen);
	if (r == -EADDRINUSE)
		return log_error_errno(r, "Another fdwatchd is listening on %s.", path);
	if (r < 0)
		return log_error_errno(r, "Cannot use %s: %m", path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(negative_errno(), "Failed to create the API socket: %m");
	/* Born 0600: nobody connects before mode and group are what the config says. */
	old_umask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, salen);
	umask(old_umask);
	if (r < 0)
		return log_error_errno(negative_errno(), "Failed to bind %s: %m", path);
	if (cfg->socket_group && *cfg->socket_group) {
		struct group *gr = getgrnam(cfg->socket_group);

		if (!gr) {
			r = log_error_errno(-ENOENT, "SocketGroup=%s: no such group.",
					    cfg->socket_group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			r = log_error_errno(negative_errno(), "Failed to chown %s: %m", path);
			goto fail;
		}
	}
	if (chmod(path, cfg->socket_mode & 0777) < 0) {
		r = log_error_errno(negative_errno(), "Failed to chmod %s: %m", path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		r = log_error_errno(negative_errno(), "Failed to listen on %s: %m", path);
		goto fail;
	}
	if (stat(path, &st) == 0) {
		s->bound_dev = st.st_dev;
		s->bound_ino = st.st_ino;
	}
	s->bound_path = strdup(path);
	if (!s->bound_path) {
		r = -ENOMEM;
		goto fail;
	}
	s->listen_fd = TAKE_FD(fd);
	return 0;
fail:
	unlink(path);
	return r;
}

int api_server_new(struct manager *m, int listen_fd, struct api_server **ret)
{
	struct api_server *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->listen_fd = -EBADF;

	if (listen_fd >= 0) {
		int fl;

		r = sd_is_socket_unix(listen_fd, SOCK_STREAM, 1, NULL, 0);
		if (r <= 0) {
			r = log_error_errno(r < 0 ? r : -EINVAL,
					    "The socket passed by systemd is not a listening "
					    "Unix stream socket.");
			goto fail;
		}
		fl = fcntl(listen_fd, F_GETFL);
		if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			r = negative_errno();
			goto fail;
		}
		s->listen_fd = listen_fd;
	} else {
		r = server_bind(s, m->config.socket_path ?: FDW_SOCKET_PATH);
		if (r < 0)
			goto fail;
	}
	r = sd_event_add_io(m->event, &s->listen_source, s->listen_fd, EPOLLIN, on_listen, s);
	if (r < 0)
		goto fail;
	if (s->bound_path)
		log_debug("API listening on %s.", s->bound_path);
	*ret = s;
	return 0;
fail:
	if (listen_fd >= 0)
		s->listen_fd = -EBADF; /* stays the caller's on failure */
	api_server_free(s);
	return r;
}

void api_server_free(struct api_server *s)
{
	struct api_client *c, *tmp;

	if (!s)
		return;
	DL_FOREACH_SAFE(s->clients, c, tmp)
	client_free(c);
	s->listen_source = sd_event_source_disable_unref(s->listen_source);
	s->resume_source = sd_event_source_disable_unref(s->resume_source);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->bound_path) {
		struct stat st;

		/* Only our own socket: a newer daemon may have taken the path over. */
		if (stat(s->bound_path, &st) == 0 && st.st_dev == s->bound_dev &&
		    st.st_ino == s->bound_ino)
			unlink(s->bound_path);
		free(s->bound_path);
	}
	free(s->admin_group_name);
	free(s);
}

void api_server_publish_alert(struct api_server *s, const struct alert *a)
{
	_cleanup_free_ char *buf = NULL;
	struct api_client *c, *tmp;
	size_t size;
	int r;

	if (!s || s->n_subscribers == 0)
		return;
	r = alert_reply(a, &buf, &size);
	if (r < 0) {
		log_warning_errno(r, "Failed to build an alert for subscribers: %m");
		return;
	}
	DL_FOREACH_SAFE(s->clients, c, tmp)
	{
		char *copy;

		if (!c->subscribed || c->closing || !client_may_see_alert(c, a))
			continue;
		copy = malloc(size);
		if (!copy) {
			r = -ENOMEM;
		} else {
			memcpy(copy, buf, size);
			r = client_send(c, copy, size);
		}
		if (r >= 0)
			r = client_update_timer(c);
		if (r < 0) {
			if (r == -ENOBUFS)
				log_notice("Subscriber pid " PID_FMT " (uid " UID_FMT
					   ") does not read: "
					   "output queue full, disconnecting it.",
					   c->cred.pid, c->cred.uid);
			else
				log_debug_errno(r, "Subscriber pid " PID_FMT " gone: %m",
						c->cred.pid);
			client_free(c);
		}
	}
}

unsigned api_server_clients(const struct api_server *s)
{
	return s ? s->n_clients : 0;
}
