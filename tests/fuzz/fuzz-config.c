// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fuzz-config - libFuzzer harness for the configuration parser: whatever an
 * administrator (or a broken package) puts in fdwatch.conf and its drop-ins.
 * `make fuzz` builds it with the pure modules it needs.
 *
 * The input is the main file; a NUL byte in it starts a drop-in
 * (fdwatch.conf.d/50-fuzz.conf) with the rest, so the merge of the two is
 * fuzzed too. config_load() reads real files, as the daemon does: they live in
 * one private temporary directory, rewritten for each input.
 *
 * Invariants checked (abort on violation): a load either succeeds or fails
 * with -EINVAL (a bad file, reported with file:line) or -ENOMEM, never
 * anything else, and a failed load reports at least one line; what loads
 * dumps (--check-config) to a text that loads back to the same dump.
 */
#include <assert.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "util.h"

static char dir[] = "/tmp/fuzz-config.XXXXXX";
static char main_path[64], dropin_dir[64], dropin_path[96];

static void cleanup(void)
{
	unlink(dropin_path);
	rmdir(dropin_dir);
	unlink(main_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(dir))
		abort();
	snprintf(main_path, sizeof(main_path), "%s/fdwatch.conf", dir);
	snprintf(dropin_dir, sizeof(dropin_dir), "%s.d", main_path);
	snprintf(dropin_path, sizeof(dropin_path), "%s/50-fuzz.conf", dropin_dir);
	if (mkdir(dropin_dir, 0700) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		abort();
	while (size > 0) {
		ssize_t n = write(fd, data, size);

		if (n <= 0)
			abort();
		data += n;
		size -= (size_t)n;
	}
}

/* Load path; the errors it reported go to *ret_err. */
static int load(const char *path, struct fdw_config *c, char **ret_err)
{
	size_t len = 0;
	FILE *err = open_memstream(ret_err, &len);
	int r;

	if (!err)
		abort();
	r = config_load(path, NULL, 0, err, c);
	fclose(err);
	return r;
}

static char *dump(const struct fdw_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	config_dump(c, f);
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(config_done) struct fdw_config c = {}, back = {};
	_cleanup_free_ char *err = NULL, *err2 = NULL, *text = NULL, *text2 = NULL;
	const uint8_t *nul = memchr(data, 0, size);
	int r;

	write_file(main_path, data, nul ? (size_t)(nul - data) : size);
	if (nul)
		write_file(dropin_path, nul + 1, size - (size_t)(nul + 1 - data));
	else
		unlink(dropin_path);

	r = load(main_path, &c, &err);
	assert(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == -EINVAL)
		assert(err && err[0]);
	if (r < 0)
		return 0;

	/* What --check-config prints must be a configuration that loads back the same. */
	text = dump(&c);
	write_file(main_path, (const uint8_t *)text, strlen(text));
	unlink(dropin_path);
	r = load(main_path, &back, &err2);
	if (r < 0)
		fprintf(stderr, "dump does not load back:\n%s\nerrors:\n%s\n", text, err2);
	assert(r == 0);
	text2 = dump(&back);
	assert(streq(text, text2));
	return 0;
}
