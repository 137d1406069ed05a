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

/* ---------------------------------------------------------------- daemon */

/* Jobs the daemon remembers at once, in every state (settled records are
 * dropped after PROV_RECORD_KEEP_S): each costs a few KiB of memory and a
 * directory; 4096 is hours of small jobs per worker. */
#define PROV_JOBS_MAX 4096u
/* Jobs waiting for a worker, at most (the --queue-max ceiling); beyond
 * the configured bound uploads get 503 with Retry-After. */
#define PROV_QUEUE_MAX 1024u
#define PROV_QUEUE_DEFAULT 16u
/* Worker threads (concurrent jobs), at most and by default. */
#define PROV_WORKERS_MAX 64u
#define PROV_WORKERS_DEFAULT 1u
/* A job's input: the escrow's referee must be able to take it
 * (ESCROW_INPUT_BYTES_MAX), so the provider takes no larger one. */
#define PROV_INPUT_BYTES_MAX (8u * 1024u * 1024u)
/* The POST /v1/jobs body: a JobSpec and its signature (~2 KiB). */
#define PROV_JOB_BODY_BYTES_MAX (16u * 1024u)
/* A job key and the data key: AES-256. */
#define PROV_JOB_KEY_BYTES 32u
/* AES-GCM nonce and tag. */
#define PROV_GCM_NONCE_BYTES 12u
#define PROV_GCM_TAG_BYTES 16u
/* meta.json of one job: statements and a few fields. */
#define PROV_META_BYTES_MAX (64u * 1024u)
/* Paths under the data directory. */
#define PROV_PATH_BYTES 1024u
/* Stored failure reason: a stable name and a short sentence. */
#define PROV_ERROR_BYTES 160u
/* Settled, deleted and failed records are kept this long for status
 * queries, then removed from memory and disk. */
#define PROV_RECORD_KEEP_S 86400u
/* How often the janitor asks the escrow about open jobs, by default. */
#define PROV_JANITOR_PERIOD_S_DEFAULT 5u
/* A refused or unanswered escrow call is retried after this at first,
 * doubling up to the maximum. */
#define PROV_RETRY_S_MIN 2u
#define PROV_RETRY_S_MAX 300u
/* Validator stake answers from the escrow are cached this long; the
 * table holds this many addresses (the oldest entry is replaced). */
#define PROV_STAKE_CACHE_S 60u
#define PROV_STAKE_CACHE_MAX 256u
/* Live sign-in sessions held in memory; a full table refuses sign-ins
 * (503) until sessions expire. */
#define PROV_SESSIONS_MAX 4096u
/* Calls to the escrow: short, the escrow is on the LAN. */
#define PROV_ESCROW_TIMEOUT_MS 10000L
/* The smallest time a job must have before its deadline when accepted:
 * a job that cannot finish in time would only be refunded. */
#define PROV_DEADLINE_SLACK_S 5u

#endif
