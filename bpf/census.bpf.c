// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * census.bpf.c - what one process holds, for its census: its sockets, and who
 * else holds its pipes.
 *
 * Task-file iterators, in an object of their own, built as a light skeleton
 * like count.bpf.c (the kernel resolves the attach point and the CO-RE reads,
 * no kernel BTF is read in user space), and loaded the first time the daemon
 * takes a census.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "fdwatch.h"
#include "pidns.bpf.h"

#define S_IFMT	     0170000
#define S_IFSOCK     0140000
#define S_IFIFO	     0010000
#define PIPEFS_MAGIC 0x50495045
#define AF_UNIX	     1
#define AF_INET	     2
#define AF_INET6     10

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The daemon's PID namespace when it is not the initial one, as in fdwatch.bpf.c. */
const volatile __u64 cfg_pidns_ino = 0;

/*
 * The census's pipes, inode -> another holder: user space puts its process's
 * pipe inodes in with 0, "find_pipe_holders" walks every task's fds and sets
 * the first other process found (FDW_HOLDER_HIDDEN: one outside our PID
 * namespace).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FDW_CENSUS_PIPES);
	__type(key, __u64);
	__type(value, __u32);
} pipe_holders SEC(".maps");

/* The process whose census it is, as the daemon sees it. */
__u32 census_tgid = 0;

/*
 * The sockets of one process, for its census: user space attaches this
 * iterator to one task (the thread group leader) and reads fdw_sock records.
 * /proc/net lists hashed sockets only; this sees every socket an fd holds.
 */
SEC("iter/task_file")
int dump_sockets(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct file *file = ctx->file;
	struct fdw_sock r = {};
	struct socket *sock;
	struct sock *sk;

	if (!file || (file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	sock = (struct socket *)file->private_data;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	r.ino = file->f_inode->i_ino;
	r.fd = (__s32)ctx->fd;
	r.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	r.type = BPF_CORE_READ(sk, sk_type);
	r.protocol = BPF_CORE_READ(sk, sk_protocol);
	r.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (r.family == AF_INET) {
		BPF_CORE_READ_INTO(&r.saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&r.daddr, sk, __sk_common.skc_daddr);
	} else if (r.family == AF_INET6) {
		BPF_CORE_READ_INTO(&r.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r.daddr, sk, __sk_common.skc_v6_daddr);
	} else if (r.family == AF_UNIX) {
		struct unix_sock *u = (struct unix_sock *)sk;
		struct unix_address *addr = BPF_CORE_READ(u, addr);
		struct sock *peer = BPF_CORE_READ(u, peer);
		int len;

		if (addr) {
			len = BPF_CORE_READ(addr, len) - 2; /* minus sun_family */
			r.path_len = len > 0 && len <= (int)sizeof(r.path) ? len : 0;
			bpf_probe_read_kernel(r.path, sizeof(r.path), &addr->name[0].sun_path);
		}
		if (peer)
			r.peer_ino = BPF_CORE_READ(peer, sk_socket, file, f_inode, i_ino);
	}
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}

/*
 * Who else holds the census's pipes: one pass over every task's fds (threads
 * sharing a table are visited once), in the kernel, instead of a readlink of
 * every fd of every process from user space.
 */
SEC("iter/task_file")
int find_pipe_holders(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	__u32 *holder, tgid;
	__u64 ino;

	if (!file || !task || (file->f_inode->i_mode & S_IFMT) != S_IFIFO ||
	    file->f_inode->i_sb->s_magic != PIPEFS_MAGIC) /* a named FIFO: another fs's inodes */
		return 0;
	ino = file->f_inode->i_ino;
	holder = bpf_map_lookup_elem(&pipe_holders, &ino);
	if (!holder || *holder)
		return 0;
	tgid = leader_tgid_seen(BPF_CORE_READ(task, group_leader), cfg_pidns_ino);
	if (tgid != census_tgid)
		*holder = tgid ?: FDW_HOLDER_HIDDEN;
	return 0;
}
