/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * varlink.h - the wire protocol of the API socket, in the shape of Varlink
 * (https://varlink.org): JSON objects, each terminated by a NUL byte.
 *
 *   call:   {"method":"io.fdwatch.GetStatus","parameters":{...}[,"more":true][,"oneway":true]}
 *   reply:  {"parameters":{...}[,"continues":true]}
 *   error:  {"error":"io.fdwatch.NoSuchProcess","parameters":{...}}
 *
 * Pure: framing works on byte buffers, validation on parsed cJSON trees, so
 * all of it is unit tested and fuzzed without a socket. Nothing here logs.
 */
#ifndef FDWATCH_VARLINK_H
#define FDWATCH_VARLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "util.h"

/*
 * Deepest nesting of objects/arrays accepted in a message. Our calls need 2
 * ({"parameters":{...}}); 32 leaves room for generic clients while keeping
 * cJSON's recursion (its own limit is 1000) far from the stack's.
 */
#define VARLINK_MAX_DEPTH 32

/* The interfaces this service implements. */
#define VARLINK_SERVICE_INTERFACE "org.varlink.service"
#define VARLINK_FDWATCH_INTERFACE "io.fdwatch"

/* The methods of io.fdwatch (the IDL is varlink_fdwatch_description). */
#define FDW_METHOD_GET_STATUS	  VARLINK_FDWATCH_INTERFACE ".GetStatus"
#define FDW_METHOD_LIST_PROCESSES VARLINK_FDWATCH_INTERFACE ".ListProcesses"
#define FDW_METHOD_LIST_UNITS	  VARLINK_FDWATCH_INTERFACE ".ListUnits"
#define FDW_METHOD_GET_PROCESS	  VARLINK_FDWATCH_INTERFACE ".GetProcess"
#define FDW_METHOD_LIST_ALERTS	  VARLINK_FDWATCH_INTERFACE ".ListAlerts"
#define FDW_METHOD_SUBSCRIBE	  VARLINK_FDWATCH_INTERFACE ".Subscribe"

/* Errors of org.varlink.service (plus systemd's PermissionDenied and ExpectedMore). */
#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND	  "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_INVALID_PARAMETER	  "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PERMISSION_DENIED	  "org.varlink.service.PermissionDenied"
#define VARLINK_ERROR_EXPECTED_MORE	  "org.varlink.service.ExpectedMore"
/* Errors of io.fdwatch; the IDL (varlink_fdwatch_description) documents each. */
#define FDW_ERROR_NO_SUCH_PROCESS   "io.fdwatch.NoSuchProcess"
#define FDW_ERROR_INVALID_PARAMETER "io.fdwatch.InvalidParameter"
#define FDW_ERROR_PERMISSION_DENIED "io.fdwatch.PermissionDenied"
#define FDW_ERROR_PROTOCOL	    "io.fdwatch.ProtocolError"
#define FDW_ERROR_REQUEST_TOO_LARGE "io.fdwatch.RequestTooLarge"
#define FDW_ERROR_TOO_MANY_CLIENTS  "io.fdwatch.TooManyClients"
#define FDW_ERROR_TIMEOUT	    "io.fdwatch.Timeout"

/* The IDL texts served by org.varlink.service.GetInterfaceDescription. */
extern const char varlink_service_description[];
extern const char varlink_fdwatch_description[];

/*
 * Framing. buf[0..len) holds bytes received and not yet consumed. Returns 1
 * and the length of the first message (without its NUL) in *ret_len when a
 * NUL-terminated message is complete; 0 when more bytes are needed; -EMSGSIZE
 * when no NUL was found within max bytes (the message is too large: reply and
 * disconnect, the stream cannot be resynchronised cheaply); -EBADMSG for an
 * empty message (a stray NUL).
 */
int varlink_frame_next(const char *buf, size_t len, size_t max, size_t *ret_len);

/*
 * Whether s[0..len) is well-formed UTF-8: no overlong forms, no surrogates,
 * nothing above U+10FFFF; NUL bytes are refused too (they cannot appear in a
 * framed message nor survive as a C string).
 */
bool utf8_is_valid(const char *s, size_t len);

/*
 * A copy of s with every byte that does not start a valid UTF-8 character
 * replaced by U+FFFD, so text from the kernel (comm, cmdline: any bytes)
 * can go into JSON. NULL on ENOMEM.
 */
char *utf8_sanitize(const char *s);
/* Add s as a string, sanitized when it is not valid UTF-8. NULL on ENOMEM. */
cJSON *json_add_string(cJSON *obj, const char *name, const char *s);

/*
 * Depth of the deepest object/array nesting of the JSON text s[0..len),
 * scanning outside strings only; stops counting once above limit. Cheap
 * enough to run before the parser so a 1 MB "[[[[..." never reaches it.
 */
unsigned json_text_depth(const char *s, size_t len, unsigned limit);

enum varlink_flags {
	VARLINK_MORE = 1U << 0,	  /* "more": true - the caller accepts a stream of replies */
	VARLINK_ONEWAY = 1U << 1, /* "oneway": true - the caller wants no reply */
};

/* A validated call. root owns everything; method and parameters point into it. */
struct varlink_call {
	cJSON *root;
	const char *method;	 /* "io.fdwatch.GetStatus" */
	const cJSON *parameters; /* an object; an empty one when the call had none */
	unsigned flags;		 /* enum varlink_flags */
};

/* A call that failed validation: the error reply to send and whether to hang up. */
struct varlink_fault {
	const char *error;     /* VARLINK_ERROR_* / FDW_ERROR_* */
	const char *parameter; /* for InvalidParameter: the offending name; static */
	const char *reason;    /* for ProtocolError: what was wrong; static */
};

/*
 * Parse and validate one framed message msg[0..len) (no NUL inside) as a
 * call: UTF-8 (raw text, then every decoded string and key, since escapes
 * like "\ud800" or "\u0000" decode to what the raw check cannot see), depth
 * <= VARLINK_MAX_DEPTH, a JSON object with a string "method" that is a
 * well-formed interface-qualified name, optional object "parameters",
 * optional booleans "more", "oneway"; "upgrade" is not supported. Returns 0
 * and fills *ret (free with varlink_call_done()), -ENOMEM, or -EINVAL with
 * *ret_fault saying which error reply to send.
 */
int varlink_call_parse(const char *msg, size_t len, struct varlink_call *ret,
		       struct varlink_fault *ret_fault);
void varlink_call_done(struct varlink_call *c);

/* Whether name is "interface.Method" with a reverse-domain interface and a capitalised method. */
bool varlink_method_name_is_valid(const char *name);

/*
 * Build a reply / an error reply as NUL-terminated wire bytes: a malloc'd
 * buffer whose *ret_size includes the final NUL. parameters is consumed
 * (freed, also on error); NULL means {}. 0 or -ENOMEM.
 */
int varlink_reply_build(cJSON *parameters, bool continues, char **ret, size_t *ret_size);
int varlink_error_build(const char *error, cJSON *parameters, char **ret, size_t *ret_size);
/* An error whose only parameter is one string, e.g. {"parameter": "pid"}; key NULL: none. */
int varlink_error_build_string(const char *error, const char *key, const char *value, char **ret,
			       size_t *ret_size);
/* The error reply for a fault from varlink_call_parse(). */
int varlink_fault_build(const struct varlink_fault *f, char **ret, size_t *ret_size);

/* Build a call, for clients. parameters consumed; NULL means {}. 0 or -ENOMEM. */
int varlink_call_build(const char *method, cJSON *parameters, unsigned flags, char **ret,
		       size_t *ret_size);

/* A parsed reply, for clients. root owns everything. */
struct varlink_reply {
	cJSON *root;
	const char *error;	 /* NULL for a successful reply */
	const cJSON *parameters; /* an object; empty when absent */
	bool continues;
};

/* Parse one framed reply with the same UTF-8/depth checks. 0, -ENOMEM or -EBADMSG. */
int varlink_reply_parse(const char *msg, size_t len, struct varlink_reply *ret);
void varlink_reply_done(struct varlink_reply *r);

/*
 * Typed access to call parameters. Each returns 0 and sets *ret when the
 * parameter is present and valid, -ENOENT when absent or null (*ret
 * untouched), -EINVAL when present with a wrong type or out of range (the
 * caller replies InvalidParameter with the name).
 */
int varlink_param_u64(const cJSON *params, const char *name, uint64_t max, uint64_t *ret);
int varlink_param_string(const cJSON *params, const char *name, size_t max_len, const char **ret);
int varlink_param_bool(const cJSON *params, const char *name, bool *ret);

/*
 * The first key of params that is not in the NULL-terminated list allowed,
 * or NULL when all are known. Varlink services reject unknown parameters so
 * that a typo ("limt") fails loudly instead of being ignored.
 */
const char *varlink_params_unknown(const cJSON *params, const char *const *allowed);

/*
 * {key: item}. item is consumed: freed on failure too, and NULL (a failed
 * constructor) is ENOMEM, so calls nest: json_wrap("alert", json_alert(a)).
 * NULL on ENOMEM.
 */
cJSON *json_wrap(const char *key, cJSON *item);
/* Append item to the array arr, consuming it as json_wrap() does. false on ENOMEM. */
bool json_append(cJSON *arr, cJSON *item);

/* Add an unsigned 64-bit integer exactly (cJSON numbers are doubles). NULL on ENOMEM. */
cJSON *json_add_u64(cJSON *obj, const char *name, uint64_t v);
cJSON *json_add_i64(cJSON *obj, const char *name, int64_t v);
/* A JSON value as uint64 when it is a non-negative integer <= 2^53; -EINVAL otherwise. */
int json_get_u64(const cJSON *v, uint64_t *ret);

static inline void cjson_deletep(cJSON **p)
{
	if (*p)
		cJSON_Delete(*p);
}
#define _cleanup_cjson_ _cleanup_(cjson_deletep)

static inline void varlink_call_donep(struct varlink_call *c)
{
	varlink_call_done(c);
}
static inline void varlink_reply_donep(struct varlink_reply *r)
{
	varlink_reply_done(r);
}
#endif
