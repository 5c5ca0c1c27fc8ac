/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * verdict-fixture.h - the detector's verdict on the origin story (a pipe pair
 * leaked on every failed retry, one retry each 0.1 s: 20 fds/s, EMFILE in
 * ~10.6 s), for the tests of what is made of a verdict: alerts and JSON.
 */
#ifndef FDWATCH_VERDICT_FIXTURE_H
#define FDWATCH_VERDICT_FIXTURE_H

#include "detector.h"

/* That verdict in state st; below leaking it names no pattern. */
static inline struct detect_verdict verdict(enum fdw_state st)
{
	return (struct detect_verdict){
	    .state = st,
	    .pattern = st >= FDW_STATE_LEAKING ? FDW_PATTERN_RETRY_LOOP : FDW_PATTERN_NONE,
	    .rate = 20,
	    .eta_sec = 10.6,
	    .confidence = 0.93,
	    .kinds = 1U << FDW_KIND_PIPE,
	    .main_kind = FDW_KIND_PIPE,
	    .period_sec = 0.1,
	    .per_attempt = 2,
	    .counted = true,
	    .fail_nr = -1,
	};
}

#endif
