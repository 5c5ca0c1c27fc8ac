// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * symbolize.c - addresses to functions (symbolize.h), after bcc's syms cache:
 * a process's mappings, and per file a sorted array of its function symbols.
 */
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stddef.h>
#include <sys/stat.h>

#include "symbolize.h"
#include "util.h"

/*
 * A perf map is appended to for the life of a JIT: 1,000,000 lines (~60 MiB of
 * text, ~40 MiB held) is far past what Node writes for a large app in an hour;
 * the rest is counted, not read.
 */
#define PERF_MAP_MAX_LINES 1000000
#define MAPS_MAX_BYTES	   (16u << 20)

struct sym {
	uint64_t addr, size;
	uint32_t name; /* offset in the names blob */
};

struct elf_file {
	char *path; /* as in the maps */
	dev_t dev;
	ino_t ino;
	struct sym *syms;
	size_t n_syms;
	char *names;
	GElf_Phdr *loads; /* PT_LOAD headers: file offset -> address */
	size_t n_loads;
	uint64_t last_used;
	bool failed;
	int fd;	   /* kept open for libdw, which reads lazily */
	Dwarf *dw; /* the file's own debug info, NULL when it has none */
	bool dw_tried;
};

struct mapping {
	uint64_t start, end, pgoff;
	char *path; /* NULL: anonymous */
	struct elf_file *elf;
};

struct perf_sym {
	uint64_t addr, size;
	char *name;
};

struct symbolizer {
	char *root;
	pid_t pid;
	struct mapping *maps;
	size_t n_maps;
	struct perf_sym *perf;
	size_t n_perf;
	struct elf_file **files;
	unsigned n_files, max_files;
	uint64_t clock;
	struct symbolizer_stats stats;
};

static void elf_file_free(struct elf_file *f)
{
	if (!f)
		return;
	if (f->dw)
		dwarf_end(f->dw);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->syms);
	free(f->names);
	free(f->loads);
	free(f);
}

static void maps_clear(struct symbolizer *s)
{
	for (size_t i = 0; i < s->n_maps; i++)
		free(s->maps[i].path);
	free(s->maps);
	s->maps = NULL;
	s->n_maps = 0;
	for (size_t i = 0; i < s->n_perf; i++)
		free(s->perf[i].name);
	free(s->perf);
	s->perf = NULL;
	s->n_perf = 0;
}

int symbolizer_new(const char *root, unsigned max_files, struct symbolizer **ret)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->max_files = MAX(max_files, 1u);
	s->root = strdup(root);
	s->files = calloc(s->max_files, sizeof(*s->files));
	if (!s->root || !s->files) {
		symbolizer_free(s);
		return -ENOMEM;
	}
	elf_version(EV_CURRENT);
	*ret = s;
	return 0;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	maps_clear(s);
	for (unsigned i = 0; i < s->n_files; i++)
		elf_file_free(s->files[i]);
	free(s->files);
	free(s->root);
	free(s);
}

void symbolizer_get_stats(const struct symbolizer *s, struct symbolizer_stats *ret)
{
	*ret = s->stats;
	ret->symbols = 0;
	for (unsigned i = 0; i < s->n_files; i++)
		ret->symbols += s->files[i]->n_syms;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_perf(const void *a, const void *b)
{
	const struct perf_sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The function symbols of one symbol table section, appended to f. */
static int elf_read_symtab(Elf *e, Elf_Scn *scn, GElf_Shdr *sh, struct elf_file *f,
			   size_t *names_len)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	struct sym *ns;

	if (!data || n == 0)
		return 0;
	ns = realloc(f->syms, (f->n_syms + n) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	f->syms = ns;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		size_t len;
		char *nn;

		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		if ((GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
		     GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(e, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		len = strlen(name) + 1;
		nn = realloc(f->names, *names_len + len);
		if (!nn)
			return -ENOMEM;
		f->names = nn;
		memcpy(f->names + *names_len, name, len);
		f->syms[f->n_syms++] = (struct sym){
		    .addr = sym.st_value, .size = sym.st_size, .name = (uint32_t)*names_len};
		*names_len += len;
	}
	return 0;
}

/* Load path's function symbols (.symtab, else .dynsym) and PT_LOAD headers. */
static int elf_file_load(struct elf_file *f, int fd)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL, *dynsym = NULL;
	GElf_Shdr sh, dynsh;
	size_t names_len = 0, nph = 0;
	bool have_symtab = false;
	int r = 0;

	if (!e)
		return -EINVAL;
	if (elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &nph) < 0) {
		elf_end(e);
		return -EINVAL;
	}
	f->loads = calloc(MAX(nph, (size_t)1), sizeof(*f->loads));
	if (!f->loads) {
		elf_end(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD)
			f->loads[f->n_loads++] = ph;
	}
	while ((scn = elf_nextscn(e, scn)) && r >= 0) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB) {
			have_symtab = true;
			r = elf_read_symtab(e, scn, &sh, f, &names_len);
		} else if (sh.sh_type == SHT_DYNSYM) {
			dynsym = scn;
			dynsh = sh;
		}
	}
	/* A stripped file still exports its dynamic symbols. */
	if (r >= 0 && !have_symtab && dynsym)
		r = elf_read_symtab(e, dynsym, &dynsh, f, &names_len);
	elf_end(e);
	if (r < 0)
		return r;
	qsort(f->syms, f->n_syms, sizeof(*f->syms), cmp_sym);
	return 0;
}

/* The cached ELF file of path (as the process sees it), loading it, evicting the least used. */
static struct elf_file *elf_get(struct symbolizer *s, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	struct elf_file *f;
	char full[4200];
	struct stat st;
	unsigned victim = 0;

	snprintf(full, sizeof(full), "%s/%d/root%s", s->root, (int)s->pid, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	for (unsigned i = 0; i < s->n_files; i++) {
		f = s->files[i];
		if (f->dev == st.st_dev && f->ino == st.st_ino && streq(f->path, path)) {
			f->last_used = ++s->clock;
			return f->failed ? NULL : f;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->fd = -EBADF;
	f->path = strdup(path);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->last_used = ++s->clock;
	if (!f->path) {
		elf_file_free(f);
		return NULL;
	}
	if (elf_file_load(f, fd) < 0) {
		free(f->syms);
		free(f->names);
		f->syms = NULL;
		f->names = NULL;
		f->n_syms = 0;
		f->failed = true;
		s->stats.files_failed++;
	} else {
		s->stats.files_loaded++;
		f->fd = TAKE_FD(fd);
	}
	if (s->n_files == s->max_files) {
		for (unsigned i = 1; i < s->n_files; i++)
			if (s->files[i]->last_used < s->files[victim]->last_used)
				victim = i;
		/* Mappings of the loaded process may point at the victim. */
		for (size_t i = 0; i < s->n_maps; i++)
			if (s->maps[i].elf == s->files[victim])
				s->maps[i].elf = NULL;
		elf_file_free(s->files[victim]);
		s->files[victim] = f;
		s->stats.files_evicted++;
	} else {
		s->files[s->n_files++] = f;
	}
	return f->failed ? NULL : f;
}

/* "55d0c0a00000-55d0c0a21000 r-xp 00002000 08:01 1234   /usr/bin/app" */
static int parse_maps(struct symbolizer *s, char *text)
{
	size_t cap = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long long start, end, pgoff;
		char perms[8];
		int path_at = 0;
		struct mapping *m;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &pgoff,
			   &path_at) < 4)
			continue;
		if (perms[2] != 'x')
			continue; /* code only: stacks hold return addresses into code */
		if (s->n_maps == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct mapping *nm = realloc(s->maps, ncap * sizeof(*nm));

			if (!nm)
				return -ENOMEM;
			s->maps = nm;
			cap = ncap;
		}
		m = &s->maps[s->n_maps];
		*m = (struct mapping){.start = start, .end = end, .pgoff = pgoff};
		if (path_at > 0 && line[path_at] == '/') {
			m->path = strdup(line + path_at);
			if (!m->path)
				return -ENOMEM;
		}
		s->n_maps++;
	}
	return 0;
}

/* "7f12a0001000 40 LazyCompile:*handler /app/server.js" (hex start, hex size, name). */
static int parse_perf_map(struct symbolizer *s, FILE *f)
{
	_cleanup_free_ char *line = NULL;
	size_t len = 0, cap = 0;
	ssize_t k;

	while ((k = getline(&line, &len, f)) > 0) {
		unsigned long long start, size;
		int name_at = 0;
		struct perf_sym *p;

		if (line[k - 1] == '\n')
			line[k - 1] = '\0';
		if (sscanf(line, "%llx %llx %n", &start, &size, &name_at) < 2 || name_at == 0 ||
		    !line[name_at])
			continue;
		if (s->n_perf >= PERF_MAP_MAX_LINES) {
			s->stats.perf_map_lines_dropped++;
			continue;
		}
		if (s->n_perf == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct perf_sym *np = realloc(s->perf, ncap * sizeof(*np));

			if (!np)
				return -ENOMEM;
			s->perf = np;
			cap = ncap;
		}
		p = &s->perf[s->n_perf];
		p->addr = start;
		p->size = size;
		p->name = strdup(line + name_at);
		if (!p->name)
			return -ENOMEM;
		s->n_perf++;
	}
	qsort(s->perf, s->n_perf, sizeof(*s->perf), cmp_perf);
	return 0;
}

int symbolizer_load(struct symbolizer *s, pid_t pid)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_fclose_ FILE *pf = NULL;
	char path[512];
	int r;

	maps_clear(s);
	s->pid = pid;
	snprintf(path, sizeof(path), "%s/%d/maps", s->root, (int)pid);
	r = read_file_full(path, MAPS_MAX_BYTES, &text, NULL);
	if (r < 0)
		return r;
	r = parse_maps(s, text);
	if (r < 0)
		return r;
	/* The process's own /tmp: a container's perf map is inside it. */
	snprintf(path, sizeof(path), "%s/%d/root/tmp/perf-%d.map", s->root, (int)pid, (int)pid);
	pf = fopen(path, "re");
	if (pf)
		r = parse_perf_map(s, pf);
	return r < 0 ? r : 0;
}

/*
 * How many of the n elements of size bytes at base start at or below addr: each begins with
 * its uint64_t start address, and they are sorted by it (struct sym, struct perf_sym).
 */
static size_t starting_at_or_below(const void *base, size_t n, size_t size, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t a;

		memcpy(&a, (const char *)base + mid * size, sizeof(a));
		if (a <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
_Static_assert(offsetof(struct sym, addr) == 0, "struct sym starts with its address");
_Static_assert(offsetof(struct perf_sym, addr) == 0, "struct perf_sym starts with its address");

/* The symbol covering addr; a size-0 symbol covers up to the next one. */
static const struct sym *sym_find(const struct elf_file *f, uint64_t addr)
{
	size_t lo = starting_at_or_below(f->syms, f->n_syms, sizeof(*f->syms), addr);
	const struct sym *y;

	if (lo == 0)
		return NULL;
	/* Aliases start at one address: prefer one that has a size. */
	y = &f->syms[lo - 1];
	for (size_t i = lo - 1; i > 0 && f->syms[i - 1].addr == y->addr && !y->size; i--)
		y = &f->syms[i - 1];
	/* A size-0 symbol covers up to the next one, which starts above addr. */
	return !y->size || addr < y->addr + y->size ? y : NULL;
}

static const struct perf_sym *perf_find(const struct symbolizer *s, uint64_t addr)
{
	size_t lo = starting_at_or_below(s->perf, s->n_perf, sizeof(*s->perf), addr);

	if (lo == 0)
		return NULL;
	return addr < s->perf[lo - 1].addr + s->perf[lo - 1].size ? &s->perf[lo - 1] : NULL;
}

/* File and line of addr from the file's DWARF line table, when it has one. */
static void source_line(struct elf_file *f, uint64_t addr, struct sym_frame *ret)
{
	Dwarf_Die cu;
	Dwarf_Line *line;
	const char *src;
	int lineno = 0;

	if (!f->dw_tried) {
		f->dw_tried = true;
		f->dw = dwarf_begin(f->fd, DWARF_C_READ);
	}
	if (!f->dw || !dwarf_addrdie(f->dw, addr, &cu))
		return;
	line = dwarf_getsrc_die(&cu, addr);
	if (!line || dwarf_lineno(line, &lineno) != 0 || lineno <= 0)
		return;
	src = dwarf_linesrc(line, NULL, NULL);
	if (!src)
		return;
	snprintf(ret->file, sizeof(ret->file), "%s", src);
	ret->line = lineno;
}

/*
 * Whether the code before a return address (at file offset off) ends in a call, as every
 * real return address does. Frame-pointer unwinding through code built without frame
 * pointers follows whatever the register held: such "return addresses" fail this. x86-64
 * encodings: E8 rel32 (5 bytes before), FF /2 (call through a register or memory, 2 to 7
 * bytes before). Elsewhere, or when the bytes cannot be read, it cannot tell: true.
 */
static bool follows_call(const struct elf_file *f, uint64_t off)
{
#if defined(__x86_64__)
	uint8_t b[7];

	if (f->fd < 0 || off < sizeof(b) ||
	    pread(f->fd, b, sizeof(b), (off_t)(off - sizeof(b))) != (ssize_t)sizeof(b))
		return true;
	if (b[sizeof(b) - 5] == 0xe8)
		return true;
	for (size_t k = 2; k <= sizeof(b); k++)
		if (b[sizeof(b) - k] == 0xff && ((b[sizeof(b) - k + 1] >> 3) & 7) == 2)
			return true;
	return false;
#else
	return true;
#endif
}

int symbolizer_resolve(struct symbolizer *s, uint64_t ip, bool return_address,
		       struct sym_frame *ret)
{
	uint64_t look = return_address && ip ? ip - 1 : ip;
	const struct perf_sym *ps;
	struct mapping *m = NULL;

	*ret = (struct sym_frame){.ip = ip, .how = SYM_RAW};
	for (size_t i = 0; i < s->n_maps; i++)
		if (look >= s->maps[i].start && look < s->maps[i].end) {
			m = &s->maps[i];
			break;
		}
	/* A return address in no code mapping is no return address. */
	ret->bogus = return_address && !m;
	if (m && m->path) {
		uint64_t off = look - m->start + m->pgoff;

		snprintf(ret->module, sizeof(ret->module), "%s", m->path);
		ret->module_off = ip - m->start + m->pgoff;
		ret->how = SYM_MODULE;
		if (!m->elf)
			m->elf = elf_get(s, m->path);
		if (m->elf && return_address && !follows_call(m->elf, ret->module_off)) {
			ret->bogus = true;
			return 0;
		}
		if (m->elf) {
			for (size_t i = 0; i < m->elf->n_loads; i++) {
				const GElf_Phdr *ph = &m->elf->loads[i];
				const struct sym *y;
				uint64_t addr;

				if (off < ph->p_offset || off >= ph->p_offset + ph->p_filesz)
					continue;
				addr = off - ph->p_offset + ph->p_vaddr;
				y = sym_find(m->elf, addr);
				if (y) {
					ret->how = SYM_ELF;
					snprintf(ret->func, sizeof(ret->func), "%s",
						 m->elf->names + y->name);
					ret->func_off = addr + (look != ip) - y->addr;
					source_line(m->elf, addr, ret);
				}
				break;
			}
		}
		return 0;
	}
	/* Anonymous executable memory (or none): a JIT's, if its perf map says so. */
	ps = perf_find(s, look);
	if (ps) {
		ret->how = SYM_PERF_MAP;
		snprintf(ret->func, sizeof(ret->func), "%s", ps->name);
		ret->func_off = ip - ps->addr;
	}
	return 0;
}

char *sym_frame_format(const struct sym_frame *f, char *buf, size_t size)
{
	const char *base = strrchr(f->module, '/');

	base = base ? base + 1 : f->module;
	switch (f->how) {
	case SYM_ELF:
		if (f->line > 0) {
			const char *src = strrchr(f->file, '/');

			snprintf(buf, size, "%s+0x%" PRIx64 " (%s) at %s:%d", f->func, f->func_off,
				 base, src ? src + 1 : f->file, f->line);
		} else {
			snprintf(buf, size, "%s+0x%" PRIx64 " (%s)", f->func, f->func_off, base);
		}
		break;
	case SYM_PERF_MAP:
		snprintf(buf, size, "%s+0x%" PRIx64 " [perf map]", f->func, f->func_off);
		break;
	case SYM_MODULE:
		snprintf(buf, size, "%s+0x%" PRIx64, base, f->module_off);
		break;
	default:
		snprintf(buf, size, "0x%" PRIx64, f->ip);
		break;
	}
	return buf;
}
