// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * varlink.c - framing, validation and building of Varlink-shaped messages.
 * See varlink.h. The IDL below is the reference for every field the API
 * serves; json.c builds exactly these shapes and test-json checks it.
 */
#include <inttypes.h>
#include <math.h>

#include "varlink.h"

const char varlink_service_description[] =
    "# The Varlink Service Interface is provided by every varlink service. It\n"
    "# describes the service and the interfaces it implements.\n"
    "interface org.varlink.service\n"
    "\n"
    "# Get a list of all the interfaces a service provides and information\n"
    "# about the implementation.\n"
    "method GetInfo() -> (\n"
    "  vendor: string,\n"
    "  product: string,\n"
    "  version: string,\n"
    "  url: string,\n"
    "  interfaces: []string\n"
    ")\n"
    "\n"
    "# Get the description of an interface that is implemented by this service.\n"
    "method GetInterfaceDescription(interface: string) -> (description: string)\n"
    "\n"
    "# The requested interface was not found.\n"
    "error InterfaceNotFound (interface: string)\n"
    "\n"
    "# The requested method was not found\n"
    "error MethodNotFound (method: string)\n"
    "\n"
    "# The interface defines the requested method, but the service does not\n"
    "# implement it.\n"
    "error MethodNotImplemented (method: string)\n"
    "\n"
    "# One of the passed parameters is invalid.\n"
    "error InvalidParameter (parameter: string)\n"
    "\n"
    "# Client is denied access\n"
    "error PermissionDenied ()\n"
    "\n"
    "# Method is expected to be called with 'more' set to true, but wasn't\n"
    "error ExpectedMore ()\n";

/* The filter parameters of ListProcesses and ListUnits (json.c reads them: proc_filter). */
#define PROC_FILTER_PARAMS                                                                         \
	"  uid: ?int,\n"                                                                           \
	"  unit: ?string,\n"                                                                       \
	"  comm: ?string,\n"                                                                       \
	"  runtime: ?string,\n"                                                                    \
	"  container: ?string,\n"                                                                  \
	"  pod_uid: ?string,\n"                                                                    \
	"  state: ?State,\n"                                                                       \
	"  min_use_percent: ?float,\n"                                                             \
	"  limit: ?int\n"

const char varlink_fdwatch_description[] =
    "# fdwatch watches the file descriptors of every process and warns before\n"
    "# a leak ends in EMFILE (\"Too many open files\").\n"
    "#\n"
    "# Access: root and members of the configured AdminGroup see every process\n"
    "# and every alert; any other user sees only processes running under its\n"
    "# own uid and the alerts about them.\n"
    "#\n"
    "# Numbers: counts and times are integers (exact up to 2^53); *_sec fields\n"
    "# are seconds as floats; *_usec fields are CLOCK_REALTIME microseconds.\n"
    "# Alert fields carry the names of the journald FDWATCH_* fields,\n"
    "# lowercased and without the prefix (FDWATCH_ETA_SEC is eta_sec).\n"
    "interface io.fdwatch\n"
    "\n"
    "# Verdict on a process, lowest risk first.\n"
    "type State (ok, growing, leaking, critical, exhausted)\n"
    "\n"
    "# What kind of fd the creating syscall made (attribution is by syscall).\n"
    "type Kind (\n"
    "  file, pipe, socket, dup, eventfd, epoll, signalfd, timerfd, inotify,\n"
    "  fanotify, memfd, pidfd, io_uring, other\n"
    ")\n"
    "\n"
    "type AlertType (leak, critical, exhausted, recovered)\n"
    "\n"
    "# One process as ListProcesses shows it.\n"
    "type ProcessSummary (\n"
    "  pid: int,\n"
    "  # /proc/PID/stat field 22: with pid, the identity of the process.\n"
    "  start_ticks: int,\n"
    "  uid: int,\n"
    "  comm: string,\n"
    "  # The systemd unit, when the process runs in one.\n"
    "  unit: ?string,\n"
    "  # From the cgroup path: the container runtime (docker, podman, containerd,\n"
    "  # cri-o; cri for a Kubernetes container whose runtime the path does not name)\n"
    "  # and the container id (64 hex digits); the Kubernetes pod UID and its QoS\n"
    "  # class (guaranteed, burstable, besteffort). null when the path has none.\n"
    "  container_runtime: ?string,\n"
    "  container_id: ?string,\n"
    "  pod_uid: ?string,\n"
    "  pod_qos: ?string,\n"
    "  fds: int,\n"
    "  # Soft and hard RLIMIT_NOFILE; null when unlimited.\n"
    "  limit: ?int,\n"
    "  hard_limit: ?int,\n"
    "  use_percent: ?float,\n"
    "  # Net fds per second, and seconds until the soft limit at that rate.\n"
    "  rate: float,\n"
    "  eta_sec: ?float,\n"
    "  state: State,\n"
    "  # none, linear, stepwise, retry-loop or at-limit.\n"
    "  pattern: string,\n"
    "  # The kind that grew most, and every kind that grew.\n"
    "  kind: ?Kind,\n"
    "  kinds: []Kind,\n"
    "  confidence: float,\n"
    "  exited: bool,\n"
    "  # A [Rule] with Ignore=yes matches it: never alerted on.\n"
    "  ignored: bool\n"
    ")\n"
    "\n"
    "# One point of a process's recent open-fd history.\n"
    "type Sample (ago_sec: float, fds: int)\n"
    "\n"
    "# One process in full, for GetProcess.\n"
    "type Process (\n"
    "  pid: int,\n"
    "  start_ticks: int,\n"
    "  uid: int,\n"
    "  comm: string,\n"
    "  unit: ?string,\n"
    "  container_runtime: ?string,\n"
    "  container_id: ?string,\n"
    "  pod_uid: ?string,\n"
    "  pod_qos: ?string,\n"
    "  fds: int,\n"
    "  limit: ?int,\n"
    "  hard_limit: ?int,\n"
    "  use_percent: ?float,\n"
    "  rate: float,\n"
    "  eta_sec: ?float,\n"
    "  state: State,\n"
    "  pattern: string,\n"
    "  kind: ?Kind,\n"
    "  kinds: []Kind,\n"
    "  confidence: float,\n"
    "  exited: bool,\n"
    "  ignored: bool,\n"
    "  cmdline: string,\n"
    "  cgroup: ?string,\n"
    "  # fds created since first seen, by kind (every kind listed), and closed.\n"
    "  created: [string]int,\n"
    "  closed: int,\n"
    "  # Creations that failed with EMFILE / ENFILE, and the latest syscall that did.\n"
    "  emfile: int,\n"
    "  enfile: int,\n"
    "  syscall: ?string,\n"
    "  max_fd: ?int,\n"
    "  # Retry loop: seconds between attempts and net fds gained per attempt.\n"
    "  period_sec: ?float,\n"
    "  per_attempt: ?float,\n"
    "  closed_recent: int,\n"
    "  first_seen_usec: int,\n"
    "  age_sec: float,\n"
    "  # Seconds since the probe last saw an fd event; null when never.\n"
    "  idle_sec: ?float,\n"
    "  # What reconciliation with /proc had to add (the probe could not see it).\n"
    "  unseen_opens: int,\n"
    "  unseen_closes: int,\n"
    "  last_drift: int,\n"
    "  # Open fds, one sample per tick, oldest first.\n"
    "  history: []Sample\n"
    ")\n"
    "\n"
    "# Open fds that share a target.\n"
    "type CensusGroup (\n"
    "  # pipe-orphaned (both ends held here, by nobody else), pipe-shared,\n"
    "  # pipe-half (the other end closed), socket, file, directory, anon, other.\n"
    "  kind: string,\n"
    "  # \"TCP CLOSE to 127.0.0.1:5432\", \"pipe pairs held only by itself\", a path,\n"
    "  # \"files under DIR/\" (when there are many paths), \"eventfd\", \"memfd:NAME\".\n"
    "  target: string,\n"
    "  fds: int,\n"
    "  # Distinct targets (inodes); pairs for pipe-orphaned.\n"
    "  objects: int,\n"
    "  lowest_fd: int,\n"
    "  # Ages of its oldest and newest fd among the aged ones (pipes: the inode's\n"
    "  # creation; others: the probe's creation records); null when none is.\n"
    "  oldest_age_sec: ?float,\n"
    "  newest_age_sec: ?float,\n"
    "  aged: int,\n"
    "  # The group in words, as the alert says it.\n"
    "  text: string\n"
    ")\n"
    "\n"
    "# A process's open fds by target, largest group first (32 groups at most).\n"
    "type Census (\n"
    "  fds: int,\n"
    "  # fds of the groups beyond the 32 listed.\n"
    "  other_fds: int,\n"
    "  # Seconds since it was taken, and how long taking it took.\n"
    "  age_sec: float,\n"
    "  took_sec: float,\n"
    "  groups: []CensusGroup\n"
    ")\n"
    "\n"
    "# Open fds made by one user stack.\n"
    "type Site (\n"
    "  fds: int,\n"
    "  # The syscall of its newest fd.\n"
    "  syscall: ?string,\n"
    "  oldest_age_sec: float,\n"
    "  newest_age_sec: float,\n"
    "  # false: the stack could not be recorded (the stack map was full).\n"
    "  stack_kept: bool,\n"
    "  # Innermost first: \"function+0x1c (file)\", \"name+0x10 [perf map]\",\n"
    "  # \"file+0x1234\" (no symbol), or a bare address (no mapping): never a guess.\n"
    "  frames: []string\n"
    ")\n"
    "\n"
    "# Where a suspect's open fds were made, from the probe's creation records,\n"
    "# most fds first (8 sites at most).\n"
    "type Sites (\n"
    "  # The probe records this process's creations now.\n"
    "  tracking: bool,\n"
    "  # Records of open fds, records of fds closed unseen (close_range, exec).\n"
    "  tracked_fds: int,\n"
    "  stale: int,\n"
    "  # fds of the sites beyond the 8 listed.\n"
    "  other_fds: int,\n"
    "  sites: []Site\n"
    ")\n"
    "\n"
    "# One alert, as sent to journald.\n"
    "type Alert (\n"
    "  seq: int,\n"
    "  realtime_usec: int,\n"
    "  type: AlertType,\n"
    "  # syslog priority: 1 alert, 2 crit, 4 warning, 5 notice.\n"
    "  priority: int,\n"
    "  message_id: string,\n"
    "  message: string,\n"
    "  pid: int,\n"
    "  start_ticks: int,\n"
    "  uid: int,\n"
    "  comm: string,\n"
    "  unit: ?string,\n"
    "  container_runtime: ?string,\n"
    "  container_id: ?string,\n"
    "  pod_uid: ?string,\n"
    "  pod_qos: ?string,\n"
    "  fds: int,\n"
    "  limit: ?int,\n"
    "  hard_limit: ?int,\n"
    "  state: State,\n"
    "  pattern: string,\n"
    "  rate: float,\n"
    "  eta_sec: ?float,\n"
    "  kind: ?Kind,\n"
    "  kinds: []Kind,\n"
    "  period_sec: ?float,\n"
    "  per_attempt: ?float,\n"
    "  confidence: float,\n"
    "  # Exhausted: EMFILE/ENFILE failures in all, the syscall and the error.\n"
    "  fails: int,\n"
    "  syscall: ?string,\n"
    "  errno: ?string,\n"
    "  # Recovered: because the process exited.\n"
    "  exited: bool,\n"
    "  # Alerts about this process suppressed by the rate limit since the previous one.\n"
    "  suppressed: int,\n"
    "  # Leak, critical, exhausted: the largest group of its open fds in words, and\n"
    "  # where most were made (count, syscall, age, innermost frames); null when unknown.\n"
    "  top_target: ?string,\n"
    "  top_site: ?string\n"
    ")\n"
    "\n"
    "# Alert hooks ([Alert] HooksDirectory=) since start: runs started; ended with\n"
    "# status 0, ended otherwise, killed at HookTimeoutSec=, could not be started;\n"
    "# not run because MaxConcurrentHooks= and HookQueueSize= were full; now.\n"
    "type HookStats (\n"
    "  started: int,\n"
    "  succeeded: int,\n"
    "  failed: int,\n"
    "  timed_out: int,\n"
    "  exec_failed: int,\n"
    "  dropped: int,\n"
    "  running: int,\n"
    "  queued: int\n"
    ")\n"
    "\n"
    "# The daemon: version, configuration in force, counters.\n"
    "method GetStatus() -> (\n"
    "  version: string,\n"
    "  uptime_sec: float,\n"
    "  started_usec: int,\n"
    "  # When the syscall probe is attached: auto, always or poll.\n"
    "  probe_mode: string,\n"
    "  tick_sec: float,\n"
    "  rescan_sec: float,\n"
    "  # Processes tracked (all users'), and how many the caller may see.\n"
    "  processes: int,\n"
    "  visible: int,\n"
    "  ticks: int,\n"
    "  last_tick_usec: int,\n"
    "  # Records lost: ring buffer full, per-process map full.\n"
    "  ringbuf_dropped: int,\n"
    "  map_full: int,\n"
    "  events_fail: int,\n"
    "  events_exec: int,\n"
    "  events_exit: int,\n"
    "  reconciliations: int,\n"
    "  # Passes over every process's fd count in the kernel (0: not available here:\n"
    "  # each process is read from /proc), how long the latest took, and reads of\n"
    "  # /proc/PID/fd (what a pass found changed, and what passes do not see).\n"
    "  count_passes: int,\n"
    "  last_pass_usec: int,\n"
    "  count_reads: int,\n"
    "  unseen_opens: int,\n"
    "  unseen_closes: int,\n"
    "  # Processes whose fd creations the probe records now, censuses taken, and\n"
    "  # creation records lost (the map was full) or kept without a stack.\n"
    "  tracked_processes: int,\n"
    "  censuses: int,\n"
    "  sites_full: int,\n"
    "  sites_no_stack: int,\n"
    "  alerts_sent: int,\n"
    "  alerts_suppressed: int,\n"
    "  # How the syscall probe is attached: tracepoint or raw.\n"
    "  probe_backend: string,\n"
    "  # Whether it is attached now, since when (CLOCK_REALTIME, 0: not armed),\n"
    "  # and the share of the latest probe_share_window_sec it was.\n"
    "  probe_armed: bool,\n"
    "  probe_armed_since_usec: int,\n"
    "  probe_armed_share: float,\n"
    "  probe_share_window_sec: float,\n"
    "  # How long the latest attach and the latest detach took.\n"
    "  probe_arm_usec: int,\n"
    "  probe_detach_usec: int,\n"
    "  events_fork: int,\n"
    "  # Suspects (of all users), and the PIDs of the first the caller may see.\n"
    "  suspects: int,\n"
    "  suspect_pids: []int,\n"
    "  # Alerts on their way to journald: waiting in the queue (JournalQueue=),\n"
    "  # handed over, dropped because the queue was full, refused by journald.\n"
    "  journal: (queued: int, sent: int, dropped: int, failed: int),\n"
    "  # Log lines of the daemon's own that standard error did not take.\n"
    "  log_dropped: int,\n"
    "  hooks: HookStats,\n"
    "  clients: int,\n"
    "  subscribers: int,\n"
    "  # Who the daemon thinks the caller is.\n"
    "  client_uid: int,\n"
    "  client_admin: bool\n"
    ")\n"
    "\n"
    "# Processes by risk: state descending, then ETA ascending, then fds descending.\n"
    "# Filters: uid; unit and comm as fnmatch(3) globs; runtime a container runtime\n"
    "# name; container and pod_uid prefixes of the container id and pod UID; state\n"
    "# is the lowest state listed; min_use_percent the lowest share of the soft limit\n"
    "# in use (0-100); limit cuts the list (matched counts before the cut).\n"
    "method ListProcesses(\n" PROC_FILTER_PARAMS
    ") -> (processes: []ProcessSummary, matched: int)\n"
    "\n"
    "# Processes grouped by systemd unit (unit null: processes outside units), with\n"
    "# the filters of ListProcesses (state: only processes at that state or worse\n"
    "# count); worst state first, then most fds; limit cuts the list of units.\n"
    "type UnitSummary (\n"
    "  unit: ?string,\n"
    "  processes: int,\n"
    "  # Open fds of all its processes, its worst state, how many leak or worse.\n"
    "  fds: int,\n"
    "  state: State,\n"
    "  leaking: int\n"
    ")\n"
    "\n"
    "method ListUnits(\n" PROC_FILTER_PARAMS ") -> (units: []UnitSummary)\n"
    "\n"
    "# What a process's open fds point at, from /proc and the kernel's sockets, taken\n"
    "# on demand (reused when younger than a second) and while it leaks.\n"
    "# census: null when it could not be taken; sites: null when the probe has no\n"
    "# creation records of it (they are kept for suspects only).\n"
    "method GetProcess(pid: int) -> (process: Process, census: ?Census, sites: ?Sites)\n"
    "\n"
    "# Arm the syscall probe for a process for a while (seconds, default 60, at\n"
    "# most 3600): it is a suspect until until_usec (CLOCK_REALTIME). root and\n"
    "# AdminGroup= members only: while armed, every syscall of the machine pays.\n"
    "method Trace(pid: int, seconds: ?int) -> (until_usec: int)\n"
    "\n"
    "# Alert history, oldest first: alerts with seq > since (default 0).\n"
    "method ListAlerts(since: ?int, limit: ?int) -> (alerts: []Alert)\n"
    "\n"
    "# Every alert as it is raised; call with more. With since, first replays the\n"
    "# history after that seq (at most the latest 100: ListAlerts has all). A\n"
    "# subscriber that does not read is disconnected once its output queue is full.\n"
    "method Subscribe(since: ?int) -> (alert: Alert)\n"
    "\n"
    "error NoSuchProcess (pid: int)\n"
    "error InvalidParameter (parameter: string)\n"
    "# The process belongs to another user.\n"
    "error PermissionDenied ()\n"
    "# The message was not valid JSON, UTF-8 or a call; or nested too deep.\n"
    "error ProtocolError (reason: string)\n"
    "# The request exceeded the size limit; the connection is closed.\n"
    "error RequestTooLarge (max_bytes: int)\n"
    "# The client limit (in total or per uid) was reached; the connection is closed.\n"
    "error TooManyClients (max: int)\n"
    "# A request took too long to arrive, or the connection was idle; it is closed.\n"
    "error Timeout (reason: string)\n";

int varlink_frame_next(const char *buf, size_t len, size_t max, size_t *ret_len)
{
	const char *nul;

	nul = memchr(buf, 0, MIN(len, max + 1));
	if (!nul)
		return len > max ? -EMSGSIZE : 0;
	if ((size_t)(nul - buf) > max)
		return -EMSGSIZE;
	if (nul == buf)
		return -EBADMSG;
	*ret_len = nul - buf;
	return 1;
}

bool utf8_is_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false; /* continuation byte, overlong 0xc0/0xc1, or > U+10FFFF */
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false; /* overlong, or beyond Unicode */
		if (cp >= 0xd800 && cp <= 0xdfff)
			return false; /* UTF-16 surrogates are not characters */
		i += n + 1;
	}
	return true;
}

char *utf8_sanitize(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str), o = 0;
	char *out = malloc(len * 3 + 1); /* each bad byte becomes 3 */

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = s[i] < 0x80 ? 1 : s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;

		if (i + n <= len && utf8_is_valid(str + i, n)) {
			memcpy(out + o, str + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = 0;
	return out;
}

cJSON *json_add_string(cJSON *obj, const char *name, const char *s)
{
	_cleanup_free_ char *clean = NULL;

	if (utf8_is_valid(s, strlen(s)))
		return cJSON_AddStringToObject(obj, name, s);
	clean = utf8_sanitize(s);
	if (!clean)
		return NULL;
	return cJSON_AddStringToObject(obj, name, clean);
}

/*
 * One pass over JSON text outside and inside strings: the nesting depth
 * (capped at limit + 1) and whether a string holds a "\u0000" escape, which
 * cJSON decodes into a NUL that silently cuts the C string.
 */
static unsigned json_text_scan(const char *s, size_t len, unsigned limit, bool *ret_nul_escape)
{
	unsigned depth = 0, deepest = 0;
	bool in_string = false;

	if (ret_nul_escape)
		*ret_nul_escape = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (c == '\\') {
				if (i + 1 < len && s[i + 1] == 'u' && i + 5 < len &&
				    strncmp(s + i + 2, "0000", 4) == 0 && ret_nul_escape)
					*ret_nul_escape = true;
				i++; /* skip the escaped character */
			} else if (c == '"') {
				in_string = false;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_string = true;
			break;
		case '{':
		case '[':
			if (++depth > deepest) {
				deepest = depth;
				if (deepest > limit)
					return deepest;
			}
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			break;
		}
	}
	return deepest;
}

unsigned json_text_depth(const char *s, size_t len, unsigned limit)
{
	return json_text_scan(s, len, limit, NULL);
}

/* Every string and key in the tree is valid UTF-8 (cJSON decodes escapes without judging them). */
static bool json_tree_utf8_valid(const cJSON *item, unsigned depth)
{
	if (depth > VARLINK_MAX_DEPTH)
		return false;
	for (; item; item = item->next) {
		if (item->string && !utf8_is_valid(item->string, strlen(item->string)))
			return false;
		if (cJSON_IsString(item) &&
		    !utf8_is_valid(item->valuestring, strlen(item->valuestring)))
			return false;
		if (item->child && !json_tree_utf8_valid(item->child, depth + 1))
			return false;
	}
	return true;
}

static bool object_has_duplicate_keys(const cJSON *obj, size_t max_keys)
{
	size_t n = 0;

	for (const cJSON *a = obj->child; a; a = a->next, n++) {
		if (n >= max_keys)
			return true; /* too many to be a call of ours: treat as bad */
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && streq(a->string, b->string))
				return true;
	}
	return false;
}

/* [A-Za-z]([-]*[A-Za-z0-9])* : one label of a reverse-domain interface name. */
static bool interface_label_valid(const char *s, size_t n)
{
	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
			(s[0] >= '0' && s[0] <= '9')))
		return false;
	if (s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

bool varlink_method_name_is_valid(const char *name)
{
	const char *dot, *p, *label;
	size_t labels = 0;

	if (!name)
		return false;
	if (strlen(name) > 255)
		return false;
	dot = strrchr(name, '.');
	if (!dot || dot == name)
		return false;
	/* Method: [A-Z][A-Za-z0-9]* */
	if (!(dot[1] >= 'A' && dot[1] <= 'Z'))
		return false;
	for (p = dot + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	/* Interface: at least two labels, the first starting with a letter. */
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
		return false;
	for (label = name;; label = p + 1) {
		p = memchr(label, '.', dot - label);
		if (!p)
			p = dot;
		if (!interface_label_valid(label, p - label))
			return false;
		labels++;
		if (p == dot)
			break;
	}
	return labels >= 2;
}

/*
 * root's "parameters", where a missing or null one becomes an empty object
 * (Varlink allows leaving it out). *ret may be a non-object: callers check.
 */
static int params_or_empty(cJSON *root, cJSON **ret)
{
	cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters"), *empty;

	if (params && !cJSON_IsNull(params)) {
		*ret = params;
		return 0;
	}
	empty = cJSON_CreateObject();
	if (!empty)
		return -ENOMEM;
	if (params)
		cJSON_DeleteItemFromObjectCaseSensitive(root, "parameters");
	if (!cJSON_AddItemToObject(root, "parameters", empty)) {
		cJSON_Delete(empty);
		return -ENOMEM;
	}
	*ret = empty;
	return 0;
}

static int fault(struct varlink_fault *f, const char *error, const char *parameter,
		 const char *reason)
{
	if (f)
		*f = (struct varlink_fault){
		    .error = error, .parameter = parameter, .reason = reason};
	return -EINVAL;
}

/*
 * Parse msg[0..len) into a tree after the raw checks. NULL and *ret_reason
 * set when the text is not acceptable.
 */
static cJSON *parse_checked(const char *msg, size_t len, const char **ret_reason)
{
	const char *end = NULL;
	bool nul_escape;
	cJSON *root;

	if (!utf8_is_valid(msg, len)) {
		*ret_reason = "invalid UTF-8";
		return NULL;
	}
	if (json_text_scan(msg, len, VARLINK_MAX_DEPTH, &nul_escape) > VARLINK_MAX_DEPTH) {
		*ret_reason = "nesting too deep";
		return NULL;
	}
	if (nul_escape) {
		*ret_reason = "NUL character in a string";
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(msg, len, &end, false);
	if (!root) {
		*ret_reason = "malformed JSON";
		return NULL;
	}
	/* Only whitespace may follow the value. */
	for (; end && end < msg + len; end++)
		if (!strchr(" \t\r\n", *end)) {
			cJSON_Delete(root);
			*ret_reason = "trailing data after the JSON value";
			return NULL;
		}
	if (!json_tree_utf8_valid(root, 0)) {
		cJSON_Delete(root);
		*ret_reason = "invalid UTF-8 in a string";
		return NULL;
	}
	return root;
}

int varlink_call_parse(const char *msg, size_t len, struct varlink_call *ret,
		       struct varlink_fault *ret_fault)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const char *reason = NULL;
	cJSON *method, *params, *more, *oneway, *upgrade;
	unsigned flags = 0;
	int r;

	root = parse_checked(msg, len, &reason);
	if (!root)
		return fault(ret_fault, FDW_ERROR_PROTOCOL, NULL, reason);
	if (!cJSON_IsObject(root))
		return fault(ret_fault, FDW_ERROR_PROTOCOL, NULL, "a call must be a JSON object");
	if (object_has_duplicate_keys(root, 16))
		return fault(ret_fault, FDW_ERROR_PROTOCOL, NULL, "duplicate or too many keys");

	method = cJSON_GetObjectItemCaseSensitive(root, "method");
	if (!cJSON_IsString(method))
		return fault(ret_fault, FDW_ERROR_PROTOCOL, NULL,
			     "\"method\" missing or not a string");
	if (!varlink_method_name_is_valid(method->valuestring))
		return fault(ret_fault, FDW_ERROR_PROTOCOL, NULL, "malformed method name");

	more = cJSON_GetObjectItemCaseSensitive(root, "more");
	if (more && !cJSON_IsNull(more)) {
		if (!cJSON_IsBool(more))
			return fault(ret_fault, VARLINK_ERROR_INVALID_PARAMETER, "more", NULL);
		if (cJSON_IsTrue(more))
			flags |= VARLINK_MORE;
	}
	oneway = cJSON_GetObjectItemCaseSensitive(root, "oneway");
	if (oneway && !cJSON_IsNull(oneway)) {
		if (!cJSON_IsBool(oneway))
			return fault(ret_fault, VARLINK_ERROR_INVALID_PARAMETER, "oneway", NULL);
		if (cJSON_IsTrue(oneway))
			flags |= VARLINK_ONEWAY;
	}
	if ((flags & VARLINK_MORE) && (flags & VARLINK_ONEWAY))
		return fault(ret_fault, VARLINK_ERROR_INVALID_PARAMETER, "oneway", NULL);
	upgrade = cJSON_GetObjectItemCaseSensitive(root, "upgrade");
	if (upgrade && !cJSON_IsNull(upgrade) && !cJSON_IsFalse(upgrade))
		return fault(ret_fault, FDW_ERROR_PROTOCOL, NULL, "protocol upgrade not supported");

	r = params_or_empty(root, &params);
	if (r < 0)
		return r;
	if (!cJSON_IsObject(params)) {
		return fault(ret_fault, VARLINK_ERROR_INVALID_PARAMETER, "parameters", NULL);
	}

	*ret = (struct varlink_call){
	    .method = method->valuestring,
	    .parameters = params,
	    .flags = flags,
	    .root = TAKE_PTR(root),
	};
	return 0;
}

void varlink_call_done(struct varlink_call *c)
{
	if (!c)
		return;
	cJSON_Delete(c->root);
	*c = (struct varlink_call){};
}

/* Print root into a malloc'd buffer including its NUL terminator. Consumes root. */
static int print_consume(cJSON *root, char **ret, size_t *ret_size)
{
	char *s;

	if (!root)
		return -ENOMEM;
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		return -ENOMEM;
	*ret = s;
	*ret_size = strlen(s) + 1;
	return 0;
}

/*
 * {"parameters": parameters or {}}, with key: value first unless key is NULL:
 * the head of a reply, an error or a call. Takes parameters (freed on failure
 * too); NULL on ENOMEM.
 */
static cJSON *message_new(const char *key, const char *value, cJSON *parameters)
{
	cJSON *root = cJSON_CreateObject();

	if (!parameters)
		parameters = cJSON_CreateObject();
	if (!root || (key && !cJSON_AddStringToObject(root, key, value)) || !parameters ||
	    !cJSON_AddItemToObject(root, "parameters", parameters)) {
		cJSON_Delete(root);
		cJSON_Delete(parameters);
		return NULL;
	}
	return root;
}

int varlink_reply_build(cJSON *parameters, bool continues, char **ret, size_t *ret_size)
{
	cJSON *root = message_new(NULL, NULL, parameters);

	if (root && continues && !cJSON_AddTrueToObject(root, "continues")) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	return print_consume(root, ret, ret_size);
}

int varlink_error_build(const char *error, cJSON *parameters, char **ret, size_t *ret_size)
{
	cJSON *root = message_new("error", error, parameters);

	if (!root)
		return -ENOMEM;
	return print_consume(root, ret, ret_size);
}

int varlink_error_build_string(const char *error, const char *key, const char *value, char **ret,
			       size_t *ret_size)
{
	cJSON *p = cJSON_CreateObject();

	if (p && key && !cJSON_AddStringToObject(p, key, value ?: "")) {
		cJSON_Delete(p);
		return -ENOMEM;
	}
	if (!p)
		return -ENOMEM;
	return varlink_error_build(error, p, ret, ret_size);
}

int varlink_fault_build(const struct varlink_fault *f, char **ret, size_t *ret_size)
{
	if (f->parameter)
		return varlink_error_build_string(f->error, "parameter", f->parameter, ret,
						  ret_size);
	if (f->reason)
		return varlink_error_build_string(f->error, "reason", f->reason, ret, ret_size);
	return varlink_error_build(f->error, NULL, ret, ret_size);
}

int varlink_call_build(const char *method, cJSON *parameters, unsigned flags, char **ret,
		       size_t *ret_size)
{
	cJSON *root = message_new("method", method, parameters);

	if (!root)
		return -ENOMEM;
	if ((flags & VARLINK_MORE) && !cJSON_AddTrueToObject(root, "more")) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	if ((flags & VARLINK_ONEWAY) && !cJSON_AddTrueToObject(root, "oneway")) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	return print_consume(root, ret, ret_size);
}

int varlink_reply_parse(const char *msg, size_t len, struct varlink_reply *ret)
{
	_cleanup_cjson_ cJSON *root = NULL;
	const char *reason;
	cJSON *error, *params, *continues;
	int r;

	root = parse_checked(msg, len, &reason);
	if (!root || !cJSON_IsObject(root))
		return -EBADMSG;
	error = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (error && !cJSON_IsString(error))
		return -EBADMSG;
	continues = cJSON_GetObjectItemCaseSensitive(root, "continues");
	if (continues && !cJSON_IsBool(continues))
		return -EBADMSG;
	r = params_or_empty(root, &params);
	if (r < 0)
		return r;
	if (!cJSON_IsObject(params)) {
		return -EBADMSG;
	}
	*ret = (struct varlink_reply){
	    .error = error ? error->valuestring : NULL,
	    .parameters = params,
	    .continues = cJSON_IsTrue(continues),
	    .root = TAKE_PTR(root),
	};
	return 0;
}

void varlink_reply_done(struct varlink_reply *r)
{
	if (!r)
		return;
	cJSON_Delete(r->root);
	*r = (struct varlink_reply){};
}

/* 2^53: the largest integer a double (and so a JSON number in most parsers) holds exactly. */
#define JSON_MAX_SAFE_INTEGER 9007199254740992.0

int json_get_u64(const cJSON *v, uint64_t *ret)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d > JSON_MAX_SAFE_INTEGER || floor(d) != d)
		return -EINVAL;
	*ret = (uint64_t)d;
	return 0;
}

int varlink_param_u64(const cJSON *params, const char *name, uint64_t max, uint64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	uint64_t u;

	if (!v || cJSON_IsNull(v))
		return -ENOENT;
	if (json_get_u64(v, &u) < 0 || u > max)
		return -EINVAL;
	*ret = u;
	return 0;
}

int varlink_param_string(const cJSON *params, const char *name, size_t max_len, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);

	if (!v || cJSON_IsNull(v))
		return -ENOENT;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > max_len)
		return -EINVAL;
	*ret = v->valuestring;
	return 0;
}

int varlink_param_bool(const cJSON *params, const char *name, bool *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);

	if (!v || cJSON_IsNull(v))
		return -ENOENT;
	if (!cJSON_IsBool(v))
		return -EINVAL;
	*ret = cJSON_IsTrue(v);
	return 0;
}

const char *varlink_params_unknown(const cJSON *params, const char *const *allowed)
{
	for (const cJSON *p = params ? params->child : NULL; p; p = p->next) {
		bool known = false;

		if (!p->string)
			return "parameters";
		for (const char *const *a = allowed; a && *a; a++)
			if (streq(p->string, *a)) {
				known = true;
				break;
			}
		if (!known)
			return p->string;
		/* A known name given twice: cJSON would silently use the first. */
		for (const cJSON *q = p->next; q; q = q->next)
			if (q->string && streq(q->string, p->string))
				return p->string;
	}
	return NULL;
}

cJSON *json_wrap(const char *key, cJSON *item)
{
	cJSON *o = item ? cJSON_CreateObject() : NULL;

	if (!o || !cJSON_AddItemToObject(o, key, item)) {
		cJSON_Delete(o);
		cJSON_Delete(item);
		return NULL;
	}
	return o;
}

bool json_append(cJSON *arr, cJSON *item)
{
	if (!item || !cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		return false;
	}
	return true;
}

cJSON *json_add_u64(cJSON *obj, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(obj, name, buf);
}

cJSON *json_add_i64(cJSON *obj, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_AddRawToObject(obj, name, buf);
}
