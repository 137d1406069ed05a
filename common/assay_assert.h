/*
 * assay_assert.h: ASSAY_ASSERT, the assertion that stays on in release
 * builds (NDEBUG does not remove it).  Money code keeps its checks: a
 * broken invariant stops the process with the expression and its place
 * on stderr, rather than moving money on a wrong premise.  The condition
 * is always evaluated, exactly once.
 */
#ifndef ASSAY_ASSERT_H
#define ASSAY_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define ASSAY_ASSERT(cond)                                                   \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: assertion failed: %s\n",     \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

#endif
