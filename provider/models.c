/*
 * models.c: the provider's model store.  A model kernel's job (gpt2_f32@1)
 * names its model by commitment in the signed params; the provider serves
 * only models it holds, runs each job on the file whose commitment it
 * computed, and serves the file to validators and the escrow's referee
 * (GET /v1/models/{root}), who check the commitment themselves.
 *
 * The store is a directory the operator fills (--model-dir): every
 * regular file named *.safetensors, not writable by group or others, is
 * committed to once at start (streamed, in bounded memory) and indexed by
 * its root.  The files must not change while the provider runs: a
 * changed model would make it sign wrong receipts, which validators
 * catch and the escrow slashes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assay_assert.h"
#include "problems.h"
#include "provider.h"

#include "banned.h"

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && strcmp(s + a - b, suf) == 0;
}

/* Commits to one file and adds it; 0, or -1 with why. */
static int add_model(struct prov *p, const char *path, char *why, size_t why_len)
{
	struct prov_model *m;
	struct rcpt_commitment c;
	struct rcpt_diag d;
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;   /* not a model file: ignored */
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, why_len, "model '%.200s' is writable by group or others", path);
		return -1;
	}
	if ((uint64_t)st.st_size > KERN_MODEL_BYTES_MAX) {
		snprintf(why, why_len, "model '%.200s' is over %llu bytes", path,
			 KERN_MODEL_BYTES_MAX);
		return -1;
	}
	if (p->models_len >= PROV_MODELS_MAX) {
		snprintf(why, why_len, "more than %u models in --model-dir", PROV_MODELS_MAX);
		return -1;
	}
	if (rcpt_commit_file(&c, &d, path, 0) != RCPT_OK) {
		snprintf(why, why_len, "model '%.200s': %s", path, d.msg);
		return -1;
	}
	m = &p->models[p->models_len++];
	memcpy(m->root, c.root, RCPT_HASH_BYTES);
	m->size = c.size;
	snprintf(m->path, sizeof(m->path), "%s", path);
	return 0;
}

int prov_models_load(struct prov *p, char *why, size_t why_len)
{
	char path[PROV_PATH_BYTES];
	struct dirent *e;
	DIR *dir;
	int rc = 0;

	p->models_len = 0;
	if (p->cfg.model_dir == NULL)
		return 0;
	dir = opendir(p->cfg.model_dir);
	if (dir == NULL) {
		snprintf(why, why_len, "--model-dir '%.200s': %s", p->cfg.model_dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".safetensors"))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->cfg.model_dir, e->d_name) >=
		    sizeof(path)) {
			snprintf(why, why_len, "a path in --model-dir is too long");
			rc = -1;
			break;
		}
		rc = add_model(p, path, why, why_len);
	}
	closedir(dir);
	for (size_t i = 0; rc == 0 && i < p->models_len; i++) {
		char hex[RCPT_HASH_HEX_BYTES];
		if (rcpt_hex_encode(hex, sizeof(hex), p->models[i].root, RCPT_HASH_BYTES) == RCPT_OK)
			prov_log("model-loaded", "root=%s size=%llu", hex,
				 (unsigned long long)p->models[i].size);
	}
	return rc;
}

const struct prov_model *prov_model_find(const struct prov *p,
					 const uint8_t root[RCPT_HASH_BYTES], uint64_t size)
{
	for (size_t i = 0; i < p->models_len; i++)
		if (memcmp(p->models[i].root, root, RCPT_HASH_BYTES) == 0 &&
		    p->models[i].size == size)
			return &p->models[i];
	return NULL;
}

int prov_model_for_job(const struct prov *p, const struct rcpt_job *spec,
		       const struct prov_model **out, char *why, size_t why_len)
{
	uint8_t root[KERN_HASH_BYTES];
	uint64_t size = 0;
	int has = 0;
	struct kern_diag d = { "" };
	char hex[RCPT_HASH_HEX_BYTES];

	*out = NULL;
	if (kern_params_model(&has, root, &size, &d, spec->kernel, spec->params,
			      strlen(spec->params)) != KERN_OK) {
		snprintf(why, why_len, "%s", d.msg);
		return -1;
	}
	if (!has)
		return 0;
	*out = prov_model_find(p, root, size);
	if (*out == NULL) {
		if (rcpt_hex_encode(hex, sizeof(hex), root, RCPT_HASH_BYTES) != RCPT_OK)
			hex[0] = '\0';
		snprintf(why, why_len, "this provider holds no model %s of %llu bytes (GET /v1/info)",
			 hex, (unsigned long long)size);
		return -2;
	}
	return 0;
}

/* GET /v1/models/{root}: the model file, streamed. */
void prov_handle_get_model(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	const char *id = httpd_req_param(r, 0);
	uint8_t root[RCPT_HASH_BYTES];
	const struct prov_model *m = NULL;
	struct stat st;
	int fd;

	if (!id || rcpt_hex_decode(root, sizeof(root), id) != RCPT_OK) {
		prov_problem(r, PROV_P_INVALID_ID, "the model's root is 0x + 64 hex digits");
		return;
	}
	for (size_t i = 0; i < p->models_len && !m; i++)
		if (memcmp(p->models[i].root, root, RCPT_HASH_BYTES) == 0)
			m = &p->models[i];
	if (m == NULL) {
		prov_problem(r, PROV_P_MODEL_NOT_FOUND, "this provider holds no model %.66s", id);
		return;
	}
	fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size != m->size) {
		if (fd >= 0)
			(void)close(fd);
		prov_problem(r, PROV_P_STORE_READ_FAILED, "the model file changed or went away");
		return;
	}
	httpd_reply_fd(r, 200, "application/octet-stream", fd, m->size);
}
