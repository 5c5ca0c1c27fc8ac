// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * varlink-server.c - the Varlink transport (see varlink-server.h).
 * Everything is non-blocking on the event loop: a connection is an IO
 * source and a timer; replies go out at once when the socket takes them
 * and are queued otherwise, within max_output_bytes. Parsing and building
 * of messages are varlink.c's.
 */
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <utlist.h>

#include "log.h"
#include "varlink-server.h"

/* A client whose connection we are closing gets this long to read our last words. */
#define LINGER_USEC (1 * USEC_PER_SEC)
/* Reads per wake-up before yielding to other clients (level-triggered: we come back). */
#define READS_PER_DISPATCH   4
#define ACCEPTS_PER_DISPATCH 32
/* accept() failing for lack of fds or memory: try again after this long. */
#define ACCEPT_PAUSE_USEC (250 * 1000)
#define READ_CHUNK	  16384
#define PID_FMT		  "%d"
#define UID_FMT		  "%u"

struct varlink_connection {
	struct varlink_server *server;
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
	bool closing; /* hang up once out[] is flushed (or LINGER_USEC passed) */
	uint64_t closing_usec;

	struct varlink_connection *prev, *next;
};

struct varlink_server {
	sd_event *event;
	const char *vendor, *product, *version, *url;
	const struct varlink_interface *interfaces;
	size_t n_interfaces;
	const struct varlink_method *methods;
	size_t n_methods;
	void *userdata;
	struct varlink_server_limits limits;

	int listen_fd;
	sd_event_source *listen_source;
	sd_event_source *resume_source; /* re-enables listen_source after an accept failure */
	bool accept_failing;		/* warned already; quiet until an accept succeeds */
	char *bound_path;		/* set when we bound the socket (not socket activation) */
	dev_t bound_dev;
	ino_t bound_ino;
	struct varlink_connection *clients;
	unsigned n_clients, n_subscribers;
	char *admin_group;	/* as configured */
	char *admin_group_name; /* as last resolved, and its gid */
	gid_t admin_gid;
};

static uint64_t loop_now_usec(struct varlink_server *s)
{
	uint64_t usec = 0;

	if (sd_event_now(s->event, CLOCK_MONOTONIC, &usec) < 0)
		usec = now_boottime_ns() / NSEC_PER_USEC; /* not reached: the loop has run */
	return usec;
}

static void client_free(struct varlink_connection *c)
{
	struct varlink_server *s;

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
static int client_update_io(struct varlink_connection *c)
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
static int client_update_timer(struct varlink_connection *c)
{
	const struct varlink_server_limits *l = &c->server->limits;
	uint64_t deadline;
	int r;

	if (c->closing)
		deadline = c->closing_usec + LINGER_USEC;
	else if (c->in_len > 0)
		deadline = c->request_start_usec + l->request_timeout_usec;
	else if (c->subscribed || l->idle_timeout_usec == 0)
		return sd_event_source_set_enabled(c->timer_source, SD_EVENT_OFF);
	else
		deadline = c->active_usec + l->idle_timeout_usec;
	r = sd_event_source_set_time(c->timer_source, deadline);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(c->timer_source, SD_EVENT_ONESHOT);
}

static int client_flush(struct varlink_connection *c)
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
static int client_send(struct varlink_connection *c, char *buf, size_t size)
{
	_cleanup_free_ char *b = buf;
	size_t max = c->server->limits.max_output_bytes;
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
static int reply_full(struct varlink_connection *c, const struct varlink_call *call,
		      const char *error, cJSON *params, bool continues)
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

int varlink_reply(struct varlink_connection *c, const struct varlink_call *call, cJSON *params)
{
	return reply_full(c, call, NULL, params, false);
}

int varlink_notify(struct varlink_connection *c, cJSON *params)
{
	return reply_full(c, NULL, NULL, params, true);
}

int varlink_error(struct varlink_connection *c, const struct varlink_call *call, const char *error,
		  cJSON *params)
{
	return reply_full(c, call, error, params, false);
}

int varlink_error_string(struct varlink_connection *c, const struct varlink_call *call,
			 const char *error, const char *key, const char *value)
{
	cJSON *p = cJSON_CreateObject();

	if (!p || (key && !cJSON_AddStringToObject(p, key, value))) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return varlink_error(c, call, error, p);
}

int varlink_error_u64(struct varlink_connection *c, const struct varlink_call *call,
		      const char *error, const char *key, uint64_t value)
{
	cJSON *p = cJSON_CreateObject();

	if (!p || !json_add_u64(p, key, value)) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return varlink_error(c, call, error, p);
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
static int client_close_after_flush(struct varlink_connection *c)
{
	c->closing = true;
	c->closing_usec = loop_now_usec(c->server);
	if (c->out_len == c->out_start)
		return -ECONNABORTED; /* nothing left to say: hang up now */
	return 0;
}
/* ---- org.varlink.service ---- */

static int method_get_info(struct varlink_connection *c, const struct varlink_call *call,
			   void *userdata)
{
	static const char *const none[] = {NULL};
	struct varlink_server *s = c->server;
	_cleanup_cjson_ cJSON *p = NULL;
	const char *bad;
	cJSON *arr;

	bad = varlink_params_unknown(call->parameters, none);
	if (bad)
		return varlink_error_string(c, call, VARLINK_ERROR_INVALID_PARAMETER, "parameter",
					    bad);
	p = cJSON_CreateObject();
	if (!p || !cJSON_AddStringToObject(p, "vendor", s->vendor) ||
	    !cJSON_AddStringToObject(p, "product", s->product) ||
	    !cJSON_AddStringToObject(p, "version", s->version) ||
	    !cJSON_AddStringToObject(p, "url", s->url))
		return -ENOMEM;
	arr = cJSON_AddArrayToObject(p, "interfaces");
	if (!arr || !json_append(arr, cJSON_CreateString(VARLINK_SERVICE_INTERFACE)))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_interfaces; i++)
		if (!json_append(arr, cJSON_CreateString(s->interfaces[i].name)))
			return -ENOMEM;
	return varlink_reply(c, call, TAKE_PTR(p));
}

static int method_get_interface_description(struct varlink_connection *c,
					    const struct varlink_call *call, void *userdata)
{
	static const char *const allowed[] = {"interface", NULL};
	struct varlink_server *s = c->server;
	const char *bad, *interface = NULL, *description = NULL;
	cJSON *p;

	bad = varlink_params_unknown(call->parameters, allowed);
	if (!bad && varlink_param_string(call->parameters, "interface", 255, &interface) < 0)
		bad = "interface";
	if (bad)
		return varlink_error_string(c, call, VARLINK_ERROR_INVALID_PARAMETER, "parameter",
					    bad);
	if (streq(interface, VARLINK_SERVICE_INTERFACE))
		description = varlink_service_description;
	for (size_t i = 0; i < s->n_interfaces && !description; i++)
		if (streq(interface, s->interfaces[i].name))
			description = s->interfaces[i].description;
	if (!description)
		return varlink_error_string(c, call, VARLINK_ERROR_INTERFACE_NOT_FOUND, "interface",
					    interface);
	p = cJSON_CreateObject();
	if (!p || !cJSON_AddStringToObject(p, "description", description)) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	return varlink_reply(c, call, p);
}

static const struct varlink_method service_methods[] = {
    {VARLINK_SERVICE_INTERFACE ".GetInfo", method_get_info},
    {VARLINK_SERVICE_INTERFACE ".GetInterfaceDescription", method_get_interface_description},
};

static const struct varlink_method *find_method(const struct varlink_method *v, size_t n,
						const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(name, v[i].name))
			return &v[i];
	return NULL;
}

/* One framed message. < 0: drop the client. */
static int client_handle_message(struct varlink_connection *c, const char *msg, size_t len)
{
	_cleanup_(varlink_call_donep) struct varlink_call call = {};
	struct varlink_server *s = c->server;
	const struct varlink_method *method;
	struct varlink_fault fault = {};
	_cleanup_free_ char *buf = NULL;
	size_t size;
	int r;

	c->active_usec = loop_now_usec(s);
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
	method = find_method(service_methods, ELEMENTSOF(service_methods), call.method)
		     ?: find_method(s->methods, s->n_methods, call.method);
	if (!method)
		return varlink_error_string(c, &call, VARLINK_ERROR_METHOD_NOT_FOUND, "method",
					    call.method);
	return method->fn(c, &call, s->userdata);
}

/* Split what arrived into messages and answer each. < 0: drop the client. */
static int client_process_input(struct varlink_connection *c)
{
	size_t max = c->server->limits.max_request_bytes;
	size_t off = 0, len;
	int r = 0;

	while (off < c->in_len && !c->closing) {
		r = varlink_frame_next(c->in + off, c->in_len - off, max, &len);
		if (r == 0)
			break;
		if (r == -EBADMSG) {
			/* A stray NUL: an empty message. Say so, skip it, carry on. */
			off++;
			r = varlink_error_string(c, NULL, FDW_ERROR_PROTOCOL, "reason",
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
			r = varlink_error_u64(c, NULL, FDW_ERROR_REQUEST_TOO_LARGE, "max_bytes",
					      max);
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

static int client_read(struct varlink_connection *c)
{
	size_t max = c->server->limits.max_request_bytes;
	size_t cap = max + 1; /* a request of max bytes plus its NUL */
	int r;

	for (int i = 0; i < READS_PER_DISPATCH && !c->eof && !c->closing; i++) {
		size_t want;
		ssize_t n;

		if (c->out_len > c->out_start)
			break; /* backpressure, see client_update_io() */
		if (c->in_alloc - c->in_len < READ_CHUNK && c->in_alloc < cap) {
			size_t a = MIN(MAX(c->in_alloc * 2, c->in_len + READ_CHUNK), cap);
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
		r = varlink_error_string(c, NULL, FDW_ERROR_PROTOCOL, "reason",
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
	struct varlink_connection *c = userdata;
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
	struct varlink_connection *c = userdata;
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

/*
 * Whether gid is the peer's primary or among its supplementary groups, as they
 * were at connect time (SO_PEERGROUPS, Linux 4.13: immune to PID reuse). When
 * the kernel cannot say, the peer is not in the group.
 */
static bool peer_in_group(int fd, const struct ucred *cred, gid_t gid)
{
	_cleanup_free_ gid_t *groups = NULL;
	socklen_t len = 64 * sizeof(gid_t);

	if (cred->gid == gid)
		return true;
	/* ERANGE: len now says how much the list needs; it may grow once more meanwhile. */
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
			return false;
	}
	return false;
}

static bool peer_is_admin(struct varlink_server *s, int fd, const struct ucred *cred)
{
	const char *name = s->admin_group;
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

static void server_accept_one(struct varlink_server *s, int fd)
{
	unsigned max_clients = s->limits.max_clients;
	unsigned max_per_uid = s->limits.max_clients_per_uid;
	_cleanup_close_ int cfd = fd;
	struct varlink_connection *c;
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
		unsigned limit = s->n_clients >= max_clients ? max_clients : max_per_uid;

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

	r = sd_event_add_io(s->event, &c->io_source, c->fd, EPOLLIN, on_client_io, c);
	if (r >= 0)
		r = sd_event_add_time(s->event, &c->timer_source, CLOCK_MONOTONIC, now, 0,
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
	struct varlink_server *s = userdata;

	return sd_event_source_set_enabled(s->listen_source, SD_EVENT_ON);
}

static int on_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct varlink_server *s = userdata;

	for (int i = 0; i < ACCEPTS_PER_DISPATCH; i++) {
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
			       (unsigned long long)(ACCEPT_PAUSE_USEC / 1000));
		s->accept_failing = true;
		if (sd_event_source_set_enabled(s->listen_source, SD_EVENT_OFF) >= 0) {
			uint64_t now = loop_now_usec(s);

			if (s->resume_source) {
				sd_event_source_set_time(s->resume_source, now + ACCEPT_PAUSE_USEC);
				sd_event_source_set_enabled(s->resume_source, SD_EVENT_ONESHOT);
			} else if (sd_event_add_time(s->event, &s->resume_source, CLOCK_MONOTONIC,
						     now + ACCEPT_PAUSE_USEC, 0, on_listen_resume,
						     s) < 0) {
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

static int server_bind(struct varlink_server *s, const char *path, mode_t mode, const char *group)
{
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
		return log_error_errno(r, "Another %s is listening on %s.", s->product, path);
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
	if (group && *group) {
		struct group *gr = getgrnam(group);

		if (!gr) {
			r = log_error_errno(-ENOENT, "SocketGroup=%s: no such group.", group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			r = log_error_errno(negative_errno(), "Failed to chown %s: %m", path);
			goto fail;
		}
	}
	if (chmod(path, mode & 0777) < 0) {
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

void varlink_server_set_limits(struct varlink_server *s, const struct varlink_server_limits *l)
{
	s->limits = *l;
}

int varlink_server_set_admin_group(struct varlink_server *s, const char *name)
{
	return free_and_strdup(&s->admin_group, name);
}

int varlink_server_new(sd_event *event, const struct varlink_server_options *o,
		       struct varlink_server **ret)
{
	struct varlink_server *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->vendor = o->vendor;
	s->product = o->product;
	s->version = o->version;
	s->url = o->url;
	s->interfaces = o->interfaces;
	s->n_interfaces = o->n_interfaces;
	s->methods = o->methods;
	s->n_methods = o->n_methods;
	s->userdata = o->userdata;
	s->limits = o->limits;
	s->listen_fd = -EBADF;
	r = varlink_server_set_admin_group(s, o->admin_group);
	if (r < 0)
		goto fail;

	if (o->listen_fd >= 0) {
		int fl;

		r = sd_is_socket_unix(o->listen_fd, SOCK_STREAM, 1, NULL, 0);
		if (r <= 0) {
			r = log_error_errno(r < 0 ? r : -EINVAL,
					    "The socket passed by systemd is not a listening "
					    "Unix stream socket.");
			goto fail;
		}
		fl = fcntl(o->listen_fd, F_GETFL);
		if (fl < 0 || fcntl(o->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			r = negative_errno();
			goto fail;
		}
		s->listen_fd = o->listen_fd;
	} else {
		r = server_bind(s, o->socket_path, o->socket_mode, o->socket_group);
		if (r < 0)
			goto fail;
	}
	r = sd_event_add_io(s->event, &s->listen_source, s->listen_fd, EPOLLIN, on_listen, s);
	if (r < 0)
		goto fail;
	if (s->bound_path)
		log_debug("API listening on %s.", s->bound_path);
	*ret = s;
	return 0;
fail:
	if (o->listen_fd >= 0)
		s->listen_fd = -EBADF; /* stays the caller's on failure */
	varlink_server_free(s);
	return r;
}

void varlink_server_free(struct varlink_server *s)
{
	struct varlink_connection *c, *tmp;

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

		/* Only our own socket: a newer server may have taken the path over. */
		if (stat(s->bound_path, &st) == 0 && st.st_dev == s->bound_dev &&
		    st.st_ino == s->bound_ino)
			unlink(s->bound_path);
		free(s->bound_path);
	}
	free(s->admin_group);
	free(s->admin_group_name);
	sd_event_unref(s->event);
	free(s);
}

void varlink_server_broadcast(struct varlink_server *s, cJSON *params, varlink_filter_fn filter,
			      void *userdata)
{
	_cleanup_free_ char *buf = NULL;
	struct varlink_connection *c, *tmp;
	size_t size;
	int r;

	if (!s || s->n_subscribers == 0) {
		cJSON_Delete(params);
		return;
	}
	r = varlink_reply_build(params, true, &buf, &size);
	if (r < 0) {
		log_warning_errno(r, "Failed to build a message for subscribers: %m");
		return;
	}
	DL_FOREACH_SAFE(s->clients, c, tmp)
	{
		char *copy;

		if (!c->subscribed || c->closing || (filter && !filter(c, userdata)))
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

unsigned varlink_server_connections(const struct varlink_server *s)
{
	return s ? s->n_clients : 0;
}

unsigned varlink_server_subscribers(const struct varlink_server *s)
{
	return s ? s->n_subscribers : 0;
}

uid_t varlink_connection_uid(const struct varlink_connection *c)
{
	return c->cred.uid;
}

bool varlink_connection_is_admin(const struct varlink_connection *c)
{
	return c->admin;
}

void varlink_connection_subscribe(struct varlink_connection *c)
{
	if (c->subscribed)
		return;
	c->subscribed = true;
	c->server->n_subscribers++;
}
