/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* util.h - cleanup idioms (after systemd's), time and small helpers. */
#ifndef FDWATCH_UTIL_H
#define FDWATCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

/*
 * An RLIMIT_NOFILE as fdwatch carries it, from /proc/PID/limits or from the
 * probe (task->signal->rlim): FD_LIMIT_UNKNOWN when not read (yet),
 * FD_LIMIT_INFINITY for RLIM_INFINITY ("unlimited"); any other value is a
 * finite limit. (Linux caps a finite one at fs.nr_open, at most 1073741816.)
 */
#define FD_LIMIT_UNKNOWN  0ULL
#define FD_LIMIT_INFINITY UINT64_MAX
static inline bool fd_limit_is_finite(uint64_t limit)
{
	return limit != FD_LIMIT_UNKNOWN && limit != FD_LIMIT_INFINITY;
}

#define NSEC_PER_SEC  1000000000ULL
#define USEC_PER_SEC  1000000ULL
#define NSEC_PER_USEC 1000ULL

/* Take ownership of a pointer out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		typeof(p) _p_ = (p);                                                               \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -EBADF;                                                                     \
		_fd_;                                                                              \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Defines name##p(T **p) calling func(*p) when non-NULL, for _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

/* errno as a negative return value, never 0. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return streq(a, b);
}

/* Current CLOCK_BOOTTIME / CLOCK_MONOTONIC / CLOCK_REALTIME in ns. */
uint64_t now_boottime_ns(void);
uint64_t now_realtime_ns(void);

/*
 * Parse a whole string as an unsigned / signed integer / a double / a duration
 * ("1.5s", "250ms", "2min", "1h"; a bare number is seconds) in ns / a boolean
 * (1/yes/true/on, 0/no/false/off). Return 0 or -EINVAL/-ERANGE; *ret untouched
 * on error.
 */
int parse_u64(const char *s, uint64_t *ret);
int parse_double(const char *s, double *ret);
int parse_duration_ns(const char *s, uint64_t *ret);
int parse_bool(const char *s, bool *ret);

/* Read a whole small file into a NUL-terminated malloc'd buffer (max bytes). */
int read_file_full(const char *path, size_t max, char **ret, size_t *ret_size);

/* Free *dst and replace it by a copy of src (NULL allowed). 0 or -ENOMEM. */
int free_and_strdup(char **dst, const char *src);

/*
 * Parse octal permission bits ("0660" or "660"), at most 07777. 0 or -EINVAL/-ERANGE; *ret
 * untouched on error.
 */
int parse_mode(const char *s, uint32_t *ret);

/* Enough for any format_duration_ns() output ("18446744073709551615ns"). */
#define DURATION_STR_MAX 32
/*
 * Format ns with the largest unit that divides it exactly: "2h", "5min", "1s", "500ms", "250us",
 * "7ns", "0". parse_duration_ns() reads it back to the same value (exactly below 2^53 ns, 104
 * days: it goes through a double). Returns buf.
 */
char *format_duration_ns(char *buf, size_t size, uint64_t ns);

/*
 * A span in words for people, rounded to its unit: "41 s" below two minutes, "3 min" below two
 * hours, "5 h" below two days, then "3 d". Returns buf.
 */
char *format_span(char *buf, size_t size, double sec);

#endif
