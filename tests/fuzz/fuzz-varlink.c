// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fuzz-varlink - libFuzzer harness for what the API does with untrusted
 * bytes before any method runs: framing on NUL, call validation (UTF-8,
 * depth, types), the error reply for a bad call, parameter access, and the
 * client's reply parser. Build (clang 14 with libclang-rt-14-dev):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Idaemon -Ibpf \
 *     tests/fuzz/fuzz-varlink.c daemon/varlink.c daemon/util.c -lcjson -lm -o build/fuzz-varlink
 *   build/fuzz-varlink -max_total_time=30 -max_len=4096
 *
 * Invariants checked (abort on violation): a frame never exceeds the limit
 * or contains a NUL; a valid call has a well-formed method and an object of
 * parameters; every fault has an error name and builds a reply that parses
 * back as an error reply.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "varlink.h"

#define FUZZ_MAX_REQUEST 1024

static void check_call(const char *msg, size_t len)
{
	_cleanup_(varlink_call_donep) struct varlink_call call = {};
	struct varlink_fault f = {};
	_cleanup_free_ char *reply = NULL;
	size_t size;
	int r;

	r = varlink_call_parse(msg, len, &call, &f);
	if (r == -ENOMEM)
		return;
	if (r == 0) {
		static const char *const allowed[] = {"pid", "uid", "since", "limit", NULL};
		const char *s;
		uint64_t u;
		bool b;

		assert(varlink_method_name_is_valid(call.method));
		assert(cJSON_IsObject(call.parameters));
		(void)varlink_params_unknown(call.parameters, allowed);
		(void)varlink_param_u64(call.parameters, "pid", INT32_MAX, &u);
		(void)varlink_param_string(call.parameters, "comm", 256, &s);
		(void)varlink_param_bool(call.parameters, "flag", &b);
		return;
	}
	assert(r == -EINVAL);
	assert(f.error);
	if (varlink_fault_build(&f, &reply, &size) == 0) {
		_cleanup_(varlink_reply_donep) struct varlink_reply rep = {};

		assert(size > 0 && reply[size - 1] == 0);
		assert(varlink_reply_parse(reply, size - 1, &rep) == 0);
		assert(rep.error && streq(rep.error, f.error));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Own copy with a NUL after the end, as the server's input buffer always has. */
	_cleanup_free_ char *buf = malloc(size + 1);
	size_t off = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;

	/* The client side: one reply, unframed. */
	{
		_cleanup_(varlink_reply_donep) struct varlink_reply rep = {};

		(void)varlink_reply_parse(buf, strnlen(buf, size), &rep);
	}

	/* The server side: split the stream, judge each message. */
	while (off < size) {
		size_t len = 0;
		int r = varlink_frame_next(buf + off, size - off, FUZZ_MAX_REQUEST, &len);

		if (r == 0 || r == -EMSGSIZE)
			break;
		if (r == -EBADMSG) {
			off++;
			continue;
		}
		assert(r == 1);
		assert(len <= FUZZ_MAX_REQUEST && memchr(buf + off, 0, len) == NULL);
		check_call(buf + off, len);
		off += len + 1;
	}
	return 0;
}
