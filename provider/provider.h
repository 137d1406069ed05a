/*
 * provider.h: the provider daemon assay-provider (docs/provider.md).
 *
 * Pieces, each in its own file:
 *   store.c  a job's files under DATA/jobs/<id>/: meta.json (the signed
 *            JobSpec, status, receipt, the job's key wrapped by the data
 *            key) and input.enc / output.enc, AES-256-GCM with a key per
 *            job; atomic writes (tmp + fsync + rename); deletion that
 *            forgets the job key first (crypto-shredding).
 *   jobs.c   the job table, the bounded queue, the worker threads (each
 *            job in a sandboxed worker process, sandbox/sandbox.h), the
 *            receipt (signed, submitted to the escrow), refunds through
 *            the escrow on failure, and the janitor that deletes a job's
 *            data once the escrow has settled it.
 *   api.c    the HTTP routes (docs/provider-openapi.yaml) and sign-in.
 *   problems.c  every problem type the routes answer (problems.h).
 *   main.c   flags, start-up checks and registration with the escrow.
 *
 * Threads: the HTTP polling thread runs the handlers; `workers` threads
 * run jobs; one janitor thread talks to the escrow in the background.
 * The job table is guarded by prov->mu; a job's files are written only
 * by the thread that owns its current state (see jobs.c).
 */
#ifndef ASSAY_PROVIDER_H
#define ASSAY_PROVIDER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "apikey_hash.h"
#include "httpd.h"
#include "kernels.h"
#include "prov_limits.h"
#include "receipts.h"
#include "sandbox.h"

enum prov_status {
	PROV_ST_AWAITING_INPUT = 0, /* JobSpec accepted, no input yet */
	PROV_ST_QUEUED,             /* input stored, waiting for a worker */
	PROV_ST_RUNNING,            /* in a worker */
	PROV_ST_SUBMITTING,         /* receipt signed, not yet accepted by the escrow */
	PROV_ST_RECEIPTED,          /* the escrow holds the receipt */
	PROV_ST_FAILED,             /* no output; refunded through the escrow */
	PROV_ST_SETTLED,            /* the escrow settled; data deleted */
	PROV_ST_DELETED,            /* deleted at the customer's request */
	PROV_ST_COUNT_
};
const char *prov_status_name(enum prov_status st);

struct prov_job;

/* A provider step the escrow's audit log records ("provider-accepted"...). */
enum prov_event {
	PROV_EV_ACCEPTED = 0,
	PROV_EV_QUEUED,
	PROV_EV_RUNNING,
	PROV_EV_RAN,
	PROV_EV_DELETED,
	PROV_EV_COUNT_
};
/* Marks event ev due for j now (under p->mu); the janitor sends it. */
void prov_job_event(struct prov_job *j, enum prov_event ev);
HTTPD_WUR int prov_status_parse(enum prov_status *out, const char *s);

struct prov_job {
	uint8_t id[RCPT_HASH_BYTES];
	struct rcpt_job spec;
	uint8_t job_sig[RCPT_SIG_BYTES];
	enum prov_status status;
	uint8_t key[PROV_JOB_KEY_BYTES];   /* the job's data key; zero once shredded */
	int has_key;
	uint64_t created_s;
	uint64_t queued_ms;                /* when the input was stored */
	uint64_t started_ms;               /* worker start (monotonic-free: Unix ms) */
	int has_receipt;
	struct rcpt_receipt receipt;
	uint8_t receipt_sig[RCPT_SIG_BYTES];
	uint8_t receipt_id[RCPT_HASH_BYTES];
	int escrow_synced;                 /* receipt or failure acknowledged */
	uint64_t escrow_next_try_s;        /* janitor back-off */
	uint64_t retry_s;                  /* the last back-off */
	int corrupted;                     /* fault injection flipped a bit */
	char error[PROV_ERROR_BYTES];      /* failed: a stable name and a short reason */
	/* Steps recorded in the escrow's audit log (POST /v1/jobs/{id}/events),
	 * one bit per enum prov_event: due, and acknowledged. */
	unsigned events_due, events_sent;
	uint64_t event_ms[PROV_EV_COUNT_];
	uint64_t done_s;                   /* settled/deleted/failed at */
};

struct prov_config {
	const char *listen_host;
	uint16_t listen_port;
	const char *public_url;      /* registered with the escrow */
	const char *escrow_url;
	const char *data_dir;
	struct rcpt_u256 price;      /* asked per job; a JobSpec's maxPrice must cover it */
	unsigned workers;            /* concurrent jobs */
	unsigned queue_max;          /* queued jobs beyond which uploads get 503 */
	struct sbx_limits limits;
	enum sbx_mode sandbox_mode;  /* --sandbox */
	double fault_corrupt_p;      /* 0: off; devnet only */
	uint64_t fault_seed;         /* 0: from the OS */
	unsigned janitor_period_s;
	const char *tls_cert, *tls_key;
	int tls_allow_12;               /* --tls-allow-1.2 */
	const char *siwe_domain, *siwe_uri;
	uint64_t session_ttl_s;
	double rate_per_s, rate_burst;
	double signin_rate_per_s, signin_rate_burst;
	int quiet;
	int register_with_escrow;    /* 0 only in tests that run without one */
	const char *model_dir;       /* --model-dir, or NULL: no models */
};

/* One model of the store (provider/models.c). */
struct prov_model {
	uint8_t root[RCPT_HASH_BYTES];
	uint64_t size;
	char path[PROV_PATH_BYTES];
};

struct prov_cache_entry {
	uint8_t address[RCPT_ADDR_BYTES];
	int staked;
	uint64_t until_s;
};

struct prov_session {
	uint8_t token_hash[RCPT_HASH_BYTES];
	uint8_t address[RCPT_ADDR_BYTES];
	enum httpd_role role;
	unsigned scopes;          /* PROV_SCOPE_* the sign-in limited it to; 0: not limited */
	uint64_t expires_s;
	int live;
};

/* The scopes of a provider API key (docs/api-auth.md, "API keys at the
 * provider"), the bits of HTTPD_F_SCOPES in the route table. */
enum prov_scope {
	PROV_SCOPE_JOBS_WRITE = 1u << 0,  /* "jobs:write": submit and delete the owner's jobs */
	PROV_SCOPE_JOBS_READ = 1u << 1,   /* "jobs:read": status, bundle, input, output of them */
	PROV_SCOPE_VALIDATE = 1u << 2,    /* "validate": read receipted jobs while staked */
	PROV_SCOPE_KEYS = 1u << 3,        /* "keys": list and revoke the owner's keys */
	/* Not a name: what the read routes declare, held by a key with
	 * jobs:read or validate; the handler then asks which (who_for). */
	PROV_SCOPE_READ_ANY_ = 1u << 4,
};

/* One API key (auth.c).  Never the secret: its Argon2id hash. */
struct prov_apikey {
	char id[HTTPD_APIKEY_ID_BYTES + 1];       /* "ak_" + 16 hex; "" when the slot is free */
	uint8_t address[RCPT_ADDR_BYTES];         /* the owner: the key acts as it */
	char label[PROV_APIKEY_LABEL_BYTES_MAX + 1];
	unsigned scopes;                          /* PROV_SCOPE_* bits, without READ_ANY_ */
	uint8_t salt[HTTPD_APIKEY_SALT_BYTES];
	uint8_t hash[HTTPD_APIKEY_HASH_BYTES];    /* Argon2id(secret, salt) under prm */
	struct httpd_argon2_params prm;
	uint64_t created_at_s, expires_s;
	uint64_t last_used_at_s;                  /* 0: never */
	uint64_t revoked_at_s;                    /* 0: not revoked */
	char idem[HTTPD_IDEM_KEY_BYTES_MAX + 1];  /* the creation's Idempotency-Key */
};

struct prov_nonce {
	char nonce[2 * HTTPD_SIWE_NONCE_RANDOM_BYTES + 1];
	uint64_t expires_s;
	int live;
};

struct prov {
	struct prov_config cfg;
	struct rcpt_key key;
	struct rcpt_domain domain;          /* the escrow's EIP-712 domain */
	struct rcpt_u256 min_stake;
	int devnet;
	uint8_t data_key[PROV_JOB_KEY_BYTES];
	char jobs_dir[PROV_PATH_BYTES];
	char scratch_dir[PROV_PATH_BYTES];

	pthread_mutex_t mu;
	pthread_cond_t cv;                  /* queue non-empty or stopping */
	pthread_cond_t janitor_cv;          /* stopping */
	struct prov_job *jobs[PROV_JOBS_MAX];
	size_t jobs_len;
	struct prov_job *queue[PROV_QUEUE_MAX];
	size_t queue_head, queue_len;
	unsigned busy;
	int stopping;
	uint64_t fault_state;
	uint64_t n_receipted, n_failed, n_corrupted;
	uint64_t avg_run_ms;
	unsigned sbx_missing;               /* enum sbx_layer bits workers go without */
	char device[KERN_DEVICE_BYTES];     /* --device resolved: the receipts' device */
	struct prov_model models[PROV_MODELS_MAX];  /* fixed after start */
	size_t models_len;

	pthread_t threads[PROV_WORKERS_MAX];
	unsigned threads_len;
	pthread_t janitor;
	int janitor_started;

	/* Validators' stake, asked of the escrow (polling thread only). */
	struct prov_cache_entry stake_cache[PROV_STAKE_CACHE_MAX];
	/* Sign-in state (polling thread only: the httpd store contract). */
	struct prov_nonce nonces[HTTPD_SIWE_NONCES_MAX];
	struct prov_session sessions[PROV_SESSIONS_MAX];
	/* API keys (polling thread only, like the sessions). */
	struct prov_apikey apikeys[PROV_APIKEYS_MAX];
	char auth_dir[PROV_PATH_BYTES];     /* DATA/auth */
	uint8_t auth_mac_key[32];           /* seals DATA/auth/ files (store.c) */
	struct httpd_session_store store;
	struct httpd_siwe_config siwe;

	struct httpd *http;
};

/* ---------------------------------------------------------------- log */
/* One structured line on stderr: `assay-provider: event=NAME k=v ...`.
 * Never a key, a token or job data: ids, addresses, names and numbers. */
void prov_log(const char *event, const char *fmt, ...) HTTPD_PRINTF(2, 3);
/* "0x" + the first 8 bytes of an id, for logs. */
void prov_short_id(char out[19], const uint8_t id[RCPT_HASH_BYTES]);

/* The model store (models.c).  prov_models_load commits to every model
 * of --model-dir at start: 0, or -1 with why.  prov_model_for_job: the
 * model a JobSpec names (*out NULL for a kernel without one): 0; -1 when
 * its params are not the kernel's form; -2 when this provider holds no
 * such model; why says which. */
HTTPD_WUR int prov_models_load(struct prov *p, char *why, size_t why_len);
const struct prov_model *prov_model_find(const struct prov *p,
					 const uint8_t root[RCPT_HASH_BYTES], uint64_t size);
HTTPD_WUR int prov_model_for_job(const struct prov *p, const struct rcpt_job *spec,
				 const struct prov_model **out, char *why, size_t why_len);
void prov_handle_get_model(struct httpd_req *r, void *cls);
uint64_t prov_now_ms(void);

/* ---------------------------------------------------------------- store.c */
/* Loads DATA/data.key (32 random bytes as hex, mode 0600), creating it on
 * the first start; refuses one that others can read.  Creates jobs/ and
 * scratch/ (0700).  0 or -1 with why. */
HTTPD_WUR int prov_store_open(struct prov *p, char *why, size_t why_len);
/* Writes meta.json for j atomically.  0 or -1. */
HTTPD_WUR int prov_store_save(struct prov *p, const struct prov_job *j);
/* Encrypts data under the job's key into DATA/jobs/<id>/<name>.enc. */
HTTPD_WUR int prov_store_put(struct prov *p, const struct prov_job *j, const char *name,
			     const void *data, size_t len);
/* Decrypts DATA/jobs/<id>/<name>.enc (at most max bytes) into a malloc'd
 * buffer.  0, -1 (missing, tampered or unreadable). */
HTTPD_WUR int prov_store_get(struct prov *p, const struct prov_job *j, const char *name,
			     uint8_t **out, size_t *out_len, size_t max);
/* Removes input.enc and output.enc and wipes the job key (in memory and,
 * through a save, on disk).  The caller saves j afterwards. */
void prov_store_shred(struct prov *p, struct prov_job *j);
/* Removes the job's directory entirely (old settled records). */
void prov_store_remove(struct prov *p, const struct prov_job *j);
/* Reads every job back after a restart into p->jobs.  0 or -1. */
HTTPD_WUR int prov_store_load_all(struct prov *p, char *why, size_t why_len);

/* DATA/auth/NAME: writes payload (one line of JSON, no newline) sealed
 * with its HMAC, 0600, atomically and durably.  0, or -1. */
HTTPD_WUR int prov_auth_file_write(struct prov *p, const char *name, const char *payload);
/* Reads DATA/auth/NAME (at most max bytes) back into *payload (malloc'd,
 * NUL-terminated; the caller frees), or *payload NULL when there is no
 * such file (a first start).  -1 with why when the file is not a
 * regular file of ours with mode 0600, too large, or fails its HMAC. */
HTTPD_WUR int prov_auth_file_read(struct prov *p, char **payload, const char *name, size_t max,
				  char *why, size_t why_len);

/* ---------------------------------------------------------------- auth.c */
/* Sessions and API keys, kept in DATA/auth/ (docs/provider.md, "Sessions
 * and API keys").  Everything here runs on the polling thread. */
/* Loads both files after prov_store_open: 0, or -1 with why (a file
 * refused, or malformed: an unknown or missing member, a bad value, too
 * many entries). */
HTTPD_WUR int prov_auth_load(struct prov *p, char *why, size_t why_len);
/* The httpd session store over p->sessions, persisted. */
extern const struct httpd_session_store prov_session_store;
/* httpd_config.apikey_check. */
enum httpd_store_rc prov_apikey_check(void *cls, struct httpd_apikey *out, const char *token,
				      uint64_t now_s);
/* The PROV_SCOPE_* bits of the request's API key (0 when the request
 * was not made with one). */
unsigned prov_req_key_scopes(const struct prov *p, struct httpd_req *r);
/* POST /v1/apikeys, GET /v1/apikeys, DELETE /v1/apikeys/{id}. */
void prov_handle_apikey_create(struct httpd_req *r, void *cls);
void prov_handle_apikeys_list(struct httpd_req *r, void *cls);
void prov_handle_apikey_revoke(struct httpd_req *r, void *cls);
extern const struct httpd_body_decl prov_body_apikey_create;

/* ---------------------------------------------------------------- jobs.c */
/* Starts the worker threads and the janitor; re-queues jobs a restart
 * interrupted.  0 or -1. */
HTTPD_WUR int prov_jobs_start(struct prov *p);
/* Start-up: probes the sandbox layers this machine grants (sbx_probe),
 * logs the missing ones and, under --sandbox strict, refuses any.  0, or
 * -1 after a line on stderr. */
HTTPD_WUR int prov_sandbox_check(struct prov *p);
/* After a job: records the layers its worker went without (log on a
 * change, /metrics). */
void prov_sandbox_note(struct prov *p, unsigned missing, enum sbx_err we);
/* Stops the threads (running workers finish their job first). */
void prov_jobs_stop(struct prov *p);
/* The job with this id (under p->mu), or NULL. */
struct prov_job *prov_job_find(struct prov *p, const uint8_t id[RCPT_HASH_BYTES]);
/* Adds an accepted job (under p->mu).  0, or -1 when the table is full. */
HTTPD_WUR int prov_job_add(struct prov *p, struct prov_job *j);
/* Queues j (under p->mu) and wakes a worker.  0, or -1 when full. */
HTTPD_WUR int prov_job_enqueue(struct prov *p, struct prov_job *j);
/* Position of j in the queue (0 = next), or -1 (under p->mu). */
long prov_job_position(const struct prov *p, const struct prov_job *j);
/* The escrow's state of job id ("open", "paid", ...) into state, or
 * "unknown" when the escrow has no such job.  0, or -1 (no answer). */
HTTPD_WUR int prov_escrow_job_state(struct prov *p, const uint8_t id[RCPT_HASH_BYTES],
				    char *state, size_t state_len);
/* Publishes queue and job gauges on /metrics (under p->mu). */
void prov_jobs_gauges(struct prov *p);

/* ---------------------------------------------------------------- api.c */
/* The route table, the three sign-in routes last: prov_api_start serves
 * those only with --siwe-domain; --print-routes prints every route. */
extern const struct httpd_route prov_routes[];
extern const size_t prov_routes_len;
/* Starts the HTTP server.  0 or -1 with why. */
HTTPD_WUR int prov_api_start(struct prov *p, char *why, size_t why_len);

/* The scope bits of a name a sign-in asks for (auth.c). */
unsigned prov_scope_of(void *cls, const char *name);

#endif
