/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * hooks.h - alert hooks: the executables in [Alert] HooksDirectory= run on
 * each alert with the alert as JSON on standard input (json_alert(): the
 * fields of Subscribe and of the journal entry) and the daemon's environment.
 *
 * A hook can never block the daemon: it is spawned in a process group of its
 * own, its input is written before it starts into a pipe that holds it whole,
 * its exit is an sd-event child source, and when it runs past HookTimeoutSec=
 * its process group is killed (SIGKILL). At most MaxConcurrentHooks= run at
 * once; up to HookQueueSize= further runs wait, more are dropped. Every
 * failure (exit status, signal, timeout, spawn error) is logged and counted.
 */
#ifndef FDWATCH_HOOKS_H
#define FDWATCH_HOOKS_H

#include <stdint.h>
#include <systemd/sd-event.h>
#include "alerts.h"
#include "config.h"

struct hooks;

/*
 * Hooks on event, reading *cfg (the manager's live config, which a reload
 * changes in place) at every alert. Blocks SIGCHLD in the calling thread, as
 * sd-event's child sources need: call it from the main thread before any
 * other thread starts. 0 or -errno.
 */
int hooks_new(sd_event *event, const struct hooks_config *cfg, struct hooks **ret);
/* Kills (SIGKILL) and reaps every hook still running; drops the queue. NULL-safe. */
void hooks_free(struct hooks *h);

/*
 * Run every hook for alert a, now or when a slot frees. Never waits for a
 * hook. Returns the number of runs started or queued (0 when the directory
 * is missing or empty), or -ENOMEM; the other failures are counted and logged.
 */
int hooks_run(struct hooks *h, const struct alert *a);

/* Counters since start. */
void hooks_get_stats(const struct hooks *h, struct hooks_stats *ret);

#endif
