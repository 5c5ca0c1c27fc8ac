// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test-sites - creation records aggregated by stack (daemon/sites.c), a site in words, and the
 * Census and Sites objects of GetProcess: every field the IDL in varlink.c declares, no other.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "idl-fixture.h"
#include "sites.h"
#include "syscalls.h"
#include "util.h"
#include "varlink.h"

static int nr_of(const char *name)
{
	size_t n;
	const struct fdw_syscall *sc = fdw_syscalls(&n);

	for (size_t i = 0; i < n; i++)
		if (streq(sc[i].name, name))
			return sc[i].nr;
	fail_msg("no syscall %s", name);
	return -1;
}

static void test_aggregate(void **state)
{
	int sock = nr_of("socket"), pipe2 = nr_of("pipe2");
	const struct site_record recs[] = {
	    {.fd = 10, .ts_ns = 100, .syscall_nr = sock, .stack_id = 7},
	    {.fd = 11, .ts_ns = 300, .syscall_nr = sock, .stack_id = 7},
	    {.fd = 12, .ts_ns = 200, .syscall_nr = sock, .stack_id = 7},
	    {.fd = 13, .ts_ns = 150, .syscall_nr = pipe2, .stack_id = 3},
	    {.fd = 14, .ts_ns = 160, .syscall_nr = pipe2, .stack_id = 3},
	    {.fd = 15, .ts_ns = 170, .syscall_nr = sock, .stack_id = -14}, /* EFAULT: no stack */
	    {.fd = 16, .ts_ns = 180, .syscall_nr = sock, .stack_id = -17}, /* EEXIST: collision */
	    {.fd = 40, .ts_ns = 50, .syscall_nr = sock, .stack_id = 7},	   /* closed unseen */
	};
	const int open_fds[] = {0, 1, 2, 10, 11, 12, 13, 14, 15, 16};
	struct sites_report r;
	char buf[256];

	assert_int_equal(
	    sites_aggregate(recs, ELEMENTSOF(recs), open_fds, ELEMENTSOF(open_fds), &r), 0);
	assert_int_equal(r.tracked, 7);
	assert_int_equal(r.stale, 1);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].stack_id, 7);
	assert_int_equal(r.v[0].fds, 3);
	assert_int_equal(r.v[0].oldest_ns, 100); /* fd 40's older record is stale */
	assert_int_equal(r.v[0].newest_ns, 300);
	assert_int_equal(r.v[1].fds, 2);
	/* Both stackless records are one "stack not kept" site. */
	assert_int_equal(r.v[2].stack_id, -1);
	assert_int_equal(r.v[2].fds, 2);
	assert_int_equal(r.v[1].stack_id, 3);
	assert_int_equal(r.v[1].syscall_nr, pipe2);

	r.v[0].frames = calloc(2, sizeof(char *));
	r.v[0].frames[0] = strdup("__socket+0xb (libc.so.6)");
	r.v[0].frames[1] = strdup("reconnect+0x1c (app)");
	r.v[0].n_frames = 2;
	assert_true(site_describe(&r.v[0], 12 * NSEC_PER_SEC + 100, 3, buf, sizeof(buf)) > 0);
	assert_string_equal(
	    buf, "3 fds by socket(), oldest 12 s: __socket+0xb (libc.so.6) < reconnect+0x1c (app)");
	assert_true(site_describe(&r.v[0], 12 * NSEC_PER_SEC, 1, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "3 fds by socket(), oldest 12 s: __socket+0xb (libc.so.6)");
	assert_true(site_describe(&r.v[2], 2 * NSEC_PER_SEC, 3, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "2 fds by socket(), oldest 2 s: stack not kept");
	assert_int_equal(site_describe(&r.v[0], 12 * NSEC_PER_SEC, 3, buf, 20), -ENOBUFS);
	sites_report_done(&r);
	assert_int_equal(r.n, 0);
	sites_report_done(NULL);
}

static void test_site_cap(void **state)
{
	struct site_record recs[SITES_MAX + 3];
	const int open_fds[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
	struct sites_report r;

	for (int i = 0; i < (int)ELEMENTSOF(recs); i++)
		recs[i] = (struct site_record){.fd = 3 + i, .ts_ns = 1, .stack_id = i};
	assert_int_equal(
	    sites_aggregate(recs, ELEMENTSOF(recs), open_fds, ELEMENTSOF(open_fds), &r), 0);
	assert_int_equal(r.n, SITES_MAX + 3);
	assert_int_equal(sites_merge(&r), 0);
	assert_int_equal(r.n, SITES_MAX);
	assert_int_equal(r.other_fds, 3);
	sites_report_done(&r);
}

static char **frames_of(const char *a, const char *b)
{
	char **f = calloc(2, sizeof(char *));

	f[0] = strdup(a);
	f[1] = strdup(b);
	return f;
}

/* Code without frame pointers: a stack per fd, the same once cut where the chain ends. */
static void test_merge_same_frames(void **state)
{
	const struct site_record recs[] = {
	    {.fd = 3, .ts_ns = 10, .syscall_nr = 1, .stack_id = 1},
	    {.fd = 4, .ts_ns = 20, .syscall_nr = 2, .stack_id = 2},
	    {.fd = 5, .ts_ns = 30, .syscall_nr = 2, .stack_id = 3},
	    {.fd = 6, .ts_ns = 5, .syscall_nr = 1, .stack_id = 4},
	    {.fd = 7, .ts_ns = 6, .syscall_nr = 1, .stack_id = -17},
	    {.fd = 8, .ts_ns = 7, .syscall_nr = 1, .stack_id = -17},
	};
	const int open_fds[] = {3, 4, 5, 6, 7, 8};
	const char *end = "(no frame pointer: the stack ends here)";
	struct sites_report r;

	assert_int_equal(
	    sites_aggregate(recs, ELEMENTSOF(recs), open_fds, ELEMENTSOF(open_fds), &r), 0);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < r.n; i++) {
		if (r.v[i].stack_id < 0)
			continue;
		r.v[i].frames = r.v[i].stack_id == 4
				    ? frames_of("socket+0x7 (libc.so.6)", "main+0x9 (app)")
				    : frames_of("pipe2+0x7 (libc.so.6)", end);
		r.v[i].n_frames = 2;
	}
	assert_int_equal(sites_merge(&r), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].fds, 3);
	assert_string_equal(r.v[0].frames[0], "pipe2+0x7 (libc.so.6)");
	assert_int_equal(r.v[0].oldest_ns, 10);
	assert_int_equal(r.v[0].newest_ns, 30);
	assert_int_equal(r.v[0].syscall_nr, 2);
	/* Stackless records are their own site, never merged into one with frames. */
	assert_int_equal(r.v[1].fds, 2);
	assert_int_equal(r.v[1].stack_id, -1);
	assert_int_equal(r.v[2].fds, 1);
	assert_int_equal(r.v[2].stack_id, 4);
	assert_int_equal(r.other_fds, 0);
	sites_report_done(&r);
}

static void test_json_shapes(void **state)
{
	struct census_group groups[] = {
	    {.kind = CENSUS_SOCKET,
	     .label = "TCP CLOSE to 127.0.0.1:5432",
	     .fds = 41,
	     .objects = 41,
	     .oldest_ns = 90 * NSEC_PER_SEC,
	     .newest_ns = 99 * NSEC_PER_SEC,
	     .aged = 41,
	     .lowest_fd = 3},
	    {.kind = CENSUS_FILE, .label = "/dev/null", .fds = 3, .objects = 1},
	};
	struct census c = {
	    .fds = 44, .realtime_ns = 99 * NSEC_PER_SEC, .n_groups = 2, .groups = groups};
	char *frames[] = {"socket+0x7 (libc.so.6)", "main+0x10 (app)"};
	struct site site = {.stack_id = 1,
			    .syscall_nr = nr_of("socket"),
			    .fds = 41,
			    .oldest_ns = NSEC_PER_SEC,
			    .newest_ns = 5 * NSEC_PER_SEC,
			    .frames = frames,
			    .n_frames = 2};
	struct sites_report sr = {.v = &site, .n = 1, .tracked = 41};
	cJSON *o, *g, *s;

	o = json_census(&c, 100 * NSEC_PER_SEC);
	assert_non_null(o);
	assert_matches_idl(o, "type Census (");
	g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "groups"), 0);
	assert_matches_idl(g, "type CensusGroup (");
	assert_string_equal(cJSON_GetObjectItem(g, "kind")->valuestring, "socket");
	assert_true(cJSON_GetObjectItem(g, "oldest_age_sec")->valuedouble == 10);
	assert_string_equal(cJSON_GetObjectItem(g, "text")->valuestring,
			    "41 TCP sockets CLOSE to 127.0.0.1:5432, oldest 10 s");
	g = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "groups"), 1);
	assert_matches_idl(g, "type CensusGroup (");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(g, "oldest_age_sec")));
	cJSON_Delete(o);

	o = json_sites(&sr, true, 11 * NSEC_PER_SEC);
	assert_non_null(o);
	assert_matches_idl(o, "type Sites (");
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "sites"), 0);
	assert_matches_idl(s, "type Site (");
	assert_string_equal(cJSON_GetObjectItem(s, "syscall")->valuestring, "socket");
	assert_true(cJSON_GetObjectItem(s, "oldest_age_sec")->valuedouble == 10);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "frames"), 1)->valuestring,
			    "main+0x10 (app)");
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aggregate),
	    cmocka_unit_test(test_site_cap),
	    cmocka_unit_test(test_merge_same_frames),
	    cmocka_unit_test(test_json_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
