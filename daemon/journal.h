/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* journal.h - deliver alerts: structured journald entries, or stderr without a journal. */
#ifndef FDWATCH_JOURNAL_H
#define FDWATCH_JOURNAL_H

#include <stdbool.h>
#include "alerts.h"

/* Whether journald listens here (/run/systemd/journal/socket). */
bool journal_available(void);

/*
 * Send one alert to journald (when to_journal) with all its fields, and print
 * its message to stderr when to_stderr. Note that sd_journal_send() reports
 * success even when journald drops the entry: the alert history is the record.
 * 0 or -errno of the send.
 */
int journal_send_alert(const struct alert *a, bool to_journal, bool to_stderr);

#endif
