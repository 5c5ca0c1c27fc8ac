// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Unit tests of the symbolizer: this test binary's own functions through the real /proc/self,
 * and a fixture process (its maps, its root, its perf map) for JIT frames, unreadable files and
 * addresses no mapping holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>

#include "symbolize.h"
#include "util.h"
#include "proc-fixture.h"

/* Not static, not inlined: a function with a symbol of its own to find. */
enum { TARGET_LINE = __LINE__ + 1 };
__attribute__((noinline)) int symbolize_target_function(int x)
{
	return x * 3 + 1;
}

static uint64_t addr_of_target(void)
{
	int (*volatile f)(int) = symbolize_target_function;

	return (uint64_t)(uintptr_t)f;
}

/* Where it returns to: a real return address in the caller. */
__attribute__((noinline)) static uint64_t return_address_here(void)
{
	return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

/*
 * Code bytes with a known past, in .text: a return address after a call (E8 rel32), and one
 * after seven nops, as a frame-pointer chain through code without frame pointers yields.
 */
__asm__(".pushsection .text\n"
	"after_call_code: .byte 0x90, 0x90, 0xe8, 0, 0, 0, 0\n"
	"after_call_ret: .byte 0xc3\n"
	"after_nops_code: .byte 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90\n"
	"after_nops_ret: .byte 0xc3\n"
	".popsection\n");
extern const uint8_t after_call_ret[], after_nops_ret[];

static void test_frame_check(void **state)
{
	struct symbolizer *s;
	struct sym_frame f;

	assert_int_equal(symbolizer_new("/proc", 4, &s), 0);
	assert_int_equal(symbolizer_load(s, getpid()), 0);
	assert_int_equal(symbolizer_resolve(s, (uint64_t)(uintptr_t)after_call_ret, true, &f), 0);
	assert_false(f.bogus);
	assert_int_equal(symbolizer_resolve(s, (uint64_t)(uintptr_t)after_nops_ret, true, &f), 0);
#if defined(__x86_64__)
	assert_true(f.bogus);
#endif
	/* As the innermost frame (the syscall's own address) nothing is checked. */
	assert_int_equal(symbolizer_resolve(s, (uint64_t)(uintptr_t)after_nops_ret, false, &f), 0);
	assert_false(f.bogus);
	/* A "return address" in no code mapping at all. */
	assert_int_equal(symbolizer_resolve(s, 0x10, true, &f), 0);
	assert_true(f.bogus);
	symbolizer_free(s);
}

static void test_self(void **state)
{
	struct symbolizer *s;
	struct sym_frame f;
	char buf[256], want[256];
	uint64_t ra;

	assert_int_equal(symbolizer_new("/proc", 4, &s), 0);
	assert_int_equal(symbolizer_load(s, getpid()), 0);
	assert_int_equal(symbolizer_resolve(s, addr_of_target(), false, &f), 0);
	assert_int_equal(f.how, SYM_ELF);
	assert_string_equal(f.func, "symbolize_target_function");
	assert_int_equal(f.func_off, 0);
	/* An address 4 bytes in (the function is 5 bytes at -O2). */
	assert_int_equal(symbolizer_resolve(s, addr_of_target() + 4, false, &f), 0);
	assert_string_equal(f.func, "symbolize_target_function");
	assert_int_equal(f.func_off, 4);
	assert_false(f.bogus);
	/* Built with -g: the source line of the function's body. */
	assert_non_null(strstr(f.file, "test-symbolize.c"));
	assert_in_range(f.line, TARGET_LINE, TARGET_LINE + 3);
	snprintf(want, sizeof(want),
		 "symbolize_target_function+0x4 (test-symbolize) at "
		 "test-symbolize.c:%d",
		 f.line);
	assert_string_equal(sym_frame_format(&f, buf, sizeof(buf)), want);
	/* A real return address: in test_self, right after the call, on the call's line. */
	ra = return_address_here();
	assert_int_equal(symbolizer_resolve(s, ra, true, &f), 0);
	assert_false(f.bogus);
	assert_string_equal(f.func, "test_self");
	assert_true(f.line > TARGET_LINE);
	/* libc through its own symbol tables. */
	assert_int_equal(symbolizer_resolve(s, (uint64_t)(uintptr_t)&getppid, false, &f), 0);
	assert_int_equal(f.how, SYM_ELF);
	assert_non_null(strstr(f.func, "getppid"));
	assert_non_null(strstr(f.module, "libc"));
	symbolizer_free(s);
}

static void test_cache_eviction(void **state)
{
	struct symbolizer_stats st;
	struct symbolizer *s;
	struct sym_frame f;

	assert_int_equal(symbolizer_new("/proc", 1, &s), 0);
	assert_int_equal(symbolizer_load(s, getpid()), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(symbolizer_resolve(s, addr_of_target(), false, &f), 0);
		assert_string_equal(f.func, "symbolize_target_function");
		assert_int_equal(symbolizer_resolve(s, (uint64_t)(uintptr_t)&getppid, false, &f),
				 0);
		assert_non_null(strstr(f.func, "getppid"));
	}
	symbolizer_get_stats(s, &st);
	assert_int_equal(st.files_loaded, 4);
	assert_int_equal(st.files_evicted, 3);
	assert_true(st.symbols > 0);
	symbolizer_free(s);
}

/* mkdir -p */
static void mkdirs(const char *path)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *c = p + 1; *c; c++)
		if (*c == '/') {
			*c = '\0';
			mkdir(p, 0755);
			*c = '/';
		}
	mkdir(p, 0755);
}

static void test_fixture(void **state)
{
	char *root = fixture_new();
	char exe[PATH_MAX], path[PATH_MAX + 600], maps[8192], *self_maps = NULL;
	struct symbolizer *s;
	struct sym_frame f;
	char buf[256];
	size_t n = 0;
	ssize_t k;
	FILE *pm;

	k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(k > 0);
	exe[k] = '\0';
	fixture_proc(root, 77, "node", 1, 1000, 0);
	/* Its root holds this test binary at the same path, and a perf map in /tmp. */
	snprintf(path, sizeof(path), "%s/77/root%s", root, exe);
	mkdirs(path);
	rmdir(path);
	assert_int_equal(symlink(exe, path), 0);
	snprintf(path, sizeof(path), "%s/77/root/tmp", root);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/77/root/tmp/perf-77.map", root);
	pm = fopen(path, "w");
	assert_non_null(pm);
	fprintf(pm, "7f0000001000 40 LazyCompile:*handleRequest /app/server.js:10\n"
		    "7f0000002000 10 py::worker_loop:/app/worker.py\n"
		    "garbage line\n");
	fclose(pm);
	/* Its maps: this binary's code mappings, a JIT region, a file that is not there. */
	assert_int_equal(read_file_full("/proc/self/maps", 1 << 20, &self_maps, NULL), 0);
	for (char *line = strtok(self_maps, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, exe))
			n += (size_t)snprintf(maps + n, sizeof(maps) - n, "%s\n", line);
	n += (size_t)snprintf(maps + n, sizeof(maps) - n,
			      "7f0000000000-7f0000010000 rwxp 00000000 00:00 0 \n"
			      "7f1000000000-7f1000010000 r-xp 00002000 08:01 99 "
			      "/opt/gone/libgone.so\n");
	fixture_write(root, 77, "maps", maps, n);
	free(self_maps);

	assert_int_equal(symbolizer_new(root, 4, &s), 0);
	assert_int_equal(symbolizer_load(s, 77), 0);
	assert_int_equal(symbolizer_resolve(s, addr_of_target() + 2, false, &f), 0);
	assert_string_equal(f.func, "symbolize_target_function");
	assert_int_equal(symbolizer_resolve(s, 0x7f0000001010, true, &f), 0);
	assert_int_equal(f.how, SYM_PERF_MAP);
	assert_string_equal(sym_frame_format(&f, buf, sizeof(buf)),
			    "LazyCompile:*handleRequest /app/server.js:10+0x10 [perf map]");
	assert_int_equal(symbolizer_resolve(s, 0x7f0000002000, false, &f), 0);
	assert_string_equal(f.func, "py::worker_loop:/app/worker.py");
	/* In the JIT region but in no perf map entry: the bare address. */
	assert_int_equal(symbolizer_resolve(s, 0x7f0000003000, true, &f), 0);
	assert_int_equal(f.how, SYM_RAW);
	assert_string_equal(sym_frame_format(&f, buf, sizeof(buf)), "0x7f0000003000");
	/* A file that cannot be read: file and offset, no function made up. */
	assert_int_equal(symbolizer_resolve(s, 0x7f1000000234, true, &f), 0);
	assert_int_equal(f.how, SYM_MODULE);
	assert_string_equal(sym_frame_format(&f, buf, sizeof(buf)), "libgone.so+0x2234");
	/* No mapping at all. */
	assert_int_equal(symbolizer_resolve(s, 0x10, true, &f), 0);
	assert_int_equal(f.how, SYM_RAW);
	assert_int_equal(symbolizer_load(s, 78), -ENOENT);
	symbolizer_free(s);
	fixture_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self),
	    cmocka_unit_test(test_frame_check),
	    cmocka_unit_test(test_cache_eviction),
	    cmocka_unit_test(test_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
