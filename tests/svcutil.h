/*
 * svcutil.h: what the tests that drive the daemons over HTTP share
 * (test_provider.c, test_provider_ethers.c, test_http_framing.c): one request through the
 * daemons' own client (httpd/httpd_client.h) with the test's assertions,
 * the escrow's devnet faucet and stake, and key files.
 */
#ifndef ASSAY_SVCUTIL_H
#define ASSAY_SVCUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "httpd_client.h"
#include "receipts.h"
#include "testutil.h"

/* One request; a signed request when key is non-NULL, with a fresh
 * Idempotency-Key when idem is set.  Aborts the test when no answer
 * came; the answer (any status) is in *resp, freed by the caller. */
void su_call(struct httpd_client_resp *resp, const char *method, const char *base,
	     const char *target, const void *body, size_t len, const char *ctype,
	     const struct rcpt_key *key, int idem);
/* POSTs o (taken: decref'd) as compact JSON with an Idempotency-Key;
 * returns the status. */
long su_post_json(struct httpd_client_resp *resp, const char *base, const char *target,
		  json_t *o, const struct rcpt_key *key);
/* The escrow's devnet faucet to k's address, and k staking from its own
 * account; both must answer 200. */
void su_faucet(const char *escrow_url, const struct rcpt_key *k, const char *amount);
void su_stake(const char *escrow_url, const struct rcpt_key *k, const char *amount);
/* The CPU reference output of kernel on the safetensors input (one
 * thread, kern_run): what a provider's output must equal byte for byte.
 * *out is malloc'd. */
void su_reference(uint8_t **out, size_t *len, const char *kernel, const uint8_t *in,
		  size_t in_len, const char *params);
/* A devnet assay-escrow on the database conninfo, with a fresh key in
 * DIR/escrow.key, chain id chain_id, a 2 s challenge window and rate
 * limits high enough for a test; its stderr appended to log. */
void su_escrow_start(struct tu_daemon *d, const char *dir, const char *conninfo,
		     const char *chain_id, const char *log);
/* A fresh key saved as DIR/NAME.key (0600); its path into path. */
void su_key_file(char *path, size_t len, struct rcpt_key *k, const char *dir, const char *name);

#endif
