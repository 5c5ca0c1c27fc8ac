// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * count.bpf.c - every process's open fd count, limits and identity in one pass.
 *
 * A task iterator: user space reads one struct fdw_task_count per thread group
 * leader. The count is the number of bits set in the fd table's open_fds, read
 * a word at a time (a process with few fds has a one-word table). A pass
 * costs ~1.3 us per process in the daemon (12.6 ms at 10,000 processes,
 * against 28 ms for a stat() of each /proc/PID/fd), and also replaces the
 * reads of /proc/PID/stat and limits.
 *
 * Built as a light skeleton (bpftool gen skeleton -L): the kernel resolves the
 * iterator's BTF attach point and applies the CO-RE relocations itself, so
 * loading it reads no kernel BTF in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "fdwatch.h"
#include "pidns.bpf.h"

#define RLIMIT_NOFILE 7

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The daemon's PID namespace when it is not the initial one, as in fdwatch.bpf.c. */
const volatile __u64 cfg_pidns_ino = 0;

struct bitmap_walk {
	unsigned long *bits;
	__u32 set;
};

static __always_inline __u32 popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56);
}

static long count_word(__u32 i, struct bitmap_walk *w)
{
	__u64 word;

	if (bpf_probe_read_kernel(&word, sizeof(word), &w->bits[i]))
		return 1; /* stop */
	w->set += popcount64(word);
	return 0;
}

SEC("iter/task")
int count_fds(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct bitmap_walk w = {};
	struct fdw_task_count r = {};
	struct fdtable *fdt;

	/* Leaders only (threads share the table); none after exit_files(). */
	if (!task || task->pid != task->tgid || !task->files)
		return 0;
	r.tgid = leader_tgid_seen(task, cfg_pidns_ino);
	if (!r.tgid)
		return 0;
	fdt = BPF_CORE_READ(task, files, fdt);
	w.bits = BPF_CORE_READ(fdt, open_fds);
	bpf_loop(BPF_CORE_READ(fdt, max_fds) / 64, count_word, &w, 0);
	r.fds = w.set;
	r.start_boottime = task->start_boottime;
	r.rlim_cur = task->signal->rlim[RLIMIT_NOFILE].rlim_cur;
	r.rlim_max = task->signal->rlim[RLIMIT_NOFILE].rlim_max;
	bpf_probe_read_kernel(r.comm, sizeof(r.comm), task->comm);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
