// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "log.h"

#define MAX_FIELDS 48

bool journal_available(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

int journal_send_alert(const struct alert *a, bool to_journal, bool to_stderr)
{
	char *fields[MAX_FIELDS];
	struct iovec iov[MAX_FIELDS];
	int n, r = 0;

	if (to_stderr)
		fprintf(stderr, "%s%s\n", isatty(STDERR_FILENO) ? "" : "<4>", a->message);
	if (!to_journal)
		return 0;
	n = alert_to_fields(a, fields, MAX_FIELDS);
	if (n < 0)
		return log_warning_errno(n, "Failed to build journal fields of an alert: %m");
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){.iov_base = fields[i], .iov_len = strlen(fields[i])};
	r = sd_journal_sendv(iov, n);
	if (r < 0)
		log_warning_errno(r, "Failed to send an alert to journald: %m");
	alert_fields_free(fields, (size_t)n);
	return r;
}
