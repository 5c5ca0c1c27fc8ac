// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* sites.c - creation records by stack, and the census and sites as JSON (sites.h). */
#include <inttypes.h>

#include "sites.h"
#include "syscalls.h"
#include "util.h"
#include "varlink.h"

static int cmp_int(const void *a, const void *b)
{
	const int *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* Every failure of bpf_get_stackid() (-EFAULT, -EEXIST, ...) is one "stack not kept" site. */
static int32_t stack_key(int32_t id)
{
	return id < 0 ? -1 : id;
}

static int cmp_rec_stack(const void *a, const void *b)
{
	const struct site_record *x = *(const struct site_record *const *)a;
	const struct site_record *y = *(const struct site_record *const *)b;

	if (stack_key(x->stack_id) != stack_key(y->stack_id))
		return stack_key(x->stack_id) < stack_key(y->stack_id) ? -1 : 1;
	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

static int cmp_site(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->fds != y->fds)
		return x->fds > y->fds ? -1 : 1;
	/* On a tie a stack that names code goes first: it makes the better top site. */
	if ((x->stack_id < 0) != (y->stack_id < 0))
		return x->stack_id < 0 ? 1 : -1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

void sites_report_done(struct sites_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t j = 0; j < r->v[i].n_frames; j++)
			free(r->v[i].frames[j]);
		free(r->v[i].frames);
	}
	free(r->v);
	*r = (struct sites_report){};
}

int sites_aggregate(const struct site_record *recs, size_t n, const int *open_fds, size_t n_open,
		    struct sites_report *ret)
{
	_cleanup_free_ const struct site_record **live = NULL;
	struct site *v;
	size_t nl = 0, ns = 0;

	*ret = (struct sites_report){};
	live = calloc(MAX(n, (size_t)1), sizeof(*live));
	if (!live)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (bsearch(&recs[i].fd, open_fds, n_open, sizeof(int), cmp_int))
			live[nl++] = &recs[i];
		else
			ret->stale++;
	}
	ret->tracked = nl;
	qsort(live, nl, sizeof(*live), cmp_rec_stack);
	v = calloc(MAX(nl, (size_t)1), sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < nl; i++) {
		struct site *s;

		if (ns == 0 || v[ns - 1].stack_id != stack_key(live[i]->stack_id)) {
			s = &v[ns++];
			s->stack_id = stack_key(live[i]->stack_id);
			s->oldest_ns = live[i]->ts_ns;
		} else {
			s = &v[ns - 1];
		}
		s->fds++;
		s->newest_ns = MAX(s->newest_ns, live[i]->ts_ns);
		s->oldest_ns = MIN(s->oldest_ns, live[i]->ts_ns);
		if (live[i]->ts_ns == s->newest_ns)
			s->syscall_nr = live[i]->syscall_nr;
	}
	qsort(v, ns, sizeof(*v), cmp_site);
	ret->n = ns;
	ret->v = v;
	return 0;
}

static void site_free_frames(struct site *s)
{
	for (size_t j = 0; j < s->n_frames; j++)
		free(s->frames[j]);
	free(s->frames);
	s->frames = NULL;
	s->n_frames = 0;
}

/* Sites with the same frames, by a key that orders them together. */
struct keyed {
	char *key; /* frames joined; NULL: not symbolized, never merged */
	size_t i;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (!x->key || !y->key)
		return x->key ? -1 : y->key ? 1 : (x->i > y->i) - (x->i < y->i);
	return strcmp(x->key, y->key);
}

static char *frames_key(const struct site *s)
{
	size_t len = 1;
	char *k, *p;

	if (s->stack_id < 0 || s->n_frames == 0)
		return NULL;
	for (size_t j = 0; j < s->n_frames; j++)
		len += strlen(s->frames[j]) + 1;
	k = p = malloc(len);
	if (!k)
		return NULL;
	for (size_t j = 0; j < s->n_frames; j++)
		p = stpcpy(stpcpy(p, s->frames[j]), "\n");
	return k;
}

int sites_merge(struct sites_report *r)
{
	_cleanup_free_ struct keyed *k = calloc(MAX(r->n, (size_t)1), sizeof(*k));
	size_t n = 0;

	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		k[i].i = i;
		k[i].key = frames_key(&r->v[i]);
	}
	qsort(k, r->n, sizeof(*k), cmp_keyed);
	for (size_t a = 0; a < r->n; a++) {
		struct site *dst = &r->v[k[a].i];

		for (size_t b = a + 1;
		     k[a].key && b < r->n && k[b].key && streq(k[a].key, k[b].key); b++, a++) {
			struct site *src = &r->v[k[b].i];

			if (src->newest_ns > dst->newest_ns)
				dst->syscall_nr = src->syscall_nr;
			dst->fds += src->fds;
			dst->oldest_ns = MIN(dst->oldest_ns, src->oldest_ns);
			dst->newest_ns = MAX(dst->newest_ns, src->newest_ns);
			site_free_frames(src);
			src->fds = 0;
		}
	}
	for (size_t i = 0; i < r->n; i++)
		free(k[i].key);
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].fds)
			r->v[n++] = r->v[i];
	qsort(r->v, n, sizeof(*r->v), cmp_site);
	for (size_t i = SITES_MAX; i < n; i++) {
		r->other_fds += r->v[i].fds;
		site_free_frames(&r->v[i]);
	}
	r->n = MIN(n, (size_t)SITES_MAX);
	return 0;
}

int site_describe(const struct site *s, uint64_t now_boottime_ns, size_t max_frames, char *buf,
		  size_t size)
{
	const char *sc = fdw_syscall_name(s->syscall_nr);
	size_t len = 0;
	char age[24];
	int n;

	format_span(age, sizeof(age),
		    (double)(now_boottime_ns > s->oldest_ns ? now_boottime_ns - s->oldest_ns : 0) /
			1e9);
	n = snprintf(buf, size, "%" PRIu64 " fd%s by %s%s, oldest %s", s->fds,
		     s->fds == 1 ? "" : "s", sc ?: "a syscall", sc ? "()" : "", age);
	if (n < 0)
		return -EINVAL;
	len = (size_t)n;
	if (s->n_frames == 0 && len < size)
		len += (size_t)snprintf(buf + len, size - len, ": %s",
					s->stack_id < 0 ? "stack not kept" : "no frames");
	for (size_t i = 0; i < s->n_frames && i < max_frames && len < size; i++)
		len +=
		    (size_t)snprintf(buf + len, size - len, "%s%s", i ? " < " : ": ", s->frames[i]);
	return len < size ? (int)len : -ENOBUFS;
}

static double age_sec(uint64_t now, uint64_t then)
{
	return now > then ? (double)(now - then) / 1e9 : 0;
}

cJSON *json_census(const struct census *c, uint64_t now_realtime_ns)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	cJSON *groups;

	if (!o || !json_add_u64(o, "fds", c->fds) || !json_add_u64(o, "other_fds", c->other_fds) ||
	    !cJSON_AddNumberToObject(o, "age_sec", age_sec(now_realtime_ns, c->realtime_ns)) ||
	    !cJSON_AddNumberToObject(o, "took_sec", (double)c->took_ns / 1e9))
		return NULL;
	groups = cJSON_AddArrayToObject(o, "groups");
	if (!groups)
		return NULL;
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct census_group *g = &c->groups[i];
		cJSON *x = cJSON_CreateObject();
		char text[512];

		if (!x || !cJSON_AddItemToArray(groups, x))
			return cJSON_Delete(x), NULL;
		census_group_describe(g, now_realtime_ns, text, sizeof(text));
		if (!cJSON_AddStringToObject(x, "kind", census_kind_to_string(g->kind)) ||
		    !cJSON_AddStringToObject(x, "target", g->label) ||
		    !json_add_u64(x, "fds", g->fds) || !json_add_u64(x, "objects", g->objects) ||
		    !json_add_u64(x, "lowest_fd", (uint64_t)g->lowest_fd) ||
		    !cJSON_AddStringToObject(x, "text", text))
			return NULL;
		if (!json_add_u64(x, "aged", g->aged) ||
		    !(g->aged ? cJSON_AddNumberToObject(x, "oldest_age_sec",
							age_sec(now_realtime_ns, g->oldest_ns))
			      : cJSON_AddNullToObject(x, "oldest_age_sec")) ||
		    !(g->aged ? cJSON_AddNumberToObject(x, "newest_age_sec",
							age_sec(now_realtime_ns, g->newest_ns))
			      : cJSON_AddNullToObject(x, "newest_age_sec")))
			return NULL;
	}
	return TAKE_PTR(o);
}

cJSON *json_sites(const struct sites_report *r, bool tracking, uint64_t now_boottime_ns)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	cJSON *arr;

	if (!o || !cJSON_AddBoolToObject(o, "tracking", tracking) ||
	    !json_add_u64(o, "tracked_fds", r->tracked) || !json_add_u64(o, "stale", r->stale) ||
	    !json_add_u64(o, "other_fds", r->other_fds))
		return NULL;
	arr = cJSON_AddArrayToObject(o, "sites");
	if (!arr)
		return NULL;
	for (size_t i = 0; i < r->n; i++) {
		const struct site *s = &r->v[i];
		const char *sc = fdw_syscall_name(s->syscall_nr);
		cJSON *x = cJSON_CreateObject(), *frames;

		if (!x || !cJSON_AddItemToArray(arr, x))
			return cJSON_Delete(x), NULL;
		if (!json_add_u64(x, "fds", s->fds) ||
		    !(sc ? cJSON_AddStringToObject(x, "syscall", sc)
			 : cJSON_AddNullToObject(x, "syscall")) ||
		    !cJSON_AddNumberToObject(x, "oldest_age_sec",
					     age_sec(now_boottime_ns, s->oldest_ns)) ||
		    !cJSON_AddNumberToObject(x, "newest_age_sec",
					     age_sec(now_boottime_ns, s->newest_ns)) ||
		    !cJSON_AddBoolToObject(x, "stack_kept", s->stack_id >= 0))
			return NULL;
		frames = cJSON_AddArrayToObject(x, "frames");
		if (!frames)
			return NULL;
		for (size_t j = 0; j < s->n_frames; j++) {
			cJSON *f = cJSON_CreateString(s->frames[j]);

			if (!f || !cJSON_AddItemToArray(frames, f))
				return cJSON_Delete(f), NULL;
		}
	}
	return TAKE_PTR(o);
}
