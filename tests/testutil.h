/*
 * testutil.h: helpers for the Criterion suites: run a program and capture
 * what it prints, make temporary directories, find the tree.
 */
#ifndef ASSAY_TESTUTIL_H
#define ASSAY_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

struct tu_run {
	int status;      /* exit status, or 128 + signal */
	char *out;       /* stdout, NUL-terminated, caller frees via tu_run_free */
	char *err;       /* stderr */
};

/* Runs argv (argv[0] a path) with no stdin; captures up to 1 MiB of each
 * stream.  Aborts the test on a failure to run at all. */
void tu_run(struct tu_run *r, const char *const argv[]);
/* Same, feeding `in` (in_len bytes) to stdin. */
void tu_run_input(struct tu_run *r, const char *const argv[], const void *in,
		  size_t in_len);
void tu_run_free(struct tu_run *r);

/* Lints `text`, a /metrics answer of `what`, with `promtool check
 * metrics` ($ASSAY_PROMTOOL, which make test sets): fails the test on any
 * error or lint, naming both. */
void tu_promtool_check(const char *what, const char *text);

/* The sandbox's exec mode with $ASSAY_BUILD/bin/assay-worker, as the
 * daemons use it: for a test whose process runs jobs beside threads of
 * its own (an in-process validator node). */
void tu_use_worker(void);
/* $ASSAY_BUILD/bin/assay */
const char *tu_assay(void);
/* $ASSAY_SRCDIR/REL into buf. */
const char *tu_src(char *buf, size_t len, const char *rel);
/* A fresh private directory under $TMPDIR; removed by tu_rmtree. */
void tu_tmpdir(char *buf, size_t len);
void tu_rmtree(const char *dir);
/* Writes len bytes to path with the given mode. */
void tu_write_file(const char *path, const void *data, size_t len, int mode);
/* Reads the whole file at path (at most 1 GiB) into a malloc'd buffer
 * *out (the caller frees it), its length in *len.  Aborts the test when
 * the file cannot be read. */
void tu_read_file(const char *path, uint8_t **out, size_t *len);
/* Counts '\n' in s. */
size_t tu_lines(const char *s);
/* The last `lines` lines of the file at path (a daemon's log), at most
 * cap - 1 bytes of them, into out; "(no log)" when it cannot be read.
 * For failure messages, so that a CI log shows what the daemon said. */
void tu_file_tail(char *out, size_t cap, const char *path, unsigned lines);
/* The same, leaving out the lines that contain `skip` (a test's own
 * polling requests in an access log). */
void tu_file_tail_skip(char *out, size_t cap, const char *path, unsigned lines,
		       const char *skip);

/* A daemon started by a test: argv[0] a path; it must print
 * "listening on 127.0.0.1:PORT" on stdout within 30 s.  Its stderr goes
 * to `log` (appended).  It gets SIGKILL when the test process dies. */
struct tu_daemon {
	int pid;
	unsigned port;
	char url[64];          /* http://127.0.0.1:PORT */
};
void tu_daemon_start(struct tu_daemon *d, const char *const argv[], const char *log);
/* Same, but returns the exit status (>= 0) when the daemon exits before
 * listening, and -1 when it listens (then it runs as after start). */
int tu_daemon_try_start(struct tu_daemon *d, const char *const argv[], const char *log);
/* SIGTERM, then waits; returns the exit status (128 + signal when killed). */
int tu_daemon_stop(struct tu_daemon *d);

#endif
