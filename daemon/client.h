/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * client.h - the client side of the API socket, for fdwatchctl: connect,
 * send a call, read replies (one, or a stream with "more"). Blocking with
 * poll(2) timeouts; replies are framed and validated by varlink.c.
 */
#ifndef FDWATCH_CLIENT_H
#define FDWATCH_CLIENT_H

#include <cjson/cJSON.h>
#include "varlink.h"

/* Largest reply accepted: a ListProcesses of every process on a big machine fits many times. */
#define CLIENT_MAX_REPLY (64U * 1024 * 1024)

struct fdw_client;

/*
 * Connect to the daemon's socket at path. 0, or -ENOENT (no socket there),
 * -ECONNREFUSED (a socket file but nobody listening: a dead daemon),
 * -EACCES (not allowed to connect), other -errno.
 */
int client_connect(const char *path, struct fdw_client **ret);
/* NULL-safe. */
void client_free(struct fdw_client *c);

/* Send a call; parameters consumed (NULL: none); flags VARLINK_MORE/VARLINK_ONEWAY. 0 or -errno. */
int client_send_call(struct fdw_client *c, const char *method, cJSON *parameters, unsigned flags);

/*
 * Wait up to timeout_ms (< 0: forever) for the next reply and parse it into
 * *ret (free with varlink_reply_done()). 0, -ETIMEDOUT, -ECONNRESET when
 * the daemon closed the connection, -EBADMSG for a reply that is not valid,
 * -EMSGSIZE over CLIENT_MAX_REPLY, -EINTR when a signal interrupted the wait.
 */
int client_read_reply(struct fdw_client *c, int timeout_ms, struct varlink_reply *ret);

/* Send a call and read its one reply (an error reply is a success here: check ret->error). */
int client_call(struct fdw_client *c, const char *method, cJSON *parameters, int timeout_ms,
		struct varlink_reply *ret);

DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdw_client *, client_free);

#endif
