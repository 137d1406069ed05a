/* svcutil.c: see svcutil.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <criterion/criterion.h>

#include "kernels.h"
#include "svcutil.h"

#include "banned.h"

void su_call(struct httpd_client_resp *resp, const char *method, const char *base,
	     const char *target, const void *body, size_t len, const char *ctype,
	     const struct rcpt_key *key, int idem)
{
	struct httpd_client_req req = { 0 };
	char why[256], ik[40];
	uint8_t rnd[8];

	req.method = method;
	req.base_url = base;
	req.target = target;
	req.body = body;
	req.body_len = len;
	req.content_type = ctype;
	req.key = key;
	req.response_bytes_max = 64u << 20;
	if (idem) {
		cr_assert_eq(getrandom(rnd, sizeof(rnd), 0), (ssize_t)sizeof(rnd));
		snprintf(ik, sizeof(ik), "t.%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		req.idem_key = ik;
	}
	cr_assert_eq(httpd_client_request(resp, why, sizeof(why), &req), HTTPD_OK, "%s %s: %s",
		     method, target, why);
}

long su_post_json(struct httpd_client_resp *resp, const char *base, const char *target,
		  json_t *o, const struct rcpt_key *key)
{
	char *t = json_dumps(o, JSON_COMPACT);

	cr_assert(t);
	su_call(resp, "POST", base, target, t, strlen(t), NULL, key, 1);
	free(t);
	json_decref(o);
	return resp->status;
}

void su_faucet(const char *escrow_url, const struct rcpt_key *k, const char *amount)
{
	struct httpd_client_resp r;
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, k->address);
	cr_assert_eq(su_post_json(&r, escrow_url, "/v1/faucet",
				  json_pack("{s:s, s:s}", "address", a, "amount", amount), NULL),
		     200, "%s", r.body);
	httpd_client_resp_free(&r);
}

void su_stake(const char *escrow_url, const struct rcpt_key *k, const char *amount)
{
	struct httpd_client_resp r;

	cr_assert_eq(su_post_json(&r, escrow_url, "/v1/stake", json_pack("{s:s}", "amount", amount),
				  k),
		     200, "%s", r.body);
	httpd_client_resp_free(&r);
}

void su_key_file(char *path, size_t len, struct rcpt_key *k, const char *dir, const char *name)
{
	snprintf(path, len, "%s/%s.key", dir, name);
	cr_assert_eq(rcpt_key_generate(k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(k, NULL, path), RCPT_OK);
}

void su_reference(uint8_t **out, size_t *len, const char *kernel, const uint8_t *in,
		  size_t in_len, const char *params)
{
	struct kern_tensors ti, to;
	struct kern_run_opts o = { KERN_DEVICE_CPU, 1, NULL };
	char dev[KERN_DEVICE_BYTES];

	kern_tensors_init(&ti);
	kern_tensors_init(&to);
	cr_assert_eq(kern_st_parse(&ti, NULL, in, in_len), KERN_OK);
	cr_assert_eq(kern_run(&to, dev, NULL, kernel, &ti, params, strlen(params), &o), KERN_OK);
	cr_assert_eq(kern_st_serialize(out, len, NULL, &to), KERN_OK);
	kern_tensors_release(&ti);
	kern_tensors_release(&to);
}

void su_escrow_start(struct tu_daemon *d, const char *dir, const char *conninfo,
		     const char *chain_id, const char *log)
{
	char bin[512], key[320];
	struct rcpt_key ek;
	const char *build = getenv("ASSAY_BUILD");

	cr_assert(build, "ASSAY_BUILD is not set");
	snprintf(bin, sizeof(bin), "%s/bin/assay-escrow", build);
	su_key_file(key, sizeof(key), &ek, dir, "escrow");
	rcpt_key_wipe(&ek);
	{
		const char *argv[] = { bin, "--listen", "127.0.0.1:0", "--db", conninfo,
			"--key", key, "--devnet", "--min-stake", "1000", "--chain-id", chain_id,
			"--challenge-window-s", "2", "--referee-deadline-s", "2",
			"--unbonding-s", "10", "--rate-per-s", "10000", "--rate-burst", "10000",
			"--quiet", NULL };
		tu_daemon_start(d, argv, log);
	}
}
