/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * pidns.bpf.h - PIDs as the daemon sees them, for BPF programs that report
 * processes of other tasks than current (a forked child, an iterated task).
 */
#ifndef FDWATCH_PIDNS_BPF_H
#define FDWATCH_PIDNS_BPF_H

/* Namespaces nested deeper than this under the initial one are not looked into:
 * more than containers in containers use. */
#define PIDNS_LEVELS 8

/*
 * A thread group leader's PID as the daemon sees it: the host PID when pidns_ino
 * is 0, else its number in the PID namespace with that inode; 0 when it has none
 * there. Probe reads only, so leader may be a BTF pointer or a plain one.
 */
static __always_inline __u32 leader_tgid_seen(struct task_struct *leader, __u64 pidns_ino)
{
	struct pid *pid;
	unsigned int level;

	if (!pidns_ino)
		return BPF_CORE_READ(leader, tgid);
	pid = BPF_CORE_READ(leader, thread_pid);
	level = BPF_CORE_READ(pid, level);
	for (int i = 0; i < PIDNS_LEVELS; i++) {
		struct upid up;

		if (i > level)
			break;
		if (bpf_core_read(&up, sizeof(up), &pid->numbers[i]))
			break;
		if (BPF_CORE_READ(up.ns, ns.inum) == pidns_ino)
			return up.nr;
	}
	return 0;
}

#endif
