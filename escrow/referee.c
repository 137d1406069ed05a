/*
 * referee.c: the referee's thread, its queue and its results (see
 * referee.h for the contract and the rule for a run that hits a limit).
 *
 * Invariants:
 * - one table of ESCROW_REFEREE_SLOTS_MAX slots, under mu, holds every
 *   run: FREE, QUEUED (at most ESCROW_REFEREE_QUEUE_MAX), RUNNING (at
 *   most one: one referee thread) and DONE;
 * - a QUEUED or RUNNING slot owns its input and params copies; only the
 *   referee thread frees them, when the run is DONE;
 * - a slot is keyed by job id: one run per job, whatever the number of
 *   disputes on it;
 * - the thread never holds mu while a kernel runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "assay_assert.h"
#include "escrow_limits.h"
#include "model_cache.h"
#include "referee.h"
#include "scratch.h"
#include "sandbox.h"
#include "banned.h"

enum slot_state { SLOT_FREE = 0, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct ref_slot {
	enum slot_state state;
	uint64_t seq;                  /* queue order */
	uint8_t job[RCPT_HASH_BYTES];
	struct rcpt_job spec;          /* kernel, params, input commitment */
	char url[ESCROW_PROVIDER_URL_BYTES_MAX + 1];  /* the provider's, or "" */
	uint8_t *in;                   /* QUEUED/RUNNING: owned copy */
	size_t in_len;
	struct escrow_referee_answer ans;   /* DONE */
	uint64_t done_s;
	unsigned errors;               /* failed runs of this job in a row */
};

struct escrow_referee {
	struct escrow_referee_config cfg;
	struct sbx_limits lim;
	struct escrow_scratch scratch;
	pthread_mutex_t mu;
	pthread_cond_t cv;             /* a run queued, or stopping */
	int stopping, started;
	pthread_t thread;
	uint64_t next_seq;
	unsigned queued, running;
	uint64_t runs, limit_hits, errors;
	unsigned missing;              /* enum sbx_layer bits, last run */
	struct ref_slot slots[ESCROW_REFEREE_SLOTS_MAX];
};

static void short_id(char out[19], const uint8_t id[RCPT_HASH_BYTES])
{
	char hex[RCPT_HASH_HEX_BYTES];

	if (rcpt_hex_encode(hex, sizeof(hex), id, RCPT_HASH_BYTES) != RCPT_OK)
		hex[0] = '\0';
	(void)snprintf(out, 19, "%.18s", hex);
}

/* /metrics; called with mu held (the httpd registry has its own lock). */
static void gauges(const struct escrow_referee *r)
{
	char labels[48];
	unsigned b;

	if (!r->cfg.httpd)
		return;
	(void)httpd_gauge_set(r->cfg.httpd, "assay_escrow_referee_queue_length", NULL,
			      "Referee re-executions waiting for the referee thread.", r->queued);
	(void)httpd_gauge_set(r->cfg.httpd, "assay_escrow_referee_running", NULL,
			      "Referee re-executions running now.", r->running);
	(void)httpd_counter_set(r->cfg.httpd, "assay_escrow_referee_runs_total", NULL,
				"Referee re-executions finished.", (double)r->runs);
	(void)httpd_counter_set(r->cfg.httpd, "assay_escrow_referee_limit_total", NULL,
				"Referee re-executions that hit a limit (a bug to report; no verdict).",
				(double)r->limit_hits);
	(void)httpd_counter_set(r->cfg.httpd, "assay_escrow_referee_errors_total", NULL,
				"Referee re-executions that failed otherwise (no verdict).",
				(double)r->errors);
	for (b = 0; b < SBX_LAYER_COUNT_; b++) {
		(void)snprintf(labels, sizeof(labels), "layer=\"%s\"", sbx_layer_name(1u << b));
		(void)httpd_gauge_set(r->cfg.httpd, "assay_escrow_sandbox_layer_missing", labels,
				      "1 when referee runs go without this sandbox layer.",
				      (r->missing >> b) & 1u);
	}
}

/* What one sandbox run means for the dispute (referee.h). */
static void judge(struct escrow_referee_answer *a, enum sbx_err se, const struct sbx_report *rep, const uint8_t *out,
		  size_t out_len)
{
	struct rcpt_commitment c;

	memset(a, 0, sizeof(*a));
	a->state = REF_UNDECIDED;
	a->reason = "referee-error";
	if (se == SBX_OK) {
		if (rcpt_commit_buf(&c, out, out_len) == RCPT_OK) {
			a->state = REF_OUTPUT;
			a->reason = "output";
			memcpy(a->out_root, c.root, RCPT_HASH_BYTES);
			a->out_size = c.size;
		}
	} else if (se == SBX_ERR_KERNEL && rep->kern != KERN_ERR_ARG && rep->kern != KERN_ERR_IO) {
		a->state = REF_REFUSED;
		a->reason = "kernel-refuses-input";
	} else if (se == SBX_ERR_CPU || se == SBX_ERR_TIMEOUT || se == SBX_ERR_NOMEM ||
		   se == SBX_ERR_FSIZE) {
		a->reason = "referee-limit";
	}
}

/* The input is checked against the job's commitment again (it was when
 * it arrived) before anything runs on it. */
static int input_matches(const struct ref_slot *s)
{
	struct rcpt_commitment c;

	return rcpt_commit_buf(&c, s->in, s->in_len) == RCPT_OK &&
	       c.size == s->spec.input_size &&
	       memcmp(c.root, s->spec.input_root, RCPT_HASH_BYTES) == 0;
}

_Static_assert(MODEL_CACHE_BYTES_MAX == KERN_MODEL_BYTES_MAX,
	       "the model cache and the kernels disagree on a model's size bound");

/* The model the job names into path (path[0] '\0' for a kernel without
 * one): 0, or -1 when it cannot be had (a->reason set). */
static int get_model(struct escrow_referee *r, const struct ref_slot *s, char *path,
		     size_t path_len, struct escrow_referee_answer *a)
{
	char dir[ESCROW_SCRATCH_BYTES + 8], why[256];
	uint8_t root[KERN_HASH_BYTES];
	uint64_t size = 0;
	int has = 0;
	struct kern_diag d;
	enum model_cache_err e = MODEL_CACHE_ERR_PEER;   /* no URL: nothing served */

	path[0] = '\0';
	if (kern_params_model(&has, root, &size, &d, s->spec.kernel, s->spec.params,
			      strlen(s->spec.params)) != KERN_OK || !has)
		return 0;   /* no model; bad params are the kernel's to refuse */
	(void)snprintf(dir, sizeof(dir), "%s/models", r->scratch.dir);
	if (s->url[0])
		e = model_cache_get(path, path_len, why, sizeof(why), dir, s->url, root, size,
				    ESCROW_FETCH_TIMEOUT_MS);
	if (e == MODEL_CACHE_OK)
		return 0;
	fprintf(stderr, "assay-escrow: event=referee-model-unavailable why=\"%s\"\n",
		s->url[0] ? why : "the provider has no URL");
	memset(a, 0, sizeof(*a));
	a->state = REF_UNDECIDED;
	/* The provider's (it does not serve what its receipt ran), or ours. */
	a->reason = e == MODEL_CACHE_ERR_PEER ? "model-withheld" : "model-unavailable";
	path[0] = '\0';
	return -1;
}

/* One run, without mu: the slot is RUNNING, so nobody else touches it. */
static void run_one(struct escrow_referee *r, struct ref_slot *s, struct escrow_referee_answer *a,
		    struct sbx_report *rep)
{
	struct sbx_job job;
	struct sbx_wipe wipe;
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum sbx_err se;
	char model[ESCROW_SCRATCH_BYTES + 128];

	memset(rep, 0, sizeof(*rep));
	rep->missing = SBX_LAYERS_ALL;
	if (!input_matches(s)) {
		memset(a, 0, sizeof(*a));
		a->state = REF_UNDECIDED;
		a->reason = "stored-input-mismatch";
		return;
	}
	if (get_model(r, s, model, sizeof(model), a))
		return;
	if (r->cfg.delay_ms) {
		struct timespec d = { r->cfg.delay_ms / 1000u,
				      (long)(r->cfg.delay_ms % 1000u) * 1000000L };
		while (nanosleep(&d, &d) && errno == EINTR)
			;
	}
	memset(&job, 0, sizeof(job));
	job.kernel = s->spec.kernel;
	job.params = s->spec.params;
	job.params_len = strlen(s->spec.params);
	job.in = s->in;
	job.in_len = s->in_len;
	job.scratch_base = r->scratch.dir;
	job.limits = &r->lim;
	job.mode = r->cfg.strict ? SBX_STRICT : SBX_BEST_EFFORT;
	wipe.p = r->cfg.secret;
	wipe.len = r->cfg.secret_len;
	job.wipe = &wipe;
	job.wipe_len = r->cfg.secret ? 1 : 0;
	job.model_path = model[0] ? model : NULL;
	se = sbx_run(&out, &out_len, rep, &job);
	judge(a, se, rep, out, out_len);
	free(out);
}

/* How long an undecided result stands before the job is run again
 * (escrow_limits.h): a limit hit waits the full period, other failures
 * back off from ESCROW_REFEREE_ERROR_RETRY_MIN_S. */
static unsigned retry_after_s(unsigned errors, const struct escrow_referee_answer *a)
{
	unsigned s = ESCROW_REFEREE_ERROR_RETRY_MIN_S;

	ASSAY_ASSERT(a->state == REF_UNDECIDED);
	if (strcmp(a->reason, "referee-limit") == 0)
		return ESCROW_REFEREE_RETRY_S;
	while (errors > 1 && s < ESCROW_REFEREE_RETRY_S) {
		s *= 2;
		errors--;
	}
	return s < ESCROW_REFEREE_RETRY_S ? s : ESCROW_REFEREE_RETRY_S;
}

/* The oldest QUEUED slot, or NULL. */
static struct ref_slot *next_queued(struct escrow_referee *r)
{
	struct ref_slot *best = NULL;
	unsigned i;

	for (i = 0; i < ESCROW_REFEREE_SLOTS_MAX; i++)
		if (r->slots[i].state == SLOT_QUEUED && (!best || r->slots[i].seq < best->seq))
			best = &r->slots[i];
	return best;
}

static void finish(struct escrow_referee *r, struct ref_slot *s,
		   const struct escrow_referee_answer *a, const struct sbx_report *rep)
{
	char sid[19];

	short_id(sid, s->job);
	r->runs++;
	if (a->state == REF_UNDECIDED && strcmp(a->reason, "referee-limit") == 0) {
		r->limit_hits++;
		fprintf(stderr, "assay-escrow: event=referee-limit job=%s end=%s wall_ms=%" PRIu64
			" (a bug to report: no verdict; retried in %u s)\n", sid,
			sbx_errname(rep->err), rep->wall_ms, ESCROW_REFEREE_RETRY_S);
	} else if (a->state == REF_UNDECIDED) {
		r->errors++;
		s->errors++;
		fprintf(stderr, "assay-escrow: event=referee-error job=%s reason=%s end=%s msg=\"%s\""
			" (no verdict; retried in %u s)\n", sid, a->reason, sbx_errname(rep->err),
			rep->msg, retry_after_s(s->errors, a));
	} else {
		fprintf(stderr, "assay-escrow: event=referee-run job=%s result=%s wall_ms=%" PRIu64 "\n",
			sid, a->reason, rep->wall_ms);
	}
	if (rep->missing != SBX_LAYERS_ALL)
		r->missing = rep->missing;
	free(s->in);
	s->in = NULL;
	s->in_len = 0;
	s->ans = *a;
	s->done_s = (uint64_t)time(NULL);
	s->state = SLOT_DONE;
}

static void *referee_main(void *arg)
{
	struct escrow_referee *r = arg;
	struct escrow_referee_answer a;
	struct sbx_report rep;
	struct ref_slot *s;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stopping && !(s = next_queued(r)))
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stopping)
			break;
		ASSAY_ASSERT(r->queued > 0 && r->running == 0);
		s->state = SLOT_RUNNING;
		r->queued--;
		r->running++;
		gauges(r);
		pthread_mutex_unlock(&r->mu);
		run_one(r, s, &a, &rep);
		pthread_mutex_lock(&r->mu);
		r->running--;
		finish(r, s, &a, &rep);
		gauges(r);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static struct ref_slot *find(struct escrow_referee *r, const uint8_t job[RCPT_HASH_BYTES])
{
	unsigned i;

	for (i = 0; i < ESCROW_REFEREE_SLOTS_MAX; i++)
		if (r->slots[i].state != SLOT_FREE &&
		    memcmp(r->slots[i].job, job, RCPT_HASH_BYTES) == 0)
			return &r->slots[i];
	return NULL;
}

/* A FREE slot, else the DONE one finished longest ago, else NULL. */
static struct ref_slot *take_slot(struct escrow_referee *r)
{
	struct ref_slot *old = NULL;
	unsigned i;

	for (i = 0; i < ESCROW_REFEREE_SLOTS_MAX; i++) {
		struct ref_slot *s = &r->slots[i];
		if (s->state == SLOT_FREE)
			return s;
		if (s->state == SLOT_DONE && (!old || s->done_s < old->done_s))
			old = s;
	}
	return old;
}

/* Queues a run in s (FREE, DONE or an undecided one to retry); 0, or -1
 * when the input cannot be copied (asked again next tick). */
static int enqueue(struct escrow_referee *r, struct ref_slot *s, const uint8_t job[RCPT_HASH_BYTES],
		   const struct rcpt_job *spec, const uint8_t *in, size_t in_len, const char *url)
{
	uint8_t *copy = malloc(in_len ? in_len : 1);
	unsigned errors = 0;

	if (!copy)
		return -1;
	if (in_len)
		memcpy(copy, in, in_len);
	/* A retry of the same job keeps its count of failures (backoff). */
	if (s->state == SLOT_DONE && memcmp(s->job, job, RCPT_HASH_BYTES) == 0)
		errors = s->errors;
	memset(s, 0, sizeof(*s));
	s->errors = errors;
	memcpy(s->job, job, RCPT_HASH_BYTES);
	s->spec = *spec;
	(void)snprintf(s->url, sizeof(s->url), "%s", url ? url : "");
	s->in = copy;
	s->in_len = in_len;
	s->seq = r->next_seq++;
	s->state = SLOT_QUEUED;
	r->queued++;
	ASSAY_ASSERT(r->queued <= ESCROW_REFEREE_QUEUE_MAX);
	pthread_cond_signal(&r->cv);
	gauges(r);
	return 0;
}

void escrow_referee_ask(struct escrow_referee *r, struct escrow_referee_answer *a,
			const uint8_t job[RCPT_HASH_BYTES], const struct rcpt_job *spec,
			const uint8_t *in, size_t in_len, const char *provider_url,
			uint64_t now_s)
{
	struct ref_slot *s;

	ASSAY_ASSERT(r && a && job && spec && (in || !in_len));
	memset(a, 0, sizeof(*a));
	a->state = REF_PENDING;
	a->reason = "referee-pending";
	pthread_mutex_lock(&r->mu);
	s = find(r, job);
	if (s && s->state == SLOT_DONE &&
	    !(s->ans.state == REF_UNDECIDED &&
	      now_s >= s->done_s + retry_after_s(s->errors, &s->ans))) {
		*a = s->ans;
		goto out;
	}
	if (s && s->state != SLOT_DONE)
		goto out;                       /* queued or running */
	if (r->queued >= ESCROW_REFEREE_QUEUE_MAX)
		goto out;                       /* full: offered again next tick */
	if (!s)
		s = take_slot(r);
	if (s)
		(void)enqueue(r, s, job, spec, in, in_len, provider_url);
out:
	pthread_mutex_unlock(&r->mu);
	ASSAY_ASSERT(a->reason != NULL);
}

static int probe(struct escrow_referee *r, char *why, size_t why_len)
{
	struct sbx_report rep;
	char names[128];
	unsigned missing = 0;

	if (sbx_probe(&missing, &rep, r->scratch.dir)) {
		(void)snprintf(why, why_len, "sandbox probe failed: %s", rep.msg);
		return -1;
	}
	sbx_layers_format(names, sizeof(names), missing);
	fprintf(stderr, "assay-escrow: event=sandbox mode=%s missing=\"%s\" scratch=%s\n",
		r->cfg.strict ? "strict" : "best-effort", names, r->scratch.dir);
	if (missing && r->cfg.strict) {
		(void)snprintf(why, why_len, "--sandbox strict: this kernel refuses: %s", names);
		return -1;
	}
	r->missing = missing;
	return 0;
}

int escrow_referee_start(struct escrow_referee **out, char *why, size_t why_len,
			 const struct escrow_referee_config *cfg)
{
	struct escrow_referee *r;

	ASSAY_ASSERT(out && why && cfg);
	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		(void)snprintf(why, why_len, "out of memory");
		return -1;
	}
	r->cfg = *cfg;
	r->lim.mem_bytes = cfg->mem_bytes;
	r->lim.cpu_s = cfg->cpu_s;
	r->lim.wall_ms = cfg->wall_ms;
	r->lim.threads = cfg->threads;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->scratch.lock_fd = -1;
	if (escrow_scratch_make(&r->scratch, why, why_len) || probe(r, why, why_len))
		goto fail;
	pthread_mutex_lock(&r->mu);
	gauges(r);
	pthread_mutex_unlock(&r->mu);
	if (pthread_create(&r->thread, NULL, referee_main, r) != 0) {
		(void)snprintf(why, why_len, "could not start the referee thread");
		goto fail;
	}
	r->started = 1;
	*out = r;
	return 0;
fail:
	escrow_referee_stop(r);
	return -1;
}

void escrow_referee_stop(struct escrow_referee *r)
{
	unsigned i;

	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stopping = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	for (i = 0; i < ESCROW_REFEREE_SLOTS_MAX; i++)
		free(r->slots[i].in);
	escrow_scratch_remove(&r->scratch);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
