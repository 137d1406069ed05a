/*
 * record.c: the signing record.  A validator must never sign two
 * different verdicts for one receipt (the escrow would slash it, and a
 * double statement is worthless), not even across a crash.
 *
 * Invariants:
 * - DIR/records/ID.json exists iff an attestation for receipt ID was
 *   signed; it appears complete or not at all (written to a temporary
 *   file, fsynced, then link(2)ed to its name, which never replaces an
 *   existing file), and the directory is fsynced before the signature
 *   may leave the process;
 * - a record is never changed or removed; ID.sent only marks that the
 *   escrow has answered it for good (so that a restart stops resending);
 * - records hold public statements only (no job input or output).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "validator.h"

#include "banned.h"

static void diag_set(struct rcpt_diag *d, const char *what, const char *path)
{
	if (d)
		snprintf(d->msg, sizeof(d->msg), "%s '%.180s'", what, path);
}

static enum valid_err dir_private(struct rcpt_diag *diag, const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		diag_set(diag, "could not create directory", dir);
		return VALID_ERR_IO;
	}
	if (lstat(dir, &st) != 0) {
		diag_set(diag, "could not stat directory", dir);
		return VALID_ERR_IO;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_mode & 077)) {
		diag_set(diag, "state directory is not private (want mode 0700)", dir);
		return VALID_ERR_STATE;
	}
	return VALID_OK;
}

enum valid_err valid_state_dir_open(struct rcpt_diag *diag, const char *dir)
{
	char p[VALID_PATH_BYTES];
	enum valid_err rc;
	int n;

	if (!dir)
		return VALID_ERR_ARG;
	rc = dir_private(diag, dir);
	if (rc)
		return rc;
	n = snprintf(p, sizeof(p), "%s/records", dir);
	if (n < 0 || (size_t)n >= sizeof(p))
		return VALID_ERR_ARG;
	rc = dir_private(diag, p);
	if (rc)
		return rc;
	n = snprintf(p, sizeof(p), "%s/scratch", dir);
	if (n < 0 || (size_t)n >= sizeof(p))
		return VALID_ERR_ARG;
	return dir_private(diag, p);
}

static int rec_path(char *out, size_t len, const char *dir,
		    const uint8_t id[RCPT_HASH_BYTES], const char *suffix)
{
	char hex[RCPT_HASH_HEX_BYTES];
	int n;

	if (rcpt_hex_encode(hex, sizeof(hex), id, RCPT_HASH_BYTES) != RCPT_OK)
		return -1;
	n = snprintf(out, len, "%s/records/%s%s", dir, hex + 2, suffix);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

static char *record_json(const struct valid_record *rec)
{
	char *at = NULL, jh[RCPT_HASH_HEX_BYTES], sh[RCPT_SIG_HEX_BYTES], *out = NULL;
	json_t *o = NULL, *aj;

	if (rcpt_attestation_to_json(&at, &rec->att) != RCPT_OK ||
	    rcpt_hex_encode(jh, sizeof(jh), rec->job, RCPT_HASH_BYTES) != RCPT_OK ||
	    rcpt_hex_encode(sh, sizeof(sh), rec->sig, RCPT_SIG_BYTES) != RCPT_OK)
		goto out;
	o = json_object();
	aj = o ? json_loads(at, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!aj || json_object_set_new(o, "job", json_string(jh)) ||
	    json_object_set_new(o, "attestation", aj) ||
	    json_object_set_new(o, "signature", json_string(sh)))
		goto out;
	out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
out:
	json_decref(o);
	free(at);
	return out;
}

static enum valid_err record_parse(struct valid_record *out, const char *buf, size_t len)
{
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	const char *job, *sig;
	char *at = NULL;
	enum valid_err rc = VALID_ERR_STATE;

	memset(out, 0, sizeof(*out));
	if (!o || !json_is_object(o) || json_object_size(o) != 3)
		goto out;
	job = json_string_value(json_object_get(o, "job"));
	sig = json_string_value(json_object_get(o, "signature"));
	at = json_dumps(json_object_get(o, "attestation"), JSON_COMPACT);
	if (!job || !sig || !at || rcpt_hex_decode(out->job, RCPT_HASH_BYTES, job) != RCPT_OK ||
	    rcpt_sig_parse(out->sig, sig) != RCPT_OK ||
	    rcpt_attestation_parse(&out->att, NULL, at, strlen(at)) != RCPT_OK)
		goto out;
	rc = VALID_OK;
out:
	free(at);
	json_decref(o);
	return rc;
}

static enum valid_err read_small(char *buf, size_t cap, size_t *len, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	ssize_t got;

	if (fd < 0)
		return errno == ENOENT ? VALID_ERR_NOT_FOUND : VALID_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return VALID_ERR_STATE;  /* a FIFO or device planted here */
	}
	got = read(fd, buf, cap);
	close(fd);
	if (got < 0)
		return VALID_ERR_IO;
	if ((size_t)got >= cap)
		return VALID_ERR_STATE;  /* over VALID_RECORD_BYTES_MAX */
	*len = (size_t)got;
	return VALID_OK;
}

enum valid_err valid_record_get(struct valid_record *out, struct rcpt_diag *diag,
				const char *dir, const uint8_t receipt_id[RCPT_HASH_BYTES])
{
	char path[VALID_PATH_BYTES], sent[VALID_PATH_BYTES];
	char *buf;
	size_t len = 0;
	enum valid_err rc;

	if (!out || !dir || !receipt_id)
		return VALID_ERR_ARG;
	if (rec_path(path, sizeof(path), dir, receipt_id, ".json") ||
	    rec_path(sent, sizeof(sent), dir, receipt_id, ".sent"))
		return VALID_ERR_ARG;
	buf = malloc(VALID_RECORD_BYTES_MAX);
	if (!buf)
		return VALID_ERR_NOMEM;
	rc = read_small(buf, VALID_RECORD_BYTES_MAX, &len, path);
	if (!rc) {
		rc = record_parse(out, buf, len);
		if (rc)
			diag_set(diag, "unreadable signing record", path);
	}
	if (!rc && memcmp(out->att.receipt, receipt_id, RCPT_HASH_BYTES) != 0) {
		diag_set(diag, "signing record names another receipt", path);
		rc = VALID_ERR_STATE;
	}
	if (!rc)
		out->sent = access(sent, F_OK) == 0;
	free(buf);
	return rc;
}

static int same_statement(const struct valid_record *a, const struct valid_record *b)
{
	return memcmp(a->job, b->job, RCPT_HASH_BYTES) == 0 &&
	       memcmp(&a->att, &b->att, sizeof(a->att)) == 0 &&
	       memcmp(a->sig, b->sig, RCPT_SIG_BYTES) == 0;
}

static enum valid_err fsync_records(const char *dir)
{
	char p[VALID_PATH_BYTES];
	int fd, ok, n = snprintf(p, sizeof(p), "%s/records", dir);

	if (n < 0 || (size_t)n >= sizeof(p))
		return VALID_ERR_ARG;
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return VALID_ERR_IO;
	ok = fsync(fd) == 0;
	close(fd);
	return ok ? VALID_OK : VALID_ERR_IO;
}

enum valid_err valid_record_put(struct valid_record *existing, struct rcpt_diag *diag,
				const char *dir, const struct valid_record *rec)
{
	char path[VALID_PATH_BYTES], tmp[VALID_PATH_BYTES + 32], *text = NULL;
	struct valid_record old;
	enum valid_err rc;
	size_t len;
	int fd = -1, n;

	if (!dir || !rec)
		return VALID_ERR_ARG;
	assert(rec->att.verdict == RCPT_VERDICT_MATCH || rec->att.verdict == RCPT_VERDICT_DIFFERS);
	if (rec_path(path, sizeof(path), dir, rec->att.receipt, ".json"))
		return VALID_ERR_ARG;
	/* One writer per receipt at a time is the caller's business (the
	 * node hands a receipt to one worker); two racing writers still
	 * cannot both win: link(2) refuses an existing name. */
	rc = valid_record_get(&old, diag, dir, rec->att.receipt);
	if (rc == VALID_OK)
		goto exists;
	if (rc != VALID_ERR_NOT_FOUND)
		return rc;
	text = record_json(rec);
	if (!text)
		return VALID_ERR_NOMEM;
	len = strlen(text);
	assert(len < VALID_RECORD_BYTES_MAX);
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		rc = VALID_ERR_ARG;
		goto out;
	}
	unlink(tmp);  /* a leftover of an earlier crash of this very pid number */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		diag_set(diag, "could not write signing record", tmp);
		rc = VALID_ERR_IO;
		goto out;
	}
	close(fd);
	fd = -1;
	if (link(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		if (e != EEXIST) {
			diag_set(diag, "could not link signing record", path);
			rc = VALID_ERR_IO;
			goto out;
		}
		/* Someone recorded first: theirs stands. */
		rc = valid_record_get(&old, diag, dir, rec->att.receipt);
		if (rc)
			goto out;
		free(text);
		text = NULL;
		goto exists;
	}
	unlink(tmp);
	rc = fsync_records(dir);
	if (rc) {
		diag_set(diag, "could not sync records of", dir);
		goto out;
	}
	if (existing) {
		*existing = *rec;
		existing->sent = 0;
	}
	goto out;
exists:
	if (existing)
		*existing = old;
	rc = same_statement(&old, rec) ? VALID_OK : VALID_ERR_RECORD_CONFLICT;
	if (rc)
		diag_set(diag, "another attestation is recorded in", path);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(text);
	return rc;
}

enum valid_err valid_record_mark_sent(const char *dir, const uint8_t receipt_id[RCPT_HASH_BYTES])
{
	char path[VALID_PATH_BYTES];
	int fd;

	if (!dir || !receipt_id || rec_path(path, sizeof(path), dir, receipt_id, ".sent"))
		return VALID_ERR_ARG;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return VALID_ERR_IO;
	close(fd);
	return VALID_OK;
}

enum valid_err valid_record_pending(uint8_t ids[][RCPT_HASH_BYTES], size_t *n, size_t max,
				    const char *dir)
{
	char p[VALID_PATH_BYTES];
	DIR *d;
	struct dirent *de;
	int k;

	if (!ids || !n || !dir)
		return VALID_ERR_ARG;
	*n = 0;
	k = snprintf(p, sizeof(p), "%s/records", dir);
	if (k < 0 || (size_t)k >= sizeof(p))
		return VALID_ERR_ARG;
	d = opendir(p);
	if (!d)
		return VALID_ERR_IO;
	while (*n < max && (de = readdir(d)) != NULL) {
		char hex[RCPT_HASH_HEX_BYTES], sent[VALID_PATH_BYTES];
		size_t l = strlen(de->d_name);
		if (l != 64 + 5 || strcmp(de->d_name + 64, ".json") != 0)
			continue;
		hex[0] = '0';
		hex[1] = 'x';
		memcpy(hex + 2, de->d_name, 64);
		hex[66] = '\0';
		if (rcpt_hex_decode(ids[*n], RCPT_HASH_BYTES, hex) != RCPT_OK)
			continue;
		if (rec_path(sent, sizeof(sent), dir, ids[*n], ".sent") == 0 &&
		    access(sent, F_OK) == 0)
			continue;
		(*n)++;
	}
	closedir(d);
	return VALID_OK;
}

enum valid_err valid_record_sign(struct valid_record *out, struct rcpt_diag *diag,
				 const char *dir, const struct rcpt_key *key,
				 const struct rcpt_domain *domain,
				 const uint8_t job_id[RCPT_HASH_BYTES],
				 const uint8_t receipt_id[RCPT_HASH_BYTES],
				 const uint8_t output_root[RCPT_HASH_BYTES], uint8_t verdict)
{
	struct valid_record rec;
	enum valid_err rc;

	if (!out || !dir || !key || !domain || !job_id || !receipt_id || !output_root)
		return VALID_ERR_ARG;
	if (verdict != RCPT_VERDICT_MATCH && verdict != RCPT_VERDICT_DIFFERS)
		return VALID_ERR_ARG;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.job, job_id, RCPT_HASH_BYTES);
	memcpy(rec.att.receipt, receipt_id, RCPT_HASH_BYTES);
	memcpy(rec.att.output_root, output_root, RCPT_HASH_BYTES);
	rec.att.verdict = verdict;
	memcpy(rec.att.validator, key->address, RCPT_ADDR_BYTES);
	/* Look first: a different statement is never even signed. */
	rc = valid_record_get(out, diag, dir, receipt_id);
	if (rc == VALID_OK) {
		if (memcmp(&out->att, &rec.att, sizeof(rec.att)) != 0 ||
		    memcmp(out->job, rec.job, RCPT_HASH_BYTES) != 0) {
			if (diag)
				snprintf(diag->msg, sizeof(diag->msg),
					 "refusing to sign verdict %u: verdict %u is recorded",
					 (unsigned)verdict, (unsigned)out->att.verdict);
			return VALID_ERR_RECORD_CONFLICT;
		}
		return VALID_OK;
	}
	if (rc != VALID_ERR_NOT_FOUND)
		return rc;
	rc = valid_attest_sign(rec.sig, key, domain, &rec.att);
	if (rc)
		return rc;
	rc = valid_record_put(out, diag, dir, &rec);
	assert(rc != VALID_OK || memcmp(out->sig, rec.sig, RCPT_SIG_BYTES) == 0 ||
	       memcmp(&out->att, &rec.att, sizeof(rec.att)) == 0);
	return rc;
}
