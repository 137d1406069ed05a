/*
 * prov_limits.h: every bound of the provider, with the reason for it.
 * (The kernels' own bounds, such as KERN_JOB_BYTES_MAX, live in
 * kernels/kern_limits.h and still apply inside the worker.)
 */
#ifndef ASSAY_PROV_LIMITS_H
#define ASSAY_PROV_LIMITS_H

/* ---------------------------------------------------------------- worker */

/* Address space of a worker (RLIMIT_AS) by default.  A job is at most
 * KERN_JOB_BYTES_MAX (2 GiB) of input; the worker holds the input image,
 * the parsed tensors, the output tensors and the serialised output at
 * once, so about 4x the largest job fits. */
#define PROV_WORKER_MEM_BYTES_DEFAULT (8ull << 30)
/* Below this the C library and libseccomp cannot even start the job:
 * a smaller limit is misuse rather than a sandbox setting. */
#define PROV_WORKER_MEM_BYTES_MIN (64ull << 20)
/* Above this a "limit" no longer limits anything on the machines we run
 * on (RLIMIT_AS counts virtual memory). */
#define PROV_WORKER_MEM_BYTES_MAX (256ull << 30)

/* CPU seconds (RLIMIT_CPU soft limit: SIGXCPU) by default and at most.
 * The largest job (KERN_WORK_MAX = 2^40 multiply-adds) takes minutes on
 * one core; an hour bounds a job that is not making progress. */
#define PROV_WORKER_CPU_S_DEFAULT 600u
#define PROV_WORKER_CPU_S_MAX 3600u
/* The hard RLIMIT_CPU is this much above the soft one: a worker that
 * catches or ignores SIGXCPU is killed (SIGKILL) by the kernel then. */
#define PROV_WORKER_CPU_GRACE_S 1u

/* Wall-clock time the parent gives a worker before it kills the worker's
 * process group: by default the CPU limit plus slack for page faults and
 * a busy machine; at most a day, after which no customer still waits. */
#define PROV_WORKER_WALL_MS_DEFAULT (900u * 1000u)
#define PROV_WORKER_WALL_MS_MAX (86400u * 1000u)
/* How often the parent looks at a running worker: the wall-clock limit
 * is enforced to within this. */
#define PROV_WORKER_POLL_MS 2u

/* Largest output file a worker may write (RLIMIT_FSIZE: SIGXFSZ past it),
 * and the most the parent reads back.  No kernel output exceeds one
 * tensor of KERN_TENSOR_BYTES_MAX plus its header. */
#define PROV_WORKER_OUT_BYTES_MAX ((1ull << 30) + (2ull << 20))

/* Open files a worker may hold (RLIMIT_NOFILE): stdin, stdout, stderr,
 * the input and the output are 0 to 4; the filter refuses any new one
 * anyway, this is defence in depth. */
#define PROV_WORKER_NOFILE 5u

/* Scratch directory path (base + "/prov-XXXXXX" + "/out.safetensors"). */
#define PROV_WORKER_PATH_BYTES 4096u

#endif
