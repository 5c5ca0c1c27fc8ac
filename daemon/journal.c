// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "util.h"

/* An alert's fields (ALERT_FIELDS_MAX) and FDWATCH_SEQ=. */
#define ENTRY_FIELDS_MAX (ALERT_FIELDS_MAX + 1)

/* One queued alert: its iovecs point into the same allocation. */
struct journal_entry {
	struct journal_entry *next;
	size_t n;
	struct iovec iov[];
};

struct journal {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t more;	/* the writer waits for entries, or for stopping */
	pthread_cond_t drained; /* journal_free() waits for an empty FIFO */
	struct journal_entry *head, *tail;
	struct journal_entry *inflight; /* popped, inside sd_journal_sendv() */
	size_t len, capacity;
	bool stopping;
	struct journal_stats stats;
};

bool journal_available(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

static void *journal_writer(void *userdata)
{
	struct journal *j = userdata;
	int r;

	/* Cancelled (journal_free() after its timeout) only inside the send, never holding the
	 * lock. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&j->lock);
	for (;;) {
		while (!j->head && !j->stopping)
			pthread_cond_wait(&j->more, &j->lock);
		if (!j->head)
			break;
		j->inflight = j->head;
		j->head = j->head->next;
		if (!j->head)
			j->tail = NULL;
		pthread_mutex_unlock(&j->lock);

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		r = sd_journal_sendv(j->inflight->iov, (int)j->inflight->n);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);

		pthread_mutex_lock(&j->lock);
		free(j->inflight);
		j->inflight = NULL;
		j->len--;
		if (r < 0)
			j->stats.failed++;
		else
			j->stats.sent++;
		if (j->len == 0)
			pthread_cond_broadcast(&j->drained);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

int journal_new(size_t capacity, struct journal **ret)
{
	_cleanup_free_ struct journal *j = NULL;
	pthread_condattr_t ca;
	sigset_t all, saved;
	int r;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->capacity = MAX(capacity, (size_t)1);
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->more, &ca);
	pthread_cond_init(&j->drained, &ca);
	pthread_condattr_destroy(&ca);

	/* Signals are the event loop's (signalfd): none may land in the writer. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	r = pthread_create(&j->thread, NULL, journal_writer, j);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r != 0) {
		pthread_cond_destroy(&j->more);
		pthread_cond_destroy(&j->drained);
		pthread_mutex_destroy(&j->lock);
		return -r;
	}
	*ret = TAKE_PTR(j);
	return 0;
}

void journal_free(struct journal *j, uint64_t timeout_ns, uint64_t *ret_lost)
{
	struct journal_entry *e, *next;
	struct timespec deadline;
	uint64_t lost = 0;

	if (!j)
		return;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ns / NSEC_PER_SEC);
	deadline.tv_nsec += (long)(timeout_ns % NSEC_PER_SEC);
	if (deadline.tv_nsec >= (long)NSEC_PER_SEC) {
		deadline.tv_sec++;
		deadline.tv_nsec -= (long)NSEC_PER_SEC;
	}
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	pthread_cond_signal(&j->more);
	while (j->len > 0)
		if (pthread_cond_timedwait(&j->drained, &j->lock, &deadline) == ETIMEDOUT)
			break;
	lost = j->len;
	pthread_mutex_unlock(&j->lock);
	/* Still blocked in journald: it is not coming back in time. */
	if (lost > 0)
		pthread_cancel(j->thread);
	pthread_join(j->thread, NULL);

	free(j->inflight);
	for (e = j->head; e; e = next) {
		next = e->next;
		free(e);
	}
	pthread_cond_destroy(&j->more);
	pthread_cond_destroy(&j->drained);
	pthread_mutex_destroy(&j->lock);
	free(j);
	if (ret_lost)
		*ret_lost = lost;
}

void journal_set_capacity(struct journal *j, size_t capacity)
{
	pthread_mutex_lock(&j->lock);
	j->capacity = MAX(capacity, (size_t)1);
	pthread_mutex_unlock(&j->lock);
}

/* The fields, copied into one allocation the writer frees. */
static int journal_entry_new(const struct alert *a, struct journal_entry **ret)
{
	char *fields[ENTRY_FIELDS_MAX];
	struct journal_entry *e;
	size_t size = 0;
	char *p;
	int n;

	n = alert_to_fields(a, fields, ALERT_FIELDS_MAX);
	if (n < 0)
		return n;
	/* The seq of `fdwatchctl alerts`: what the journal has can be matched with the history. */
	if (asprintf(&fields[n], "FDWATCH_SEQ=%llu", (unsigned long long)a->seq) < 0) {
		alert_fields_free(fields, (size_t)n);
		return -ENOMEM;
	}
	n++;
	for (int i = 0; i < n; i++)
		size += strlen(fields[i]);
	e = malloc(sizeof(*e) + (size_t)n * sizeof(struct iovec) + size);
	if (!e) {
		alert_fields_free(fields, (size_t)n);
		return -ENOMEM;
	}
	e->next = NULL;
	e->n = (size_t)n;
	p = (char *)&e->iov[n];
	for (int i = 0; i < n; i++) {
		size_t len = strlen(fields[i]);

		memcpy(p, fields[i], len);
		e->iov[i] = (struct iovec){.iov_base = p, .iov_len = len};
		p += len;
	}
	alert_fields_free(fields, (size_t)n);
	*ret = e;
	return 0;
}

int journal_push(struct journal *j, const struct alert *a)
{
	struct journal_entry *e = NULL;
	bool full;
	int r;

	pthread_mutex_lock(&j->lock);
	full = j->len >= j->capacity;
	pthread_mutex_unlock(&j->lock);
	/* Built outside the lock: the writer pops meanwhile, it never waits for us long. */
	r = full ? -ENOBUFS : journal_entry_new(a, &e);

	pthread_mutex_lock(&j->lock);
	if (r >= 0 && j->len >= j->capacity) {
		free(e);
		r = -ENOBUFS;
	}
	if (r < 0) {
		j->stats.dropped++;
	} else {
		if (j->tail)
			j->tail->next = e;
		else
			j->head = e;
		j->tail = e;
		j->len++;
		pthread_cond_signal(&j->more);
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

void journal_get_stats(struct journal *j, struct journal_stats *ret)
{
	pthread_mutex_lock(&j->lock);
	*ret = j->stats;
	ret->queued = j->len;
	pthread_mutex_unlock(&j->lock);
}
