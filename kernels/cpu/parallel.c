/*
 * parallel.c: the one thread pool pattern of the CPU path.  Work is split
 * into tasks that each own a disjoint part of the output; which thread
 * runs which task never changes a value, only when it is computed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <assert.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <fenv.h>

#include "kern_internal.h"
#include "kern_limits.h"

#include "banned.h"

struct pool {
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	size_t tasks;
	atomic_size_t next;
};

/* Round-to-nearest, no flush-to-zero, no denormals-are-zero: the
 * environment every kernel assumes, whatever the caller's thread had
 * (a library built with -ffast-math may have set FTZ/DAZ process-wide). */
void kern_fp_enter(fenv_t *saved)
{
	(void)fegetenv(saved);
	(void)fesetround(FE_TONEAREST);
#if defined(__x86_64__)
	/* MXCSR: FTZ is bit 15, DAZ bit 6, rounding control bits 13-14. */
	_mm_setcsr(_mm_getcsr() & ~((1u << 15) | (1u << 6) | (3u << 13)));
#endif
}

void kern_fp_leave(const fenv_t *saved)
{
	(void)fesetenv(saved);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	fenv_t saved;

	kern_fp_enter(&saved);

	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->tasks)
			break;
		p->fn(p->ctx, i);
	}
	kern_fp_leave(&saved);
	return NULL;
}

void kern_parallel_for(unsigned threads, size_t tasks,
		       void (*fn)(void *ctx, size_t i), void *ctx)
{
	pthread_t tid[KERN_THREADS_MAX];
	unsigned started = 0;
	struct pool p;

	assert(fn != NULL);
	assert(threads >= 1 && threads <= KERN_THREADS_MAX);
	p.fn = fn;
	p.ctx = ctx;
	p.tasks = tasks;
	atomic_init(&p.next, 0);
	if ((size_t)threads > tasks)
		threads = (unsigned)(tasks ? tasks : 1);
	/* A thread that cannot be created only means fewer workers. */
	for (unsigned t = 1; t < threads; t++) {
		if (pthread_create(&tid[started], NULL, worker, &p) != 0)
			break;
		started++;
	}
	(void)worker(&p);
	for (unsigned t = 0; t < started; t++)
		(void)pthread_join(tid[t], NULL);
	assert(atomic_load(&p.next) >= tasks);
}
