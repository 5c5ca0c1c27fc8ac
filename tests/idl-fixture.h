/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * idl-fixture.h - for the tests of the objects the API serves: an object has
 * exactly the fields the io.fdwatch IDL in varlink.c declares. Include after
 * <cmocka.h>.
 */
#ifndef FDWATCH_IDL_FIXTURE_H
#define FDWATCH_IDL_FIXTURE_H

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "util.h"
#include "varlink.h"

/*
 * The field names of "type NAME (...)" or of a method's reply "method NAME(...)
 * -> (...)" in the io.fdwatch IDL: identifiers before ':' at the first
 * nesting level, comments skipped.
 */
static inline size_t idl_fields(const char *what, char names[][32], size_t max)
{
	const char *p = strstr(varlink_fdwatch_description, what);
	size_t n = 0;
	int depth = 0;

	assert_non_null(p);
	if (strncmp(what, "method ", 7) == 0) {
		p = strstr(p, "-> (");
		assert_non_null(p);
	}
	p = strchr(p, '(');
	for (; *p; p++) {
		if (*p == '#') {
			p = strchr(p, '\n');
			assert_non_null(p);
			continue;
		}
		if (*p == '(' && ++depth)
			continue;
		if (*p == ')' && --depth == 0)
			break;
		if (depth == 1 && (isalpha((unsigned char)*p) || *p == '_') &&
		    !isalnum((unsigned char)p[-1]) && p[-1] != '_') {
			size_t k = strspn(
			    p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

			if (p[k] == ':') {
				assert_true(n < max && k < 32);
				memcpy(names[n], p, k);
				names[n][k] = 0;
				n++;
			}
			p += k - 1;
		}
	}
	assert_true(n > 0);
	return n;
}

/* The object has exactly the fields the IDL type declares. */
static inline void assert_matches_idl(const cJSON *o, const char *what)
{
	char names[64][32];
	size_t n = idl_fields(what, names, 64), k = 0;

	for (const cJSON *f = o->child; f; f = f->next, k++) {
		bool found = false;

		for (size_t i = 0; i < n; i++)
			if (streq(names[i], f->string))
				found = true;
		if (!found)
			fail_msg("%s: field \"%s\" is not in the IDL", what, f->string);
	}
	for (size_t i = 0; i < n; i++)
		if (!cJSON_GetObjectItemCaseSensitive(o, names[i]))
			fail_msg("%s: IDL field \"%s\" missing", what, names[i]);
	assert_int_equal(k, n);
}

#endif
