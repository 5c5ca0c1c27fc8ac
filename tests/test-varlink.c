// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* test-varlink - framing, validation and building of API messages (daemon/varlink.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "varlink.h"

static void test_frame_next(void **state)
{
	static const struct {
		const char *buf;
		size_t len, max;
		int ret;
		size_t msg_len;
	} cases[] = {
	    {"abc\0", 4, 100, 1, 3},
	    {"abc", 3, 100, 0, 0},
	    {"", 0, 100, 0, 0},
	    {"\0abc", 4, 100, -EBADMSG, 0},
	    {"abc\0def\0", 8, 100, 1, 3},
	    /* exactly max bytes and the NUL: fine; one more: too large */
	    {"abc\0", 4, 3, 1, 3},
	    {"abcd\0", 5, 3, -EMSGSIZE, 0},
	    {"abcd", 4, 3, -EMSGSIZE, 0},
	    /* max bytes without NUL yet: wait for it */
	    {"abc", 3, 3, 0, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		size_t len = 12345;
		int r = varlink_frame_next(cases[i].buf, cases[i].len, cases[i].max, &len);

		print_message("case %zu\n", i);
		assert_int_equal(r, cases[i].ret);
		if (r == 1)
			assert_int_equal(len, cases[i].msg_len);
	}
}

static void test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		bool valid;
	} cases[] = {
	    {"hello", 5, true},
	    {"", 0, true},
	    {"\xc3\xa9", 2, true},	    /* é */
	    {"\xe2\x82\xac", 3, true},	    /* € */
	    {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
	    {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
	    {"\xc3", 1, false},		    /* truncated */
	    {"\xe2\x82", 2, false},	    /* truncated */
	    {"\xc0\xaf", 2, false},	    /* overlong '/' */
	    {"\xe0\x80\xaf", 3, false},	    /* overlong '/' */
	    {"\xf0\x80\x80\xaf", 4, false}, /* overlong '/' */
	    {"\xed\xa0\x80", 3, false},	    /* surrogate U+D800 */
	    {"\xed\xbf\xbf", 3, false},	    /* surrogate U+DFFF */
	    {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
	    {"\xff", 1, false},
	    {"\x80", 1, false},	    /* lone continuation */
	    {"a\0b", 3, false},	    /* NUL */
	    {"\xc3\x28", 2, false}, /* bad continuation */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(utf8_is_valid(cases[i].s, cases[i].len), cases[i].valid);
	}
}

static void test_sanitize(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"python3", "python3"},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	    {"a\xff"
	     "b",
	     "a\xef\xbf\xbd"
	     "b"},
	    {"\xc3", "\xef\xbf\xbd"},
	    {"\xed\xa0\x80x", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"},
	    {"", ""},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *s = utf8_sanitize(cases[i].in);

		assert_string_equal(s, cases[i].out);
		assert_true(utf8_is_valid(s, strlen(s)));
	}
}

static void test_text_depth(void **state)
{
	static const struct {
		const char *s;
		unsigned depth;
	} cases[] = {
	    {"1", 0},		{"{}", 1},
	    {"[[[]]]", 3},	{"{\"a\":[{}],\"b\":{}}", 3},
	    {"\"[[[[\"", 0},	{"[\"\\\"[[[\"]", 1}, /* escaped quote does not end the string */
	    {"[[[[[[[[[[", 10},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		assert_int_equal(json_text_depth(cases[i].s, strlen(cases[i].s), 100),
				 cases[i].depth);
	/* Stops at the limit + 1. */
	assert_int_equal(json_text_depth("[[[[[[[[[[", 10, 3), 4);
}

static char *nested(unsigned depth)
{
	/* {"method":"io.fdwatch.GetStatus","parameters":{"a": [[...]] }} */
	size_t n = 2 * depth + 128;
	char *s = malloc(n), *p = s;

	assert_non_null(s);
	p += sprintf(p, "{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"a\":");
	for (unsigned i = 0; i < depth - 2; i++)
		*p++ = '[';
	*p++ = '1';
	for (unsigned i = 0; i < depth - 2; i++)
		*p++ = ']';
	strcpy(p, "}}");
	return s;
}

static void test_call_parse(void **state)
{
	static const struct {
		const char *msg;
		const char *error;     /* NULL: valid */
		const char *parameter; /* expected fault parameter, if any */
		unsigned flags;
	} cases[] = {
	    {"{\"method\":\"io.fdwatch.GetStatus\"}", NULL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":null}", NULL, NULL, 0},
	    {" {\"method\":\"io.fdwatch.Subscribe\",\"parameters\":{},\"more\":true} \n", NULL,
	     NULL, VARLINK_MORE},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"oneway\":true}", NULL, NULL, VARLINK_ONEWAY},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"more\":false,\"oneway\":false}", NULL, NULL,
	     0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"whatever\":1}", NULL, NULL, 0},
	    {"not json", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\"", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"[1,2]", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"\"io.fdwatch.GetStatus\"", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":1}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"GetStatus\"}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.getStatus\"}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io..fdwatch.GetStatus\"}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.Get Status\"}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":[]}",
	     VARLINK_ERROR_INVALID_PARAMETER, "parameters", 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":\"x\"}",
	     VARLINK_ERROR_INVALID_PARAMETER, "parameters", 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"more\":\"yes\"}",
	     VARLINK_ERROR_INVALID_PARAMETER, "more", 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"oneway\":1}", VARLINK_ERROR_INVALID_PARAMETER,
	     "oneway", 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"oneway\":true,\"more\":true}",
	     VARLINK_ERROR_INVALID_PARAMETER, "oneway", 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"upgrade\":true}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\"} x", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\"}{}", FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"method\":\"io.fdwatch.GetProcess\"}",
	     FDW_ERROR_PROTOCOL, NULL, 0},
	    /* invalid UTF-8, raw and through escapes */
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"s\":\"\xff\"}}",
	     FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"\xc0\xaf\":1}}",
	     FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"s\":\"\\ud800\"}}",
	     FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"s\":\"\\udc00x\"}}",
	     FDW_ERROR_PROTOCOL, NULL, 0},
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"s\":\"a\\u0000b\"}}",
	     FDW_ERROR_PROTOCOL, NULL, 0},
	    /* a valid escaped pair is fine */
	    {"{\"method\":\"io.fdwatch.GetStatus\",\"parameters\":{\"s\":\"\\ud83d\\ude00\"}}",
	     NULL, NULL, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(varlink_call_donep) struct varlink_call call = {};
		struct varlink_fault f = {};
		int r;

		print_message("case %zu: %s\n", i, cases[i].msg);
		r = varlink_call_parse(cases[i].msg, strlen(cases[i].msg), &call, &f);
		if (!cases[i].error) {
			assert_int_equal(r, 0);
			assert_non_null(call.method);
			assert_true(cJSON_IsObject(call.parameters));
			assert_int_equal(call.flags, cases[i].flags);
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_null(call.root);
		assert_string_equal(f.error, cases[i].error);
		if (cases[i].parameter)
			assert_string_equal(f.parameter, cases[i].parameter);
		if (streq(f.error, FDW_ERROR_PROTOCOL))
			assert_non_null(f.reason);
	}
}

static void test_call_depth(void **state)
{
	for (unsigned depth = 2; depth <= VARLINK_MAX_DEPTH + 2; depth++) {
		_cleanup_(varlink_call_donep) struct varlink_call call = {};
		_cleanup_free_ char *s = nested(depth);
		struct varlink_fault f = {};
		int r = varlink_call_parse(s, strlen(s), &call, &f);

		if (depth <= VARLINK_MAX_DEPTH) {
			assert_int_equal(r, 0);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_string_equal(f.error, FDW_ERROR_PROTOCOL);
			assert_string_equal(f.reason, "nesting too deep");
		}
	}
	/* Far beyond cJSON's own limit: refused before the parser recurses. */
	{
		size_t n = 200000;
		_cleanup_free_ char *s = malloc(n);
		struct varlink_call call = {};
		struct varlink_fault f = {};

		memset(s, '[', n);
		assert_int_equal(varlink_call_parse(s, n, &call, &f), -EINVAL);
		assert_string_equal(f.reason, "nesting too deep");
	}
}

static void test_method_names(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
	    {"io.fdwatch.GetStatus", true},
	    {"org.varlink.service.GetInfo", true},
	    {"a.b.C", true},
	    {"com.example-1.Foo2", true},
	    {"GetStatus", false},
	    {"io.GetStatus", false}, /* an interface has at least two labels */
	    {"io.fdwatch.getStatus", false},
	    {"io.fdwatch.Get_Status", false},
	    {".io.fdwatch.X", false},
	    {"io.fdwatch.", false},
	    {"io.-fdwatch.X", false},
	    {"io.fdwatch-.X", false},
	    {"1o.fdwatch.X", false},
	    {"", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		print_message("case %s\n", cases[i].name);
		assert_int_equal(varlink_method_name_is_valid(cases[i].name), cases[i].valid);
	}
	assert_false(varlink_method_name_is_valid(NULL));
}

static void test_wrap_append(void **state)
{
	_cleanup_cjson_ cJSON *arr = cJSON_CreateArray(), *o = NULL;
	_cleanup_free_ char *s = NULL;

	/* A failed constructor passes through as NULL; nothing leaks (ASan would say). */
	assert_null(json_wrap("alert", NULL));
	assert_non_null(arr);
	assert_false(json_append(arr, NULL));
	assert_false(json_append(NULL, cJSON_CreateNumber(1)));
	assert_true(json_append(arr, cJSON_CreateNumber(1)));
	assert_true(json_append(arr, cJSON_CreateString("x")));
	o = json_wrap("v", TAKE_PTR(arr));
	assert_non_null(o);
	s = cJSON_PrintUnformatted(o);
	assert_string_equal(s, "{\"v\":[1,\"x\"]}");
}

static void test_build(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
	size_t size;
	cJSON *p;

	p = cJSON_CreateObject();
	assert_non_null(json_add_u64(p, "fds", 812));
	assert_int_equal(varlink_reply_build(p, true, &a, &size), 0);
	assert_string_equal(a, "{\"parameters\":{\"fds\":812},\"continues\":true}");
	assert_int_equal(size, strlen(a) + 1);
	assert_int_equal(a[size - 1], 0);

	assert_int_equal(varlink_reply_build(NULL, false, &b, &size), 0);
	assert_string_equal(b, "{\"parameters\":{}}");

	assert_int_equal(
	    varlink_error_build_string(FDW_ERROR_INVALID_PARAMETER, "parameter", "pid", &c, &size),
	    0);
	assert_string_equal(c, "{\"error\":\"io.fdwatch.InvalidParameter\",\"parameters\":"
			       "{\"parameter\":\"pid\"}}");

	assert_int_equal(varlink_error_build(VARLINK_ERROR_EXPECTED_MORE, NULL, &d, &size), 0);
	assert_string_equal(d,
			    "{\"error\":\"org.varlink.service.ExpectedMore\",\"parameters\":{}}");

	assert_int_equal(varlink_call_build("io.fdwatch.Subscribe", NULL, VARLINK_MORE, &e, &size),
			 0);
	assert_string_equal(
	    e, "{\"method\":\"io.fdwatch.Subscribe\",\"parameters\":{},\"more\":true}");
}

static void test_fault_build(void **state)
{
	static const struct varlink_fault faults[] = {
	    {.error = FDW_ERROR_PROTOCOL, .reason = "malformed JSON"},
	    {.error = VARLINK_ERROR_INVALID_PARAMETER, .parameter = "more"},
	    {.error = VARLINK_ERROR_EXPECTED_MORE},
	};
	static const char *const want[] = {
	    "{\"error\":\"io.fdwatch.ProtocolError\",\"parameters\":{\"reason\":\"malformed "
	    "JSON\"}}",
	    "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":"
	    "\"more\"}}",
	    "{\"error\":\"org.varlink.service.ExpectedMore\",\"parameters\":{}}",
	};

	for (size_t i = 0; i < ELEMENTSOF(faults); i++) {
		_cleanup_free_ char *s = NULL;
		size_t size;

		assert_int_equal(varlink_fault_build(&faults[i], &s, &size), 0);
		assert_string_equal(s, want[i]);
	}
}

/* What a client builds, the server parses back to the same call. */
static void test_roundtrip(void **state)
{
	_cleanup_(varlink_call_donep) struct varlink_call call = {};
	_cleanup_free_ char *s = NULL;
	struct varlink_fault f;
	uint64_t pid = 0;
	size_t size;
	cJSON *p = cJSON_CreateObject();

	json_add_u64(p, "pid", 4242);
	assert_int_equal(varlink_call_build("io.fdwatch.GetProcess", p, 0, &s, &size), 0);
	assert_int_equal(varlink_frame_next(s, size, 65536, &size), 1);
	assert_int_equal(varlink_call_parse(s, size, &call, &f), 0);
	assert_string_equal(call.method, "io.fdwatch.GetProcess");
	assert_int_equal(varlink_param_u64(call.parameters, "pid", INT32_MAX, &pid), 0);
	assert_int_equal(pid, 4242);
}

static void test_reply_parse(void **state)
{
	static const struct {
		const char *msg;
		int ret;
		const char *error;
		bool continues;
	} cases[] = {
	    {"{\"parameters\":{\"a\":1}}", 0, NULL, false},
	    {"{\"parameters\":{\"a\":1},\"continues\":true}", 0, NULL, true},
	    {"{\"error\":\"io.fdwatch.NoSuchProcess\",\"parameters\":{\"pid\":1}}", 0,
	     "io.fdwatch.NoSuchProcess", false},
	    {"{}", 0, NULL, false},
	    {"{\"error\":1}", -EBADMSG, NULL, false},
	    {"{\"parameters\":[]}", -EBADMSG, NULL, false},
	    {"{\"continues\":\"no\"}", -EBADMSG, NULL, false},
	    {"[]", -EBADMSG, NULL, false},
	    {"{\"parameters\":{\"s\":\"\xff\"}}", -EBADMSG, NULL, false},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(varlink_reply_donep) struct varlink_reply r = {};

		print_message("case %zu\n", i);
		assert_int_equal(varlink_reply_parse(cases[i].msg, strlen(cases[i].msg), &r),
				 cases[i].ret);
		if (cases[i].ret < 0)
			continue;
		assert_true(cJSON_IsObject(r.parameters));
		assert_int_equal(r.continues, cases[i].continues);
		if (cases[i].error)
			assert_string_equal(r.error, cases[i].error);
		else
			assert_null(r.error);
	}
}

static void test_params(void **state)
{
	static const char *const allowed[] = {"pid", "name", "flag", NULL};
	const char *js = "{\"pid\":42,\"neg\":-1,\"frac\":1.5,\"huge\":1e300,\"str\":\"7\","
			 "\"name\":\"x\",\"flag\":true,\"nul\":null,\"big\":18014398509481984}";
	_cleanup_cjson_ cJSON *p = cJSON_Parse(js);
	_cleanup_cjson_ cJSON *q = cJSON_Parse("{\"pid\":1,\"name\":\"a\"}");
	_cleanup_cjson_ cJSON *dup = cJSON_Parse("{\"pid\":1,\"pid\":\"x\"}");
	const char *s = NULL;
	uint64_t u = 0;
	bool b = false;

	assert_non_null(p);
	assert_int_equal(varlink_param_u64(p, "pid", 100, &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(varlink_param_u64(p, "pid", 41, &u), -EINVAL); /* over max */
	assert_int_equal(varlink_param_u64(p, "neg", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(varlink_param_u64(p, "frac", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(varlink_param_u64(p, "huge", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(varlink_param_u64(p, "str", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(varlink_param_u64(p, "missing", UINT64_MAX, &u), -ENOENT);
	assert_int_equal(varlink_param_u64(p, "nul", UINT64_MAX, &u), -ENOENT);
	assert_int_equal(varlink_param_u64(p, "big", UINT64_MAX, &u), -EINVAL);
	assert_int_equal(varlink_param_string(p, "name", 10, &s), 0);
	assert_string_equal(s, "x");
	assert_int_equal(varlink_param_string(p, "pid", 10, &s), -EINVAL);
	assert_int_equal(varlink_param_string(p, "name", 0, &s), -EINVAL); /* too long */
	assert_int_equal(varlink_param_bool(p, "flag", &b), 0);
	assert_true(b);
	assert_int_equal(varlink_param_bool(p, "pid", &b), -EINVAL);

	assert_string_equal(varlink_params_unknown(p, allowed), "neg");
	assert_null(varlink_params_unknown(q, allowed));
	assert_string_equal(varlink_params_unknown(dup, allowed), "pid");
}

static void test_u64_exact(void **state)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	_cleanup_free_ char *s = NULL;

	json_add_u64(o, "a", 1700000000123456ULL);
	json_add_u64(o, "b", 1000000000000000ULL); /* cJSON's %g would print 1e+15 */
	json_add_i64(o, "c", -5);
	s = cJSON_PrintUnformatted(o);
	assert_string_equal(s, "{\"a\":1700000000123456,\"b\":1000000000000000,\"c\":-5}");
}

/* The names of the fields of "type NAME (" in an IDL, or of a method's output. */
static void test_descriptions(void **state)
{
	static const char *const methods[] = {"GetStatus", "ListProcesses", "GetProcess",
					      "ListAlerts", "Subscribe"};
	static const char *const errors[] = {
	    FDW_ERROR_NO_SUCH_PROCESS, FDW_ERROR_INVALID_PARAMETER, FDW_ERROR_PERMISSION_DENIED,
	    FDW_ERROR_PROTOCOL,	       FDW_ERROR_REQUEST_TOO_LARGE, FDW_ERROR_TOO_MANY_CLIENTS,
	    FDW_ERROR_TIMEOUT,
	};
	static const char *const service_errors[] = {
	    VARLINK_ERROR_INTERFACE_NOT_FOUND, VARLINK_ERROR_METHOD_NOT_FOUND,
	    VARLINK_ERROR_INVALID_PARAMETER,   VARLINK_ERROR_PERMISSION_DENIED,
	    VARLINK_ERROR_EXPECTED_MORE,
	};
	const char *d = varlink_fdwatch_description;
	int depth = 0;

	assert_non_null(strstr(d, "\ninterface io.fdwatch\n"));
	for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\nmethod %s(", methods[i]);
		assert_non_null(strstr(d, want));
	}
	for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\nerror %s (", errors[i] + strlen("io.fdwatch."));
		print_message("%s\n", want + 1);
		assert_non_null(strstr(d, want));
	}
	for (size_t i = 0; i < ELEMENTSOF(service_errors); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\nerror %s (",
			 service_errors[i] + strlen("org.varlink.service."));
		assert_non_null(strstr(varlink_service_description, want));
	}
	/* Balanced parentheses outside comments; no tabs (the IDL is indented with spaces). */
	for (const char *p = d; *p; p++) {
		if (*p == '#') {
			p = strchr(p, '\n');
			if (!p)
				break;
			continue;
		}
		assert_int_not_equal(*p, '\t');
		if (*p == '(')
			depth++;
		if (*p == ')')
			depth--;
		assert_true(depth >= 0);
	}
	assert_int_equal(depth, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_next),	 cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_sanitize),	 cmocka_unit_test(test_text_depth),
	    cmocka_unit_test(test_call_parse),	 cmocka_unit_test(test_call_depth),
	    cmocka_unit_test(test_method_names), cmocka_unit_test(test_build),
	    cmocka_unit_test(test_wrap_append),	 cmocka_unit_test(test_fault_build),
	    cmocka_unit_test(test_roundtrip),	 cmocka_unit_test(test_reply_parse),
	    cmocka_unit_test(test_params),	 cmocka_unit_test(test_u64_exact),
	    cmocka_unit_test(test_descriptions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
