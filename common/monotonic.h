/*
 * monotonic.h: timed waits that a wall-clock step cannot stretch.
 *
 * A condition variable initialised here times out on CLOCK_MONOTONIC, and
 * mono_deadline gives the absolute time for it: a backward step of the
 * wall clock (NTP, an operator) no longer holds a settlement loop, a
 * janitor or a validator's poll for as long as the step.  Wall-clock time
 * stays what goes into receipts and the ledger.
 */
#ifndef ASSAY_MONOTONIC_H
#define ASSAY_MONOTONIC_H

#include <pthread.h>
#include <time.h>

/* 0, or an errno value from pthread. */
static inline int mono_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);

	if (rc)
		return rc;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return rc;
}

/* CLOCK_MONOTONIC now plus ms, for pthread_cond_timedwait on a condition
 * variable from mono_cond_init. */
static inline struct timespec mono_deadline(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(ms / 1000u);
	t.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

#endif
