// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <zlib.h>

#include "census.lskel.h"
#include "count.lskel.h"
#include "fdwatch.h"
#include "fdwatch.skel.h"
#include "log.h"
#include "min-btf.h"
#include "probe.h"
#include "syscalls.h"

#define BTF_PATH       "/sys/kernel/btf/vmlinux"
#define TRACEFS_EVENTS "/sys/kernel/tracing/events/syscalls"
#define DEBUGFS_EVENTS "/sys/kernel/debug/tracing/events/syscalls"
/* 256 keys/values per batch: ~60 KiB of values, one syscall per 256 processes. */
#define BATCH 256

/* The syscall links of one arming and the thread that detaches them. */
struct probe_syscall_links {
	/* One slot per entry of fdw_syscalls() (tracepoint backend) or one (raw).
	 * While the detach thread runs, it alone destroys links and clears slots. */
	_Atomic(struct bpf_link *) *links;
	bool *missing; /* no such tracepoint on this kernel: never tried again */
	unsigned n;
	pthread_t thread;
	bool thread_running;
	atomic_bool cancel, done;
};

struct probe {
	struct fdwatch_bpf *skel;
	struct census_bpf *census; /* loaded at the first census */
	struct count_bpf *count;   /* count passes; NULL when not available */
	int census_error;	   /* why it could not be: not tried again */
	__u64 pidns_ino;	   /* the PID namespace the programs report in, 0: host */
	struct ring_buffer *rb;
	struct bpf_link **links; /* lifecycle links: always attached */
	unsigned n_links;
	struct probe_syscall_links sys;
	enum probe_backend backend;
	bool syscalls;
	probe_event_fn on_event;
	void (*keepalive)(void *userdata);
	void *userdata;
	bool batch_ok;
	__u32 keys[BATCH];
	struct fdw_counts values[BATCH];
};

static bool verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	if (!verbose_libbpf)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	log_debug("libbpf: %s", buf);
	return 0;
}

const char *probe_failure_to_string(enum probe_failure f)
{
	static const char *const names[] = {
	    [PROBE_OK] = "ok",
	    [PROBE_FAIL_PERMISSION] = "permission",
	    [PROBE_FAIL_NO_BTF] = "no-btf",
	    [PROBE_FAIL_TRACEFS] = "no-tracefs",
	    [PROBE_FAIL_SECCOMP] = "seccomp",
	    [PROBE_FAIL_LOAD] = "load",
	    [PROBE_FAIL_ATTACH] = "attach",
	    [PROBE_FAIL_OTHER] = "other",
	};

	return (unsigned)f < ELEMENTSOF(names) && names[f] ? names[f] : "other";
}

static bool have_cap(unsigned cap)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[cap / 32].effective & (1U << (cap % 32));
}

static bool seccomp_filtered(void)
{
	_cleanup_free_ char *buf = NULL;
	const char *p;

	if (read_file_full("/proc/self/status", 16384, &buf, NULL) < 0)
		return false;
	p = strstr(buf, "\nSeccomp:");
	return p && atoi(p + 9) != 0;
}

/*
 * Say why BPF cannot work here, before libbpf prints a wall of text. Each
 * cause gets one line with what to do.
 */
static enum probe_failure probe_check_machine(const struct probe_options *o)
{
	struct stat st;
	int fd;

	if (access(BTF_PATH, R_OK) < 0) {
		log_error("No kernel BTF at %s: fdwatch needs a kernel built with "
			  "CONFIG_DEBUG_INFO_BTF=y (Debian's kernels are).",
			  BTF_PATH);
		return PROBE_FAIL_NO_BTF;
	}
	/* A tiny map tells whether bpf() works at all for us. */
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "fdw_check", 4, 4, 1, NULL);
	if (fd < 0) {
		int err = -fd;

		if (err == ENOSYS || ((err == EPERM || err == EACCES) && seccomp_filtered() &&
				      (have_cap(CAP_BPF) || have_cap(CAP_SYS_ADMIN)))) {
			log_error(
			    "bpf() is blocked by a seccomp filter (%s): allow the bpf and "
			    "perf_event_open syscalls (systemd: SystemCallFilter=bpf "
			    "perf_event_open; nspawn: --system-call-filter='bpf perf_event_open').",
			    strerror(err));
			return PROBE_FAIL_SECCOMP;
		}
		if (err == EPERM || err == EACCES) {
			log_error("Not permitted to use BPF (%s): run fdwatchd as root, or with "
				  "CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH.",
				  strerror(err));
			return PROBE_FAIL_PERMISSION;
		}
		log_error("bpf() failed: %s.", strerror(err));
		return PROBE_FAIL_OTHER;
	}
	close(fd);
	if (!have_cap(CAP_PERFMON) && !have_cap(CAP_SYS_ADMIN)) {
		log_error("Not permitted to attach tracepoints: fdwatchd needs CAP_PERFMON "
			  "(or run it as root).");
		return PROBE_FAIL_PERMISSION;
	}
	if (o->syscalls && o->backend == PROBE_BACKEND_TRACEPOINT &&
	    stat(TRACEFS_EVENTS, &st) < 0 && stat(DEBUGFS_EVENTS, &st) < 0) {
		log_error(
		    "tracefs is not mounted (no %s): mount it with "
		    "'mount -t tracefs nodev /sys/kernel/tracing', or use --probe-backend=raw.",
		    TRACEFS_EVENTS);
		return PROBE_FAIL_TRACEFS;
	}
	return PROBE_OK;
}

static int probe_add_link(struct probe *p, struct bpf_link *link)
{
	struct bpf_link **n = realloc(p->links, (p->n_links + 1) * sizeof(*n));

	if (!n) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	p->links = n;
	p->links[p->n_links++] = link;
	return 0;
}

static int handle_rb_record(void *ctx, void *data, size_t size)
{
	struct probe *p = ctx;
	struct fdw_event ev;

	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	return p->on_event ? p->on_event(p->userdata, &ev) : 0;
}

static int probe_attach_lifecycle(struct probe *p, enum probe_failure *ret_failure)
{
	struct bpf_program *progs[] = {
	    p->skel->progs.handle_fork,
	    p->skel->progs.handle_exec,
	    p->skel->progs.handle_exit,
	};
	struct bpf_link *link;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(progs); i++) {
		link = bpf_program__attach(progs[i]);
		if (!link) {
			r = -errno;
			*ret_failure = PROBE_FAIL_ATTACH;
			return log_error_errno(r, "Failed to attach %s: %m",
					       bpf_program__section_name(progs[i]));
		}
		r = probe_add_link(p, link);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Attach syscall link i (a slot of p->sys) if it is not. 1 attached now, 0 already or missing. */
static int probe_attach_syscall(struct probe *p, unsigned i)
{
	const struct fdw_syscall *sc;
	struct bpf_link *link;
	char name[64];
	size_t n;

	if (atomic_load(&p->sys.links[i]) || p->sys.missing[i])
		return 0;
	if (p->backend == PROBE_BACKEND_RAW) {
		link = bpf_program__attach(p->skel->progs.handle_raw_sys_exit);
		if (!link)
			return log_debug_errno(errno, "Failed to attach tp_btf/sys_exit: %m");
	} else {
		sc = fdw_syscalls(&n);
		snprintf(name, sizeof(name), "sys_exit_%s", sc[i].name);
		link = bpf_program__attach_tracepoint(p->skel->progs.handle_sys_exit, "syscalls",
						      name);
		if (!link) {
			/* Not every kernel has every syscall (or its event). */
			log_debug_errno(errno, "No tracepoint syscalls/%s, skipping: %m", name);
			p->sys.missing[i] = true;
			return 0;
		}
	}
	atomic_store(&p->sys.links[i], link);
	return 1;
}

static unsigned probe_sys_attached(const struct probe *p)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->sys.n; i++)
		n += atomic_load(&p->sys.links[i]) != NULL;
	return n;
}

static void probe_join_detach(struct probe *p)
{
	if (!p->sys.thread_running)
		return;
	pthread_join(p->sys.thread, NULL);
	p->sys.thread_running = false;
}

int probe_arm(struct probe *p)
{
	unsigned attached;
	int r;

	if (!p->syscalls)
		return -EOPNOTSUPP;
	if (p->skel->bss->counting && !p->sys.thread_running)
		return 0;
	if (p->sys.thread_running) {
		/* Stop the detach after the link it is on; keep the rest attached. */
		atomic_store(&p->sys.cancel, true);
		probe_join_detach(p);
	}
	for (unsigned i = 0; i < p->sys.n; i++) {
		r = probe_attach_syscall(p, i);
		if (r < 0) {
			probe_disarm(p);
			return r;
		}
	}
	attached = probe_sys_attached(p);
	if (attached == 0)
		return log_error_errno(ENOENT, "No syscall program could be attached: is tracefs "
					       "mounted with syscall events?");
	p->skel->bss->counting = 1;
	log_debug("Armed: %u syscall links.", attached);
	return 0;
}

static void *detach_links(void *userdata)
{
	struct probe_syscall_links *s = userdata;

	for (unsigned i = 0; i < s->n && !atomic_load(&s->cancel); i++) {
		struct bpf_link *l = atomic_load(&s->links[i]);

		if (!l)
			continue;
		bpf_link__destroy(l);
		atomic_store(&s->links[i], NULL);
	}
	atomic_store(&s->done, true);
	return NULL;
}

int probe_disarm(struct probe *p)
{
	int r;

	if (!p->syscalls)
		return 0;
	p->skel->bss->counting = 0;
	if (p->sys.thread_running || probe_sys_attached(p) == 0)
		return 0;
	atomic_store(&p->sys.cancel, false);
	atomic_store(&p->sys.done, false);
	r = -pthread_create(&p->sys.thread, NULL, detach_links, &p->sys);
	if (r < 0) {
		log_debug_errno(r, "Failed to start the detach thread, detaching here: %m");
		detach_links(&p->sys);
		return r;
	}
	p->sys.thread_running = true;
	return 0;
}

bool probe_counting(const struct probe *p)
{
	return p->skel->bss->counting;
}

unsigned probe_reap(struct probe *p)
{
	if (p->sys.thread_running && atomic_load(&p->sys.done))
		probe_join_detach(p);
	return probe_sys_attached(p);
}

static void probe_sites_size(struct probe *p, const struct probe_options *o);

static uint32_t ringbuf_bytes(uint32_t kib)
{
	uint32_t want = MAX(kib, 4u) * 1024, size = (uint32_t)sysconf(_SC_PAGESIZE);

	/* A ring buffer is a power of two pages. */
	while (size < want)
		size <<= 1;
	return size;
}

/* Whether the running kernel's BTF is the one min-btf.h was cut from: its size and CRC-32,
 * read through a small buffer (~3 ms here), never held whole. */
static bool min_btf_matches(void)
{
	_cleanup_close_ int fd = open(BTF_PATH, O_RDONLY | O_CLOEXEC);
	unsigned char buf[16384];
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t size = 0;
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		crc = crc32(crc, buf, (uInt)n);
		size += (uint64_t)n;
	}
	return size == FDW_MIN_BTF_SOURCE_SIZE && crc == FDW_MIN_BTF_SOURCE_CRC32;
}

/*
 * The compiled-in BTF for the CO-RE reads, in a memfd for libbpf's btf_custom_path: the fd,
 * or -errno when the kernel is another one than it was cut from (libbpf then reads the
 * kernel's own BTF, and the daemon's memory peaks 12 MB higher while it loads).
 */
static int min_btf_open(void)
{
	_cleanup_close_ int fd = -EBADF;

	if (!min_btf_matches()) {
		log_debug("The kernel's BTF is not the one fdwatchd was built with: relocating "
			  "against all of it.");
		return -ESTALE;
	}
	fd = memfd_create("fdwatch-min-btf", MFD_CLOEXEC);
	if (fd < 0)
		return log_debug_errno(errno, "memfd_create failed: %m");
	if (write(fd, fdw_min_btf, sizeof(fdw_min_btf)) != (ssize_t)sizeof(fdw_min_btf))
		return log_debug_errno(EIO, "Could not write the compiled-in BTF: %m");
	return TAKE_FD(fd);
}

/* The count pass iterator; without it (before Linux 5.17: no bpf_loop) /proc is polled. */
static void probe_count_load(struct probe *p)
{
	int r;

	p->count = count_bpf__open();
	if (!p->count) {
		log_warning_errno(errno, "Failed to open the count pass program: %m");
		return;
	}
	p->count->rodata->cfg_pidns_ino = p->pidns_ino;
	r = count_bpf__load(p->count);
	if (r >= 0)
		r = count_bpf__attach(p->count);
	if (r < 0) {
		log_info_errno(r, "Counting every process in one pass is not available here (%m): "
				  "reading /proc per process instead.");
		count_bpf__destroy(p->count);
		p->count = NULL;
	}
}

int probe_new(const struct probe_options *o, probe_event_fn on_event, void *userdata,
	      struct probe **ret, enum probe_failure *ret_failure)
{
	DECLARE_LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	_cleanup_close_ int btf_fd = -EBADF;
	char btf_path[64];
	const struct fdw_syscall *sc;
	struct probe *p;
	struct stat ns;
	size_t n;
	int r;

	*ret_failure = PROBE_OK;
	verbose_libbpf = o->verbose;
	libbpf_set_print(libbpf_print);

	*ret_failure = probe_check_machine(o);
	if (*ret_failure != PROBE_OK)
		return -EPERM;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->on_event = on_event;
	p->keepalive = o->keepalive;
	p->userdata = userdata;
	p->batch_ok = true;
	p->backend = o->backend;
	p->syscalls = o->syscalls;
	if (p->syscalls) {
		(void)fdw_syscalls(&n);
		p->sys.n = p->backend == PROBE_BACKEND_RAW ? 1 : (unsigned)n;
		p->sys.links = calloc(p->sys.n, sizeof(*p->sys.links));
		p->sys.missing = calloc(p->sys.n, sizeof(*p->sys.missing));
		if (!p->sys.links || !p->sys.missing) {
			r = -ENOMEM;
			goto fail;
		}
	}

	/* The raw backend's tp_btf program needs the whole kernel BTF anyway. */
	if (!(o->syscalls && o->backend == PROBE_BACKEND_RAW)) {
		btf_fd = min_btf_open();
		if (btf_fd >= 0) {
			snprintf(btf_path, sizeof(btf_path), "/proc/self/fd/%d", btf_fd);
			open_opts.btf_custom_path = btf_path;
		}
	}
	p->skel = fdwatch_bpf__open_opts(&open_opts);
	if (!p->skel) {
		r = -errno;
		*ret_failure = PROBE_FAIL_LOAD;
		log_error_errno(r, "Failed to open the BPF object: %m");
		goto fail;
	}
	sc = fdw_syscalls(&n);
	for (size_t i = 0; i < n; i++) {
		if (sc[i].nr < 0 || sc[i].nr >= FDW_SYSCALL_MAX)
			continue;
		p->skel->rodata->cfg_syscall_action[sc[i].nr] = sc[i].action;
		p->skel->rodata->cfg_syscall_kind[sc[i].nr] = sc[i].kind;
	}
	p->skel->rodata->cfg_ignore_tgid = (__u32)o->ignore_tgid;
	/* In a PID namespace of its own (a container), /proc shows that
	 * namespace's PIDs: have the probe report those. 0xEFFFFFFC is
	 * PROC_PID_INIT_INO, the initial namespace's inode. */
	if (stat("/proc/self/ns/pid", &ns) == 0 && ns.st_ino != 0xEFFFFFFCU) {
		p->skel->rodata->cfg_pidns_dev = ns.st_dev;
		p->skel->rodata->cfg_pidns_ino = ns.st_ino;
		p->pidns_ino = ns.st_ino;
		log_debug("In PID namespace %lu: counting its processes only.",
			  (unsigned long)ns.st_ino);
	}
	bpf_map__set_max_entries(p->skel->maps.procs, o->max_processes ? o->max_processes : 16384);
	bpf_map__set_max_entries(p->skel->maps.events, ringbuf_bytes(o->ringbuf_kib));
	p->skel->rodata->cfg_lifecycle_wakeup_bytes =
	    ringbuf_bytes(o->ringbuf_kib) / FDW_LIFECYCLE_WAKEUP_DIVISOR;
	bpf_program__set_autoload(p->skel->progs.handle_sys_exit,
				  o->syscalls && o->backend == PROBE_BACKEND_TRACEPOINT);
	bpf_program__set_autoload(p->skel->progs.handle_raw_sys_exit,
				  o->syscalls && o->backend == PROBE_BACKEND_RAW);
	probe_sites_size(p, o);

	r = fdwatch_bpf__load(p->skel);
	if (r < 0) {
		*ret_failure = PROBE_FAIL_LOAD;
		log_error_errno(r, "The kernel refused fdwatch's BPF program: %m (run with "
				   "--verbose for the verifier log).");
		goto fail;
	}
	r = probe_attach_lifecycle(p, ret_failure);
	if (r < 0) {
		if (*ret_failure == PROBE_OK)
			*ret_failure = PROBE_FAIL_OTHER;
		goto fail;
	}
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), handle_rb_record, p, NULL);
	if (!p->rb) {
		r = -errno;
		*ret_failure = PROBE_FAIL_OTHER;
		log_error_errno(r, "Failed to set up the ring buffer: %m");
		goto fail;
	}
	probe_count_load(p);
	*ret = p;
	return 0;
fail:
	probe_free(p);
	return r;
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/*
 * Detaching a syscall tracepoint waits for RCU grace periods in the kernel
 * (perf_trace_event_unreg -> tracepoint_synchronize_unregister, under
 * event_mutex): measured here at ~75 ms per link, 3.2 s for 42 links one after
 * the other. On threads of their own the parts outside the mutex overlap:
 * 1.8 s. Meanwhile the keepalive hook runs every 200 ms, so a service
 * manager's watchdog does not take the slow shutdown for a hang.
 */
static void probe_destroy_links(struct probe *p, struct bpf_link **links, unsigned n)
{
	pthread_t *threads = calloc(n, sizeof(*threads));
	bool *started = calloc(n, sizeof(*started));

	for (unsigned i = 0; i < n; i++) {
		if (!links[i])
			continue;
		if (threads && started &&
		    pthread_create(&threads[i], NULL, destroy_link, links[i]) == 0)
			started[i] = true;
		else
			bpf_link__destroy(links[i]); /* no thread: do it here */
	}
	for (unsigned i = 0; threads && started && i < n; i++) {
		if (!started[i])
			continue;
		for (;;) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(threads[i], NULL, &ts) != ETIMEDOUT)
				break;
			if (p->keepalive)
				p->keepalive(p->userdata);
		}
	}
	free(threads);
	free(started);
}

void probe_free(struct probe *p)
{
	struct bpf_link **sys;

	if (!p)
		return;
	ring_buffer__free(p->rb);
	if (p->sys.thread_running) {
		atomic_store(&p->sys.cancel, true);
		probe_join_detach(p);
	}
	sys = calloc(p->sys.n ?: 1, sizeof(*sys));
	for (unsigned i = 0; i < p->sys.n; i++) {
		struct bpf_link *l = atomic_load(&p->sys.links[i]);

		if (sys)
			sys[i] = l;
		else
			bpf_link__destroy(l);
	}
	if (sys)
		probe_destroy_links(p, sys, p->sys.n);
	free(sys);
	probe_destroy_links(p, p->links, p->n_links);
	free(p->links);
	free((void *)p->sys.links);
	free(p->sys.missing);
	census_bpf__destroy(p->census);
	count_bpf__destroy(p->count);
	fdwatch_bpf__destroy(p->skel);
	free(p);
}

int probe_events_fd(const struct probe *p)
{
	return ring_buffer__epoll_fd(p->rb);
}

int probe_consume_events(struct probe *p)
{
	return ring_buffer__consume(p->rb);
}

/* The largest key of a map that map_walk() reads ("procs": __u32, "sites": struct fdw_site_key). */
#define MAP_KEY_MAX 16
_Static_assert(sizeof(__u32) <= MAP_KEY_MAX && sizeof(struct fdw_site_key) <= MAP_KEY_MAX,
	       "MAP_KEY_MAX holds every key map_walk() reads");

/*
 * Every entry of the hash map fd (keys of key_size <= MAP_KEY_MAX, values of value_size bytes) to
 * cb(key, value, userdata): in batches of n through the caller's keys and values buffers (n
 * entries each) while *batch_ok; without batch ops (the kernel refuses the first batch: then
 * *batch_ok is cleared) one syscall pair per entry, skipping entries deleted meanwhile. 0, the
 * first negative return of cb, or -errno.
 */
static int map_walk(int fd, size_t key_size, size_t value_size, void *keys, void *values, __u32 n,
		    bool *batch_ok, int (*cb)(const void *key, const void *value, void *userdata),
		    void *userdata)
{
	_Alignas(8) char in[MAP_KEY_MAX], out[MAP_KEY_MAX], key[MAP_KEY_MAX], next[MAP_KEY_MAX];
	const char *prev = NULL;
	bool first = true;
	int r;

	while (*batch_ok) {
		__u32 count = n;

		r = bpf_map_lookup_batch(fd, first ? NULL : in, out, keys, values, &count, NULL);
		if (r < 0 && r != -ENOENT) {
			if (first && (r == -EINVAL || r == -ENOTSUP || r == -524 /* ENOTSUPP */)) {
				*batch_ok = false;
				break;
			}
			return r;
		}
		for (__u32 i = 0; i < count; i++) {
			int k = cb((const char *)keys + i * key_size,
				   (const char *)values + i * value_size, userdata);

			if (k < 0)
				return k;
		}
		if (r == -ENOENT)
			return 0;
		memcpy(in, out, key_size);
		first = false;
	}
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, values) < 0)
			continue; /* deleted meanwhile */
		r = cb(key, values, userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

struct counts_walk {
	probe_counts_fn cb;
	void *userdata;
};

static int counts_walk_one(const void *key, const void *value, void *userdata)
{
	const struct counts_walk *w = userdata;

	return w->cb(w->userdata, (pid_t) * (const __u32 *)key, value);
}

int probe_read_counts(struct probe *p, probe_counts_fn cb, void *userdata)
{
	struct counts_walk w = {.cb = cb, .userdata = userdata};

	return map_walk(bpf_map__fd(p->skel->maps.procs), sizeof(*p->keys), sizeof(*p->values),
			p->keys, p->values, BATCH, &p->batch_ok, counts_walk_one, &w);
}

int probe_lookup(struct probe *p, pid_t tgid, struct fdw_counts *ret)
{
	__u32 key = (__u32)tgid;

	return bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.procs), &key, ret) < 0 ? -errno : 0;
}

int probe_forget(struct probe *p, pid_t tgid, uint64_t start_boottime)
{
	int fd = bpf_map__fd(p->skel->maps.procs);
	__u32 key = (__u32)tgid;
	struct fdw_counts c;

	if (bpf_map_lookup_elem(fd, &key, &c) < 0)
		return 0;
	if (c.start_boottime != start_boottime)
		return 0; /* a new process has the PID now */
	return bpf_map_delete_elem(fd, &key) < 0 ? -errno : 1;
}

void probe_get_stats(const struct probe *p, struct fdw_stats *ret)
{
	*ret = p->skel->bss->stats;
}

unsigned probe_links(const struct probe *p)
{
	return p->n_links + probe_sys_attached(p);
}

/* ---- creation sites and sockets ---- */

/*
 * 131072 records (24 B of key and value each; the preallocated hash takes
 * 11.0 MiB of locked memory, measured with make bench): a hundred suspects of
 * a thousand fds, or one leaker near a 100,000 limit. 4096 stacks of
 * FDW_STACK_DEPTH frames: 1.1 MiB.
 */
#define SITES_MAX_DEFAULT  131072
#define STACKS_MAX_DEFAULT 4096
#define SITES_BATCH	   1024

static void probe_sites_size(struct probe *p, const struct probe_options *o)
{
	bpf_map__set_max_entries(p->skel->maps.sites, o->max_tracked_fds ?: SITES_MAX_DEFAULT);
	bpf_map__set_max_entries(p->skel->maps.stacks, o->max_stacks ?: STACKS_MAX_DEFAULT);
}

struct sites_walk {
	struct probe *p;
	int (*cb)(struct probe *p, const struct fdw_site_key *k, const struct fdw_site *v,
		  void *ud);
	void *ud;
};

static int sites_walk_one(const void *key, const void *value, void *userdata)
{
	const struct sites_walk *w = userdata;

	return w->cb(w->p, key, value, w->ud);
}

/* Walk "sites" (map_walk()); cb gets each (key, value). */
static int sites_walk(struct probe *p,
		      int (*cb)(struct probe *p, const struct fdw_site_key *k,
				const struct fdw_site *v, void *ud),
		      void *ud)
{
	_cleanup_free_ struct fdw_site_key *keys = calloc(SITES_BATCH, sizeof(*keys));
	_cleanup_free_ struct fdw_site *vals = calloc(SITES_BATCH, sizeof(*vals));
	struct sites_walk w = {.p = p, .cb = cb, .ud = ud};

	if (!keys || !vals)
		return -ENOMEM;
	return map_walk(bpf_map__fd(p->skel->maps.sites), sizeof(*keys), sizeof(*vals), keys, vals,
			SITES_BATCH, &p->batch_ok, sites_walk_one, &w);
}

struct sites_read_ctx {
	__u32 tgid;
	probe_site_fn cb;
	void *userdata;
	struct fdw_site_key *doomed; /* probe_sites_track(off): keys to delete */
	__s32 *doomed_stacks;	     /* ... and their stack ids */
	size_t n_doomed, cap_doomed;
};

static int sites_read_one(struct probe *p, const struct fdw_site_key *k, const struct fdw_site *v,
			  void *ud)
{
	struct sites_read_ctx *c = ud;

	if (k->tgid != c->tgid)
		return 0;
	if (c->cb)
		return c->cb(c->userdata, k->fd, v);
	if (c->n_doomed == c->cap_doomed) {
		size_t cap = c->cap_doomed ? c->cap_doomed * 2 : 256;
		struct fdw_site_key *n = realloc(c->doomed, cap * sizeof(*n));
		__s32 *ns;

		if (!n)
			return -ENOMEM;
		c->doomed = n;
		ns = realloc(c->doomed_stacks, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		c->doomed_stacks = ns;
		c->cap_doomed = cap;
	}
	c->doomed_stacks[c->n_doomed] = v->stack_id;
	c->doomed[c->n_doomed++] = *k;
	return 0;
}

int probe_sites_read(struct probe *p, pid_t tgid, probe_site_fn cb, void *userdata)
{
	struct sites_read_ctx c = {.tgid = (__u32)tgid, .cb = cb, .userdata = userdata};

	return sites_walk(p, sites_read_one, &c);
}

struct stacks_gc {
	__s32 *ids; /* sorted, unique */
	bool *used;
	size_t n;
};

static int cmp_s32(const void *a, const void *b)
{
	const __s32 *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

static int stack_mark_used(struct probe *p, const struct fdw_site_key *k, const struct fdw_site *v,
			   void *ud)
{
	struct stacks_gc *g = ud;
	__s32 *hit = bsearch(&v->stack_id, g->ids, g->n, sizeof(*g->ids), cmp_s32);

	if (hit)
		g->used[hit - g->ids] = true;
	return 0;
}

/*
 * Delete the stacks of forgotten records that no other record uses: the stack map never
 * frees an entry itself, and a full one keeps new stacks out (counted in sites_no_stack).
 */
static void stacks_collect(struct probe *p, __s32 *ids, size_t n)
{
	struct stacks_gc g = {.ids = ids};

	qsort(ids, n, sizeof(*ids), cmp_s32);
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= 0 && (g.n == 0 || ids[g.n - 1] != ids[i]))
			ids[g.n++] = ids[i];
	g.used = calloc(MAX(g.n, (size_t)1), sizeof(*g.used));
	if (!g.used || sites_walk(p, stack_mark_used, &g) < 0) {
		free(g.used);
		return;
	}
	for (size_t i = 0; i < g.n; i++) {
		__u32 key = (__u32)g.ids[i];

		if (!g.used[i])
			bpf_map_delete_elem(bpf_map__fd(p->skel->maps.stacks), &key);
	}
	free(g.used);
}

/* Empty the stack map: no tracked tgid is left to need its stacks. */
static void stacks_clear(struct probe *p)
{
	int fd = bpf_map__fd(p->skel->maps.stacks);
	__u32 key;

	while (bpf_map_get_next_key(fd, NULL, &key) == 0)
		if (bpf_map_delete_elem(fd, &key) < 0)
			break;
}

int probe_sites_track(struct probe *p, pid_t tgid, bool on)
{
	int fd = bpf_map__fd(p->skel->maps.sites_tgids);
	struct sites_read_ctx c = {.tgid = (__u32)tgid};
	__u32 key = (__u32)tgid, k, *prev = NULL, n = 0;
	__u8 one = 1;
	int r = 0;

	if (on) {
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) < 0)
			return errno == E2BIG ? -E2BIG : -errno;
	} else {
		if (bpf_map_delete_elem(fd, &key) < 0 && errno != ENOENT)
			return -errno;
		r = sites_walk(p, sites_read_one, &c);
		for (size_t i = 0; r >= 0 && i < c.n_doomed; i++)
			bpf_map_delete_elem(bpf_map__fd(p->skel->maps.sites), &c.doomed[i]);
		if (r >= 0 && c.n_doomed)
			stacks_collect(p, c.doomed_stacks, c.n_doomed);
		free(c.doomed);
		free(c.doomed_stacks);
	}
	while (bpf_map_get_next_key(fd, prev, &k) == 0) {
		key = k;
		prev = &key;
		n++;
	}
	p->skel->bss->sites_active = n;
	/* After the map changed: each process looks itself up again at its next fd syscall. */
	__atomic_add_fetch(&p->skel->bss->sites_gen, 1, __ATOMIC_SEQ_CST);
	if (n == 0)
		stacks_clear(p);
	return r;
}

int probe_stack(struct probe *p, int32_t stack_id, uint64_t *ips, size_t max)
{
	__u64 frames[FDW_STACK_DEPTH] = {};
	__u32 key = (__u32)stack_id;
	size_t n = 0;

	if (stack_id < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.stacks), &key, frames) < 0)
		return -errno;
	while (n < FDW_STACK_DEPTH && n < max && frames[n]) {
		ips[n] = frames[n];
		n++;
	}
	return (int)n;
}

static int sites_count_one(struct probe *p, const struct fdw_site_key *k, const struct fdw_site *v,
			   void *ud)
{
	(*(uint64_t *)ud)++;
	return 0;
}

int probe_sites_usage(struct probe *p, uint64_t *ret_records, uint64_t *ret_max_records,
		      uint64_t *ret_max_stacks)
{
	*ret_records = 0;
	*ret_max_records = bpf_map__max_entries(p->skel->maps.sites);
	*ret_max_stacks = bpf_map__max_entries(p->skel->maps.stacks);
	return sites_walk(p, sites_count_one, ret_records);
}

bool probe_can_count_all(const struct probe *p)
{
	return p->count;
}

int probe_count_all(struct probe *p, probe_task_count_fn cb, void *userdata)
{
	struct fdw_task_count buf[128];
	size_t have = 0, whole;
	ssize_t k;
	int fd, r = 0;

	if (!p->count)
		return -EOPNOTSUPP;
	fd = bpf_iter_create(p->count->links.count_fds_fd);
	if (fd < 0) {
		r = -errno;
		goto off;
	}
	for (;;) {
		k = read(fd, (char *)buf + have, sizeof(buf) - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		/* A read may end inside a record: hand on the whole ones, keep the rest. */
		have += (size_t)k;
		whole = have / sizeof(buf[0]);
		for (size_t i = 0; i < whole; i++)
			cb(userdata, &buf[i]);
		have -= whole * sizeof(buf[0]);
		memmove(buf, (char *)buf + whole * sizeof(buf[0]), have);
	}
	close(fd);
	if (r >= 0)
		return 0;
off:
	log_warning_errno(r, "A count pass failed, reading /proc per process from now on: %m");
	count_bpf__destroy(p->count);
	p->count = NULL;
	return r;
}

/*
 * The census programs, loaded the first time they are needed: a machine where nothing is a
 * suspect never needs them. A failure is kept and returned from then on.
 */
static int probe_census(struct probe *p)
{
	uint64_t t0;
	int r;

	if (p->census)
		return 0;
	if (p->census_error)
		return p->census_error;
	t0 = now_boottime_ns();
	p->census = census_bpf__open();
	if (!p->census) {
		p->census_error = -errno;
		return log_warning_errno(p->census_error, "Failed to open the census programs: %m");
	}
	p->census->rodata->cfg_pidns_ino = p->pidns_ino;
	r = census_bpf__load(p->census);
	if (r < 0) {
		census_bpf__destroy(p->census);
		p->census = NULL;
		p->census_error = r;
		return log_warning_errno(r,
					 "The kernel refused the census programs: %m (sockets and "
					 "pipe holders are left out of censuses).");
	}
	log_debug("Census programs loaded in %.1f ms.", (double)(now_boottime_ns() - t0) / 1e6);
	return 0;
}

int probe_sockets(struct probe *p, pid_t tgid, struct fdw_sock **ret, size_t *ret_n)
{
	union bpf_iter_link_info info = {};
	DECLARE_LIBBPF_OPTS(bpf_link_create_opts, opts, .iter_info = &info,
			    .iter_info_len = sizeof(info));
	_cleanup_free_ struct fdw_sock *v = NULL;
	_cleanup_close_ int iter_fd = -EBADF, link = -EBADF;
	size_t n = 0, cap = 0, have = 0;
	int r = 0;

	/* One task, not the process: its threads share the fd table. */
	info.task.tid = (__u32)tgid;
	r = probe_census(p);
	if (r < 0)
		return r;
	link = bpf_link_create(p->census->progs.dump_sockets.prog_fd, 0, BPF_TRACE_ITER, &opts);
	if (link < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	iter_fd = bpf_iter_create(link);
	if (iter_fd < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t k;

		if (cap - have < sizeof(struct fdw_sock) * 16) {
			size_t ncap = cap ? cap * 2 : sizeof(struct fdw_sock) * 64;
			struct fdw_sock *nv = realloc(v, ncap);

			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		k = read(iter_fd, (char *)v + have, cap - have);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		have += (size_t)k;
	}
	n = have / sizeof(struct fdw_sock);
	*ret = TAKE_PTR(v);
	*ret_n = n;
out:
	return r;
}

/* Run an iterator program to its end (it writes nothing we need). */
static int run_iter(int prog_fd)
{
	_cleanup_close_ int link = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, NULL);
	char buf[256];
	int fd, r = 0;

	if (link < 0)
		return -errno;
	fd = bpf_iter_create(link);
	if (fd < 0)
		r = -errno;
	while (fd >= 0) {
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		if (k <= 0)
			break;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int probe_pipe_holders(struct probe *p, pid_t tgid, const uint64_t *inos, size_t n,
		       uint32_t *ret_holders)
{
	size_t done = 0;
	int fd, r;

	r = probe_census(p);
	if (r < 0)
		return r;
	fd = p->census->maps.pipe_holders.map_fd;
	if (n > FDW_CENSUS_PIPES)
		return -E2BIG;
	memset(ret_holders, 0, n * sizeof(*ret_holders));
	for (; done < n; done++)
		if (bpf_map_update_elem(fd, &inos[done], &ret_holders[done], BPF_ANY) < 0) {
			r = -errno;
			break;
		}
	if (r >= 0) {
		p->census->bss->census_tgid = (__u32)tgid;
		r = run_iter(p->census->progs.find_pipe_holders.prog_fd);
	}
	for (size_t i = 0; i < done; i++) {
		if (r >= 0 && bpf_map_lookup_elem(fd, &inos[i], &ret_holders[i]) < 0)
			r = -errno;
		bpf_map_delete_elem(fd, &inos[i]);
	}
	return r;
}
