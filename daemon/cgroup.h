/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cgroup.h - what a process's cgroup v2 path says about it: the systemd unit,
 * and for containers the runtime and container id, and for Kubernetes pods the
 * pod UID and QoS class. Pure: works on the path string (proc_read_cgroup()
 * reads it), so every runtime's layout is a fixture in test-cgroup.
 */
#ifndef FDWATCH_CGROUP_H
#define FDWATCH_CGROUP_H

#include <stdbool.h>

enum cgroup_runtime {
	CGROUP_RUNTIME_NONE = 0,   /* not in a container (a pod's own cgroup: pod UID only) */
	CGROUP_RUNTIME_DOCKER,	   /* docker-ID.scope, /docker/ID */
	CGROUP_RUNTIME_PODMAN,	   /* libpod-ID.scope, /libpod_parent/libpod-ID */
	CGROUP_RUNTIME_CONTAINERD, /* cri-containerd-ID.scope */
	CGROUP_RUNTIME_CRIO,	   /* crio-ID.scope */
	CGROUP_RUNTIME_CRI, /* /kubepods/.../podUID/ID: a CRI runtime the path does not name */
	CGROUP_RUNTIME_MAX,
};

enum cgroup_qos {
	CGROUP_QOS_NONE = 0, /* not in a pod */
	CGROUP_QOS_GUARANTEED,
	CGROUP_QOS_BURSTABLE,
	CGROUP_QOS_BESTEFFORT,
	CGROUP_QOS_MAX,
};

/* Container ids are 64 hex digits in every runtime here (docker, libpod, containerd, CRI-O). */
#define CGROUP_CONTAINER_ID_LEN 64
/* A pod UID is an RFC 4122 UUID: 36 characters with its dashes. */
#define CGROUP_POD_UID_LEN 36

struct cgroup_container {
	enum cgroup_runtime runtime;
	char id[CGROUP_CONTAINER_ID_LEN + 1]; /* "" when runtime is NONE */
	char pod_uid[CGROUP_POD_UID_LEN + 1]; /* with dashes; "" when not in a pod */
	enum cgroup_qos qos;
};

/* "docker", "podman", "containerd", "cri-o", "cri"; NULL for NONE and out of range. */
const char *cgroup_runtime_to_string(enum cgroup_runtime r);
/* "guaranteed", "burstable", "besteffort"; NULL for NONE and out of range. */
const char *cgroup_qos_to_string(enum cgroup_qos q);

/*
 * The systemd unit a cgroup path belongs to: the deepest component ending in
 * .service, .scope, .socket, .mount or .swap ("/system.slice/foo.service/worker"
 * gives "foo.service", "/init.scope" gives "init.scope"). 0 with *ret a
 * malloc'd name, or 0 with *ret NULL when there is none ("/", "/machine.slice");
 * -ENOMEM.
 */
int cgroup_path_to_unit(const char *path, char **ret);

/*
 * The container and pod a cgroup path belongs to, from the layouts of docker,
 * podman, containerd and CRI-O under systemd's cgroup driver (NAME-ID.scope)
 * and under the cgroupfs driver (/docker/ID, /libpod_parent/libpod-ID,
 * /kubepods/QOS/podUID/ID), also nested below another service (kind,
 * rootless). The deepest container component wins; a runtime's monitor
 * (libpod-conmon-ID.scope, crio-conmon-ID.scope) is not a container. Returns 1
 * and fills *ret when the path names a container or a pod, 0 (and *ret
 * zeroed) when it names neither.
 */
int cgroup_path_to_container(const char *path, struct cgroup_container *ret);

#endif
