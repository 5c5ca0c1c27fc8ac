/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * log.h - the daemon's own log, on stderr with sd-daemon(3) "<N>" priority
 * prefixes so journald (StandardError=journal) files each line at its level.
 * On a terminal the prefixes are left out.
 *
 * Under systemd stderr is a stream socket to journald: while journald does
 * not read it, a write blocks. After log_open_nonblocking() no write waits:
 * what stderr does not take now waits in a small buffer (flushed by the next
 * line or log_flush()), and a line that does not fit there is dropped and
 * counted. Thread-safe.
 */
#ifndef FDWATCH_LOG_H
#define FDWATCH_LOG_H

#include <syslog.h>
#include "util.h"

/*
 * Bytes of log lines kept while stderr does not take them. A line is at most
 * ~2 KiB; journald's stream socket itself takes ~200 KiB (the send buffer,
 * net.core.wmem_default: 212992 here) before a writer would block, so this
 * only smooths the edge; what is beyond is journald's backlog.
 */
#define LOG_PENDING_MAX (64 * 1024)

/* Lines above this priority (LOG_DEBUG > LOG_INFO ...) are dropped. Default LOG_INFO. */
void log_set_max_level(int level);

/*
 * From now on never block on stderr: a socket is written with MSG_DONTWAIT, a
 * pipe or a terminal is reopened (a file description of our own) with
 * O_NONBLOCK; a regular file never blocks and is left as it is. 0 or -errno
 * (stderr is then left blocking).
 */
int log_open_nonblocking(void);
/*
 * Write out what is pending, waiting at most timeout_ns for stderr to take it
 * (0: only what it takes now). Returns the bytes still pending.
 */
size_t log_flush(uint64_t timeout_ns);
/* Lines dropped because stderr did not take them, since start. */
uint64_t log_get_dropped(void);

/*
 * Log at level; with error != 0 "%m" means strerror(|error|). Returns -|error|,
 * or 0 when error == 0, so callers can `return log_error_errno(r, "...: %m");`.
 */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
    _printf_(5, 6);
/* Write one line at level whatever the max level (alerts on stderr), prefixed as log lines are. */
void log_line(int level, const char *text);

#define log_full_errno(level, error, ...)                                                          \
	log_internal(level, error, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...)		  log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)		  log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)		  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)	  log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)		  log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)	  log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)	  log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)	  log_full_errno(LOG_ERR, e, __VA_ARGS__)

#endif
