/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* syscalls.h - the fd syscalls fdwatch counts: name, number on this arch, what they do. */
#ifndef FDWATCH_SYSCALLS_H
#define FDWATCH_SYSCALLS_H

#include <stddef.h>
#include "fdwatch.h"

struct fdw_syscall {
	const char *name; /* as in tracefs: syscalls/sys_exit_<name> */
	int nr;
	enum fdw_action action;
	enum fdw_kind kind;
};

/* Every fd syscall this architecture has; *ret_n entries. Static, never freed. */
const struct fdw_syscall *fdw_syscalls(size_t *ret_n);
/* The name of a syscall number in the table, or NULL. */
const char *fdw_syscall_name(int nr);

#endif
