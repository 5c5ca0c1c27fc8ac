/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * log.h - the daemon's own log, on stderr with sd-daemon(3) "<N>" priority
 * prefixes so journald (StandardError=journal) files each line at its level.
 * On a terminal the prefixes are left out.
 */
#ifndef FDWATCH_LOG_H
#define FDWATCH_LOG_H

#include <syslog.h>
#include "util.h"

/* Lines above this priority (LOG_DEBUG > LOG_INFO ...) are dropped. Default LOG_INFO. */
void log_set_max_level(int level);

/*
 * Log at level; with error != 0 "%m" means strerror(|error|). Returns -|error|,
 * or 0 when error == 0, so callers can `return log_error_errno(r, "...: %m");`.
 */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
    _printf_(5, 6);

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
