/*
 * scratch.c: the referee's scratch directory, TMPDIR/assay-referee-XXXXXX,
 * in which the sandbox makes one sub-directory per run (scratch.h).
 *
 * An escrow holds an exclusive flock on DIR/lock for as long as it runs,
 * so that a directory whose lock can be taken belongs to an escrow that
 * is gone (killed with SIGKILL, or crashed).  Each start removes those
 * before it makes its own.  A lock, unlike a pid, means the same across
 * pid namespaces that share the directory.  Only directories of this
 * name, owned by this user, not symbolic links, and holding a lock file
 * are touched; removal does not follow links and stays on one file
 * system.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assay_assert.h"
#include "scratch.h"
#include "banned.h"

#define SCRATCH_PREFIX "assay-referee-"
#define SCRATCH_LOCK "lock"
/* Stale directories removed at one start, at most (a bound, not a goal). */
#define SCRATCH_SWEEP_MAX 256

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* dir, when it is a stale scratch directory: ours, and its lock free. */
static int is_stale(const char *dir)
{
	char lock[ESCROW_SCRATCH_BYTES + sizeof("/" SCRATCH_LOCK)];
	struct stat st;
	int fd, stale;

	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return 0;
	(void)snprintf(lock, sizeof(lock), "%s/%s", dir, SCRATCH_LOCK);
	fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	stale = flock(fd, LOCK_EX | LOCK_NB) == 0;
	(void)close(fd);
	return stale;
}

/* Removes the stale scratch directories under tmp; how many. */
static unsigned sweep(const char *tmp)
{
	char dir[ESCROW_SCRATCH_BYTES];
	struct dirent *e;
	unsigned n = 0;
	DIR *d = opendir(tmp);

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL && n < SCRATCH_SWEEP_MAX) {
		int len;

		if (strncmp(e->d_name, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) != 0)
			continue;
		len = snprintf(dir, sizeof(dir), "%s/%s", tmp, e->d_name);
		if (len < 0 || (size_t)len >= sizeof(dir) || !is_stale(dir))
			continue;
		if (nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0) {
			fprintf(stderr, "assay-escrow: event=referee-scratch-removed dir=%s "
					"(left by an escrow that is gone)\n", dir);
			n++;
		}
	}
	(void)closedir(d);
	return n;
}

int escrow_scratch_make(struct escrow_scratch *s, char *why, size_t why_len)
{
	const char *tmp = getenv("TMPDIR");
	char lock[ESCROW_SCRATCH_BYTES + sizeof("/" SCRATCH_LOCK)];
	int n;

	ASSAY_ASSERT(s && why && why_len > 0);
	s->dir[0] = '\0';
	s->lock_fd = -1;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	(void)sweep(tmp);
	n = snprintf(s->dir, sizeof(s->dir), "%s/" SCRATCH_PREFIX "XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(s->dir) || !mkdtemp(s->dir)) {
		(void)snprintf(why, why_len, "could not make the referee's scratch directory under '%s'",
			       tmp);
		s->dir[0] = '\0';
		return -1;
	}
	(void)snprintf(lock, sizeof(lock), "%s/%s", s->dir, SCRATCH_LOCK);
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		(void)snprintf(why, why_len, "could not lock the referee's scratch directory '%s'",
			       s->dir);
		escrow_scratch_remove(s);
		return -1;
	}
	return 0;
}

void escrow_scratch_remove(struct escrow_scratch *s)
{
	char lock[ESCROW_SCRATCH_BYTES + sizeof("/" SCRATCH_LOCK)];

	if (!s->dir[0])
		return;
	(void)snprintf(lock, sizeof(lock), "%s/%s", s->dir, SCRATCH_LOCK);
	(void)unlink(lock);
	if (s->lock_fd >= 0)
		(void)close(s->lock_fd);
	s->lock_fd = -1;
	/* What is left: the models the referee fetched (DIR/models). */
	(void)nftw(s->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	s->dir[0] = '\0';
}
