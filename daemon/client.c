// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* client.c - connect to fdwatchd's socket, call, read replies (see client.h). */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "client.h"

struct fdw_client {
	int fd;
	char *buf;
	size_t len, alloc;
	size_t consumed; /* bytes of buf[] handed out as the previous reply, dropped on the next
			    read */
};

int client_connect(const char *path, struct fdw_client **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	struct fdw_client *c;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = TAKE_FD(fd);
	*ret = c;
	return 0;
}

void client_free(struct fdw_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

int client_send_call(struct fdw_client *c, const char *method, cJSON *parameters, unsigned flags)
{
	_cleanup_free_ char *msg = NULL;
	size_t size, off = 0;
	int r;

	r = varlink_call_build(method, parameters, flags, &msg, &size);
	if (r < 0)
		return r;
	while (off < size) {
		ssize_t n = send(c->fd, msg + off, size - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		off += n;
	}
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int client_read_reply(struct fdw_client *c, int timeout_ms, struct varlink_reply *ret)
{
	uint64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : 0;

	if (c->consumed > 0) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	for (;;) {
		size_t len;
		ssize_t n;
		int r;

		r = varlink_frame_next(c->buf ?: "", c->len, CLIENT_MAX_REPLY, &len);
		if (r == 1) {
			c->consumed = len + 1;
			return varlink_reply_parse(c->buf, len, ret);
		}
		if (r < 0)
			return r == -EMSGSIZE ? r : -EBADMSG;

		if (timeout_ms >= 0) {
			uint64_t now = mono_ms();
			struct pollfd p = {.fd = c->fd, .events = POLLIN};

			if (now >= deadline)
				return -ETIMEDOUT;
			r = poll(&p, 1, (int)MIN(deadline - now, (uint64_t)INT32_MAX));
			if (r < 0)
				return negative_errno();
			if (r == 0)
				return -ETIMEDOUT;
		}
		if (c->alloc - c->len < 65536) {
			size_t a = MAX(c->alloc * 2, c->len + 65536);
			char *p = realloc(c->buf, a);

			if (!p)
				return -ENOMEM;
			c->buf = p;
			c->alloc = a;
		}
		n = recv(c->fd, c->buf + c->len, c->alloc - c->len, 0);
		if (n < 0) {
			/* ECONNRESET after a final error reply (the daemon hung up): the reply was
			 * read first. */
			return negative_errno();
		}
		if (n == 0)
			return -ECONNRESET;
		c->len += n;
	}
}

int client_call(struct fdw_client *c, const char *method, cJSON *parameters, int timeout_ms,
		struct varlink_reply *ret)
{
	int r = client_send_call(c, method, parameters, 0);

	/*
	 * EPIPE/ECONNRESET on sending: the daemon may have refused us with an
	 * error (TooManyClients) and closed; that reply still waits to be read.
	 */
	if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		return r;
	return client_read_reply(c, timeout_ms, ret);
}
