/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * api.h - the io.fdwatch methods (the IDL is in varlink.c) on the Varlink
 * transport of varlink-server.h. This layer knows the process table, the
 * alerts and the configuration; it does not know the manager, which hands
 * it what the methods read (struct api_sources) and feeds it alerts.
 *
 * Who sees what: SO_PEERCRED at connect time. root and members of [Api]
 * AdminGroup= see every process and alert; others only their own. Limits
 * come from [Api] in the config (see api_set_config()): MaxRequestBytes (a
 * larger request gets RequestTooLarge and the connection is closed),
 * MaxClients and MaxClientsPerUid (extra connections get TooManyClients and
 * are closed), RequestTimeoutSec (a request must arrive whole in time: slow
 * senders are cut off), IdleTimeoutSec (silent clients, not subscribers, are
 * closed), MaxOutputBytes (a client whose unread replies exceed it is
 * dropped: a subscriber that does not read never blocks the daemon).
 *
 * To add a method: a method_*() in api.c, its name (FDW_METHOD_*, varlink.h)
 * in api.c's method table, and the method in the IDL in varlink.c; a method
 * that asks the daemon to act (say, trace a process) gets a callback in
 * struct api_sources, set by the manager. To add a GetStatus field: a field
 * in struct status_info (json.h), filled by manager_get_status(), and in the
 * IDL; a GetProcess field: json_proc_full() (json.c) and the IDL.
 */
#ifndef FDWATCH_API_H
#define FDWATCH_API_H

#include <systemd/sd-event.h>

#include "alerts.h"
#include "config.h"
#include "json.h"
#include "proc-table.h"

struct api;
struct attribution;
struct probe;

/* What the methods read: borrowed, must outlive the api. */
struct api_sources {
	struct proc_table *procs;
	struct alerts *alerts;
	/*
	 * Fill the daemon's part of GetStatus: everything but visible, clients,
	 * subscribers, client_uid and client_admin, which the api fills.
	 */
	void (*get_status)(void *userdata, struct status_info *ret);
	void *userdata;
	/* GetProcess's census and creation sites (attribution.h); either may be NULL. */
	struct attribution *attribution;
	struct probe *probe;
};

/*
 * Start serving on event: on listen_fd (a listening socket from systemd
 * socket activation, taken over and closed on free) or, when listen_fd < 0,
 * on a socket bound at config->socket_path (FDW_SOCKET_PATH when NULL),
 * with [Api] SocketMode=/SocketGroup=. config is read at once and by every
 * later call (it must stay valid; see api_set_config()). 0 or -errno, logged.
 */
int api_new(sd_event *event, const struct fdw_config *config, int listen_fd,
	    const struct api_sources *sources, struct api **ret);
/* Disconnect every client, close the socket and unlink it if we bound it. NULL-safe. */
void api_free(struct api *a);
/* A new configuration (SIGHUP): [Api] limits and AdminGroup= for what happens from now on. */
void api_set_config(struct api *a, const struct fdw_config *config);
/* Send alert to every subscriber allowed to see it; drops subscribers whose queue is full. */
void api_publish_alert(struct api *a, const struct alert *alert);

#endif
