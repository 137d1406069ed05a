/*
 * test_monotonic.c: common/monotonic.h, the timed waits of the settlement
 * loop, the provider's janitor and the validator's poll.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "monotonic.h"
#include "banned.h"

struct waker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int woken;
};

static void *wake_later(void *arg)
{
	struct waker *w = arg;

	usleep(100000);
	pthread_mutex_lock(&w->mu);
	w->woken = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The condition variable times out on CLOCK_MONOTONIC: a deadline from
 * mono_deadline (seconds since boot) is honoured as 30 s ahead, and the
 * wait ends by the wake-up, not by ETIMEDOUT.  On a CLOCK_REALTIME
 * condition variable the same deadline lies decades in the past and the
 * wait would time out at once with nobody woken (so would one stepped
 * back by the wall clock). */
Test(monotonic, cond_waits_on_the_monotonic_clock, .timeout = 20)
{
	struct waker w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	struct timespec until;
	pthread_t t;
	int rc = 0;

	cr_assert_eq(mono_cond_init(&w.cv), 0);
	cr_assert_eq(pthread_create(&t, NULL, wake_later, &w), 0);
	until = mono_deadline(30000);
	pthread_mutex_lock(&w.mu);
	while (!w.woken && rc == 0)
		rc = pthread_cond_timedwait(&w.cv, &w.mu, &until);
	pthread_mutex_unlock(&w.mu);
	pthread_join(t, NULL);
	cr_assert_eq(rc, 0, "timed out (%d): the wait is not on CLOCK_MONOTONIC", rc);
	cr_assert_eq(w.woken, 1);
	/* A deadline already passed times out. */
	until = mono_deadline(0);
	pthread_mutex_lock(&w.mu);
	rc = pthread_cond_timedwait(&w.cv, &w.mu, &until);
	pthread_mutex_unlock(&w.mu);
	cr_assert_eq(rc, ETIMEDOUT);
	pthread_cond_destroy(&w.cv);
}

/* mono_deadline carries milliseconds into seconds. */
Test(monotonic, deadline_normalised)
{
	struct timespec a = mono_deadline(1999), now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	cr_assert(a.tv_nsec >= 0 && a.tv_nsec < 1000000000L);
	cr_assert(a.tv_sec >= now.tv_sec + 1 && a.tv_sec <= now.tv_sec + 2);
}
