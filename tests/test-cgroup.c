// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Unit tests of the cgroup path parser: the layouts docker, podman, containerd,
 * CRI-O and the kubelet make under systemd's and the cgroupfs cgroup driver
 * (rootful, rootless, nested like kind), and plain systemd units.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cgroup.h"
#include "util.h"

static const struct {
	const char *path, *unit;
	enum cgroup_runtime runtime;
	const char *id, *pod_uid;
	enum cgroup_qos qos;
} cases[] = {
    {"/system.slice/docker-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "docker-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_DOCKER, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/docker/3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", NULL,
     CGROUP_RUNTIME_DOCKER, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/docker/3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001/docker/"
     "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
     NULL, CGROUP_RUNTIME_DOCKER,
     "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9", "", CGROUP_QOS_NONE},
    {"/user.slice/user-1000.slice/user@1000.service/user.slice/"
     "docker-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "docker-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_DOCKER, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/machine.slice/libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_PODMAN, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/machine.slice/libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope/"
     "container",
     "libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_PODMAN, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/user.slice/user-1000.slice/user@1000.service/user.slice/"
     "libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_PODMAN, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/libpod_parent/libpod-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", NULL,
     CGROUP_RUNTIME_PODMAN, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", "",
     CGROUP_QOS_NONE},
    {"/machine.slice/"
     "libpod-conmon-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "libpod-conmon-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6f.slice/"
     "cri-containerd-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "cri-containerd-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_CONTAINERD, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BURSTABLE},
    {"/kubepods.slice/kubepods-besteffort.slice/"
     "kubepods-besteffort-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6f.slice/"
     "crio-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "crio-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_CRIO, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BESTEFFORT},
    {"/kubepods.slice/kubepods-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6f.slice/"
     "cri-containerd-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "cri-containerd-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_CONTAINERD, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_GUARANTEED},
    {"/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6f.slice/"
     "crio-conmon-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "crio-conmon-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_NONE, "", "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BURSTABLE},
    {"/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6f.slice/"
     "docker-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "docker-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_DOCKER, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BURSTABLE},
    {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6f.slice/"
     "cri-containerd-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     "cri-containerd-3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001.scope",
     CGROUP_RUNTIME_CONTAINERD, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BESTEFFORT},
    {"/kubepods/burstable/pod8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f/"
     "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     NULL, CGROUP_RUNTIME_CRI, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BURSTABLE},
    {"/kubepods/besteffort/pod8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f/"
     "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     NULL, CGROUP_RUNTIME_CRI, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BESTEFFORT},
    {"/kubepods/pod8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f/"
     "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     NULL, CGROUP_RUNTIME_CRI, "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_GUARANTEED},
    {"/kubepods/burstable/pod8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", NULL, CGROUP_RUNTIME_NONE, "",
     "8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f", CGROUP_QOS_BURSTABLE},
    {"/system.slice/nginx.service", "nginx.service", CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/system.slice/nginx.service/worker", "nginx.service", CGROUP_RUNTIME_NONE, "", "",
     CGROUP_QOS_NONE},
    {"/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope", "app-x.scope",
     CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/user.slice/user-0.slice/session-3.scope", "session-3.scope", CGROUP_RUNTIME_NONE, "", "",
     CGROUP_QOS_NONE},
    {"/init.scope", "init.scope", CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service",
     CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/", NULL, CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"", NULL, CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/machine.slice", NULL, CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/.service", NULL, CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/system.slice/docker-3f1d2c4b5a69.scope", "docker-3f1d2c4b5a69.scope", CGROUP_RUNTIME_NONE,
     "", "", CGROUP_QOS_NONE},
    {"/system.slice/docker-3F1D2C4B5A69788796A5B4C3D2E1F00112233445566778899AABBCCDDEEFF001.scope",
     "docker-3F1D2C4B5A69788796A5B4C3D2E1F00112233445566778899AABBCCDDEEFF001.scope",
     CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/pod8f3c1a2e-4b5d-4c6e-9f70-1a2b3c4d5e6f/"
     "3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001",
     NULL, CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod8f3c1a2e_4b5d_4c6e_9f70_1a2b3c4d5e6.slice",
     NULL, CGROUP_RUNTIME_NONE, "", "", CGROUP_QOS_NONE},
    {"/3f1d2c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001", NULL, CGROUP_RUNTIME_NONE,
     "", "", CGROUP_QOS_NONE},
};

static void test_unit(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *u = NULL;

		assert_int_equal(cgroup_path_to_unit(cases[i].path, &u), 0);
		if (cases[i].unit)
			assert_string_equal(u, cases[i].unit);
		else
			assert_null(u);
		free(u);
	}
}

static void test_container(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct cgroup_container c;
		bool named = cases[i].runtime != CGROUP_RUNTIME_NONE || cases[i].pod_uid[0];

		memset(&c, 0x5a, sizeof(c));
		print_message("%s\n", cases[i].path);
		assert_int_equal(cgroup_path_to_container(cases[i].path, &c), named);
		assert_int_equal(c.runtime, cases[i].runtime);
		assert_string_equal(c.id, cases[i].id);
		assert_string_equal(c.pod_uid, cases[i].pod_uid);
		assert_int_equal(c.qos, cases[i].qos);
	}
}

static void test_names(void **state)
{
	assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_DOCKER), "docker");
	assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_PODMAN), "podman");
	assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_CONTAINERD), "containerd");
	assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_CRIO), "cri-o");
	assert_string_equal(cgroup_runtime_to_string(CGROUP_RUNTIME_CRI), "cri");
	assert_null(cgroup_runtime_to_string(CGROUP_RUNTIME_NONE));
	assert_null(cgroup_runtime_to_string(CGROUP_RUNTIME_MAX));
	assert_string_equal(cgroup_qos_to_string(CGROUP_QOS_GUARANTEED), "guaranteed");
	assert_string_equal(cgroup_qos_to_string(CGROUP_QOS_BURSTABLE), "burstable");
	assert_string_equal(cgroup_qos_to_string(CGROUP_QOS_BESTEFFORT), "besteffort");
	assert_null(cgroup_qos_to_string(CGROUP_QOS_NONE));
	assert_null(cgroup_qos_to_string((enum cgroup_qos) - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unit),
	    cmocka_unit_test(test_container),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
