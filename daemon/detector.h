/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * detector.h - turn a process's per-tick fd samples into a verdict.
 *
 * Pure: no I/O, no clock of its own (time comes in the samples), no libbpf,
 * sd-event or socket headers. One struct detector per process holds the
 * history it needs; the caller feeds it one sample per tick.
 */
#ifndef FDWATCH_DETECTOR_H
#define FDWATCH_DETECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "fdwatch.h"

enum fdw_state {
	FDW_STATE_OK = 0,
	FDW_STATE_GROWING,   /* net growth seen, not yet sustained: notice at most */
	FDW_STATE_LEAKING,   /* sustained growth that does not level off: warning */
	FDW_STATE_CRITICAL,  /* leaking with little time left, or flat at/near the limit */
	FDW_STATE_EXHAUSTED, /* a syscall failed with EMFILE/ENFILE */
	FDW_STATE_MAX,
};

enum fdw_pattern {
	FDW_PATTERN_NONE = 0,
	FDW_PATTERN_LINEAR,	/* steady growth */
	FDW_PATTERN_STEPWISE,	/* growth in irregular steps */
	FDW_PATTERN_RETRY_LOOP, /* bursts of one kind at a regular period, constant gain, no closes
				 */
	FDW_PATTERN_AT_LIMIT,	/* flat at (or within a few fds of) the soft limit */
	FDW_PATTERN_RISING_TROUGHS, /* cycles that release most of each ramp, each trough higher */
	FDW_PATTERN_MAX,
};

/* Names used in logs, journald fields and the API: "ok", "growing", ...; "none", "linear",
 * "stepwise", "retry-loop", "at-limit", "rising-troughs". */
const char *fdw_state_to_string(enum fdw_state s);
const char *fdw_pattern_to_string(enum fdw_pattern p);
/* "file", "pipe", "socket", "dup", "eventfd", "epoll", "signalfd", "timerfd", "inotify",
 * "fanotify", "memfd", "pidfd", "io_uring", "other". */
const char *fdw_kind_to_string(enum fdw_kind k);
/* Parse the names above; 0, or -EINVAL when unknown (*ret untouched). */
int fdw_state_from_string(const char *s, enum fdw_state *ret);
int fdw_pattern_from_string(const char *s, enum fdw_pattern *ret);
int fdw_kind_from_string(const char *s, enum fdw_kind *ret);

/* One observation of one process. Counters are cumulative since the process
 * was first seen; they may reset to lower values (the caller saw a PID reuse or
 * the probe lost its entry): the detector must then restart its history. */
struct detect_sample {
	uint64_t t_ns;	     /* CLOCK_BOOTTIME */
	uint64_t fds;	     /* exact open fds now */
	uint64_t soft_limit; /* RLIMIT_NOFILE, see fd_limit_is_finite() */
	uint64_t hard_limit;
	uint64_t created[FDW_KIND_MAX];
	uint64_t closed;
	uint64_t emfile;
	uint64_t enfile;
	int last_fail_nr; /* syscall of the latest EMFILE/ENFILE, -1 none */
	uint64_t bursts;  /* see struct fdw_counts */
	uint64_t burst_gap_sum_us;
	uint64_t burst_gap_sq_us;
	/* The probe counted this process's fd syscalls during this sample's interval. When false
	 * the counters above did not advance and only fds and the limits are known: the detector
	 * then makes no claim about kinds, closes or cadence from that interval. */
	bool counted;
};

/* Tunables; detect_config_init() sets the built-in defaults ([Detect] in fdwatch.conf). */
struct detect_config {
	uint64_t min_growth;	 /* fds of net growth before anything but ok */
	uint64_t leak_min_sec;	 /* seconds of sustained growth before leaking */
	double critical_eta_sec; /* leaking with an ETA below this is critical */
	double critical_percent; /* near the limit: this share of the soft limit in use (0..100) */
	uint64_t near_limit_fds; /* ... or within this many fds of it; flat there: a warning,
				  * moving towards it: critical */
	uint64_t cooldown_sec;	 /* a state must hold this long before it is lowered */
	uint64_t window_sec;	 /* longest history kept, seconds */
};
void detect_config_init(struct detect_config *c);
/* Is a process with fds open near its soft limit (critical_percent of it, or within
 * near_limit_fds, at most 1/16 of it)? False when the limit is unknown or unlimited. */
bool detect_near_limit(const struct detect_config *c, uint64_t fds, uint64_t soft_limit);

struct detect_verdict {
	enum fdw_state state;
	enum fdw_pattern pattern;
	double rate;		 /* net fds per second (>= 0 while growing) */
	double eta_sec;		 /* to the soft limit at that rate; < 0 when none */
	double confidence;	 /* 0..1 */
	uint32_t kinds;		 /* bit (1 << enum fdw_kind) for each kind that grew */
	enum fdw_kind main_kind; /* the kind that grew most; meaningful only when kinds != 0 */
	double period_sec;	 /* retry loop: time between attempts; rising troughs: between
				  * cycles; 0 otherwise */
	double per_attempt;	 /* retry loop: net fds gained per attempt; rising troughs: the
				  * rise of the trough per cycle */
	uint64_t closed_recent;	 /* closes in the judged window (meaningful when counted) */
	bool counted;		 /* kinds, closed_recent and the cadence come from counters the
				  * probe advanced over the whole judged window */
	int fail_nr;		 /* exhausted: the syscall that failed, -1 otherwise */
	int fail_err;		 /* exhausted: EMFILE or ENFILE (positive), 0 otherwise */
	uint64_t fails;		 /* exhausted: EMFILE+ENFILE failures seen in total */
	bool recovered;		 /* this sample lowered the state below leaking after leaking,
				  * critical or exhausted: once per episode, whatever state it
				  * falls to; pattern then names what the episode was */
	bool released;		 /* ... because the process gave most of its growth back */
};

struct detector;

/* 0 or -ENOMEM. */
int detector_new(struct detector **ret);
/* NULL-safe. */
void detector_free(struct detector *d);
/* Forget the history (PID reuse). */
void detector_reset(struct detector *d);
/*
 * Add one sample (t_ns must not go backwards; an older sample is ignored with
 * -EINVAL) and return the verdict for the process now. The state keeps
 * hysteresis: it rises at once, falls only after cooldown_sec. A counter lower
 * than in the previous sample restarts the history as detector_reset() does.
 * 0, -EINVAL, or -ENOMEM (the history is allocated when the process first
 * changes; d is then as before the call).
 */
int detector_feed(struct detector *d, const struct detect_config *cfg,
		  const struct detect_sample *s, struct detect_verdict *ret);

#endif
