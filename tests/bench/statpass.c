// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * statpass - what reading every process's fd count from /proc costs: one
 * stat("/proc/PID/fd") per process (st_size is the count), a pass over all
 * of them, ROUNDS times. Prints "statpass PROCS MEDIAN_US" for the bench to
 * set beside the daemon's count pass (GetStatus last_pass_usec).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define ROUNDS 7

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	static char paths[200000][24];
	double took[ROUNDS];
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d = opendir("/proc");

	if (!d) {
		perror("/proc");
		return 1;
	}
	while ((de = readdir(d)) && n < sizeof(paths) / sizeof(paths[0]))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			snprintf(paths[n++], sizeof(paths[0]), "/proc/%.12s/fd", de->d_name);
	closedir(d);
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_us();

		for (size_t i = 0; i < n; i++)
			(void)stat(paths[i], &st);
		took[r] = now_us() - t0;
	}
	qsort(took, ROUNDS, sizeof(took[0]), cmp);
	printf("statpass %zu %.0f\n", n, took[ROUNDS / 2]);
	return 0;
}
