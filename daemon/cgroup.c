// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* cgroup.c - units, containers and pods from cgroup paths (see cgroup.h). */
#include <ctype.h>

#include "cgroup.h"
#include "util.h"

static const char *const runtime_names[CGROUP_RUNTIME_MAX] = {
    [CGROUP_RUNTIME_DOCKER] = "docker",
    [CGROUP_RUNTIME_PODMAN] = "podman",
    [CGROUP_RUNTIME_CONTAINERD] = "containerd",
    [CGROUP_RUNTIME_CRIO] = "cri-o",
    [CGROUP_RUNTIME_CRI] = "cri",
};

static const char *const qos_names[CGROUP_QOS_MAX] = {
    [CGROUP_QOS_GUARANTEED] = "guaranteed",
    [CGROUP_QOS_BURSTABLE] = "burstable",
    [CGROUP_QOS_BESTEFFORT] = "besteffort",
};

const char *cgroup_runtime_to_string(enum cgroup_runtime r)
{
	return (unsigned)r < CGROUP_RUNTIME_MAX ? runtime_names[r] : NULL;
}

const char *cgroup_qos_to_string(enum cgroup_qos q)
{
	return (unsigned)q < CGROUP_QOS_MAX ? qos_names[q] : NULL;
}

/* One path component: s[0..len). */
struct comp {
	const char *s;
	size_t len;
};

static bool comp_is(struct comp c, const char *word)
{
	return c.len == strlen(word) && memcmp(c.s, word, c.len) == 0;
}

static bool has_prefix(struct comp c, const char *prefix)
{
	size_t l = strlen(prefix);

	return c.len >= l && memcmp(c.s, prefix, l) == 0;
}

static bool has_suffix(struct comp c, const char *suffix)
{
	size_t l = strlen(suffix);

	return c.len >= l && memcmp(c.s + c.len - l, suffix, l) == 0;
}

static bool unit_suffix(struct comp c)
{
	static const char *const suffixes[] = {".service", ".scope", ".socket", ".mount", ".swap"};

	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
		if (c.len > strlen(suffixes[i]) && has_suffix(c, suffixes[i]))
			return true;
	return false;
}

/* The next component after *p, advancing *p; false at the end. */
static bool next_comp(const char **p, struct comp *ret)
{
	const char *start = *p + strspn(*p, "/");
	size_t len = strcspn(start, "/");

	if (len == 0)
		return false;
	*ret = (struct comp){start, len};
	*p = start + len;
	return true;
}

int cgroup_path_to_unit(const char *path, char **ret)
{
	struct comp c, best = {};
	const char *p = path ?: "";

	/* Components below a unit (sub-cgroups a service made) are not units. */
	while (next_comp(&p, &c))
		if (unit_suffix(c))
			best = c;
	if (!best.s) {
		*ret = NULL;
		return 0;
	}
	*ret = strndup(best.s, best.len);
	return *ret ? 0 : -ENOMEM;
}

static bool is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* A pod UID (8-4-4-4-12 hex digits) written with sep between the groups; copied with dashes. */
static bool parse_uuid(const char *s, size_t len, char sep, char ret[CGROUP_POD_UID_LEN + 1])
{
	if (len != CGROUP_POD_UID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != sep : !is_hex(s + i, 1))
			return false;
		ret[i] = dash ? '-' : s[i];
	}
	ret[len] = 0;
	return true;
}

/*
 * A pod's cgroup: systemd driver "kubepods[-QOS]-podUID.slice" (UID with '_' for '-', after
 * any prefix a nested kubelet adds: "kubelet-kubepods-..."), cgroupfs driver "podUID" below
 * "kubepods[/QOS]".
 */
static bool parse_pod(struct comp c, struct comp parent, bool below_kubepods,
		      struct cgroup_container *ret)
{
	static const struct {
		const char *infix;
		enum cgroup_qos qos;
	} slices[] = {
	    {"kubepods-burstable-pod", CGROUP_QOS_BURSTABLE},
	    {"kubepods-besteffort-pod", CGROUP_QOS_BESTEFFORT},
	    {"kubepods-pod", CGROUP_QOS_GUARANTEED},
	};

	if (has_suffix(c, ".slice")) {
		for (size_t i = 0; i < ELEMENTSOF(slices); i++) {
			size_t l = strlen(slices[i].infix), off;

			if (c.len < l + CGROUP_POD_UID_LEN + strlen(".slice"))
				continue;
			off = c.len - strlen(".slice") - CGROUP_POD_UID_LEN;
			if (off < l || memcmp(c.s + off - l, slices[i].infix, l) != 0)
				continue;
			/* The infix starts the name or follows a prefix's dash. */
			if (off - l > 0 && c.s[off - l - 1] != '-')
				continue;
			if (!parse_uuid(c.s + off, CGROUP_POD_UID_LEN, '_', ret->pod_uid))
				return false;
			ret->qos = slices[i].qos;
			return true;
		}
		return false;
	}
	if (!below_kubepods || !has_prefix(c, "pod") ||
	    !parse_uuid(c.s + 3, c.len - 3, '-', ret->pod_uid))
		return false;
	if (comp_is(parent, "burstable"))
		ret->qos = CGROUP_QOS_BURSTABLE;
	else if (comp_is(parent, "besteffort"))
		ret->qos = CGROUP_QOS_BESTEFFORT;
	else
		ret->qos = CGROUP_QOS_GUARANTEED;
	return true;
}

/* "PREFIX-ID" or "PREFIX-ID.scope": the id, or NULL. */
static const char *prefixed_id(struct comp c, const char *prefix)
{
	size_t l = strlen(prefix), n = c.len;

	if (!has_prefix(c, prefix))
		return NULL;
	if (has_suffix(c, ".scope"))
		n -= strlen(".scope");
	if (n != l + CGROUP_CONTAINER_ID_LEN || !is_hex(c.s + l, CGROUP_CONTAINER_ID_LEN))
		return NULL;
	return c.s + l;
}

static enum cgroup_runtime parse_container(struct comp c, struct comp parent, bool parent_is_pod,
					   const char **ret_id)
{
	static const struct {
		const char *prefix;
		enum cgroup_runtime runtime;
	} scopes[] = {
	    {"docker-", CGROUP_RUNTIME_DOCKER},
	    {"libpod-", CGROUP_RUNTIME_PODMAN},
	    {"cri-containerd-", CGROUP_RUNTIME_CONTAINERD},
	    {"crio-", CGROUP_RUNTIME_CRIO},
	};

	for (size_t i = 0; i < ELEMENTSOF(scopes); i++) {
		const char *id = prefixed_id(c, scopes[i].prefix);

		if (id) {
			*ret_id = id;
			return scopes[i].runtime;
		}
	}
	/* cgroupfs driver: a bare id below the runtime's or the pod's directory. */
	if (c.len != CGROUP_CONTAINER_ID_LEN || !is_hex(c.s, c.len))
		return CGROUP_RUNTIME_NONE;
	*ret_id = c.s;
	if (comp_is(parent, "docker"))
		return CGROUP_RUNTIME_DOCKER;
	if (parent_is_pod)
		return CGROUP_RUNTIME_CRI;
	return CGROUP_RUNTIME_NONE;
}

int cgroup_path_to_container(const char *path, struct cgroup_container *ret)
{
	struct cgroup_container r = {};
	struct comp c, parent = {};
	const char *p = path ?: "";
	bool below_kubepods = false, parent_is_pod = false;

	while (next_comp(&p, &c)) {
		const char *id = NULL;
		enum cgroup_runtime rt;
		bool is_pod = parse_pod(c, parent, below_kubepods, &r);

		rt = is_pod ? CGROUP_RUNTIME_NONE : parse_container(c, parent, parent_is_pod, &id);
		if (rt != CGROUP_RUNTIME_NONE) {
			r.runtime = rt;
			memcpy(r.id, id, CGROUP_CONTAINER_ID_LEN);
			r.id[CGROUP_CONTAINER_ID_LEN] = 0;
		}
		if (comp_is(c, "kubepods"))
			below_kubepods = true;
		parent_is_pod = is_pod;
		parent = c;
	}
	*ret = r;
	return r.runtime != CGROUP_RUNTIME_NONE || r.pod_uid[0];
}
