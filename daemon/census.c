// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * census.c - one process's open fds grouped by target (census.h).
 *
 * One readlink per fd; fdinfo only for pipes (which end); a stat only for
 * pipes (their age) and paths (file or directory). Pipes are told apart by
 * reading every other process's fd links, once per census and only when the
 * process holds pipes. Each fd becomes a record; records are sorted by
 * (kind, label, inode) and each run of equal (kind, label) is one group.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "census.h"
#include "proc.h"
#include "util.h"

/* AF_* and SOCK_* as the kernel numbers them (no socket headers in a pure module). */
#define FAM_UNIX     1
#define FAM_INET     2
#define FAM_INET6    10
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

struct fd_rec {
	int fd;
	enum census_kind kind;
	char *label;
	uint64_t ino;	     /* the target's inode; 0: every fd is its own object */
	uint64_t created_ns; /* realtime, 0 unknown */
	int pipe_end;	     /* pipes: O_RDONLY, O_WRONLY, or -1 unknown */
	pid_t shared_with;   /* pipes: another process holding it */
	bool is_sock;
};

static const char *const kind_names[CENSUS_KIND_MAX] = {
    [CENSUS_PIPE_ORPHANED] = "pipe-orphaned",
    [CENSUS_PIPE_SHARED] = "pipe-shared",
    [CENSUS_PIPE_HALF] = "pipe-half",
    [CENSUS_SOCKET] = "socket",
    [CENSUS_FILE] = "file",
    [CENSUS_DIRECTORY] = "directory",
    [CENSUS_ANON] = "anon",
    [CENSUS_OTHER] = "other",
};

const char *census_kind_to_string(enum census_kind k)
{
	return (unsigned)k < CENSUS_KIND_MAX ? kind_names[k] : NULL;
}

void census_free(struct census *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_groups; i++)
		free(c->groups[i].label);
	free(c->groups);
	free(c->open_fds);
	free(c);
}

/* ---- sockets in words ---- */

static const char *tcp_state_name(unsigned s)
{
	static const char *const names[] = {
	    [1] = "ESTABLISHED", [2] = "SYN-SENT",  [3] = "SYN-RECV", [4] = "FIN-WAIT-1",
	    [5] = "FIN-WAIT-2",	 [6] = "TIME-WAIT", [7] = "CLOSE",    [8] = "CLOSE-WAIT",
	    [9] = "LAST-ACK",	 [10] = "LISTEN",   [11] = "CLOSING", [12] = "NEW-SYN-RECV",
	};

	return s < ELEMENTSOF(names) && names[s] ? names[s] : "UNKNOWN";
}

static const char *sock_type_name(unsigned t)
{
	static const char *const names[] = {
	    [1] = "STREAM", [2] = "DGRAM", [3] = "RAW", [4] = "RDM", [5] = "SEQPACKET",
	};

	return t < ELEMENTSOF(names) && names[t] ? names[t] : "SOCKET";
}

static bool addr_is_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

/* RFC 5952 text of an IPv6 address: lowercase, the longest run of >= 2 zero groups as "::". */
static void format_ip6(const uint8_t *a, char *buf, size_t size)
{
	unsigned g[8];
	int best = -1, best_len = 0;
	size_t n = 0;

	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff) {
		snprintf(buf, size, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
		return;
	}
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > best_len && j - i >= 2) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	buf[0] = '\0';
	for (int i = 0; i < 8 && n < size; i++) {
		if (i == best) {
			n += (size_t)snprintf(buf + n, size - n, "::");
			i += best_len - 1;
			continue;
		}
		n += (size_t)snprintf(buf + n, size - n, "%s%x",
				      i == 0 || i == best + best_len ? "" : ":", g[i]);
	}
}

/* "127.0.0.1:5432", "[::1]:80"; without ":port" when the kernel has none (a blocking
 * connect() that failed: tcp_disconnect() zeroes the peer port, keeps the address). */
static void format_endpoint(const struct fdw_sock *s, const uint8_t *addr, unsigned port, char *buf,
			    size_t size)
{
	char ip[64], p[8] = "";

	if (port)
		snprintf(p, sizeof(p), ":%u", port);
	if (s->family == FAM_INET) {
		snprintf(buf, size, "%u.%u.%u.%u%s", addr[0], addr[1], addr[2], addr[3], p);
		return;
	}
	format_ip6(addr, ip, sizeof(ip));
	snprintf(buf, size, port ? "[%s]%s" : "%s%s", ip, p);
}

char *census_sock_label(const struct fdw_sock *s, char *buf, size_t size)
{
	size_t alen = s->family == FAM_INET ? 4 : 16;
	char ep[96];

	if (s->family == FAM_UNIX) {
		size_t len = MIN((size_t)s->path_len, sizeof(s->path));

		if (len == 0)
			snprintf(buf, size, "UNIX %s unnamed", sock_type_name(s->type));
		else if (s->path[0] == '\0')
			snprintf(buf, size, "UNIX %s @%.*s", sock_type_name(s->type),
				 (int)strnlen(s->path + 1, len - 1), s->path + 1);
		else
			snprintf(buf, size, "UNIX %s %.*s", sock_type_name(s->type),
				 (int)strnlen(s->path, len), s->path);
		return buf;
	}
	if (s->family != FAM_INET && s->family != FAM_INET6) {
		snprintf(buf, size, "socket family %u %s", s->family, sock_type_name(s->type));
		return buf;
	}
	if (s->protocol == IPPROTO_TCP_ && s->type == 1) {
		const char *st = tcp_state_name(s->state);

		if (s->dport != 0 || !addr_is_zero(s->daddr, alen)) {
			format_endpoint(s, s->daddr, s->dport, ep, sizeof(ep));
			snprintf(buf, size, "TCP%s %s to %s", s->family == FAM_INET6 ? "6" : "", st,
				 ep);
		} else if (s->sport != 0) {
			format_endpoint(s, s->saddr, s->sport, ep, sizeof(ep));
			snprintf(buf, size, "TCP%s %s on %s", s->family == FAM_INET6 ? "6" : "", st,
				 ep);
		} else {
			snprintf(buf, size, "TCP%s %s unbound", s->family == FAM_INET6 ? "6" : "",
				 st);
		}
		return buf;
	}
	{
		const char *proto = s->protocol == IPPROTO_UDP_ ? "UDP" : sock_type_name(s->type);
		const char *v6 = s->family == FAM_INET6 ? "6" : "";

		if (s->dport != 0) {
			format_endpoint(s, s->daddr, s->dport, ep, sizeof(ep));
			snprintf(buf, size, "%s%s to %s", proto, v6, ep);
		} else if (s->sport != 0) {
			format_endpoint(s, s->saddr, s->sport, ep, sizeof(ep));
			snprintf(buf, size, "%s%s on %s", proto, v6, ep);
		} else {
			snprintf(buf, size, "%s%s unbound", proto, v6);
		}
	}
	return buf;
}

/* ---- reading ---- */

static int cmp_sock_ino(const void *a, const void *b)
{
	const struct fdw_sock *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_time_fd(const void *a, const void *b)
{
	const struct census_fd_time *x = a, *y = b;

	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static int cmp_int(const void *a, const void *b)
{
	const int *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* "pipe:[123]" with prefix "pipe:[" -> 123; 0 when it does not match. */
static uint64_t parse_bracket_ino(const char *target, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	unsigned long long v;

	if (strncmp(target, prefix, n) != 0)
		return 0;
	errno = 0;
	v = strtoull(target + n, &end, 10);
	if (errno || *end != ']')
		return 0;
	return v;
}

static uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NSEC_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* Access mode of fd from ROOT/PID/fdinfo/FD ("flags:\t0100002"), -1 unknown. */
static int read_access_mode(const char *root, pid_t pid, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	char path[512];
	const char *p;

	snprintf(path, sizeof(path), "%s/%d/fdinfo/%s", root, (int)pid, name);
	if (read_file_full(path, 4096, &buf, NULL) < 0)
		return -1;
	p = strstr(buf, "flags:");
	if (!p)
		return -1;
	return (int)(strtoul(p + 6, NULL, 8) & O_ACCMODE);
}

static bool startswith_memfd(const char *t)
{
	return strncmp(t, "/memfd:", 7) == 0;
}

/* "/memfd:NAME (deleted)" -> "memfd:NAME"; "anon_inode:[eventfd]" -> "eventfd". */
static char *anon_label(const char *target)
{
	const char *t = target;
	size_t n;

	if (startswith_memfd(t)) {
		t++;
		n = strlen(t);
		if (n >= 10 && streq(t + n - 10, " (deleted)"))
			n -= 10;
		return strndup(t, n);
	}
	t += strlen("anon_inode:");
	if (*t == '[') {
		t++;
		n = strcspn(t, "]");
	} else {
		n = strlen(t);
	}
	return strndup(t, n);
}

/*
 * Which end of a pipe fd is: the /proc fd link's own mode says it in one lstat (S_IRUSR for
 * FMODE_READ, S_IWUSR for FMODE_WRITE): a census of 10,000 mixed fds took ~60 ms here this
 * way, ~180 ms reading fdinfo.
 * A link with group or other bits is no /proc fd link (a fixture's): fdinfo's flags then.
 */
static int pipe_end(const struct census_input *in, int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (st.st_mode & 077)
		return read_access_mode(in->root, in->pid, name);
	switch (st.st_mode & (S_IRUSR | S_IWUSR)) {
	case S_IRUSR:
		return O_RDONLY;
	case S_IWUSR:
		return O_WRONLY;
	case S_IRUSR | S_IWUSR:
		return O_RDWR;
	default:
		return -1;
	}
}

/* Classify one fd from its link target. 0, or -ENOMEM. */
static int classify(const struct census_input *in, int dfd, const char *name, const char *target,
		    const struct fdw_sock *socks, struct fd_rec *r)
{
	struct stat st;
	uint64_t ino;

	r->pipe_end = -1;
	if ((ino = parse_bracket_ino(target, "pipe:["))) {
		r->ino = ino;
		r->pipe_end = pipe_end(in, dfd, name);
		/* Pipe inodes keep their creation time: a write or read moves none of
		 * atime, mtime, ctime (measured on Linux 6.18), so the oldest is it. */
		if (!r->created_ns && fstatat(dfd, name, &st, 0) == 0 && st.st_ctim.tv_sec > 0)
			r->created_ns = MIN(timespec_ns(&st.st_ctim), timespec_ns(&st.st_mtim));
		r->kind = CENSUS_PIPE_HALF; /* settled once every pipe is known */
		return 0;
	}
	if ((ino = parse_bracket_ino(target, "socket:["))) {
		struct fdw_sock key = {.ino = ino};
		const struct fdw_sock *s =
		    socks ? bsearch(&key, socks, in->n_socks, sizeof(*socks), cmp_sock_ino) : NULL;
		char label[256];

		r->ino = ino;
		r->is_sock = true;
		r->kind = CENSUS_SOCKET;
		/* sockfs inodes carry no times (all zero here): ages come from the probe. */
		r->label = strdup(s ? census_sock_label(s, label, sizeof(label)) : "socket");
		return r->label ? 0 : -ENOMEM;
	}
	if (strncmp(target, "anon_inode:", 11) == 0 || startswith_memfd(target)) {
		r->kind = CENSUS_ANON;
		r->label = anon_label(target);
		return r->label ? 0 : -ENOMEM;
	}
	if (target[0] == '/') {
		r->kind = fstatat(dfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode) ? CENSUS_DIRECTORY
										 : CENSUS_FILE;
		r->label = strdup(target);
		return r->label ? 0 : -ENOMEM;
	}
	/* "net:[4026531840]", "mnt:[...]", ...: namespaces and other pseudo files by type. */
	r->kind = CENSUS_OTHER;
	r->label = strndup(target, strcspn(target, ":["));
	return r->label ? 0 : -ENOMEM;
}

struct pipe_ino {
	uint64_t ino;
	pid_t shared_with;
};

static int cmp_pipe_ino(const void *a, const void *b)
{
	const struct pipe_ino *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Mark the pipes that another process under ROOT also holds. Returns processes read. */
static uint64_t scan_other_holders(const char *root, pid_t self, struct pipe_ino *pipes, size_t n)
{
	_cleanup_closedir_ DIR *d = opendir(root);
	uint64_t scanned = 0;
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		_cleanup_closedir_ DIR *fd_dir = NULL;
		struct dirent *fe;
		char path[512];
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "%s/%ld/fd", root, pid);
		fd_dir = opendir(path);
		if (!fd_dir)
			continue; /* gone, a kernel thread, or not ours to read */
		scanned++;
		while ((fe = readdir(fd_dir))) {
			struct pipe_ino key, *hit;
			char target[64];
			ssize_t k;

			if (fe->d_name[0] == '.')
				continue;
			k = readlinkat(dirfd(fd_dir), fe->d_name, target, sizeof(target) - 1);
			if (k <= 0)
				continue;
			target[k] = '\0';
			key.ino = parse_bracket_ino(target, "pipe:[");
			if (!key.ino)
				continue;
			hit = bsearch(&key, pipes, n, sizeof(*pipes), cmp_pipe_ino);
			if (hit && !hit->shared_with)
				hit->shared_with = (pid_t)pid;
		}
	}
	return scanned;
}

/* The caller's answer to who else holds the pipes. 0 or -errno. */
static int ask_holders(const struct census_input *in, struct pipe_ino *pipes, size_t n)
{
	_cleanup_free_ uint64_t *inos = calloc(n, sizeof(*inos));
	_cleanup_free_ uint32_t *holders = calloc(n, sizeof(*holders));
	int r;

	if (!inos || !holders)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		inos[i] = pipes[i].ino;
	r = in->pipe_holders(in->userdata, inos, n, holders);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		pipes[i].shared_with = (pid_t)holders[i]; /* CENSUS_HOLDER_HIDDEN: -1 */
	return 0;
}

/* Settle each pipe fd's kind and label once every pipe of the process is known. */
static int settle_pipes(const struct census_input *in, struct fd_rec *recs, size_t n,
			uint64_t *ret_scanned)
{
	_cleanup_free_ struct pipe_ino *pipes = NULL;
	size_t np = 0, k = 0, w = 0;

	for (size_t i = 0; i < n; i++)
		np += recs[i].kind == CENSUS_PIPE_HALF && !recs[i].label;
	if (np == 0)
		return 0;
	pipes = calloc(np, sizeof(*pipes));
	if (!pipes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (recs[i].kind == CENSUS_PIPE_HALF && !recs[i].label)
			pipes[k++].ino = recs[i].ino;
	qsort(pipes, k, sizeof(*pipes), cmp_pipe_ino);
	/* One entry per pipe, not per fd. */
	for (size_t i = 0; i < k; i++)
		if (w == 0 || pipes[i].ino != pipes[w - 1].ino)
			pipes[w++] = pipes[i];
	k = w;
	if (!in->pipe_holders || ask_holders(in, pipes, k) < 0)
		*ret_scanned = scan_other_holders(in->root, in->pid, pipes, k);

	/* Records sorted by inode: each run is one pipe. */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		bool rd = false, wr = false;
		struct pipe_ino key = {.ino = recs[i].ino}, *p;
		enum census_kind kind;
		char label[96];

		if (recs[i].kind != CENSUS_PIPE_HALF || recs[i].label) {
			i++;
			continue;
		}
		while (j < n && recs[j].kind == CENSUS_PIPE_HALF && !recs[j].label &&
		       recs[j].ino == recs[i].ino) {
			rd |= recs[j].pipe_end == O_RDONLY || recs[j].pipe_end == O_RDWR;
			wr |= recs[j].pipe_end == O_WRONLY || recs[j].pipe_end == O_RDWR;
			j++;
		}
		p = bsearch(&key, pipes, k, sizeof(*pipes), cmp_pipe_ino);
		if (p && p->shared_with) {
			struct proc_stat st;

			kind = CENSUS_PIPE_SHARED;
			if (p->shared_with < 0)
				snprintf(label, sizeof(label), "pipes shared with another process");
			else if (proc_read_stat(in->root, p->shared_with, &st) == 0)
				snprintf(label, sizeof(label), "pipes shared with %s[%d]", st.comm,
					 (int)p->shared_with);
			else
				snprintf(label, sizeof(label), "pipes shared with [%d]",
					 (int)p->shared_with);
		} else if (rd && wr) {
			kind = CENSUS_PIPE_ORPHANED;
			snprintf(label, sizeof(label), "pipe pairs held only by itself");
		} else {
			kind = CENSUS_PIPE_HALF;
			snprintf(label, sizeof(label), "%s",
				 rd   ? "pipe read ends, writer closed"
				 : wr ? "pipe write ends, reader closed"
				      : "pipe ends, other end closed");
		}
		for (size_t x = i; x < j; x++) {
			recs[x].kind = kind;
			recs[x].label = strdup(label);
			if (!recs[x].label)
				return -ENOMEM;
		}
		i = j;
	}
	return 0;
}

static int cmp_rec_ino(const void *a, const void *b)
{
	const struct fd_rec *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_rec_group(const void *a, const void *b)
{
	const struct fd_rec *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	c = strcmp(x->label, y->label);
	if (c)
		return c;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_group(const void *a, const void *b)
{
	const struct census_group *x = a, *y = b;

	if (x->fds != y->fds)
		return x->fds > y->fds ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->label, y->label);
}

/* With many distinct paths, "files under /var/log/app/" says more than a long tail. */
static int files_by_directory(struct fd_rec *recs, size_t n)
{
	size_t distinct = 0;

	qsort(recs, n, sizeof(*recs), cmp_rec_group);
	for (size_t i = 0; i < n; i++)
		if (recs[i].kind == CENSUS_FILE && (i == 0 || recs[i - 1].kind != CENSUS_FILE ||
						    !streq(recs[i - 1].label, recs[i].label)))
			distinct++;
	if (distinct <= CENSUS_MAX_PATHS)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char *slash, *label;

		if (recs[i].kind != CENSUS_FILE)
			continue;
		slash = strrchr(recs[i].label, '/');
		if (asprintf(&label, "files under %.*s/", (int)(slash - recs[i].label),
			     recs[i].label) < 0)
			return -ENOMEM;
		free(recs[i].label);
		recs[i].label = label;
	}
	return 0;
}

static int make_groups(struct census *c, struct fd_rec *recs, size_t n)
{
	size_t ng = 0;

	qsort(recs, n, sizeof(*recs), cmp_rec_group);
	c->groups = calloc(MAX(n, (size_t)1), sizeof(*c->groups));
	if (!c->groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct census_group *g = ng ? &c->groups[ng - 1] : NULL;
		bool new_group = !g || g->kind != recs[i].kind || !streq(g->label, recs[i].label);

		if (new_group) {
			g = &c->groups[ng++];
			g->kind = recs[i].kind;
			g->label = TAKE_PTR(recs[i].label);
			g->lowest_fd = recs[i].fd;
		}
		g->fds++;
		if (new_group || recs[i].ino == 0 || recs[i - 1].ino != recs[i].ino)
			g->objects++;
		g->lowest_fd = MIN(g->lowest_fd, recs[i].fd);
		if (recs[i].created_ns) {
			g->aged++;
			if (!g->oldest_ns || recs[i].created_ns < g->oldest_ns)
				g->oldest_ns = recs[i].created_ns;
			g->newest_ns = MAX(g->newest_ns, recs[i].created_ns);
		}
	}
	qsort(c->groups, ng, sizeof(*c->groups), cmp_group);
	for (size_t i = CENSUS_MAX_GROUPS; i < ng; i++) {
		c->other_fds += c->groups[i].fds;
		free(c->groups[i].label);
	}
	c->n_groups = MIN(ng, (size_t)CENSUS_MAX_GROUPS);
	return 0;
}

static void recs_free(struct fd_rec *recs, size_t n)
{
	for (size_t i = 0; recs && i < n; i++)
		free(recs[i].label);
	free(recs);
}

int census_take(const struct census_input *in, struct census **ret)
{
	_cleanup_free_ struct fdw_sock *socks = NULL;
	_cleanup_free_ struct census_fd_time *times = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	struct census *c = NULL;
	struct fd_rec *recs = NULL;
	size_t n = 0, cap = 0;
	uint64_t t0 = now_boottime_ns();
	struct dirent *de;
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/%d/fd", in->root, (int)in->pid);
	d = opendir(path);
	if (!d)
		return negative_errno();
	if (in->n_socks) {
		socks = malloc(in->n_socks * sizeof(*socks));
		if (!socks)
			return -ENOMEM;
		memcpy(socks, in->socks, in->n_socks * sizeof(*socks));
		qsort(socks, in->n_socks, sizeof(*socks), cmp_sock_ino);
	}
	if (in->n_times) {
		times = malloc(in->n_times * sizeof(*times));
		if (!times)
			return -ENOMEM;
		memcpy(times, in->times, in->n_times * sizeof(*times));
		qsort(times, in->n_times, sizeof(*times), cmp_time_fd);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pid = in->pid;
	c->realtime_ns = in->now_realtime_ns;

	while ((de = readdir(d))) {
		struct census_fd_time key, *t;
		char target[4096];
		struct fd_rec *rec;
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		ssize_t k;

		if (de->d_name[0] == '.' || *end || fd < 0)
			continue;
		k = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (k < 0) {
			c->vanished++; /* closed meanwhile */
			continue;
		}
		target[k] = '\0';
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct fd_rec *nr = realloc(recs, ncap * sizeof(*nr));

			if (!nr) {
				r = -ENOMEM;
				goto fail;
			}
			recs = nr;
			cap = ncap;
		}
		rec = &recs[n++];
		*rec = (struct fd_rec){.fd = (int)fd};
		key.fd = (int)fd;
		t = times ? bsearch(&key, times, in->n_times, sizeof(*times), cmp_time_fd) : NULL;
		if (t)
			rec->created_ns = t->realtime_ns;
		r = classify(in, dirfd(d), de->d_name, target, socks, rec);
		if (r < 0)
			goto fail;
	}
	c->fds = n;
	c->open_fds = malloc(MAX(n, (size_t)1) * sizeof(int));
	if (!c->open_fds) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		c->open_fds[i] = recs[i].fd;
	qsort(c->open_fds, n, sizeof(int), cmp_int);
	c->n_open_fds = n;

	qsort(recs, n, sizeof(*recs), cmp_rec_ino);
	r = settle_pipes(in, recs, n, &c->scanned);
	if (r >= 0)
		r = files_by_directory(recs, n);
	if (r >= 0)
		r = make_groups(c, recs, n);
	if (r < 0)
		goto fail;
	recs_free(recs, n);
	c->took_ns = now_boottime_ns() - t0;
	*ret = c;
	return 0;
fail:
	recs_free(recs, n);
	census_free(c);
	return r;
}

static bool startswith_label(const char *label, const char *prefix)
{
	return strncmp(label, prefix, strlen(prefix)) == 0;
}

int census_group_describe(const struct census_group *g, uint64_t now_realtime_ns, char *buf,
			  size_t size)
{
	char age[48] = "";
	int n;

	if (g->oldest_ns && now_realtime_ns >= g->oldest_ns) {
		char a[24];

		format_span(a, sizeof(a), (double)(now_realtime_ns - g->oldest_ns) / 1e9);
		snprintf(age, sizeof(age), ", oldest %s", a);
	}
	switch (g->kind) {
	case CENSUS_PIPE_ORPHANED:
		n = snprintf(buf, size, "%" PRIu64 " pipe pair%s held only by itself%s", g->objects,
			     g->objects == 1 ? "" : "s", age);
		break;
	case CENSUS_SOCKET: {
		/* "41 TCP sockets CLOSE to 127.0.0.1:5432": the protocol, then the rest. */
		size_t proto = strcspn(g->label, " ");

		n = snprintf(buf, size, "%" PRIu64 " %.*s%s%s%s", g->fds, (int)proto, g->label,
			     streq(g->label, "socket") ? "" : " socket", g->fds == 1 ? "" : "s",
			     g->label + proto);
		if (n >= 0 && (size_t)n < size)
			n += snprintf(buf + n, size - (size_t)n, "%s", age);
		break;
	}
	case CENSUS_FILE:
	case CENSUS_DIRECTORY:
		n = snprintf(buf, size, "%" PRIu64 " fd%s of %s%s", g->fds, g->fds == 1 ? "" : "s",
			     g->label, age);
		break;
	case CENSUS_PIPE_SHARED:
		/* label: "pipes shared with sh[200]" */
		n = snprintf(buf, size, "%" PRIu64 " pipe fd%s %s%s", g->fds,
			     g->fds == 1 ? "" : "s", g->label + strlen("pipes "), age);
		break;
	case CENSUS_PIPE_HALF: {
		bool rd = startswith_label(g->label, "pipe read"),
		     wr = startswith_label(g->label, "pipe write");

		n = snprintf(buf, size, "%" PRIu64 " pipe %s%s, %s closed%s", g->fds,
			     rd	  ? "read end"
			     : wr ? "write end"
				  : "end",
			     g->fds == 1 ? "" : "s",
			     rd	  ? "writer"
			     : wr ? "reader"
				  : "other end",
			     age);
		break;
	}
	default:
		n = snprintf(buf, size, "%" PRIu64 " %s fd%s%s", g->fds, g->label,
			     g->fds == 1 ? "" : "s", age);
		break;
	}
	if (n < 0)
		return -EINVAL;
	return (size_t)n < size ? n : -ENOBUFS;
}
