/*
 * sbx_limits.h: every bound of the job sandbox, with the reason for it.
 * (The kernels' own bounds, such as KERN_JOB_BYTES_MAX, live in
 * kernels/kern_limits.h and still apply inside the worker.)
 */
#ifndef ASSAY_SBX_LIMITS_H
#define ASSAY_SBX_LIMITS_H

/* Address space of a worker (RLIMIT_AS) by default.  A job is at most
 * KERN_JOB_BYTES_MAX (2 GiB) of input; the worker holds the input image,
 * the parsed tensors, the output tensors and the serialised output at
 * once, so about 4x the largest job fits. */
#define SBX_MEM_BYTES_DEFAULT (8ull << 30)
/* Below this the C library and libseccomp cannot even start the job:
 * a smaller limit is misuse rather than a sandbox setting. */
#define SBX_MEM_BYTES_MIN (64ull << 20)
/* Above this a "limit" no longer limits anything on the machines we run
 * on (RLIMIT_AS counts virtual memory). */
#define SBX_MEM_BYTES_MAX (256ull << 30)

/* CPU seconds (RLIMIT_CPU soft limit: SIGXCPU) by default and at most.
 * RLIMIT_CPU counts every thread of the worker together.  The largest
 * job (KERN_WORK_MAX = 2^40 multiply-adds) takes minutes on one core; an
 * hour bounds a job that is not making progress. */
#define SBX_CPU_S_DEFAULT 600u
#define SBX_CPU_S_MAX 3600u
/* The hard RLIMIT_CPU is this much above the soft one: a worker that
 * catches or ignores SIGXCPU is killed (SIGKILL) by the kernel then. */
#define SBX_CPU_GRACE_S 1u

/* Wall-clock time the parent gives a worker before it kills the worker's
 * process group: by default the CPU limit plus slack for page faults and
 * a busy machine; at most a day, after which no customer still waits. */
#define SBX_WALL_MS_DEFAULT (900u * 1000u)
#define SBX_WALL_MS_MAX (86400u * 1000u)
/* How often the parent looks at a running worker: the wall-clock limit
 * is enforced to within this. */
#define SBX_POLL_MS 2u

/* Largest output file a worker may write (RLIMIT_FSIZE: SIGXFSZ past it),
 * and the most the parent reads back.  No kernel output exceeds one
 * tensor of KERN_TENSOR_BYTES_MAX plus its header. */
#define SBX_OUT_BYTES_MAX ((1ull << 30) + (2ull << 20))

/* Kernel threads of one job by default and at most (within the
 * kernels' own KERN_THREADS_MAX, a static assertion in sandbox.c): one
 * by default, since an operator gives a job more cores on purpose
 * (--job-threads); 64 is more cores than the machines we run on give
 * one job.  RLIMIT_NPROC holds a job to it (sandbox.h). */
#define SBX_THREADS_DEFAULT 1u
#define SBX_THREADS_MAX 64u

/* Secret regions a caller may name for the worker to wipe (a daemon
 * has a signing key and a data key or two). */
#define SBX_WIPE_MAX 8u

/* Open files a worker may hold (RLIMIT_NOFILE): stdin, stdout, stderr
 * and the output are 0 to 3; the filter refuses any new one anyway,
 * this is defence in depth. */
#define SBX_NOFILE 4u

/* Scratch directory path (base + "/sbx-XXXXXX" + "/out.safetensors"). */
#define SBX_PATH_BYTES 4096u

/* The unprivileged identity a worker started by root takes before the
 * job (nobody/nogroup on Debian).  It owns no file the job could use. */
#define SBX_DROP_UID 65534u
#define SBX_DROP_GID 65534u

/* The empty root of the worker's mount namespace: a read-only tmpfs of
 * one page that holds nothing. */
#define SBX_ROOT_TMPFS_SIZE "4k"

#endif
