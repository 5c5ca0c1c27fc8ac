/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * journal.h - deliver alerts to journald without ever waiting for it.
 *
 * sd_journal_sendv() blocks in sendmsg() while journald does not read its
 * socket (stopped, or stuck on a slow disk, with the kernel's datagram queue
 * full). So the event loop only copies an alert's fields into a bounded FIFO
 * (journal_push(): a malloc and a copy, nothing that waits) and one writer thread
 * sends them, in order, and may block as long as journald does. When the FIFO
 * is full the new alert is dropped and counted, never waited for.
 *
 * Measured here (2 vCPUs, private journald, an exhausted alert of 20 fields,
 * 513 bytes): journal_push() ~2 us (max ~150 us), running or stopped journald;
 * the writer's sd_journal_sendv() ~19 us (53,000 entries/s). The native
 * protocol on a non-blocking socket costs ~2 us a datagram but, as journald
 * reads in bursts, 4,200 of a burst of 5,000 got EAGAIN even with journald
 * running (its queue is net.unix.max_dgram_qlen = 10 datagrams): it needs
 * the same FIFO plus a retry on writability, which a datagram socket does
 * not signal reliably. So: a thread.
 */
#ifndef FDWATCH_JOURNAL_H
#define FDWATCH_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "alerts.h"
#include "util.h"

/* On a clean shutdown, how long the writer may take to deliver what is still queued. */
#define JOURNAL_FLUSH_TIMEOUT_NS (2 * NSEC_PER_SEC)

/* Whether journald listens here (/run/systemd/journal/socket). */
bool journal_available(void);

struct journal;

struct journal_stats {
	uint64_t queued;  /* in the FIFO now, including the one being sent */
	uint64_t sent;	  /* handed to journald by sd_journal_sendv() */
	uint64_t dropped; /* not queued: the FIFO was full (or out of memory) */
	uint64_t failed;  /* sd_journal_sendv() returned an error (e.g. no journald) */
};

/*
 * Start the writer thread with a FIFO of at most capacity alerts (>= 1).
 * All signals are blocked in the thread. 0, or -errno (thread creation).
 */
int journal_new(size_t capacity, struct journal **ret);
/*
 * Deliver what is queued, waiting at most timeout_ns for the writer, then stop
 * it (a writer still blocked in journald is cancelled; what it did not send is
 * counted in *ret_lost when ret_lost is not NULL). NULL-safe.
 */
void journal_free(struct journal *j, uint64_t timeout_ns, uint64_t *ret_lost);
/* Change the bound (a reload). Alerts already queued beyond it stay queued. */
void journal_set_capacity(struct journal *j, size_t capacity);
/*
 * Queue one alert for journald: its fields (alert_to_fields()) and
 * FDWATCH_SEQ=. Never blocks on journald. 0 when queued; -ENOBUFS when the
 * FIFO is full, -ENOMEM: the alert is dropped (and counted).
 */
int journal_push(struct journal *j, const struct alert *a);
void journal_get_stats(struct journal *j, struct journal_stats *ret);

#endif
