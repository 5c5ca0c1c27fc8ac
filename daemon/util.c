// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <time.h>

#include "util.h"

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t now_boottime_ns(void)
{
	return now_ns(CLOCK_BOOTTIME);
}

uint64_t now_realtime_ns(void)
{
	return now_ns(CLOCK_REALTIME);
}

int parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_double(const char *s, double *ret)
{
	double v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_duration_ns(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		double ns;
	} units[] = {
	    {"ns", 1},	 {"us", 1e3},	{"ms", 1e6},   {"s", 1e9}, {"sec", 1e9},
	    {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"", 1e9},
	};
	double v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || !isfinite(v) || v < 0)
		return -ERANGE;
	if (end == s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (streq(end, units[i].suffix)) {
			double ns = v * units[i].ns;

			if (ns >= 1.8e19)
				return -ERANGE;
			*ret = (uint64_t)ns;
			return 0;
		}
	return -EINVAL;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"1", "yes", "true", "on", "y"};
	static const char *const no[] = {"0", "no", "false", "off", "n"};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	return -EINVAL;
}

int read_file_full(const char *path, size_t max, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, cap = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	/*
	 * Grown as the file turns out to be, never malloc(max) at once: a 16 MiB buffer for a
	 * 20 KiB maps file, freed, raised glibc's mmap threshold to 16 MiB, and from then on
	 * the daemon's large allocations came from the heap and stayed (a 30-minute soak's
	 * RSS grew in steps from 5.5 to 11.6 MiB).
	 */
	while (n < max) {
		ssize_t k;

		if (n == cap) {
			size_t ncap = MIN(max, cap ? 2 * cap : (size_t)4096);
			char *nbuf = realloc(buf, ncap + 1);

			if (!nbuf)
				return -ENOMEM;
			buf = nbuf;
			cap = ncap;
		}
		k = read(fd, buf + n, cap - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (!buf) { /* max == 0 */
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[n] = 0;
	if (ret_size)
		*ret_size = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

int free_and_strdup(char **dst, const char *src)
{
	char *copy = NULL;

	if (src) {
		copy = strdup(src);
		if (!copy)
			return -ENOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

int parse_mode(const char *s, uint32_t *ret)
{
	unsigned long v;
	char *end;

	if (!s || !*s || strspn(s, "01234567") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno == ERANGE || v > 07777)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

char *format_span(char *buf, size_t size, double sec)
{
	if (sec < 120)
		snprintf(buf, size, "%.0f s", sec);
	else if (sec < 7200)
		snprintf(buf, size, "%.0f min", sec / 60);
	else if (sec < 172800)
		snprintf(buf, size, "%.0f h", sec / 3600);
	else
		snprintf(buf, size, "%.0f d", sec / 86400);
	return buf;
}

char *format_duration_ns(char *buf, size_t size, uint64_t ns)
{
	/* Largest first; all of these are suffixes parse_duration_ns() knows. */
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
	    {"h", 3600 * NSEC_PER_SEC}, {"min", 60 * NSEC_PER_SEC}, {"s", NSEC_PER_SEC},
	    {"ms", 1000000ULL},		{"us", NSEC_PER_USEC},	    {"ns", 1},
	};

	if (ns == 0) {
		snprintf(buf, size, "0");
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (ns % units[i].ns == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)(ns / units[i].ns),
				 units[i].suffix);
			break;
		}
	return buf;
}
