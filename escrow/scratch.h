/*
 * scratch.h: the escrow referee's scratch directory, and the removal at
 * start of those that escrows killed or crashed left behind (scratch.c).
 */
#ifndef ASSAY_ESCROW_SCRATCH_H
#define ASSAY_ESCROW_SCRATCH_H

#include <stddef.h>

#define ESCROW_SCRATCH_BYTES 256

struct escrow_scratch {
	char dir[ESCROW_SCRATCH_BYTES];   /* "" when there is none */
	int lock_fd;                      /* holds DIR/lock while we run */
};

/* Removes every stale TMPDIR/assay-referee-* (its lock free), then makes
 * and locks a fresh one.  0, or -1 with why filled (nothing left). */
int escrow_scratch_make(struct escrow_scratch *s, char *why, size_t why_len);
/* The directory, empty by then but for its lock, goes. */
void escrow_scratch_remove(struct escrow_scratch *s);

#endif
