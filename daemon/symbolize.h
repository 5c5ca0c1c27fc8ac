/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * symbolize.h - user-space addresses of a live process to names: the mapping
 * from ROOT/PID/maps, the function from the ELF symbol table of the mapped file
 * (read as ROOT/PID/root/PATH, so a container's files are its own) and, when
 * the file carries DWARF debug info, the source file and line (libdw), JIT and
 * interpreter frames from the process's perf map (/tmp/perf-PID.map, written by
 * Node --perf-basic-prof, Python >= 3.12 -X perf, Java agents). What cannot be
 * resolved is shown as what it is - file+offset or the bare address - never
 * guessed. ELF files are cached (bounded; evictions counted; each keeps an fd
 * open for libdw). Pure: no libbpf, sd-event or socket headers (libelf, libdw).
 */
#ifndef FDWATCH_SYMBOLIZE_H
#define FDWATCH_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum sym_how {
	SYM_RAW = 0,  /* no mapping holds the address */
	SYM_MODULE,   /* in a mapped file, but no symbol covers it */
	SYM_ELF,      /* a function of the file's symbol table */
	SYM_PERF_MAP, /* a function of the process's perf map */
};

struct sym_frame {
	uint64_t ip;
	enum sym_how how;
	char func[128];	     /* SYM_ELF, SYM_PERF_MAP */
	uint64_t func_off;   /* ip - the function's start */
	char module[256];    /* SYM_ELF, SYM_MODULE: the mapped file's path */
	uint64_t module_off; /* SYM_MODULE: offset in the file */
	char file[256];	     /* SYM_ELF with debug info: the source file, as DWARF names it */
	int line;	     /* ... and line; 0 when unknown */
	bool bogus;	     /* a "return address" no call precedes, or in no code mapping:
			      * the frame-pointer chain ended (code built without frame
			      * pointers); it and the frames after it mean nothing */
};

struct symbolizer_stats {
	uint64_t files_loaded;
	uint64_t files_evicted;		 /* dropped from the cache to stay within max_files */
	uint64_t files_failed;		 /* not readable or not ELF */
	uint64_t symbols;		 /* held now, all cached files */
	uint64_t perf_map_lines_dropped; /* beyond the cap of a perf map */
};

struct symbolizer;

/*
 * root: "/proc" or a fixture. max_files: ELF files cached at once (at least 1). 0 or
 * -ENOMEM.
 */
int symbolizer_new(const char *root, unsigned max_files, struct symbolizer **ret);
/* NULL-safe. */
void symbolizer_free(struct symbolizer *s);

/*
 * Read pid's maps and perf map (if any) afresh; later lookups are against them. 0, or
 * -ENOENT/-ESRCH when the process is gone, -ENOMEM.
 */
int symbolizer_load(struct symbolizer *s, pid_t pid);

/*
 * Resolve ip of the loaded process into *ret. return_address: ip is a return address
 * (every frame but the innermost), so the call that precedes it is looked up, and checked
 * (ret->bogus). 0 or -ENOMEM; an unresolvable address is no error (ret->how says what is
 * known).
 */
int symbolizer_resolve(struct symbolizer *s, uint64_t ip, bool return_address,
		       struct sym_frame *ret);

/*
 * A frame for a person: "dial_backend+0x2c (tcp_leak)", with debug info
 * "dial_backend+0x2c (tcp_leak) at tcp_leak.c:72", "py::handler+0x10 [perf map]",
 * "libfoo.so+0x1234", "0x7f0012345678". Returns buf.
 */
char *sym_frame_format(const struct sym_frame *f, char *buf, size_t size);

void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *ret);

#endif
