/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * varlink-server.h - a Varlink server on an sd-event loop: the listening
 * Unix socket (bound here, or passed by socket activation), non-blocking
 * per-connection I/O within explicit limits, peer credentials, dispatch of
 * calls to a table of methods, the org.varlink.service interface, and a
 * broadcast to the connections that subscribed to a stream.
 *
 * It knows nothing of what the methods serve: they get a connection, the
 * parsed call and their userdata, and answer with the reply helpers below.
 * The shape follows systemd's sd_varlink_server (systemd >= 257) so this
 * file can give way to it: a method table ~ sd_varlink_server_bind_method_many(),
 * varlink_reply()/varlink_notify()/varlink_error() ~ sd_varlink_reply()/
 * sd_varlink_notify()/sd_varlink_error(), the limits ~
 * sd_varlink_server_set_connections_max() and friends.
 *
 * Wire format and message validation are varlink.c's (pure, unit-tested).
 * Errors of the transport itself (a bad message, a request too large, too
 * many clients, a timeout) are the FDW_ERROR_* names of varlink.h.
 */
#ifndef FDWATCH_VARLINK_SERVER_H
#define FDWATCH_VARLINK_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "varlink.h"

struct varlink_server;
struct varlink_connection;

/* Every limit is explicit; none of them may be 0 except idle_timeout_usec (0: never). */
struct varlink_server_limits {
	size_t max_request_bytes; /* a larger request gets RequestTooLarge and a hang-up */
	unsigned max_clients;	  /* connections beyond get TooManyClients and a hang-up */
	unsigned max_clients_per_uid;
	uint64_t request_timeout_usec; /* a request must arrive whole within this */
	uint64_t idle_timeout_usec;    /* a silent connection (not a subscriber) is closed */
	size_t max_output_bytes;       /* unread replies beyond this drop the connection */
};

/*
 * A method: returns 0 after it replied (or queued nothing for a oneway
 * call), -errno to drop the connection (-ENOMEM, or what a reply helper
 * returned). userdata is varlink_server_options.userdata.
 */
typedef int (*varlink_method_fn)(struct varlink_connection *c, const struct varlink_call *call,
				 void *userdata);

struct varlink_method {
	const char *name; /* "io.fdwatch.GetStatus" */
	varlink_method_fn fn;
};

/* An interface served besides org.varlink.service, for GetInfo and GetInterfaceDescription. */
struct varlink_interface {
	const char *name;
	const char *description; /* the IDL text */
};

struct varlink_server_options {
	/* org.varlink.service.GetInfo */
	const char *vendor, *product, *version, *url;
	const struct varlink_interface *interfaces;
	size_t n_interfaces;
	const struct varlink_method *methods;
	size_t n_methods;
	void *userdata; /* passed to every method */
	/*
	 * A listening Unix stream socket (from socket activation), taken over on
	 * success; or < 0 to bind socket_path: its directory is created 0755, a
	 * stale socket left by a dead server is removed (a live one gives
	 * -EADDRINUSE), and socket_mode and socket_group (NULL or "": unchanged)
	 * are set before listen().
	 */
	int listen_fd;
	const char *socket_path;
	mode_t socket_mode;
	const char *socket_group;
	/* Members of this group (and root) are admins, see varlink_connection_is_admin(). */
	const char *admin_group;
	struct varlink_server_limits limits;
};

/*
 * Start serving on event. The options are copied (the tables and strings
 * must outlive the server only where they are pointers: methods,
 * interfaces, vendor..url). Logs what went wrong. 0 or -errno; on failure
 * listen_fd stays the caller's.
 */
int varlink_server_new(sd_event *event, const struct varlink_server_options *o,
		       struct varlink_server **ret);
/* Disconnect every client, close the socket and unlink it if we bound it (and it is still ours).
 * NULL-safe. */
void varlink_server_free(struct varlink_server *s);

/* New limits, applied from the next event of each connection on. */
void varlink_server_set_limits(struct varlink_server *s, const struct varlink_server_limits *l);
/* The admin group for connections accepted from now on (NULL or "": only root). 0 or -ENOMEM. */
int varlink_server_set_admin_group(struct varlink_server *s, const char *name);

/* Connections now, and how many of them subscribed. */
unsigned varlink_server_connections(const struct varlink_server *s);
unsigned varlink_server_subscribers(const struct varlink_server *s);

/* Whether a subscriber gets a broadcast message. */
typedef bool (*varlink_filter_fn)(const struct varlink_connection *c, void *userdata);
/*
 * Send {"parameters": params, "continues": true} to every subscriber for
 * which filter (NULL: all) says yes; a subscriber whose output queue is full
 * is disconnected. params is consumed. Logs failures; never fails the caller.
 */
void varlink_server_broadcast(struct varlink_server *s, cJSON *params, varlink_filter_fn filter,
			      void *userdata);

/* The peer's credentials at connect time (SO_PEERCRED). */
uid_t varlink_connection_uid(const struct varlink_connection *c);
/* Root, or a member (primary or supplementary, at connect time) of the admin group. */
bool varlink_connection_is_admin(const struct varlink_connection *c);

/*
 * Replies. Each consumes params (NULL: {}); a call flagged oneway gets
 * nothing. 0, or -ENOBUFS when the client already has max_output_bytes
 * unread, -EPIPE etc. when it is gone, -ENOMEM: a method returns that and
 * the connection is dropped.
 */
int varlink_reply(struct varlink_connection *c, const struct varlink_call *call, cJSON *params);
int varlink_error(struct varlink_connection *c, const struct varlink_call *call, const char *error,
		  cJSON *params);
/* An error whose one parameter is key (NULL: none) = a string or an unsigned integer. */
int varlink_error_string(struct varlink_connection *c, const struct varlink_call *call,
			 const char *error, const char *key, const char *value);
int varlink_error_u64(struct varlink_connection *c, const struct varlink_call *call,
		      const char *error, const char *key, uint64_t value);

/*
 * Make c a subscriber: from now on it takes no more calls (its replies are a
 * stream that never ends), has no idle timeout, and gets broadcasts. For a
 * call with "more": true; the method checks that. Idempotent.
 */
void varlink_connection_subscribe(struct varlink_connection *c);
/* One message of c's stream, {"parameters": params, "continues": true}; params consumed. */
int varlink_notify(struct varlink_connection *c, cJSON *params);

#endif
