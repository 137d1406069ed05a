/*
 * testutil.c: see testutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "sandbox.h"
#include "testutil.h"
#include "banned.h"

extern char **environ;

#define TU_CAPTURE_MAX (1 << 20)

struct sink {
	char *buf;
	size_t len;
};

static void sink_read(struct sink *s, int fd, int *open_)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0 && errno == EINTR)
		return;
	if (n <= 0) {
		*open_ = 0;
		return;
	}
	if (s->len + (size_t)n > TU_CAPTURE_MAX)
		cr_assert_fail("child printed more than %d bytes", TU_CAPTURE_MAX);
	memcpy(s->buf + s->len, tmp, (size_t)n);
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
}

void tu_run_input(struct tu_run *r, const char *const argv[], const void *in,
		  size_t in_len)
{
	int po[2], pe[2], pi[2], st;
	posix_spawn_file_actions_t fa;
	struct sink so = { calloc(1, TU_CAPTURE_MAX + 1), 0 };
	struct sink se = { calloc(1, TU_CAPTURE_MAX + 1), 0 };
	int oo = 1, eo = 1;
	size_t written = 0;
	pid_t pid;

	cr_assert(so.buf && se.buf);
	cr_assert(pipe(po) == 0 && pipe(pe) == 0 && pipe(pi) == 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pi[0], 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawn_file_actions_addclose(&fa, pi[1]);
	posix_spawn_file_actions_addclose(&fa, po[0]);
	posix_spawn_file_actions_addclose(&fa, pe[0]);
	cr_assert(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv,
			      environ) == 0, "could not run %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	close(pi[0]);
	close(po[1]);
	close(pe[1]);
	/* Feed stdin fully for small inputs, then close it. */
	signal(SIGPIPE, SIG_IGN);
	while (in && written < in_len) {
		ssize_t n = write(pi[1], (const char *)in + written, in_len - written);
		if (n <= 0)
			break;
		written += (size_t)n;
	}
	close(pi[1]);
	while (oo || eo) {
		struct pollfd p[2] = { { oo ? po[0] : -1, POLLIN, 0 },
				       { eo ? pe[0] : -1, POLLIN, 0 } };
		if (poll(p, 2, 60000) <= 0)
			cr_assert_fail("child %s produced nothing for 60 s", argv[0]);
		if (oo && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			sink_read(&so, po[0], &oo);
		if (eo && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			sink_read(&se, pe[0], &eo);
	}
	close(po[0]);
	close(pe[0]);
	cr_assert(waitpid(pid, &st, 0) == pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = so.buf;
	r->err = se.buf;
	/* Under SAN=1 the programs are instrumented too: any report of
	 * theirs fails the test that ran them. */
	cr_assert_null(strstr(r->err, "Sanitizer"), "%s reported: %s", argv[0], r->err);
	cr_assert_null(strstr(r->err, "runtime error:"), "%s reported: %s", argv[0], r->err);
}

void tu_run(struct tu_run *r, const char *const argv[])
{
	tu_run_input(r, argv, NULL, 0);
}

void tu_run_free(struct tu_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

void tu_promtool_check(const char *what, const char *text)
{
	const char *tool = getenv("ASSAY_PROMTOOL");
	struct tu_run r;

	cr_assert(tool && tool[0], "ASSAY_PROMTOOL is not set: run the suite through make test");
	cr_assert_eq(access(tool, X_OK), 0, "no promtool at %s (scripts/promtool.sh fetches it)", tool);
	{
		const char *argv[] = { tool, "check", "metrics", NULL };
		tu_run_input(&r, argv, text, strlen(text));
	}
	cr_assert_eq(r.status, 0, "promtool check metrics refused %s's /metrics:\n%s%s\n---\n%s",
		     what, r.out, r.err, text);
	cr_assert_eq(r.out[0] == '\0' && r.err[0] == '\0', 1, "promtool: %s%s", r.out, r.err);
	tu_run_free(&r);
}

const char *tu_assay(void)
{
	static char path[1024];
	const char *b = getenv("ASSAY_BUILD");

	cr_assert(b, "ASSAY_BUILD is not set (run through make test)");
	snprintf(path, sizeof(path), "%s/bin/assay", b);
	return path;
}

void tu_use_worker(void)
{
	char path[1024], why[512];
	const char *b = getenv("ASSAY_BUILD");

	cr_assert(b, "ASSAY_BUILD is not set (run through make test)");
	snprintf(path, sizeof(path), "%s/bin/%s", b, SBX_WORKER_NAME);
	cr_assert_eq(sbx_use_worker(path, why, sizeof(why)), 0, "%s", why);
}

const char *tu_src(char *buf, size_t len, const char *rel)
{
	const char *s = getenv("ASSAY_SRCDIR");

	cr_assert(s, "ASSAY_SRCDIR is not set (run through make test)");
	snprintf(buf, len, "%s/%s", s, rel);
	return buf;
}

void tu_tmpdir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, len, "%s/assay-test-XXXXXX", t && t[0] ? t : "/tmp");
	cr_assert(mkdtemp(buf), "mkdtemp failed");
}

void tu_rmtree(const char *dir)
{
	const char *argv[] = { "/bin/rm", "-rf", dir, NULL };
	struct tu_run r;

	tu_run(&r, argv);
	tu_run_free(&r);
}

void tu_write_file(const char *path, const void *data, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	cr_assert(fd >= 0, "could not create %s", path);
	cr_assert(write(fd, data, len) == (ssize_t)len);
	cr_assert(fchmod(fd, (mode_t)mode) == 0);
	close(fd);
}

void tu_read_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert(fd >= 0, "could not open %s", path);
	cr_assert(fstat(fd, &st) == 0 && st.st_size >= 0 && st.st_size <= (1 << 30),
		  "could not read %s", path);
	*out = malloc((size_t)st.st_size + 1);
	cr_assert(*out);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *out + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert(n > 0, "could not read %s", path);
		got += (size_t)n;
	}
	close(fd);
	*len = got;
}

void tu_file_tail(char *out, size_t cap, const char *path, unsigned lines)
{
	tu_file_tail_skip(out, cap, path, lines, NULL);
}

/* Keeps the lines of buf[0..len) without `skip`, in place; the new length. */
static size_t tu_lines_without(char *buf, size_t len, const char *skip)
{
	size_t r = 0, w = 0;

	while (r < len) {
		char *nl = memchr(buf + r, '\n', len - r);
		size_t n = nl ? (size_t)(nl - (buf + r)) + 1 : len - r;
		char keep = buf[r + n - 1];
		buf[r + n - 1] = '\0';
		int drop = strstr(buf + r, skip) != NULL;
		buf[r + n - 1] = keep;
		if (!drop) {
			memmove(buf + w, buf + r, n);
			w += n;
		}
		r += n;
	}
	return w;
}

void tu_file_tail_skip(char *out, size_t cap, const char *path, unsigned lines,
		       const char *skip)
{
	char buf[65536];
	size_t got = 0, start;
	unsigned seen = 0;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (!cap)
		return;
	snprintf(out, cap, "(no log)");
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		(void)lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		(void)lseek(fd, 0, SEEK_SET);
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (skip)
		got = tu_lines_without(buf, got, skip);
	buf[got] = '\0';
	start = got;
	if (start && buf[start - 1] == '\n')
		start--;
	while (start > 0 && seen < lines) {
		start--;
		if (buf[start] == '\n' && ++seen == lines) {
			start++;
			break;
		}
	}
	if (got - start > cap - 1)
		start = got - (cap - 1);
	snprintf(out, cap, "%s", buf + start);
}

size_t tu_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* LeakSanitizer calls this at exit when it is linked in (SAN=1).  It
 * returns 1 only in Criterion's runner process (ASSAY_RUNNER_PID, set by
 * scripts/run-tests.sh): that process runs none of our code, and
 * libcriterion 2.4 leaks its timeout watchdog entries there.  Every
 * test process is still checked. */
int __lsan_is_turned_off(void);
__attribute__((used)) int __lsan_is_turned_off(void)
{
	const char *p = getenv("ASSAY_RUNNER_PID");

	return p && strtol(p, NULL, 10) == (long)getpid();
}

/* ---------------------------------------------------------------- daemons */

#define TU_DAEMON_WAIT_MS 30000

extern char **environ;

int tu_daemon_try_start(struct tu_daemon *d, const char *const argv[], const char *log)
{
	char line[256];
	int out[2], logfd, st;
	size_t n = 0;

	memset(d, 0, sizeof(*d));
	cr_assert_eq(pipe(out), 0);
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cr_assert(logfd >= 0, "cannot open %s", log);
	d->pid = fork();
	cr_assert(d->pid >= 0);
	if (d->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		dup2(logfd, 2);
		close(out[0]);
		execve(argv[0], (char *const *)argv, environ);
		_exit(127);
	}
	close(out[1]);
	close(logfd);
	while (n < sizeof(line) - 1) {
		struct pollfd p = { out[0], POLLIN, 0 };
		cr_assert(poll(&p, 1, TU_DAEMON_WAIT_MS) == 1, "%s did not start (see %s)",
			  argv[0], log);
		if (read(out[0], line + n, 1) != 1) {
			close(out[0]);
			while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
				;
			d->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	cr_assert(sscanf(line, "listening on 127.0.0.1:%u", &d->port) == 1 && d->port > 0,
		  "%s printed: %s", argv[0], line);
	snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%u", d->port);
	return -1;
}

void tu_daemon_start(struct tu_daemon *d, const char *const argv[], const char *log)
{
	int st = tu_daemon_try_start(d, argv, log);

	cr_assert_eq(st, -1, "%s exited with status %d before listening (see %s)", argv[0],
		     st, log);
}

int tu_daemon_stop(struct tu_daemon *d)
{
	int st = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR)
		;
	d->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
