// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdarg.h>

#include "log.h"

static int max_level = LOG_INFO;
/* Each line gets a "<N>" priority prefix when stderr is not a terminal (a journal stream
 * reads it); -1: not decided yet. */
static int prefix = -1;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	char buf[2048];
	va_list ap;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;
	if (prefix < 0)
		prefix = !isatty(STDERR_FILENO);

	/* %m must mean the error passed in, not whatever errno is now. */
	errno = error;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (prefix)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else
		fprintf(stderr, "%s\n", buf);
	errno = saved;
	return -error;
}
