/*
 * anvilfx.c: a private anvil per test (see anvilfx.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "anvilfx.h"
#include "testutil.h"
#include "banned.h"

#define ANVILFX_REL "chain-adapter/evm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"

extern char **environ;

const char *const ANVILFX_KEYS[3] = {
	"0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
	"0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
	"0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
};

const char *const ANVILFX_ADDRS[3] = {
	"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
	"0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
	"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
};

void anvilfx_start(struct anvilfx *a, const char *const extra[])
{
	anvilfx_start_n(a, 3, extra);
}

void anvilfx_start_n(struct anvilfx *a, unsigned accounts, const char *const extra[])
{
	char bin[512], line[4096], acc[16];
	const char *argv[16];
	size_t n = 0;
	unsigned port = 0;
	int fd;

	memset(a, 0, sizeof(*a));
	cr_assert(accounts >= 3 && accounts <= ANVILFX_ACCOUNTS_MAX);
	snprintf(acc, sizeof(acc), "%u", accounts);
	tu_src(bin, sizeof(bin), ANVILFX_REL);
	if (access(bin, X_OK) != 0)
		cr_skip_test("anvil not found at %s (run make contract-deps)", ANVILFX_REL);
	tu_tmpdir(a->dir, sizeof(a->dir));
	snprintf(a->log, sizeof(a->log), "%s/anvil.log", a->dir);
	argv[n++] = bin;
	argv[n++] = "--port"; argv[n++] = "0";
	argv[n++] = "--host"; argv[n++] = "127.0.0.1";
	argv[n++] = "--accounts"; argv[n++] = acc;
	for (size_t i = 0; extra && extra[i]; i++) {
		cr_assert(n < 15);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	fd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	a->pid = fork();
	cr_assert(a->pid >= 0);
	if (a->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		execve(argv[0], (char *const *)argv, environ);
		_exit(127);
	}
	close(fd);
	for (int waited = 0; !port && waited < ANVILFX_START_MS; waited += 20) {
		FILE *f = fopen(a->log, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "Listening on 127.0.0.1:%u", &port) == 1)
				break;
		if (f)
			fclose(f);
		if (!port) {
			int st;
			cr_assert(waitpid(a->pid, &st, WNOHANG) == 0, "anvil exited (see %s)", a->log);
			usleep(20000);
		}
	}
	cr_assert(port > 0, "anvil did not listen within %d ms (see %s)", ANVILFX_START_MS, a->log);
	snprintf(a->url, sizeof(a->url), "http://127.0.0.1:%u", port);
}

void anvilfx_stop(struct anvilfx *a)
{
	int st;

	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		while (waitpid(a->pid, &st, 0) < 0 && errno == EINTR)
			;
		a->pid = 0;
	}
	if (a->dir[0])
		tu_rmtree(a->dir);
	a->dir[0] = '\0';
}

const char *anvilfx_key_file(const struct anvilfx *a, char *path, size_t len, int i, int mode)
{
	char text[80];

	cr_assert(i >= 0 && i < 3 && a->dir[0]);
	snprintf(path, len, "%s/key%d-%o", a->dir, i, (unsigned)mode);
	snprintf(text, sizeof(text), "%s\n", ANVILFX_KEYS[i]);
	tu_write_file(path, text, strlen(text), mode);
	cr_assert_eq(chmod(path, (mode_t)mode), 0);
	return path;
}

void anvilfx_dev_key(struct rcpt_key *out, const struct anvilfx *a, unsigned i)
{
	char line[512], hex[80];
	uint8_t s[32];
	unsigned k;
	int found = 0;
	FILE *in = fopen(a->log, "r");

	cr_assert_not_null(in, "%s", a->log);
	/* "(i) 0x<64 hex>": the private keys' list (the addresses' list
	 * before it has 42-character values). */
	while (!found && fgets(line, sizeof(line), in))
		found = sscanf(line, " (%u) %79s", &k, hex) == 2 && k == i && strlen(hex) == 66;
	fclose(in);
	cr_assert(found, "anvil printed no key %u (see %s)", i, a->log);
	cr_assert_eq(rcpt_hex_decode(s, sizeof(s), hex), RCPT_OK);
	cr_assert_eq(rcpt_key_from_secret(out, s), RCPT_OK);
	memset(s, 0, sizeof(s));
}

struct anvilfx_buf {
	char *p;
	size_t len;
};

static size_t anvilfx_sink(char *p, size_t size, size_t n, void *cls)
{
	struct anvilfx_buf *b = cls;
	char *q = realloc(b->p, b->len + size * n + 1);

	cr_assert_not_null(q);
	memcpy(q + b->len, p, size * n);
	b->p = q;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

json_t *anvilfx_call(const struct anvilfx *a, const char *method, const char *params)
{
	char body[1024];
	struct anvilfx_buf buf = { NULL, 0 };
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	json_t *ans, *res;

	cr_assert(c && h);
	cr_assert_lt((size_t)snprintf(body, sizeof(body),
				      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
				      method, params), sizeof(body));
	curl_easy_setopt(c, CURLOPT_URL, a->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, anvilfx_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s at %s", method, a->url);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	ans = json_loads(buf.p ? buf.p : "", 0, NULL);
	res = json_object_get(ans, "result");
	cr_assert(res != NULL && !json_object_get(ans, "error"), "%s: %s", method,
		  buf.p ? buf.p : "(no answer)");
	json_incref(res);
	json_decref(ans);
	free(buf.p);
	return res;
}

uint8_t *anvilfx_initcode(size_t *len, const char *name, size_t extra)
{
	char path[512], rel[128];
	uint8_t *hex, *out;
	size_t n;

	snprintf(rel, sizeof(rel), "chain-adapter/evm/artifacts/%s.bin", name);
	tu_read_file(tu_src(path, sizeof(path), rel), &hex, &n);
	while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r'))
		n--;
	/* One line of hex, as build.mjs writes it (no 0x). */
	cr_assert(n > 2 && n % 2 == 0 && !(hex[0] == '0' && hex[1] == 'x'));
	out = malloc(n / 2 + extra);
	cr_assert_not_null(out);
	cr_assert_eq(rcpt_hex_digits_decode(out, n / 2, (const char *)hex, n), RCPT_OK);
	*len = n / 2;
	free(hex);
	return out;
}
