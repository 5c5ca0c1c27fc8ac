// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* fdwatchd - watch every process's file descriptors and warn before EMFILE. */
#include <getopt.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "probe.h"

/* One exit code per fatal cause (documented in fdwatchd(8) and the README). */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_GENERIC = 1,
	EXIT_USAGE = 2,	     /* bad command line or configuration */
	EXIT_PERMISSION = 3, /* not root / no CAP_BPF, CAP_PERFMON */
	EXIT_NO_BTF = 4,
	EXIT_NO_TRACEFS = 5,
	EXIT_SECCOMP = 6,
	EXIT_BPF_LOAD = 7, /* verifier refused, or a tracepoint would not attach */
};

static void help(void)
{
	printf("Usage: fdwatchd [OPTIONS]\n"
	       "Watch every process's file descriptors; warn before a leak ends in EMFILE.\n\n"
	       "  -c, --config PATH       configuration file (default " FDW_CONFIG_FILE ",\n"
	       "                          then PATH.d/*.conf)\n"
	       "      --check-config      validate the configuration, print it, exit\n"
	       "  -s, --socket PATH       API socket (default " FDW_SOCKET_PATH ")\n"
	       "  -t, --tick DURATION     counter read interval (e.g. 1s, 500ms)\n"
	       "      --rescan DURATION   full /proc scan interval\n"
	       "      --probe-mode MODE   tracepoint (default) or raw\n"
	       "      --no-journal        alerts to stderr only\n"
	       "  -v, --verbose           debug messages, libbpf's included\n"
	       "      --version           print the version\n"
	       "  -h, --help              this help\n\n"
	       "Exit codes: 0 ok, 1 failure, 2 usage or configuration, 3 not permitted,\n"
	       "4 no kernel BTF, 5 tracefs not mounted, 6 seccomp blocks bpf(),\n"
	       "7 BPF program refused.\n");
}

static int exit_code_of(int failure)
{
	switch (failure) {
	case PROBE_FAIL_PERMISSION:
		return EXIT_PERMISSION;
	case PROBE_FAIL_NO_BTF:
		return EXIT_NO_BTF;
	case PROBE_FAIL_TRACEFS:
		return EXIT_NO_TRACEFS;
	case PROBE_FAIL_SECCOMP:
		return EXIT_SECCOMP;
	case PROBE_FAIL_LOAD:
	case PROBE_FAIL_ATTACH:
		return EXIT_BPF_LOAD;
	default:
		return EXIT_FAILURE_GENERIC;
	}
}

int main(int argc, char *argv[])
{
	enum { ARG_CHECK = 0x100, ARG_RESCAN, ARG_MODE, ARG_NO_JOURNAL, ARG_VERSION };
	static const struct option options[] = {{"config", required_argument, NULL, 'c'},
						{"check-config", no_argument, NULL, ARG_CHECK},
						{"socket", required_argument, NULL, 's'},
						{"tick", required_argument, NULL, 't'},
						{"rescan", required_argument, NULL, ARG_RESCAN},
						{"probe-mode", required_argument, NULL, ARG_MODE},
						{"no-journal", no_argument, NULL, ARG_NO_JOURNAL},
						{"verbose", no_argument, NULL, 'v'},
						{"version", no_argument, NULL, ARG_VERSION},
						{"help", no_argument, NULL, 'h'},
						{}};
	_cleanup_(manager_freep) struct manager *m = NULL;
	const char *config_path = NULL, *socket = NULL, *mode = NULL;
	const char *tick = NULL, *rescan = NULL;
	bool check = false, verbose = false, no_journal = false;
	/* config_done() on every exit; manager_new() moves it out (leaving it zeroed). */
	_cleanup_(config_done) struct fdw_config config = {};
	int c, r, failure;

	while ((c = getopt_long(argc, argv, "c:s:t:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case ARG_CHECK:
			check = true;
			break;
		case 's':
			socket = optarg;
			break;
		case 't':
			tick = optarg;
			break;
		case ARG_RESCAN:
			rescan = optarg;
			break;
		case ARG_MODE:
			mode = optarg;
			break;
		case ARG_NO_JOURNAL:
			no_journal = true;
			break;
		case 'v':
			verbose = true;
			break;
		case ARG_VERSION:
			printf("fdwatchd " FDWATCH_VERSION "\n");
			return EXIT_OK;
		case 'h':
			help();
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'fdwatchd --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fdwatchd: unexpected argument '%s'. Try 'fdwatchd --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}

	r = config_load(config_path, stderr, &config);
	if (r < 0) {
		log_error_errno(r, "Invalid configuration (%s): %m",
				config_path ?: FDW_CONFIG_FILE);
		return EXIT_USAGE;
	}
	/* Command-line flags override the files. */
	if (socket && free_and_strdup(&config.socket_path, socket) < 0)
		return log_error_errno(ENOMEM, "Out of memory."), EXIT_FAILURE_GENERIC;
	if (tick && (parse_duration_ns(tick, &config.tick_ns) < 0 ||
		     config.tick_ns < 100000000ULL || config.tick_ns > 60 * NSEC_PER_SEC)) {
		log_error("Invalid --tick '%s': a duration from 100ms to 60s.", tick);
		return EXIT_USAGE;
	}
	if (rescan && (parse_duration_ns(rescan, &config.rescan_ns) < 0 || config.rescan_ns == 0)) {
		log_error("Invalid --rescan '%s': a positive duration.", rescan);
		return EXIT_USAGE;
	}
	if (mode) {
		if (streq(mode, "tracepoint"))
			config.probe_mode = PROBE_MODE_TRACEPOINT;
		else if (streq(mode, "raw"))
			config.probe_mode = PROBE_MODE_RAW;
		else {
			log_error("Invalid --probe-mode '%s': tracepoint or raw.", mode);
			return EXIT_USAGE;
		}
	}
	if (no_journal)
		config.alert_journal = false;
	log_set_max_level(verbose ? LOG_DEBUG : config.log_level);
	if (verbose)
		config.log_level = LOG_DEBUG;
	if (check) {
		config_dump(&config, stdout);
		return EXIT_OK;
	}

	/* From here on journald may be what reads stderr: never wait for it. */
	r = log_open_nonblocking();
	if (r < 0)
		log_warning_errno(r, "Failed to make standard error non-blocking, ignoring: %m");
	r = manager_new(&config, config_path, &m);
	if (r < 0)
		return log_error_errno(r, "Failed to set up: %m"), EXIT_FAILURE_GENERIC;
	/* Remembered for SIGHUP: a reload must not undo them. */
	m->overrides = (struct manager_overrides){
	    .tick_ns = tick ? m->config.tick_ns : 0,
	    .rescan_ns = rescan ? m->config.rescan_ns : 0,
	    .no_journal = no_journal,
	    .verbose = verbose,
	};
	r = manager_start(m, verbose, &failure);
	if (r < 0)
		return failure != PROBE_OK ? exit_code_of(failure) : EXIT_FAILURE_GENERIC;
	r = manager_run(m);
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE_GENERIC;
	return EXIT_OK;
}
