// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* attribution.c - census and creation sites of suspects (attribution.h). */
#include <signal.h>
#include <uthash.h>

#include "attribution.h"
#include "log.h"
#include "probe.h"
#include "proc.h"
#include "symbolize.h"
#include "util.h"

/* 16 ELF files: an app, libc and a few libraries per suspect; ~1 MiB of symbols each at most. */
#define SYMBOL_FILES 16
/* Frames symbolized per site; the alert shows fewer. */
#define FRAMES_MAX 12
/*
 * Stacks symbolized per census, most fds first: code without frame pointers makes a stack
 * per fd (the unwinder follows garbage), and these merge once cut where the chain ends.
 * 512 x 12 frames: ~6,000 lookups, a few ms.
 */
#define SYMBOLIZE_MAX 512

struct attr_proc {
	pid_t pid;
	uint64_t start_ticks;
	bool tracking;
	struct census *census;
	struct sites_report sites;
	uint64_t taken_ns; /* CLOCK_BOOTTIME of the latest census */
	UT_hash_handle hh;
};

struct attribution {
	char *root;
	struct symbolizer *sym;
	struct attr_proc *procs;
	struct attr_proc *ondemand; /* the latest report of a process that is no suspect */
	uint64_t last_prune_ns;
	struct attribution_stats stats;
};

int attribution_new(const char *root, struct attribution **ret)
{
	struct attribution *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->root = strdup(root);
	if (!a->root || symbolizer_new(root, SYMBOL_FILES, &a->sym) < 0) {
		attribution_free(a);
		return -ENOMEM;
	}
	*ret = a;
	return 0;
}

static void attr_proc_free(struct attr_proc *ap)
{
	census_free(ap->census);
	sites_report_done(&ap->sites);
	free(ap);
}

/* Stop recording ap's creations (if it was) and forget it. */
static void attr_drop(struct attribution *a, struct probe *p, struct attr_proc *ap)
{
	if (ap->tracking && p) {
		probe_sites_track(p, ap->pid, false);
		a->stats.tracked_now--;
	}
	HASH_DEL(a->procs, ap);
	attr_proc_free(ap);
}

void attribution_free(struct attribution *a)
{
	struct attr_proc *ap, *tmp;

	if (!a)
		return;
	HASH_ITER(hh, a->procs, ap, tmp)
	{
		HASH_DEL(a->procs, ap);
		attr_proc_free(ap);
	}
	if (a->ondemand)
		attr_proc_free(a->ondemand);
	symbolizer_free(a->sym);
	free(a->root);
	free(a);
}

void attribution_get_stats(const struct attribution *a, struct attribution_stats *ret)
{
	*ret = a->stats;
}

struct recs_ctx {
	struct site_record *v;
	size_t n, cap;
};

static int collect_record(void *userdata, int fd, const struct fdw_site *site)
{
	struct recs_ctx *c = userdata;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct site_record *nv = realloc(c->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = (struct site_record){.fd = fd,
					    .ts_ns = site->ts_ns,
					    .syscall_nr = site->syscall_nr,
					    .stack_id = site->stack_id};
	return 0;
}

/* Name the frames of the top sites. Failures leave a site without frames. */
static int symbolize_sites(struct attribution *a, struct probe *p, pid_t pid,
			   struct sites_report *s)
{
	bool loaded = false;

	for (size_t i = 0; i < s->n && i < SYMBOLIZE_MAX; i++) {
		uint64_t ips[FDW_STACK_DEPTH];
		int n;

		if (s->v[i].stack_id < 0)
			continue;
		n = probe_stack(p, s->v[i].stack_id, ips, FRAMES_MAX);
		if (n <= 0)
			continue;
		if (!loaded) {
			if (symbolizer_load(a->sym, pid) < 0)
				return 0; /* gone: the frames stay unnamed */
			loaded = true;
		}
		s->v[i].frames = calloc((size_t)n, sizeof(char *));
		if (!s->v[i].frames)
			return -ENOMEM;
		for (int j = 0; j < n; j++) {
			struct sym_frame f;
			char buf[512];

			symbolizer_resolve(a->sym, ips[j], j > 0, &f);
			/* The frame-pointer chain ends here: say so, show nothing made up. */
			s->v[i].frames[j] =
			    strdup(f.bogus ? "(no frame pointer: the stack ends here)"
					   : sym_frame_format(&f, buf, sizeof(buf)));
			if (!s->v[i].frames[j])
				return -ENOMEM;
			s->v[i].n_frames++;
			if (f.bogus)
				break;
		}
	}
	return 0;
}

struct holders_ctx {
	struct probe *probe;
	pid_t pid;
};

static int pipe_holders(void *userdata, const uint64_t *inos, size_t n, uint32_t *holders)
{
	struct holders_ctx *h = userdata;

	return probe_pipe_holders(h->probe, h->pid, inos, n, holders);
}

/* Take ap's census and sites now. */
static int attr_take(struct attribution *a, struct probe *p, struct attr_proc *ap, uint64_t now_ns)
{
	_cleanup_free_ struct census_fd_time *times = NULL;
	_cleanup_free_ struct fdw_sock *socks = NULL;
	struct recs_ctx recs = {};
	struct census_input in = {.root = a->root, .pid = ap->pid};
	struct sites_report sites = {};
	struct holders_ctx hctx = {.probe = p, .pid = ap->pid};
	struct census *c = NULL;
	uint64_t real = now_realtime_ns();
	size_t n_socks = 0;
	int r;

	/* Creation records first: they give the census the ages the kernel does not keep. */
	if (p && ap->tracking) {
		r = probe_sites_read(p, ap->pid, collect_record, &recs);
		if (r == -ENOMEM)
			goto out;
	}
	if (recs.n) {
		times = calloc(recs.n, sizeof(*times));
		if (!times) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < recs.n; i++)
			times[i] = (struct census_fd_time){
			    .fd = recs.v[i].fd, .realtime_ns = recs.v[i].ts_ns + (real - now_ns)};
	}
	if (p && probe_sockets(p, ap->pid, &socks, &n_socks) < 0)
		n_socks = 0; /* sockets then show without details */
	in.now_realtime_ns = real;
	in.socks = socks;
	in.n_socks = n_socks;
	in.times = times;
	in.n_times = recs.n;
	if (p) {
		in.pipe_holders = pipe_holders;
		in.userdata = &hctx;
	}
	r = census_take(&in, &c);
	if (r < 0) {
		a->stats.census_failed++;
		goto out;
	}
	a->stats.censuses++;
	r = sites_aggregate(recs.v, recs.n, c->open_fds, c->n_open_fds, &sites);
	if (r >= 0 && p)
		r = symbolize_sites(a, p, ap->pid, &sites);
	if (r >= 0)
		r = sites_merge(&sites);
	if (r < 0) {
		census_free(c);
		sites_report_done(&sites);
		goto out;
	}
	census_free(ap->census);
	sites_report_done(&ap->sites);
	ap->census = c;
	ap->sites = sites;
	ap->taken_ns = now_ns;
	r = 0;
out:
	free(recs.v);
	return r;
}

/* Once a second: forget processes that are gone (their exit is not always assessed). */
static void attr_prune(struct attribution *a, struct probe *p, uint64_t now_ns)
{
	struct attr_proc *ap, *tmp;

	if (now_ns - a->last_prune_ns < NSEC_PER_SEC)
		return;
	a->last_prune_ns = now_ns;
	HASH_ITER(hh, a->procs, ap, tmp)
	{
		struct proc_stat st;

		if (proc_read_stat(a->root, ap->pid, &st) < 0 || st.start_ticks != ap->start_ticks)
			attr_drop(a, p, ap);
	}
}

static struct attr_proc *attr_get(struct attribution *a, struct probe *p,
				  const struct proc_entry *e, bool create)
{
	struct attr_proc *ap;

	HASH_FIND(hh, a->procs, &e->pid, sizeof(e->pid), ap);
	if (ap && ap->start_ticks != e->start_ticks) {
		attr_drop(a, p, ap); /* the PID is another process's now */
		ap = NULL;
	}
	if (ap || !create)
		return ap;
	ap = calloc(1, sizeof(*ap));
	if (!ap)
		return NULL;
	ap->pid = e->pid;
	ap->start_ticks = e->start_ticks;
	HASH_ADD(hh, a->procs, pid, sizeof(ap->pid), ap);
	return ap;
}

/*
 * Rising: at least RISE_FDS more open fds than at some point of the latest RISE_WINDOW_NS,
 * gained in at least RISE_STEPS of its samples. Recording starts then, before the detector
 * calls it growing: a leak of a few fds a second goes from ok to leaking in one verdict
 * (LeakMinSec of sustained growth), and its first alert should already name the code. The
 * steps keep out a process that opens its fds once at start-up (one step); a pool filling up
 * is recorded a while, which costs it a stack walk per creation (~1 us), nothing else.
 */
#define RISE_FDS       8
#define RISE_STEPS     3
#define RISE_WINDOW_NS (10 * NSEC_PER_SEC)

static bool rising(const struct proc_entry *e, uint64_t now_ns)
{
	uint64_t lo = e->fds, next = e->fds;
	unsigned steps = 0;

	for (unsigned i = 0; i < e->history_len; i++) {
		const struct proc_point *pt =
		    &e->history[(e->history_head + e->history_len - 1 - i) % PROC_HISTORY];

		if (now_ns - pt->t_ns > RISE_WINDOW_NS)
			break;
		steps += next > pt->fds;
		next = pt->fds;
		lo = MIN(lo, pt->fds);
	}
	return e->fds >= lo + RISE_FDS && steps >= RISE_STEPS;
}

int attribution_step(struct attribution *a, struct probe *p, const struct proc_entry *e,
		     uint64_t now_ns)
{
	bool suspect = !e->exited && !e->ignored &&
		       (e->verdict.state >= FDW_STATE_GROWING || rising(e, now_ns));
	bool leaking = suspect && e->verdict.state >= FDW_STATE_LEAKING;
	struct attr_proc *ap;
	int r;

	attr_prune(a, p, now_ns);
	ap = attr_get(a, p, e, suspect);
	if (!ap)
		return suspect ? -ENOMEM : 0;
	if (!suspect) {
		attr_drop(a, p, ap); /* recovered or gone */
		return 0;
	}
	if (p && !ap->tracking) {
		r = probe_sites_track(p, e->pid, true);
		if (r >= 0) {
			ap->tracking = true;
			a->stats.tracked_now++;
		} else {
			a->stats.track_refused += r == -E2BIG;
			log_debug_errno(r, "Not recording %s[%d]'s fd creations: %m", e->comm,
					e->pid);
		}
	}
	if (leaking && (!ap->census || now_ns - ap->taken_ns >= ATTRIBUTION_REFRESH_NS)) {
		r = attr_take(a, p, ap, now_ns);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			log_debug_errno(r, "No census of %s[%d]: %m", e->comm, e->pid);
	}
	return 0;
}

int attribution_report(struct attribution *a, struct probe *p, const struct proc_entry *e,
		       uint64_t now_ns, uint64_t max_age_ns, struct attribution_view *ret)
{
	struct attr_proc *ap = attr_get(a, p, e, false);
	int r;

	if (!ap) {
		/* Not a suspect: one slot serves on-demand reports, so they hold no memory
		 * beyond the latest. */
		ap = a->ondemand;
		if (ap && (ap->pid != e->pid || ap->start_ticks != e->start_ticks)) {
			attr_proc_free(ap);
			ap = a->ondemand = NULL;
		}
		if (!ap) {
			ap = a->ondemand = calloc(1, sizeof(*ap));
			if (!ap)
				return -ENOMEM;
			ap->pid = e->pid;
			ap->start_ticks = e->start_ticks;
		}
	}
	if (!ap->census || now_ns - ap->taken_ns >= max_age_ns) {
		r = attr_take(a, p, ap, now_ns);
		if (r < 0)
			return r;
	}
	*ret = (struct attribution_view){
	    .census = ap->census, .sites = &ap->sites, .tracking = ap->tracking};
	return 0;
}

void attribution_top(struct attribution *a, const struct proc_entry *e, uint64_t now_ns,
		     char *target, size_t target_size, char *site, size_t site_size)
{
	struct attr_proc *ap;

	target[0] = site[0] = '\0';
	HASH_FIND(hh, a->procs, &e->pid, sizeof(e->pid), ap);
	if (!ap || ap->start_ticks != e->start_ticks)
		return;
	if (ap->census && ap->census->n_groups)
		(void)census_group_describe(&ap->census->groups[0], now_realtime_ns(), target,
					    target_size);
	/* Three frames: the syscall's wrapper and the two callers that name the code. */
	if (ap->sites.n)
		(void)site_describe(&ap->sites.v[0], now_ns, 3, site, site_size);
}
