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
	       "      --probe-mode MODE   " PROBE_MODE_NAMES "\n"
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

/* The flags that are settings: each goes through the key table of the files (config.h). */
enum { ARG_CHECK = 0x100, ARG_RESCAN, ARG_MODE, ARG_NO_JOURNAL, ARG_VERSION };
static const struct flag_key {
	int opt;
	const char *flag, *section, *key;
	const char *value; /* for a flag without argument: the value it sets */
} flag_keys[] = {
    {'s', "--socket", "Api", "SocketPath"},
    {'t', "--tick", "Probe", "TickSec"},
    {ARG_RESCAN, "--rescan", "Probe", "RescanSec"},
    {ARG_MODE, "--probe-mode", "Probe", "Mode"},
    {ARG_NO_JOURNAL, "--no-journal", "Alert", "Journal", "no"},
    {'v', "--verbose", "Alert", "LogLevel", "debug"},
};

int main(int argc, char *argv[])
{
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
	/* Each flag at most once here: a repeated one replaces its earlier value. */
	struct config_setting settings[ELEMENTSOF(flag_keys)];
	size_t n_settings = 0;
	const char *config_path = NULL;
	bool check = false, verbose = false;
	/* config_done() on every exit; manager_new() moves it out (leaving it zeroed). */
	_cleanup_(config_done) struct fdw_config config = {};
	int c, r, failure;

	while ((c = getopt_long(argc, argv, "c:s:t:vh", options, NULL)) >= 0) {
		const struct flag_key *fk = NULL;

		for (size_t i = 0; i < ELEMENTSOF(flag_keys); i++)
			if (flag_keys[i].opt == c)
				fk = &flag_keys[i];
		if (fk) {
			struct config_setting set = {
			    .origin = fk->flag,
			    .section = fk->section,
			    .key = fk->key,
			    .value = fk->value ?: optarg,
			};
			size_t i = 0;

			while (i < n_settings && settings[i].origin != fk->flag)
				i++;
			settings[i] = set;
			n_settings = MAX(n_settings, i + 1);
			if (c == 'v')
				verbose = true;
			continue;
		}
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case ARG_CHECK:
			check = true;
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

	/* The files, then the flags on top: what a reload will do again. */
	r = config_load(config_path, settings, n_settings, stderr, &config);
	if (r < 0) {
		log_error_errno(r, "Invalid configuration (%s): %m",
				config_path ?: FDW_CONFIG_FILE);
		return EXIT_USAGE;
	}
	if (check) {
		config_dump(&config, stdout);
		return EXIT_OK;
	}

	/* From here on journald may be what reads stderr: never wait for it. */
	r = log_open_nonblocking();
	if (r < 0)
		/* E.g. a pipe of another user's that we may not reopen: it stays as it is. */
		log_debug_errno(r, "Failed to make standard error non-blocking, ignoring: %m");
	r = manager_new(&config, config_path, settings, n_settings, &m);
	if (r < 0)
		return log_error_errno(r, "Failed to set up: %m"), EXIT_FAILURE_GENERIC;
	r = manager_start(m, verbose, &failure);
	if (r < 0)
		return failure != PROBE_OK ? exit_code_of(failure) : EXIT_FAILURE_GENERIC;
	r = manager_run(m);
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE_GENERIC;
	return EXIT_OK;
}
