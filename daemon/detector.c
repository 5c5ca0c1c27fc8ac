// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * detector.c - per-process samples in, verdict out (README "How it works").
 *
 * The model, in the order detector_feed() applies it:
 *
 * History. Every sample becomes a point (time, open fds, the cumulative
 * counters). Points go into three rings of RING_POINTS each: level 0 keeps
 * every sample; levels 1 and 2 keep one point per LEVEL1_SPACING_NS and per
 * window_sec / (RING_POINTS - 2), each the average of the samples in that
 * time bucket, so the history reaches back window_sec at a resolution that
 * coarsens with age and the noise of a busy process averages out. A process
 * whose samples never changed has no rings at all (most processes are idle;
 * an active one costs ~15 KiB).
 *
 * Windows. The question "is it leaking" is asked of windows ending now,
 * MIN_SPAN_SEC long and then LADDER_STEP times longer each, up to window_sec,
 * each read from the finest level that reaches back that far. A window shows
 * a leak when all of these hold:
 *  - least-squares growth over the window (slope x span) and the rise above
 *    the window's lowest count both reach min_growth, with R^2 >= R2_MIN;
 *  - the growth stands out of the noise: it is NOISE_SIGMAS times the noise
 *    of the window's level (level_noise());
 *  - it does not level off: the slope within the last of 3-4 time segments is
 *    at least RECENT_MIN of the window's;
 *  - it lasted long enough: the span reaches leak_min_sec, or less for a
 *    clean leak (monotone, straight, even, rising past the recent noise) that
 *    is fast or close to EMFILE: see leak_required_sec().
 * The verdict comes from the leaking window with the steepest slope (the most
 * pessimistic ETA among windows that each pass every test on their own);
 * window_describe() names its pattern and kinds, from counters only where
 * the probe counted the whole window (a leak is found from the counts alone).
 *
 * Rhythm. A release (the count gives back at least half of what it gained
 * since its trough) closes any episode at once and makes the process one with
 * cycles: a ramp within what its cycles reached is not a leak; troughs that
 * rise cycle after cycle are one (rhythm_trend()).
 *
 * States. EXHAUSTED when the EMFILE/ENFILE counters rose; CRITICAL when
 * leaking with ETA < critical_eta_sec, or leaking near the limit
 * (detect_near_limit()); LEAKING per the windows or the troughs, or flat near
 * the limit (a warning without ETA); GROWING when the count rose by
 * min_growth within leak_min_sec along a fit. The reported state is the
 * highest state seen within the last cooldown_sec: it rises at once and falls
 * only after cooldown_sec of lower conditions, or at once on a release. Every
 * fall below LEAKING after LEAKING or above is a recovery, once per episode.
 *
 * Every constant below was set with the synthetic workloads of
 * tests/test-detector.c (the benign and leaking patterns of
 * tests/workloads/, noise sweeps); FDW_TEST_VERBOSE=1 prints what it sees.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"
#include "util.h"

/*
 * 48 points a level: level 0 then covers 47 s at 1 s ticks (every fast-path
 * window), level 1 at 5 s covers 4 min (windows around leak_min_sec get 12+
 * points), level 2 at window_sec/46 covers the whole window. Three levels of
 * 48 points of 104 bytes: 15 KiB for a process that ever changed.
 */
#define RING_POINTS	  48
#define LEVELS		  3
#define LEVEL1_SPACING_NS (5 * NSEC_PER_SEC)

/*
 * Shortest window: a burst shorter than 1 s (benign.c "plateau": 500 fds in
 * 1 s; "burst": 200 in 0.5 s) touches at most two 1 s tick intervals, so a
 * window of three intervals always shows it levelling off or starting flat.
 */
#define MIN_SPAN_SEC 3.0
/* 1.25: ~30 windows from 3 s to 30 min; one tick apart at the short end. */
#define LADDER_STEP 1.25
/*
 * Points a window needs: 4 (3 intervals) for a fast, clean leak; 8 for the
 * rest, which also makes 4 segments of 2+ points (fewer points: 3 segments).
 * A slow window spans leak_min_sec, 12+ points at level 1, so 8 bites only on
 * level 2 right after its start, where few averaged points under-measure the
 * noise.
 */
#define MIN_POINTS_FAST 4
#define MIN_POINTS_SLOW 8
/*
 * 0.8: the 1 fd/min staircase fits at > 0.99 on level 2, the 2 fd/s leak
 * under 0..20 fds of noise at ~0.97 over 60 s. At 0.5 the irregular +10 fd
 * steps of the stepwise test are called on too few steps (rate off by 30%),
 * and +-60 fds of noise at 250 ms ticks passes for a leak.
 */
#define R2_MIN 0.8
/*
 * A clean (fast-path) leak is straight: the origin story fits at 0.999, and
 * its segment steps differ by 1.5x at most (3 segments of 1, 1 and 2 points:
 * a mean over two samples sits half a step later). A start-up jump followed
 * by noise has one big step and small ones.
 */
#define R2_CLEAN      0.9
#define FAST_EVEN_MIN 0.5
/*
 * The last segment's slope at least half the window's: a warm-up that
 * approaches its bound (1 - e^(-t/tau)) has a quarter of its average slope in
 * the last quarter of a 2 tau window; a steady leak with noise keeps ~1.
 */
#define RECENT_MIN 0.5
/*
 * A fast-path window must rise by more than twice the largest drop of the
 * last leak_min_sec: noise of range R cannot rise by more than R, while a leak
 * next to balanced churn (no drops at tick level) can. 1 would do for noise
 * whose range was seen; 2 leaves room for a range not yet seen. Without it,
 * the 250 ms-tick run of the benign workloads calls noise a leak.
 */
#define NOISE_FACTOR 2
/*
 * Every window must rise by 8 standard deviations of its level's noise
 * (level_noise()). Without it, noise of +-60 fds averaged into 39 s points
 * (sigma ~5) fakes min_growth on some 9-point window in about 1% of 30 min
 * runs; with 4 the noise-sweep test still fails; with 8, 1600 runs of 30 min
 * (400 seeds x +-5/20/60/200 fds) show no false leak, and 300 seeds of a
 * 2 fd/s leak under noise are all still called within 60 s.
 */
#define NOISE_SIGMAS 8.0
/*
 * Fast path: a clean leak is called after ETA^2 / FAST_ETA_SCALE_SEC seconds
 * (at least MIN_SPAN_SEC, at most leak_min_sec): watching takes ETA/400 of
 * the time left. The two cases that set it: the origin story (20 fd/s, limit
 * 1024) has ETA ~45 s when 5-6 s old and must be called then (needs <= 5 s);
 * benign.c's sawtooth (10 fd/s for 10 s, then closes all) has ETA >= 74 s even
 * at 12 fd/s and must not be (needs > 10 s: 74^2/400 = 13.7 s). Above ETA =
 * sqrt(400 * 60) = 155 s the full leak_min_sec applies.
 */
#define FAST_ETA_SCALE_SEC 400.0
/*
 * ... or after FAST_VOLUME_FDS / rate seconds: a clean leak that gains 4096
 * fds (4x the common 1024 soft limit, 8x the largest start-up burst of the
 * benign workloads) is not start-up, whatever the limit. A 10k fd/s leak
 * under a 1M limit is thus called after MIN_SPAN_SEC.
 */
#define FAST_VOLUME_FDS 4096.0
/* Window spans are compared with 5% slack: ticks jitter by a few ms. */
#define SPAN_SLACK 0.95

/*
 * Retry loop: at least 5 attempts in the window, gaps with a coefficient of
 * variation <= 0.35 (a sleep-paced loop measures ~0.01; a shell loop that
 * forks sleep(1) every 0.2 s measured 0.008 idle and 0.10 with three CPU hogs
 * on 2 vCPUs (its longest gap 0.36 s); one fd at a random moment of each 1 s
 * slot has 0.41; requests arriving at random measure ~1), judged per interval
 * so that stalls do not count (window_cadence()), and each segment's net gain
 * per attempt within 25% of the window's (one attempt split by a tick edge
 * moves a 1 s segment of a 10/s loop by 10%). What an attempt closes of its own is no matter: a
 * subprocess with a pipe creates 4 pipe fds and closes 3; what counts is the
 * net gain that is never given back.
 */
#define RETRY_MIN_ATTEMPTS 5
#define RETRY_MAX_CV	   0.35
/* Per interval: a CV from 3+ gaps, 4+ such intervals (see window_cadence()). */
#define RETRY_INTERVAL_GAPS  3
#define RETRY_MIN_INTERVALS  4
#define RETRY_GAIN_TOLERANCE 0.25
/*
 * Growing (a notice at most, but what the API shows): the count rose by
 * min_growth within leak_min_sec, along a fit that explains at least half of
 * its variance, by more than NOISE_FACTOR times its largest drop, over
 * MIN_POINTS_SLOW samples at least (two samples are a step, not growth). A churner
 * whose count hops between its base and a batch in flight has a flat fit
 * (R^2 ~0) and drops as far as it rises, however high the hops reach.
 */
#define R2_GROWING 0.5
/*
 * Rhythm. A release gives back at least half of what the ramp since the
 * latest trough gained (and min_growth): a sawtooth that closes everything
 * gives back all of it, noise around a leak under way gives back a few fds of
 * hundreds gained. A cycle counts for the trend of the troughs when its ramp
 * rose over 3+ samples spanning MIN_SPAN_SEC (noise that hops every 0.5 s does
 * not ramp for 3 s); a leak under a GC needs 4 troughs in a row, each higher
 * than the one before, min_growth higher in all. The claim lapses when no
 * release comes for TROUGH_LAPSE_PERIODS of its period.
 */
#define RELEASE_SHARE	     0.5
#define CYCLES_KEPT	     8
#define RAMP_MIN_UPS	     3
#define TROUGH_MIN_CYCLES    4
#define TROUGH_LAPSE_PERIODS 3.0
/* Confidence: 0.9 on the 4 troughs it takes, 1 from 5 on. */
#define TROUGH_CONFIDENCE_PER_CYCLE 0.1
#define TROUGH_CONFIDENCE_BASE	    0.5
/*
 * A cycle may swing 1.5 times the largest swing seen before it: batches vary
 * in size (a GC runs when a heap threshold is crossed, not at a fixed count);
 * a new leak rising from a trough is called once it passes that.
 */
#define RHYTHM_SLACK 1.5
/* Stepwise: fewer than half the tick intervals grew, by 2+ fds per step on average. */
#define STEP_UP_SHARE 0.5
#define STEP_MIN_SIZE 2.0
/* A kind counts as involved with at least 10% of the main kind's creations. */
#define KIND_SHARE 0.1
/* near_limit_fds is capped at 1/16 of the soft limit, so a small limit (64) is not all "near". */
#define NEAR_LIMIT_DIVISOR 16

#define CLAMP(x, lo, hi) ((x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))

/*
 * One sample as kept in the history. Counters keep their low 32 bits: a
 * window's deltas are taken modulo 2^32, exact while a window sees fewer than
 * 4e9 events (5 days of 10k/s; windows last at most window_sec). fds fits in
 * 32 bits because fs.nr_open is at most 2^30.
 */
struct point {
	uint64_t t_ns;
	uint64_t gap_sum_us;
	uint64_t gap_sq_us;
	uint32_t fds;
	uint32_t closed;
	uint32_t bursts;
	uint32_t up_ticks; /* sample intervals in which fds rose, since the history started */
	uint32_t ticks;	   /* sample intervals since the history started */
	uint32_t created[FDW_KIND_MAX];
	bool counted; /* the probe counted the interval that ended here (all of it, averaged) */
};

struct ring {
	struct point p[RING_POINTS];
	unsigned head; /* next slot to write */
	unsigned n;
	/*
	 * Levels 1 and 2: the samples of the current time bucket (t / spacing),
	 * averaged into partial, which becomes the next point when the bucket
	 * ends. Averaging (not picking one sample) shrinks the noise of a busy
	 * process by the square root of the samples per bucket, so noise cannot
	 * fake min_growth on the long windows.
	 */
	uint64_t bucket;
	uint64_t acc_t0_ns;
	double acc_dt_ns, acc_fds;
	unsigned acc_n;
	unsigned bucket_n;    /* samples in the latest complete bucket */
	struct point partial; /* average so far; counters of the latest sample */
};

struct history {
	struct ring level[LEVELS];
};

/* What a leak looked like: kept while the state stays up after the leak itself stops. */
struct leak_desc {
	enum fdw_pattern pattern;
	uint32_t kinds;
	enum fdw_kind main_kind;
	double period_sec;
	double per_attempt;
	double confidence;
	uint64_t closed_recent;
	bool counted;
};

/* One cycle of a process that gives back what it took. */
struct cycle {
	uint64_t t_ns;	 /* when the release was seen */
	uint32_t trough; /* the low before the ramp */
	uint32_t peak;	 /* the ramp's top */
	bool ramp;	 /* a ramp (RAMP_MIN_UPS samples over MIN_SPAN_SEC), not a hop */
};

/* The process's own rhythm: its releases and the trend of their troughs. */
struct rhythm {
	uint32_t lo, hi;       /* the current trough, the top of the ramp since */
	uint64_t lo_ns, hi_ns; /* when each was reached */
	uint32_t ups;	       /* samples that set a new top since lo */
	struct cycle c[CYCLES_KEPT];
	unsigned n; /* cycles seen; the latest CYCLES_KEPT are kept */
	uint32_t max_peak, max_amp;
	uint64_t last_ns;	/* the latest release of a ramp */
	bool rising;		/* the troughs rise: a leak under a GC */
	unsigned rising_cycles; /* troughs in the rising run */
	double rise, period;	/* per cycle; seconds between cycles */
};

struct detector {
	bool have_last;
	struct detect_sample last;
	struct point first_point; /* the first sample, pushed when the history starts */
	struct point last_point;
	struct history *h;	  /* NULL until something changed (reset keeps the memory) */
	bool started;		  /* h holds the history */
	uint32_t ticks, up_ticks; /* see struct point */

	bool seen[FDW_STATE_MAX];
	uint64_t seen_ns[FDW_STATE_MAX]; /* when each raw state last held */
	bool episode;			 /* state reached leaking since it was last below */
	int fail_err;			 /* EMFILE or ENFILE of the latest failure */
	bool has_leak;
	struct leak_desc leak;
	struct rhythm rhythm;
};

/* A window: pointers into one ring, oldest first, the current point last. */
struct window {
	const struct point *p[RING_POINTS + 1];
	size_t n;
	int level;
};

struct fit {
	double span;  /* s */
	double slope; /* fds/s */
	double r2;
	double rise; /* slope x span */
	uint32_t min_fds;
	bool monotone;
	bool recent;
	double evenness; /* smallest segment step / largest */
};

static const char *const state_names[FDW_STATE_MAX] = {
    [FDW_STATE_OK] = "ok",
    [FDW_STATE_GROWING] = "growing",
    [FDW_STATE_LEAKING] = "leaking",
    [FDW_STATE_CRITICAL] = "critical",
    [FDW_STATE_EXHAUSTED] = "exhausted",
};

static const char *const pattern_names[FDW_PATTERN_MAX] = {
    [FDW_PATTERN_NONE] = "none",	 [FDW_PATTERN_LINEAR] = "linear",
    [FDW_PATTERN_STEPWISE] = "stepwise", [FDW_PATTERN_RETRY_LOOP] = "retry-loop",
    [FDW_PATTERN_AT_LIMIT] = "at-limit", [FDW_PATTERN_RISING_TROUGHS] = "rising-troughs",
};

static const char *const kind_names[FDW_KIND_MAX] = {
    [FDW_KIND_FILE] = "file",	      [FDW_KIND_PIPE] = "pipe",
    [FDW_KIND_SOCKET] = "socket",     [FDW_KIND_DUP] = "dup",
    [FDW_KIND_EVENTFD] = "eventfd",   [FDW_KIND_EPOLL] = "epoll",
    [FDW_KIND_SIGNALFD] = "signalfd", [FDW_KIND_TIMERFD] = "timerfd",
    [FDW_KIND_INOTIFY] = "inotify",   [FDW_KIND_FANOTIFY] = "fanotify",
    [FDW_KIND_MEMFD] = "memfd",	      [FDW_KIND_PIDFD] = "pidfd",
    [FDW_KIND_IO_URING] = "io_uring", [FDW_KIND_OTHER] = "other",
};

const char *fdw_state_to_string(enum fdw_state s)
{
	return (unsigned)s < FDW_STATE_MAX ? state_names[s] : NULL;
}

const char *fdw_pattern_to_string(enum fdw_pattern p)
{
	return (unsigned)p < FDW_PATTERN_MAX ? pattern_names[p] : NULL;
}

const char *fdw_kind_to_string(enum fdw_kind k)
{
	return (unsigned)k < FDW_KIND_MAX ? kind_names[k] : NULL;
}

static int lookup(const char *const *names, int n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (streq(names[i], s))
			return i;
	return -EINVAL;
}

int fdw_state_from_string(const char *s, enum fdw_state *ret)
{
	int i = lookup(state_names, FDW_STATE_MAX, s);

	if (i < 0)
		return i;
	*ret = i;
	return 0;
}

int fdw_pattern_from_string(const char *s, enum fdw_pattern *ret)
{
	int i = lookup(pattern_names, FDW_PATTERN_MAX, s);

	if (i < 0)
		return i;
	*ret = i;
	return 0;
}

int fdw_kind_from_string(const char *s, enum fdw_kind *ret)
{
	int i = lookup(kind_names, FDW_KIND_MAX, s);

	if (i < 0)
		return i;
	*ret = i;
	return 0;
}

void detect_config_init(struct detect_config *c)
{
	*c = (struct detect_config){
	    /*
	     * 16 fds: more than a daemon opens lazily after start-up (a log
	     * file, a few sockets, epoll/timerfd/signalfd), few enough that a
	     * 1 fd/min leak is called in ~16 min, inside the 30 min target.
	     */
	    .min_growth = 16,
	    /*
	     * 60 s: the 1 fd/s leak must be called within 90 s; 60 s of
	     * history leaves 30 s for the process to be first seen and for
	     * a tick or two of jitter. Clean leaks near EMFILE go sooner.
	     */
	    .leak_min_sec = 60,
	    /*
	     * 1 min: about what a paged person needs to open a shell on the
	     * host and restart the service. With more left, a warning
	     * (leaking) still leaves time to act; a leak with an hour left
	     * must not page like one with seconds left.
	     */
	    .critical_eta_sec = 60,
	    .critical_percent = 90,
	    /*
	     * 16 fds: one request of a typical server takes 2-6 fds (a
	     * socket, a file, a pipe pair for a child); 16 left is room for
	     * only a few of them. Capped at 1/16 of the limit (see above).
	     */
	    .near_limit_fds = 16,
	    /*
	     * 60 s: outlasts the pauses of a retry loop with back-off and a
	     * stepwise leak's quiet stretches at the leak_min_sec scale, so
	     * one episode gives one alert and one recovery.
	     */
	    .cooldown_sec = 60,
	    /* 30 min: a 1 fd/min leak needs ~16-20 min of it (min_growth). */
	    .window_sec = 1800,
	};
}

int detector_new(struct detector **ret)
{
	struct detector *d;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

void detector_free(struct detector *d)
{
	if (!d)
		return;
	free(d->h);
	free(d);
}

void detector_reset(struct detector *d)
{
	struct history *h;

	if (!d)
		return;
	/* Keep the rings' memory: a reused PID is likely as busy as the old one. */
	h = d->h;
	*d = (struct detector){};
	if (h)
		memset(h, 0, sizeof(*h));
	d->h = h;
}

bool detect_near_limit(const struct detect_config *c, uint64_t fds, uint64_t soft_limit)
{
	if (!fd_limit_is_finite(soft_limit))
		return false;
	return fds + MIN(c->near_limit_fds, soft_limit / NEAR_LIMIT_DIVISOR) >= soft_limit ||
	       (double)fds * 100 >= c->critical_percent * (double)soft_limit;
}

static const struct point *ring_at(const struct ring *r, unsigned i)
{
	return &r->p[(r->head + RING_POINTS - r->n + i) % RING_POINTS];
}

static void ring_push(struct ring *r, const struct point *p)
{
	r->p[r->head] = *p;
	r->head = (r->head + 1) % RING_POINTS;
	if (r->n < RING_POINTS)
		r->n++;
}

static uint64_t level_spacing_ns(const struct detect_config *cfg, int level)
{
	uint64_t ns;

	if (level == 0)
		return 0;
	if (level == 1)
		return LEVEL1_SPACING_NS;
	/* Two points of slack so the oldest point still reaches back window_sec. */
	ns = cfg->window_sec * NSEC_PER_SEC / (RING_POINTS - 2);
	return MAX(ns, LEVEL1_SPACING_NS);
}

static void ring_add(struct ring *r, uint64_t spacing_ns, const struct point *p)
{
	uint64_t bucket;
	bool counted;

	if (spacing_ns == 0) {
		ring_push(r, p);
		return;
	}
	bucket = p->t_ns / spacing_ns;
	if (r->acc_n > 0 && bucket != r->bucket) {
		ring_push(r, &r->partial);
		r->bucket_n = r->acc_n;
		r->acc_n = 0;
	}
	if (r->acc_n == 0) {
		r->bucket = bucket;
		r->acc_t0_ns = p->t_ns;
		r->acc_dt_ns = 0;
		r->acc_fds = 0;
	}
	r->acc_n++;
	r->acc_dt_ns += (double)(p->t_ns - r->acc_t0_ns);
	r->acc_fds += p->fds;
	/* An averaged point is counted only if every sample in it was. */
	counted = r->acc_n == 1 || r->partial.counted;
	r->partial = *p;
	r->partial.counted = counted && p->counted;
	r->partial.t_ns = r->acc_t0_ns + (uint64_t)(r->acc_dt_ns / r->acc_n);
	r->partial.fds = (uint32_t)(r->acc_fds / r->acc_n + 0.5);
}

static void history_push(struct history *h, const struct detect_config *cfg, const struct point *p)
{
	for (int l = 0; l < LEVELS; l++)
		ring_add(&h->level[l], level_spacing_ns(cfg, l), p);
}

/* The oldest point of level l, or NULL. */
static const struct point *level_oldest(const struct history *h, int l)
{
	const struct ring *r = &h->level[l];

	if (r->n > 0)
		return ring_at(r, 0);
	return l > 0 && r->acc_n > 0 ? &r->partial : NULL;
}

static void point_from_sample(const struct detect_sample *s, uint32_t up_ticks, uint32_t ticks,
			      struct point *ret)
{
	*ret = (struct point){
	    .t_ns = s->t_ns,
	    .gap_sum_us = s->burst_gap_sum_us,
	    .gap_sq_us = s->burst_gap_sq_us,
	    .fds = (uint32_t)MIN(s->fds, (uint64_t)UINT32_MAX),
	    .closed = (uint32_t)s->closed,
	    .bursts = (uint32_t)s->bursts,
	    .up_ticks = up_ticks,
	    .ticks = ticks,
	    .counted = s->counted,
	};
	for (int k = 0; k < FDW_KIND_MAX; k++)
		ret->created[k] = (uint32_t)s->created[k];
}

/* Did a cumulative counter go backwards (PID reuse, or the probe lost the entry)? */
static bool sample_went_back(const struct detect_sample *a, const struct detect_sample *b)
{
	/* Not burst_gap_sq_us: the sum of squared gaps may wrap in the BPF program after two
	 * hour-long gaps. */
	if (b->closed < a->closed || b->emfile < a->emfile || b->enfile < a->enfile ||
	    b->bursts < a->bursts || b->burst_gap_sum_us < a->burst_gap_sum_us)
		return true;
	for (int k = 0; k < FDW_KIND_MAX; k++)
		if (b->created[k] < a->created[k])
			return true;
	return false;
}

static bool sample_changed(const struct detect_sample *a, const struct detect_sample *b)
{
	return a->fds != b->fds || a->closed != b->closed || a->emfile != b->emfile ||
	       a->enfile != b->enfile || a->bursts != b->bursts ||
	       memcmp(a->created, b->created, sizeof(a->created)) != 0;
}

static double eta_of(uint64_t soft_limit, uint64_t fds, double rate)
{
	if (!fd_limit_is_finite(soft_limit) || !(rate > 0))
		return -1;
	if (fds >= soft_limit)
		return 0;
	return (double)(soft_limit - fds) / rate;
}

static double point_x(const struct point *p, const struct point *last)
{
	return -(double)(last->t_ns - p->t_ns) / (double)NSEC_PER_SEC;
}

/*
 * The finest level reaching back to from_ns. When none does, the finest one
 * holding the oldest point: the window is then the whole history (*ret_whole).
 */
static int level_for(const struct history *h, uint64_t from_ns, bool *ret_whole)
{
	uint64_t oldest = UINT64_MAX;
	int best = 0;

	for (int l = 0; l < LEVELS; l++) {
		const struct point *p = level_oldest(h, l);

		if (!p)
			continue;
		if (p->t_ns <= from_ns) {
			*ret_whole = false;
			return l;
		}
		if (p->t_ns < oldest) {
			oldest = p->t_ns;
			best = l;
		}
	}
	*ret_whole = true;
	return best;
}

/* The points of level l from from_ns on; the last is the latest sample, or its bucket so far. */
static void window_collect(const struct history *h, int l, uint64_t from_ns, struct window *w)
{
	const struct ring *r = &h->level[l];

	w->n = 0;
	w->level = l;
	for (unsigned i = 0; i < r->n; i++) {
		const struct point *p = ring_at(r, i);

		if (p->t_ns >= from_ns)
			w->p[w->n++] = p;
	}
	if (l > 0 && r->acc_n > 0)
		w->p[w->n++] = &r->partial;
}

static int window_segments(const struct window *w)
{
	return w->n >= MIN_POINTS_SLOW ? 4 : 3;
}

/* The segment (0..nseg-1) of point i: equal slices of the window's time span. */
static int window_segment_of(const struct window *w, size_t i, double span, int nseg)
{
	double x = point_x(w->p[i], w->p[w->n - 1]) + span;
	int j = span > 0 ? (int)(x / span * nseg) : 0;

	return CLAMP(j, 0, nseg - 1);
}

/* Least-squares slope and R^2 of points from..n-1 (two-pass: fds may be 1e6 with a spread of 1). */
static void window_regress(const struct window *w, size_t from, double *ret_slope, double *ret_r2)
{
	const struct point *last = w->p[w->n - 1];
	double n = (double)(w->n - from), mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;

	for (size_t i = from; i < w->n; i++) {
		mx += point_x(w->p[i], last);
		my += w->p[i]->fds;
	}
	mx /= n;
	my /= n;
	for (size_t i = from; i < w->n; i++) {
		double dx = point_x(w->p[i], last) - mx, dy = w->p[i]->fds - my;

		sxx += dx * dx;
		sxy += dx * dy;
		syy += dy * dy;
	}
	*ret_slope = sxx > 0 ? sxy / sxx : 0;
	*ret_r2 = sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : 0;
}

static void window_fit(const struct window *w, struct fit *f)
{
	int nseg = window_segments(w);
	double sum[4] = {}, lo = 0, hi = 0, last_slope, last_r2;
	unsigned cnt[4] = {};
	size_t last_from = w->n;

	*f = (struct fit){.monotone = true, .min_fds = UINT32_MAX};
	f->span = -point_x(w->p[0], w->p[w->n - 1]);
	for (size_t i = 0; i < w->n; i++) {
		f->min_fds = MIN(f->min_fds, w->p[i]->fds);
		if (i > 0 && w->p[i]->fds < w->p[i - 1]->fds)
			f->monotone = false;
	}
	if (w->n < 2 || !(f->span > 0))
		return;
	window_regress(w, 0, &f->slope, &f->r2);
	f->rise = f->slope * f->span;

	for (size_t i = 0; i < w->n; i++) {
		int j = window_segment_of(w, i, f->span, nseg);

		sum[j] += w->p[i]->fds;
		cnt[j]++;
		if (j == nseg - 1 && last_from == w->n)
			last_from = i;
	}
	for (int j = 0; j < nseg; j++)
		if (cnt[j] == 0)
			return; /* irregular sampling: no verdict from this window */
	for (int j = 0; j + 1 < nseg; j++) {
		double d = sum[j + 1] / cnt[j + 1] - sum[j] / cnt[j];

		lo = j == 0 ? d : MIN(lo, d);
		hi = j == 0 ? d : MAX(hi, d);
	}
	f->evenness = hi > 0 ? MAX(lo, 0.0) / hi : 0;
	if (w->n - last_from >= 2) {
		window_regress(w, last_from, &last_slope, &last_r2);
		f->recent = f->slope > 0 && last_slope >= RECENT_MIN * f->slope;
	}
}

/* The largest drop from an earlier, higher count among the window's points. */
static uint32_t window_drawdown(const struct window *w)
{
	uint32_t top = 0, drop = 0;

	for (size_t i = 0; i < w->n; i++) {
		top = MAX(top, w->p[i]->fds);
		drop = MAX(drop, top - w->p[i]->fds);
	}
	return drop;
}

/* The latest point at the window's lowest count; the first when that is the last (a release). */
static size_t window_last_low(const struct window *w)
{
	size_t low = 0;

	for (size_t i = 1; i < w->n; i++)
		if (w->p[i]->fds <= w->p[low]->fds)
			low = i;
	return low + 1 < w->n ? low : 0;
}

/* Creations by kind between the window's point from and its last point. */
static void window_kinds(const struct window *w, size_t from, uint32_t *ret_kinds,
			 enum fdw_kind *ret_main)
{
	const struct point *a = w->p[from], *b = w->p[w->n - 1];
	uint64_t top = 0;
	enum fdw_kind main = FDW_KIND_OTHER;
	uint32_t kinds = 0;

	for (int k = 0; k < FDW_KIND_MAX; k++) {
		uint32_t dk = b->created[k] - a->created[k];

		if (dk > top) {
			top = dk;
			main = k;
		}
	}
	for (int k = 0; k < FDW_KIND_MAX && top > 0; k++)
		if ((uint32_t)(b->created[k] - a->created[k]) >= MAX(KIND_SHARE * top, 1.0))
			kinds |= 1U << k;
	*ret_kinds = kinds;
	*ret_main = main;
}

static uint64_t window_closed(const struct window *w, size_t from)
{
	return (uint32_t)(w->p[w->n - 1]->closed - w->p[from]->closed);
}

/*
 * Clean: monotone, straight with even steps, and rising past the noise: by
 * more than NOISE_FACTOR times the largest drop seen in the last leak_min_sec
 * (noise_fds). Not from the first sample on: the first interval of a history
 * may hold the process's start-up (benign.c plateau: 500 fds in its first
 * second), and noise right after it could then look clean.
 */
static bool window_clean(const struct window *w, const struct fit *f, uint32_t noise_fds,
			 uint64_t first_ns)
{
	return w->p[0]->t_ns > first_ns && f->monotone && f->r2 >= R2_CLEAN &&
	       f->evenness >= FAST_EVEN_MIN && f->rise > NOISE_FACTOR * noise_fds;
}

/* Seconds a window must span before it may show a leak. */
static double leak_required_sec(const struct detect_config *cfg, bool clean, double rate,
				double eta)
{
	double slow = MAX((double)cfg->leak_min_sec, MIN_SPAN_SEC), t;

	if (!clean || !(rate > 0))
		return slow;
	t = FAST_VOLUME_FDS / rate;
	if (eta >= 0)
		t = MIN(t, eta * eta / FAST_ETA_SCALE_SEC);
	return CLAMP(t, MIN_SPAN_SEC, slow);
}

/* The probe counted every interval of the window: its closes are all there. */
static bool window_counted(const struct window *w)
{
	for (size_t i = 1; i < w->n; i++)
		if (!w->p[i]->counted)
			return false;
	return true;
}

static double median(double *v, size_t n);

/* Gaps between bursts from point p to q (the process's very first burst has none before it). */
static uint32_t interval_gaps(const struct point *p, const struct point *q)
{
	uint32_t attempts = q->bursts - p->bursts;

	return attempts - (p->bursts == 0 && attempts > 0);
}

/*
 * Is the cadence of the attempts regular (gaps with a coefficient of variation
 * of at most RETRY_MAX_CV)? Judged per interval between the window's points
 * when most hold RETRY_INTERVAL_GAPS gaps or more: the medians of their mean
 * gaps and CVs, so that the few intervals in which the process stalled (a
 * loaded machine: a shell waiting seconds for its sleep(1) to be forked) do
 * not undo a cadence the rest shows; else over the whole window's gaps.
 * *ret_mean_us: the gap.
 */
static bool window_cadence(const struct window *w, uint32_t gaps, double *ret_mean_us)
{
	const struct point *a = w->p[0], *b = w->p[w->n - 1];
	double means[RING_POINTS + 1], cvs[RING_POINTS + 1], mean, var;
	size_t k = 0;

	for (size_t i = 1; i < w->n; i++) {
		const struct point *p = w->p[i - 1], *q = w->p[i];
		uint32_t g = interval_gaps(p, q);

		if (g < RETRY_INTERVAL_GAPS)
			continue;
		mean = (double)(q->gap_sum_us - p->gap_sum_us) / g;
		/* The sample variance: from a few gaps the plain one is a third too small. */
		var = ((double)(q->gap_sq_us - p->gap_sq_us) - g * mean * mean) / (g - 1);
		if (!(mean > 0))
			continue;
		means[k] = mean;
		cvs[k++] = sqrt(MAX(var, 0.0)) / mean;
	}
	if (k >= RETRY_MIN_INTERVALS && 2 * k >= w->n - 1) {
		*ret_mean_us = median(means, k);
		return median(cvs, k) <= RETRY_MAX_CV;
	}
	mean = (double)(b->gap_sum_us - a->gap_sum_us) / gaps;
	var = (double)(b->gap_sq_us - a->gap_sq_us) / gaps - mean * mean;
	*ret_mean_us = mean;
	return mean > 0 && sqrt(MAX(var, 0.0)) <= RETRY_MAX_CV * mean;
}

/*
 * Attempts (bursts of creations) at a regular period with the same net gain
 * each. On success fills *ret_period_sec and *ret_per_attempt.
 */
static bool window_retry_loop(const struct window *all, double *ret_period_sec,
			      double *ret_per_attempt)
{
	struct window tail = *all, *w = &tail;
	const struct point *a, *b;
	uint32_t attempts, gaps;
	double net, mean, per, span;
	int nseg;
	size_t bound[5];

	/* Bursts are counted only while the probe counts: judge the counted tail alone. */
	for (size_t i = all->n; i-- > 1;)
		if (!all->p[i]->counted) {
			tail.n = all->n - i;
			memmove(tail.p, all->p + i, tail.n * sizeof(tail.p[0]));
			break;
		}
	if (w->n < 2)
		return false;
	a = w->p[0];
	b = w->p[w->n - 1];
	attempts = b->bursts - a->bursts;
	gaps = interval_gaps(a, b);
	net = (double)b->fds - (double)a->fds;
	nseg = window_segments(w);

	if (gaps < RETRY_MIN_ATTEMPTS || !(net > 0))
		return false;
	if (!window_cadence(w, gaps, &mean))
		return false;
	per = net / attempts;

	/* The same gain per attempt in every segment, not a few big attempts and many empty ones.
	 */
	span = -point_x(a, b);
	bound[0] = 0;
	bound[nseg] = w->n - 1;
	for (int j = 1, i = 0; j < nseg; j++) {
		while ((size_t)i < w->n - 1 && window_segment_of(w, i, span, nseg) < j)
			i++;
		bound[j] = i;
	}
	for (int j = 0; j < nseg; j++) {
		const struct point *p = w->p[bound[j]], *q = w->p[bound[j + 1]];
		uint32_t nb = q->bursts - p->bursts;
		double gain = (double)q->fds - (double)p->fds;

		if (nb == 0) {
			if (gain != 0)
				return false;
			continue;
		}
		if (fabs(gain / nb - per) > RETRY_GAIN_TOLERANCE * per)
			return false;
	}
	*ret_period_sec = mean / USEC_PER_SEC;
	*ret_per_attempt = per;
	return true;
}

static void window_describe(const struct window *w, struct leak_desc *ret)
{
	const struct point *a = w->p[0], *b = w->p[w->n - 1];
	uint32_t up = b->up_ticks - a->up_ticks, ticks = b->ticks - a->ticks;
	double net = (double)b->fds - (double)a->fds;

	*ret = (struct leak_desc){.pattern = FDW_PATTERN_LINEAR, .counted = window_counted(w)};
	window_kinds(w, 0, &ret->kinds, &ret->main_kind);
	ret->closed_recent = window_closed(w, 0);
	if (window_retry_loop(w, &ret->period_sec, &ret->per_attempt))
		ret->pattern = FDW_PATTERN_RETRY_LOOP;
	else if (ticks > 0 && up > 0 && up < STEP_UP_SHARE * ticks && net / up >= STEP_MIN_SIZE)
		ret->pattern = FDW_PATTERN_STEPWISE;
}

struct analysis {
	bool leak;
	double leak_rate;
	double leak_eta;
	struct leak_desc desc;
	/* Over the last leak_min_sec: */
	bool growing;
	double rate;
	double r2;
	uint32_t kinds;
	enum fdw_kind main_kind;
	uint64_t closed;
	bool counted;
};

static uint64_t sec_to_ns(double sec)
{
	return (uint64_t)(sec * NSEC_PER_SEC);
}

static uint64_t window_start_ns(const struct point *cur, double sec)
{
	uint64_t ns = sec_to_ns(sec);

	return cur->t_ns > ns ? cur->t_ns - ns : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The noise of level l's points: the standard deviation estimated from the
 * median absolute deviation of successive differences (MAD x 1.4826 / sqrt 2).
 * Differences cancel a steady trend and the median ignores steps, so a leak
 * does not count as its own noise.
 */
static double level_noise(const struct history *h, int l)
{
	const struct ring *r = &h->level[l];
	double d[RING_POINTS], med;
	size_t n = 0;

	for (unsigned i = 1; i < r->n; i++)
		d[n++] = (double)ring_at(r, i)->fds - (double)ring_at(r, i - 1)->fds;
	if (n < 2)
		return 0;
	med = median(d, n);
	for (size_t i = 0; i < n; i++)
		d[i] = fabs(d[i] - med);
	return 1.4826 * median(d, n) / M_SQRT2;
}

/* The lowest count in the history kept for window_sec. */
static uint32_t history_min_fds(const struct history *h, uint64_t from_ns)
{
	uint32_t min = UINT32_MAX;
	struct window w;

	for (int l = 0; l < LEVELS; l++) {
		window_collect(h, l, from_ns, &w);
		for (size_t i = 0; i < w.n; i++)
			min = MIN(min, w.p[i]->fds);
	}
	return min;
}

static void detector_analyze(const struct detector *d, const struct detect_config *cfg,
			     const struct detect_sample *s, struct analysis *a)
{
	const struct point *cur = &d->last_point;
	double slow = MAX((double)cfg->leak_min_sec, MIN_SPAN_SEC);
	double max_w = MAX((double)cfg->window_sec, MIN_SPAN_SEC), best_conf = 0;
	uint64_t from = window_start_ns(cur, slow);
	const struct point *prev_first = NULL;
	double sigma[LEVELS];
	struct window w, best;
	uint32_t noise;
	size_t growing_n;
	struct fit f;
	bool whole;
	int l;

	*a = (struct analysis){.main_kind = FDW_KIND_OTHER, .leak_eta = -1};
	if (!d->started)
		return;

	/* Growth seen: the count rose by min_growth within leak_min_sec. */
	l = level_for(d->h, from, &whole);
	window_collect(d->h, l, from, &w);
	window_fit(&w, &f);
	growing_n = w.n;
	a->rate = f.slope;
	a->r2 = f.r2;
	/* What grew since the count was last at its low: not a start-up's opened-and-closed. */
	window_kinds(&w, window_last_low(&w), &a->kinds, &a->main_kind);
	a->closed = window_closed(&w, 0);
	a->counted = window_counted(&w);
	/* The noise envelope: the largest drop within leak_min_sec, at every sample (level 0) too.
	 */
	noise = window_drawdown(&w);
	window_collect(d->h, 0, from, &w);
	noise = MAX(noise, window_drawdown(&w));
	a->growing = growing_n >= MIN_POINTS_SLOW &&
		     cur->fds >= f.min_fds + MAX(cfg->min_growth, 1) && f.rise >= cfg->min_growth &&
		     f.r2 >= R2_GROWING && f.rise > NOISE_FACTOR * noise;

	/* Nothing rose by min_growth within the history: no window can show a leak. */
	if (cur->fds < history_min_fds(d->h, window_start_ns(cur, max_w)) + MAX(cfg->min_growth, 1))
		return;

	/*
	 * A level of few points underestimates its noise: never trust it below
	 * the noise of every sample (level 0) averaged over a bucket's samples.
	 */
	sigma[0] = level_noise(d->h, 0);
	for (l = 1; l < LEVELS; l++)
		sigma[l] =
		    MAX(level_noise(d->h, l), sigma[0] / sqrt(MAX(d->h->level[l].bucket_n, 1U)));

	for (double sec = MIN_SPAN_SEC;; sec = MIN(sec * LADDER_STEP, max_w)) {
		const struct point *last;
		double eta, t_req, conf;
		size_t need;

		l = level_for(d->h, window_start_ns(cur, sec), &whole);
		window_collect(d->h, l, window_start_ns(cur, sec), &w);
		if (w.n >= MIN_POINTS_FAST && w.p[0] != prev_first) {
			prev_first = w.p[0];
			last = w.p[w.n - 1];
			window_fit(&w, &f);
			eta = eta_of(s->soft_limit, s->fds, f.slope);
			t_req = leak_required_sec(
			    cfg, window_clean(&w, &f, noise, d->first_point.t_ns), f.slope, eta);
			need = t_req < slow ? MIN_POINTS_FAST : MIN_POINTS_SLOW;
			if (w.n >= need && f.slope > 0 && f.rise >= cfg->min_growth &&
			    last->fds >= f.min_fds + cfg->min_growth &&
			    f.rise >= NOISE_SIGMAS * sigma[l] && f.r2 >= R2_MIN && f.recent &&
			    f.span >= SPAN_SLACK * t_req && (!a->leak || f.slope > a->leak_rate)) {
				/* More evidence than needed, up to twice, lifts the fit's R^2 from
				 * 60% to 100% of it. */
				conf = f.r2 * CLAMP(0.6 + 0.4 * (f.span / t_req - 1), 0.6, 1.0);
				a->leak = true;
				a->leak_rate = f.slope;
				a->leak_eta = eta;
				best = w;
				best_conf = conf;
			}
		}
		if (whole || sec >= max_w)
			break;
	}
	if (a->leak) {
		window_describe(&best, &a->desc);
		a->desc.confidence = best_conf;
	}
}

/*
 * Troughs per second over the latest k cycles, least squares: a trough is
 * read by the first sample after its release, up to a tick of ramp late,
 * and the fit spreads that error over every cycle instead of two.
 */
static double rhythm_slope(const struct rhythm *r, unsigned k)
{
	const struct cycle *c0 = &r->c[(r->n - k) % CYCLES_KEPT];
	double mx = 0, my = 0, sxx = 0, sxy = 0;

	for (unsigned i = 0; i < k; i++) {
		const struct cycle *c = &r->c[(r->n - k + i) % CYCLES_KEPT];

		mx += (double)(c->t_ns - c0->t_ns) / NSEC_PER_SEC;
		my += c->trough;
	}
	mx /= k;
	my /= k;
	for (unsigned i = 0; i < k; i++) {
		const struct cycle *c = &r->c[(r->n - k + i) % CYCLES_KEPT];
		double dx = (double)(c->t_ns - c0->t_ns) / NSEC_PER_SEC - mx, dy = c->trough - my;

		sxx += dx * dx;
		sxy += dx * dy;
	}
	return sxx > 0 ? sxy / sxx : 0;
}

/*
 * The trend of the troughs, after a release: the run of the latest ramp
 * cycles whose troughs each stand higher than the one before.
 */
static void rhythm_trend(struct rhythm *r, const struct detect_config *cfg)
{
	unsigned kept = MIN(r->n, (unsigned)CYCLES_KEPT), k = 1;
	const struct cycle *last = &r->c[(r->n - 1) % CYCLES_KEPT], *first = last;

	r->rising = false;
	r->rising_cycles = 0;
	if (!last->ramp)
		return;
	while (k < kept) {
		const struct cycle *prev = &r->c[(r->n - 1 - k) % CYCLES_KEPT];

		if (!prev->ramp || prev->trough >= first->trough)
			break;
		first = prev;
		k++;
	}
	if (k < TROUGH_MIN_CYCLES || last->trough < first->trough + MAX(cfg->min_growth, 1) ||
	    last->t_ns <= first->t_ns)
		return;
	r->rising = true;
	r->rising_cycles = k;
	r->period = (double)(last->t_ns - first->t_ns) / NSEC_PER_SEC / (k - 1);
	r->rise = rhythm_slope(r, k) * r->period;
}

/* Follow troughs and ramps; true when this sample released most of the ramp (a new cycle). */
static bool rhythm_feed(struct rhythm *r, const struct detect_config *cfg, uint32_t fds,
			uint64_t t_ns, bool first)
{
	uint32_t amp, mg = MAX(cfg->min_growth, 1);
	struct cycle *c;

	if (!first && fds > r->hi) {
		r->hi = fds;
		r->hi_ns = t_ns;
		r->ups++;
	}
	amp = r->hi - r->lo;
	if (first || amp < mg || r->hi < fds + MAX((double)mg, RELEASE_SHARE * amp)) {
		/* Below the trough (and no release): a new, lower trough. */
		if (first || fds < r->lo) {
			r->lo = r->hi = fds;
			r->lo_ns = r->hi_ns = t_ns;
			r->ups = 0;
		}
		return false;
	}

	c = &r->c[r->n++ % CYCLES_KEPT];
	*c = (struct cycle){
	    .t_ns = t_ns,
	    .trough = r->lo,
	    .peak = r->hi,
	    .ramp = r->ups >= RAMP_MIN_UPS &&
		    r->hi_ns - r->lo_ns >= SPAN_SLACK * MIN_SPAN_SEC * NSEC_PER_SEC,
	};
	/* A burst given back (benign.c burst: 200 fds in 0.5 s, closed) is no rhythm to judge by.
	 */
	if (c->ramp) {
		r->max_peak = MAX(r->max_peak, r->hi);
		r->max_amp = MAX(r->max_amp, amp);
		r->last_ns = t_ns;
	}
	r->lo = r->hi = fds;
	r->lo_ns = r->hi_ns = t_ns;
	r->ups = 0;
	rhythm_trend(r, cfg);
	return true;
}

/* The rhythm's verdict holds until TROUGH_LAPSE_PERIODS pass without a release. */
static bool rhythm_rising(const struct rhythm *r, uint64_t t_ns)
{
	return r->rising &&
	       (double)(t_ns - r->last_ns) <= TROUGH_LAPSE_PERIODS * r->period * NSEC_PER_SEC;
}

/*
 * A process that ramped and released before is judged on its rhythm: a ramp
 * that stays below its highest peak, or rises from its trough by no more than
 * RHYTHM_SLACK times its largest swing, is one more cycle, not a leak. The
 * rhythm is forgotten after window_sec without a ramp released.
 */
static bool rhythm_explains(const struct rhythm *r, const struct detect_config *cfg, uint32_t fds,
			    uint64_t t_ns)
{
	return r->max_amp > 0 && t_ns - r->last_ns <= cfg->window_sec * NSEC_PER_SEC &&
	       (fds <= r->max_peak || fds - r->lo <= RHYTHM_SLACK * r->max_amp);
}

/*
 * The episode keeps its story: a retry loop stays one (only a release clears
 * it), a kind once named stays named; a linear or stepwise leak may turn out
 * to be a retry loop as evidence grows.
 */
static void leak_desc_merge(struct leak_desc *old, const struct leak_desc *now)
{
	struct leak_desc m = *now;

	if (old->pattern == FDW_PATTERN_RETRY_LOOP && now->pattern != FDW_PATTERN_RETRY_LOOP) {
		m.pattern = old->pattern;
		m.period_sec = old->period_sec;
		m.per_attempt = old->per_attempt;
	} else if (now->pattern != FDW_PATTERN_RETRY_LOOP && old->pattern != FDW_PATTERN_NONE) {
		m.pattern = old->pattern;
	}
	if (old->kinds) {
		m.kinds = old->kinds | now->kinds;
		m.main_kind = old->main_kind;
	}
	*old = m;
}

int detector_feed(struct detector *d, const struct detect_config *cfg,
		  const struct detect_sample *s, struct detect_verdict *ret)
{
	uint64_t emfile0, enfile0, cooldown_ns;
	enum fdw_state raw = FDW_STATE_OK, state;
	bool near, released, rising, leak;
	struct analysis an;
	struct rhythm *rh;
	struct point cur;
	int fail_err = 0;

	if (!d || !cfg || !s || !ret)
		return -EINVAL;
	rh = &d->rhythm;
	if (d->have_last && s->t_ns < d->last.t_ns)
		return -EINVAL;
	if (d->have_last && sample_went_back(&d->last, s))
		detector_reset(d);

	if (d->have_last && !d->started && sample_changed(&d->last, s)) {
		if (!d->h) {
			d->h = calloc(1, sizeof(*d->h));
			if (!d->h)
				return -ENOMEM;
		}
		/* The flat stretch before the first change, as its two ends. */
		history_push(d->h, cfg, &d->first_point);
		if (d->last_point.t_ns > d->first_point.t_ns)
			history_push(d->h, cfg, &d->last_point);
		d->started = true;
	}

	/* Counters start when the process is first seen: in the first sample any failure is new. */
	emfile0 = d->have_last ? d->last.emfile : 0;
	enfile0 = d->have_last ? d->last.enfile : 0;
	if (s->emfile > emfile0)
		fail_err = EMFILE;
	else if (s->enfile > enfile0)
		fail_err = ENFILE;

	if (d->have_last) {
		d->ticks++;
		if (s->fds > d->last.fds)
			d->up_ticks++;
	}
	point_from_sample(s, d->up_ticks, d->ticks, &cur);
	if (d->started)
		history_push(d->h, cfg, &cur);
	if (!d->have_last)
		d->first_point = cur;
	released = rhythm_feed(rh, cfg, cur.fds, s->t_ns, !d->have_last);
	d->last = *s;
	d->last_point = cur;
	d->have_last = true;

	detector_analyze(d, cfg, s, &an);

	/* A ramp within the process's own rhythm is one more cycle; a release ends any claim. */
	if (an.leak && rhythm_explains(rh, cfg, cur.fds, s->t_ns))
		an.leak = false;
	rising = rhythm_rising(rh, s->t_ns);
	leak = an.leak || rising;
	if (released) {
		d->has_leak = false;
		if (!rising)
			for (int st = FDW_STATE_GROWING; st < FDW_STATE_MAX; st++)
				d->seen[st] = false;
	}

	near = detect_near_limit(cfg, s->fds, s->soft_limit);
	if (an.growing)
		raw = FDW_STATE_GROWING;
	if (leak)
		raw = FDW_STATE_LEAKING;
	/* Near the limit: flat is a warning, moving towards it is critical. */
	if (near)
		raw = leak ? FDW_STATE_CRITICAL : FDW_STATE_LEAKING;
	if (fail_err)
		raw = FDW_STATE_EXHAUSTED;

	*ret = (struct detect_verdict){
	    .pattern = FDW_PATTERN_NONE,
	    .rate = an.rate,
	    .eta_sec = -1,
	    .kinds = an.kinds,
	    .main_kind = an.main_kind,
	    .closed_recent = an.closed,
	    .counted = an.counted,
	    .fail_nr = -1,
	    .fails = s->emfile + s->enfile,
	};
	if (rising) {
		uint32_t top = MAX(cur.fds, rh->c[(rh->n - 1) % CYCLES_KEPT].peak);

		ret->pattern = FDW_PATTERN_RISING_TROUGHS;
		ret->rate = rh->rise / rh->period;
		ret->eta_sec = eta_of(s->soft_limit, top, ret->rate);
		ret->per_attempt = rh->rise;
		ret->period_sec = rh->period;
		ret->confidence = MIN(1.0, TROUGH_CONFIDENCE_BASE +
					       TROUGH_CONFIDENCE_PER_CYCLE * rh->rising_cycles);
	} else if (an.leak) {
		if (d->has_leak)
			leak_desc_merge(&d->leak, &an.desc);
		else
			d->leak = an.desc;
		d->has_leak = true;
		ret->rate = an.leak_rate;
		ret->eta_sec = an.leak_eta;
	}
	if (leak && ret->eta_sec >= 0 && ret->eta_sec < cfg->critical_eta_sec && !fail_err)
		raw = FDW_STATE_CRITICAL;

	/* The highest state seen within cooldown_sec: rises at once, falls after cooldown_sec. */
	d->seen[raw] = true;
	d->seen_ns[raw] = s->t_ns;
	state = raw;
	cooldown_ns = cfg->cooldown_sec * NSEC_PER_SEC;
	for (int st = raw + 1; st < FDW_STATE_MAX; st++)
		if (d->seen[st] && s->t_ns - d->seen_ns[st] < cooldown_ns)
			state = st;
	ret->state = state;

	/* What to say about it: the leak now, else the one that led here, else the limit. */
	if (!rising && d->has_leak && (an.leak || (!near && state >= FDW_STATE_LEAKING))) {
		ret->pattern = d->leak.pattern;
		ret->kinds = d->leak.kinds;
		ret->main_kind = d->leak.main_kind;
		ret->period_sec = d->leak.period_sec;
		ret->per_attempt = d->leak.per_attempt;
		ret->confidence = d->leak.confidence;
		ret->closed_recent = d->leak.closed_recent;
		ret->counted = d->leak.counted;
		if (!an.leak)
			ret->rate = 0;
	} else if (!leak && near) {
		/* Flat near the limit: no rate, no ETA (it is not moving). */
		ret->pattern = FDW_PATTERN_AT_LIMIT;
		ret->rate = 0;
		ret->confidence = 1;
	} else if (!leak && an.growing) {
		ret->eta_sec = eta_of(s->soft_limit, s->fds, ret->rate);
		ret->confidence = 0.5 * an.r2;
	} else if (!leak) {
		ret->rate = 0; /* not growing: no rate to speak of */
	}
	if (state == FDW_STATE_EXHAUSTED) {
		ret->fail_nr = d->last.last_fail_nr;
		ret->fail_err = fail_err ?: d->fail_err;
		ret->confidence = 1;
	}
	if (fail_err)
		d->fail_err = fail_err;

	if (state >= FDW_STATE_LEAKING) {
		d->episode = true;
	} else if (d->episode) {
		ret->recovered = true;
		ret->released = released;
		d->episode = false;
		d->has_leak = false;
	}
	return 0;
}
