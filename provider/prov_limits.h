/*
 * prov_limits.h: every bound of the provider, with the reason for it.
 * (The job sandbox's bounds live in sandbox/sbx_limits.h.)
 */
#ifndef ASSAY_PROV_LIMITS_H
#define ASSAY_PROV_LIMITS_H

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
/* Live sign-in sessions; a full table refuses sign-ins (503) until
 * sessions expire.  Each is one entry of DATA/auth/sessions (about 200
 * bytes of JSON), rewritten whole at every sign-in and logout. */
#define PROV_SESSIONS_MAX 4096u

/* ---------------------------------------------------------------- API keys and the auth store */

/* API keys held, live or not (revoked and expired ones are kept
 * PROV_APIKEY_KEEP_S to answer the list and refuse a replayed creation,
 * then dropped); a full table refuses creations (503). */
#define PROV_APIKEYS_MAX 1024u
/* Live keys one address may hold (as at the escrow): 409 beyond. */
#define PROV_APIKEYS_PER_ADDRESS_MAX 32u
/* Scopes named in one key; there are four. */
#define PROV_APIKEY_SCOPES_MAX 8u
/* A key's label: printable ASCII. */
#define PROV_APIKEY_LABEL_BYTES_MAX 64u
/* A key's lifetime: one minute to one year (as at the escrow). */
#define PROV_APIKEY_TTL_S_MIN 60u
#define PROV_APIKEY_TTL_S_MAX (365u * 86400u)
/* lastUsedAt is written (and the store rewritten) at most this often
 * per key: a busy key costs one write a minute, not one a request. */
#define PROV_APIKEY_TOUCH_INTERVAL_S 60u
/* Revoked and expired keys are dropped this long after. */
#define PROV_APIKEY_KEEP_S 86400u
/* The POST /v1/apikeys body: three short members. */
#define PROV_APIKEY_BODY_BYTES_MAX 1024u
/* The files of DATA/auth/: PROV_SESSIONS_MAX entries of about 200
 * bytes, PROV_APIKEYS_MAX of about 400; a larger file is refused at
 * start as not ours. */
#define PROV_AUTH_SESSIONS_BYTES_MAX (2u * 1024u * 1024u)
#define PROV_AUTH_APIKEYS_BYTES_MAX (1024u * 1024u)
/* Calls to the escrow: short, the escrow is on the LAN. */
#define PROV_ESCROW_TIMEOUT_MS 10000L
/* The smallest time a job must have before its deadline when accepted:
 * a job that cannot finish in time would only be refunded. */
#define PROV_DEADLINE_SLACK_S 5u
/* Models in --model-dir (each committed to at start). */
#define PROV_MODELS_MAX 32u

#endif
