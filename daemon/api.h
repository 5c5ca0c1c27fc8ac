/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * api.h - the API socket: a Unix stream socket on the manager's sd-event
 * loop speaking the Varlink-shaped protocol of varlink.h (interfaces
 * org.varlink.service and io.fdwatch; the IDL is in varlink.c).
 *
 * Who sees what: SO_PEERCRED at connect time. root and members of
 * [Api] AdminGroup= see every process and alert; others only their own
 * (manager_may_see()). Limits, all from [Api] in the config and read at use,
 * so SIGHUP changes them for new events: MaxRequestBytes (a larger request
 * gets RequestTooLarge and the connection is closed), MaxClients and
 * MaxClientsPerUid (extra connections get TooManyClients and are closed),
 * RequestTimeoutSec (a request must arrive whole in time: slow senders are
 * cut off), IdleTimeoutSec (silent clients, not subscribers, are closed),
 * MaxOutputBytes (a client whose unread replies exceed it is dropped: a
 * subscriber that does not read never blocks the daemon).
 */
#ifndef FDWATCH_API_H
#define FDWATCH_API_H

#include "alerts.h"

struct manager;
struct api_server;

/*
 * Start serving on listen_fd (a listening socket from systemd socket
 * activation, taken over and closed on free) or, when listen_fd < 0, on a
 * socket bound at m->config.socket_path (FDW_SOCKET_PATH when NULL): its
 * directory is created 0755, a stale socket left by a dead daemon is
 * removed (a live one gives -EADDRINUSE), and mode and group are set from
 * [Api] SocketMode=/SocketGroup= before listen(). 0 or -errno.
 */
int api_server_new(struct manager *m, int listen_fd, struct api_server **ret);
/* Disconnect every client, close the socket and unlink it if we bound it. NULL-safe. */
void api_server_free(struct api_server *s);
/* Send a to every subscriber allowed to see it; drops subscribers whose queue is full. */
void api_server_publish_alert(struct api_server *s, const struct alert *a);
/* Connected clients now. */
unsigned api_server_clients(const struct api_server *s);

#endif
