/*
 * assay.c: the command-line client (PROTOCOL.md section 5).
 *
 * Contract: results on stdout, stable and scriptable; every error is one
 * line on stderr that names what failed and why; exit 0 on success, 1
 * when the operation fails or the subject is invalid, 2 when the
 * arguments are unusable.  No secret is ever printed: key files are read
 * into a struct rcpt_key that is wiped before exit, and core dumps are
 * off for the whole process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "receipts.h"
#include "cli.h"
#include "httpd_client.h"
#include "evm_rpc.h"
#include "banned.h"

/* ------------------------------------------------------------------ */
/* Shared helpers (declared in cli.h)                                   */

void cli_err(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One line, always: fold any newline a subject might carry. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "assay: %s\n", line);
}

int cli_parse(struct cli_args *a, int argc, char **argv,
	      const struct cli_opt *opts, size_t nopts,
	      size_t pos_min, size_t pos_max)
{
	int only_pos = 0;

	memset(a->val, 0, sizeof(a->val));
	a->npos = 0;
	a->help = 0;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!only_pos && strcmp(s, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (!only_pos && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)) {
			a->help = 1;
			return 0;
		}
		if (!only_pos && s[0] == '-' && s[1] == '-') {
			const char *eq = strchr(s, '=');
			size_t nlen = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
			size_t k;
			for (k = 0; k < nopts; k++)
				if (strlen(opts[k].name) == nlen &&
				    memcmp(opts[k].name, s + 2, nlen) == 0)
					break;
			if (k == nopts) {
				cli_err("unknown option '%.64s' (see --help)", s);
				return -1;
			}
			if (a->val[k]) {
				cli_err("option --%s given twice", opts[k].name);
				return -1;
			}
			if (opts[k].flag) {
				if (eq) {
					cli_err("option --%s takes no value", opts[k].name);
					return -1;
				}
				a->val[k] = "1";
			} else if (eq) {
				a->val[k] = eq + 1;
			} else if (i + 1 < argc) {
				a->val[k] = argv[++i];
			} else {
				cli_err("option --%s needs a value", opts[k].name);
				return -1;
			}
			continue;
		}
		if (s[0] == '-' && s[1] != '\0' && !only_pos) {
			cli_err("unknown option '%.64s' (see --help)", s);
			return -1;
		}
		if (a->npos >= CLI_POS_MAX || a->npos >= pos_max) {
			cli_err("too many arguments (see --help)");
			return -1;
		}
		a->pos[a->npos++] = s;
	}
	if (a->npos < pos_min) {
		cli_err("missing argument (see --help)");
		return -1;
	}
	for (size_t k = 0; k < nopts; k++) {
		if (opts[k].required && !a->val[k]) {
			cli_err("option --%s is required (see --help)", opts[k].name);
			return -1;
		}
	}
	return 0;
}

int cli_read_file(char **out, size_t *len, const char *path, size_t max)
{
	size_t cap = 4096, n = 0;
	char *buf;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_err("could not open '%s': %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(cap + 1);
	if (!buf) {
		rc = -1;
		cli_err("out of memory reading '%s'", path);
		goto out;
	}
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				rc = CLI_READ_TOO_LARGE;
				goto out;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				cli_err("out of memory reading '%s'", path);
				rc = -1;
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cli_err("could not read '%s': %s", path, strerror(errno));
			rc = -1;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		rc = CLI_READ_TOO_LARGE;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* cli_read_file, reporting a file over its limit as an error too. */
static int read_bounded(char **out, size_t *len, const char *path, size_t max)
{
	int rc = cli_read_file(out, len, path, max);

	if (rc == CLI_READ_TOO_LARGE)
		cli_err("'%s' is larger than %zu bytes", path, max);
	return rc ? -1 : 0;
}

/* Loads a key file, reporting why it could not be used. */
static int load_key(struct rcpt_key *key, const char *path)
{
	struct rcpt_diag d = { "" };
	enum rcpt_err rc = rcpt_key_load(key, &d, path);

	if (rc) {
		cli_err("could not load key: %s", d.msg[0] ? d.msg : rcpt_strerror(rc));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* assay key                                                            */

static const char KEY_USAGE[] =
	"usage: assay key new --out FILE\n"
	"       assay key address FILE\n"
	"\n"
	"new      create a secp256k1 key from the OS random generator in a new\n"
	"         file (mode 0600; never overwrites) and print its address\n"
	"address  print the EIP-55 address of the key in FILE (the file must\n"
	"         not be readable by group or others)\n";

static int cmd_key(int argc, char **argv)
{
	static const struct cli_opt opts[] = { { "out", 0, 0 } };
	struct cli_args a;
	struct rcpt_key key;
	struct rcpt_diag d = { "" };
	char addr[RCPT_ADDR_HEX_BYTES];
	enum rcpt_err rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(KEY_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (cli_parse(&a, argc - 1, argv + 1, opts, 1, 0, 1))
		return 2;
	if (a.help) {
		fputs(KEY_USAGE, stdout);
		return 0;
	}
	if (strcmp(argv[1], "new") == 0) {
		if (!a.val[0] || a.npos != 0) {
			cli_err("key new: needs --out FILE and nothing else");
			return 2;
		}
		rc = rcpt_key_generate(&key);
		if (rc) {
			cli_err("key new: could not generate a key: %s", rcpt_strerror(rc));
			return 1;
		}
		rc = rcpt_key_save(&key, &d, a.val[0]);
		rcpt_address_format(addr, key.address);
		rcpt_key_wipe(&key);
		if (rc) {
			cli_err("key new: %s", d.msg[0] ? d.msg : rcpt_strerror(rc));
			return 1;
		}
		printf("%s\n", addr);
		return 0;
	}
	if (strcmp(argv[1], "address") == 0) {
		if (a.val[0] || a.npos != 1) {
			cli_err("key address: needs exactly one FILE");
			return 2;
		}
		if (load_key(&key, a.pos[0]))
			return 1;
		rcpt_address_format(addr, key.address);
		rcpt_key_wipe(&key);
		printf("%s\n", addr);
		return 0;
	}
	cli_err("key: unknown subcommand '%.32s' (new, address)", argv[1]);
	return 2;
}

/* ------------------------------------------------------------------ */
/* assay message                                                        */

static const char MESSAGE_USAGE[] =
	"usage: assay message sign --key FILE (MESSAGE | --file PATH)\n"
	"       assay message recover --sig SIG (MESSAGE | --file PATH)\n"
	"\n"
	"sign     print the EIP-191 personal_sign signature of MESSAGE\n"
	"recover  print the address that signed MESSAGE; exit 1 when the\n"
	"         signature is invalid (bad v, high s, malformed, unrecoverable)\n"
	"MESSAGE is taken byte for byte; --file reads it from PATH instead\n"
	"(at most 65536 bytes).\n";

static int cmd_message(int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ "key", 0, 0 }, { "sig", 0, 0 }, { "file", 0, 0 },
	};
	struct cli_args a;
	struct rcpt_key key;
	uint8_t sig[RCPT_SIG_BYTES], addr[RCPT_ADDR_BYTES];
	char out[RCPT_SIG_HEX_BYTES];
	char *file_msg = NULL;
	const char *msg;
	size_t msg_len;
	enum rcpt_err rc;
	int sign, ret = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(MESSAGE_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (cli_parse(&a, argc - 1, argv + 1, opts, 3, 0, 1))
		return 2;
	if (a.help) {
		fputs(MESSAGE_USAGE, stdout);
		return 0;
	}
	if (strcmp(argv[1], "sign") == 0)
		sign = 1;
	else if (strcmp(argv[1], "recover") == 0)
		sign = 0;
	else {
		cli_err("message: unknown subcommand '%.32s' (sign, recover)", argv[1]);
		return 2;
	}
	if ((sign && (!a.val[0] || a.val[1])) || (!sign && (!a.val[1] || a.val[0]))) {
		cli_err("message %s: needs %s", argv[1], sign ? "--key FILE" : "--sig SIG");
		return 2;
	}
	if ((a.val[2] != NULL) == (a.npos == 1)) {
		cli_err("message %s: give either MESSAGE or --file PATH", argv[1]);
		return 2;
	}
	if (a.val[2]) {
		if (read_bounded(&file_msg, &msg_len, a.val[2], RCPT_MESSAGE_BYTES_MAX))
			return 2;
		msg = file_msg;
	} else {
		msg = a.pos[0];
		msg_len = strlen(msg);
		if (msg_len > RCPT_MESSAGE_BYTES_MAX) {
			cli_err("message: longer than %d bytes", RCPT_MESSAGE_BYTES_MAX);
			return 2;
		}
	}
	if (sign) {
		if (load_key(&key, a.val[0]))
			goto out;
		rc = rcpt_message_sign(sig, &key, msg, msg_len);
		rcpt_key_wipe(&key);
		if (rc) {
			cli_err("message sign: %s", rcpt_strerror(rc));
			goto out;
		}
		rc = rcpt_hex_encode(out, sizeof(out), sig, sizeof(sig));
		if (rc)
			goto out;
		printf("%s\n", out);
		ret = 0;
		goto out;
	}
	rc = rcpt_sig_parse(sig, a.val[1]);
	if (rc) {
		cli_err("message recover: signature is not 0x and 130 hex digits");
		goto out;
	}
	rc = rcpt_message_recover(addr, sig, msg, msg_len);
	if (rc) {
		cli_err("message recover: invalid signature: %s", rcpt_strerror(rc));
		goto out;
	}
	rcpt_address_format(out, addr);
	printf("%s\n", out);
	ret = 0;
out:
	free(file_msg);
	return ret;
}

/* ------------------------------------------------------------------ */
/* assay commit                                                         */

static const char COMMIT_USAGE[] =
	"usage: assay commit FILE [--threads N] [--explain]\n"
	"\n"
	"print the commitment {\"root\":\"0x...\",\"size\":N} to FILE's bytes:\n"
	"the RFC 6962 Merkle root over 64 KiB chunks with SHA-256 (PROTOCOL.md\n"
	"section 1).  FILE may be - for standard input.  Leaves are hashed on\n"
	"N threads (default: every online CPU); the root does not depend on N.\n"
	"--explain prints every leaf and node hash instead (files of at most\n"
	"16 chunks).\n";

static int parse_u64_arg(uint64_t *out, const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	if (!s[0] || s[0] == '-' || s[0] == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int commit_explain(const char *path)
{
	char *data = NULL;
	size_t len;
	enum rcpt_err rc;

	/* 16 chunks: the explanation is for small worked examples. */
	if (read_bounded(&data, &len, path, 16 * RCPT_CHUNK_BYTES))
		return 2;
	rc = rcpt_commit_explain(stdout, data, len);
	free(data);
	if (rc) {
		cli_err("commit: %s", rcpt_strerror(rc));
		return 1;
	}
	return 0;
}

static int cmd_commit(int argc, char **argv)
{
	static const struct cli_opt opts[] = { { "threads", 0, 0 }, { "explain", 1, 0 } };
	struct cli_args a;
	struct rcpt_commitment c;
	struct rcpt_diag d = { "" };
	char root[RCPT_HASH_HEX_BYTES];
	uint64_t threads = 0;
	enum rcpt_err rc;

	if (cli_parse(&a, argc, argv, opts, 2, 0, 1))
		return 2;
	if (a.help) {
		fputs(COMMIT_USAGE, stdout);
		return 0;
	}
	if (a.npos != 1) {
		fputs(COMMIT_USAGE, stderr);
		return 2;
	}
	if (a.val[1])
		return commit_explain(a.pos[0]);
	if (a.val[0] && (parse_u64_arg(&threads, a.val[0], RCPT_COMMIT_THREADS_MAX) ||
			 threads == 0)) {
		cli_err("commit: --threads must be 1 to %d", RCPT_COMMIT_THREADS_MAX);
		return 2;
	}
	if (strcmp(a.pos[0], "-") == 0)
		rc = rcpt_commit_fd(&c, &d, STDIN_FILENO, (unsigned)threads);
	else
		rc = rcpt_commit_file(&c, &d, a.pos[0], (unsigned)threads);
	if (rc) {
		cli_err("commit: %s", d.msg[0] ? d.msg : rcpt_strerror(rc));
		return 1;
	}
	rc = rcpt_hex_encode(root, sizeof(root), c.root, sizeof(c.root));
	if (rc)
		return 1;
	printf("{\"root\":\"%s\",\"size\":%llu}\n", root, (unsigned long long)c.size);
	return 0;
}

/* ------------------------------------------------------------------ */
/* assay receipt                                                        */

static const char RECEIPT_USAGE[] =
	"usage: assay receipt verify BUNDLE [--input FILE] [--output FILE]\n"
	"                            [--chain-id N --escrow ADDRESS]\n"
	"       assay receipt bundle --domain FILE --job FILE --job-sig SIG\n"
	"                            --receipt FILE --receipt-sig SIG\n"
	"       assay receipt explain BUNDLE\n"
	"\n"
	"verify  check a receipt bundle offline (PROTOCOL.md section 4): both\n"
	"        signatures valid and low-S, signed by job.customer and\n"
	"        receipt.provider = job.provider, receipt.job is the job id,\n"
	"        kernel and input agree, price <= maxPrice, finishedAt >=\n"
	"        startedAt.  --input/--output also check those files against\n"
	"        the committed roots and sizes; --chain-id and --escrow pin the\n"
	"        EIP-712 domain.  Prints {\"valid\":true,...}; exit 0 valid, 1\n"
	"        invalid (reason on stderr), 2 unusable arguments.  BUNDLE may\n"
	"        be - for standard input.\n"
	"bundle  assemble a bundle from its parts (statement JSON files and\n"
	"        signatures) and print it.\n"
	"explain print how the bundle's ids and signers are computed, every\n"
	"        intermediate hash included (for implementers and auditors).\n";

static int check_file(const char *path, const uint8_t root[RCPT_HASH_BYTES],
		      uint64_t size, const char *what)
{
	struct rcpt_commitment c;
	struct rcpt_diag d = { "" };
	enum rcpt_err rc;

	rc = rcpt_commit_file(&c, &d, path, 0);
	if (rc) {
		cli_err("receipt verify: %s", d.msg[0] ? d.msg : rcpt_strerror(rc));
		return 2;
	}
	if (c.size != size || memcmp(c.root, root, RCPT_HASH_BYTES) != 0) {
		cli_err("receipt verify: invalid: %s file '%s' does not match the "
			"bundle's commitment (size %llu, expected %llu%s)", what, path,
			(unsigned long long)c.size, (unsigned long long)size,
			c.size == size ? ", root differs" : "");
		return 1;
	}
	return 0;
}

static int receipt_verify(int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ "input", 0, 0 }, { "output", 0, 0 },
		{ "chain-id", 0, 0 }, { "escrow", 0, 0 },
	};
	struct cli_args a;
	struct rcpt_bundle b;
	struct rcpt_bundle_ids ids;
	struct rcpt_domain expect;
	struct rcpt_diag d = { "" };
	char job[RCPT_HASH_HEX_BYTES], rid[RCPT_HASH_HEX_BYTES];
	char cust[RCPT_ADDR_HEX_BYTES], prov[RCPT_ADDR_HEX_BYTES];
	char *text = NULL;
	size_t len;
	enum rcpt_err rc;
	int ret = 1;

	if (cli_parse(&a, argc, argv, opts, 4, 1, 1))
		return 2;
	if (a.help) {
		fputs(RECEIPT_USAGE, stdout);
		return 0;
	}
	if ((a.val[2] != NULL) != (a.val[3] != NULL)) {
		cli_err("receipt verify: --chain-id and --escrow go together");
		return 2;
	}
	if (a.val[2]) {
		uint64_t chain;
		uint8_t escrow[RCPT_ADDR_BYTES];
		if (parse_u64_arg(&chain, a.val[2], RCPT_JSON_UINT_MAX)) {
			cli_err("receipt verify: --chain-id must be an integer below 2^53");
			return 2;
		}
		if (rcpt_address_parse(escrow, a.val[3])) {
			cli_err("receipt verify: --escrow '%.64s' is not an address", a.val[3]);
			return 2;
		}
		rcpt_domain_assay(&expect, chain, escrow);
	}
	/* An unreadable bundle is an unusable argument (2); an unparsable
	 * one is an invalid bundle (1). */
	switch (cli_read_file(&text, &len, a.pos[0], RCPT_JSON_BYTES_MAX)) {
	case 0:
		break;
	case CLI_READ_TOO_LARGE:
		/* A bundle over the limit is invalid, not unusable. */
		cli_err("receipt verify: invalid bundle '%s': larger than %d bytes (%s)",
			a.pos[0], RCPT_JSON_BYTES_MAX, rcpt_errname(RCPT_ERR_TOO_LARGE));
		return 1;
	default:
		return 2;
	}
	rc = rcpt_bundle_parse(&b, &d, text, len);
	if (!rc)
		rc = rcpt_bundle_verify(&ids, &d, &b, a.val[2] ? &expect : NULL);
	if (rc) {
		cli_err("receipt verify: invalid bundle '%s': %s (%s)", a.pos[0],
			d.msg[0] ? d.msg : rcpt_strerror(rc), rcpt_errname(rc));
		goto out;
	}
	if (a.val[0]) {
		ret = check_file(a.val[0], b.job.input_root, b.job.input_size, "input");
		if (ret)
			goto out;
	}
	if (a.val[1]) {
		ret = check_file(a.val[1], b.receipt.output_root,
				 b.receipt.output_size, "output");
		if (ret)
			goto out;
	}
	if (rcpt_hex_encode(job, sizeof(job), ids.job_id, 32) ||
	    rcpt_hex_encode(rid, sizeof(rid), ids.receipt_id, 32)) {
		ret = 1;
		goto out;
	}
	rcpt_address_format(cust, ids.customer);
	rcpt_address_format(prov, ids.provider);
	printf("{\"valid\":true,\"job\":\"%s\",\"receipt\":\"%s\","
	       "\"customer\":\"%s\",\"provider\":\"%s\"}\n", job, rid, cust, prov);
	ret = 0;
out:
	free(text);
	return ret;
}

static int read_statement(char **text, size_t *len, const char *path)
{
	return read_bounded(text, len, path, RCPT_JSON_BYTES_MAX);
}

static int receipt_bundle(int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ "domain", 0, 1 }, { "job", 0, 1 }, { "job-sig", 0, 1 },
		{ "receipt", 0, 1 }, { "receipt-sig", 0, 1 },
	};
	struct cli_args a;
	struct rcpt_bundle b;
	struct rcpt_diag d = { "" };
	char *texts[3] = { NULL, NULL, NULL }, *out = NULL;
	size_t lens[3];
	enum rcpt_err rc;
	int ret = 1;

	if (cli_parse(&a, argc, argv, opts, 5, 0, 0))
		return 2;
	if (a.help) {
		fputs(RECEIPT_USAGE, stdout);
		return 0;
	}
	if (read_statement(&texts[0], &lens[0], a.val[0]) ||
	    read_statement(&texts[1], &lens[1], a.val[1]) ||
	    read_statement(&texts[2], &lens[2], a.val[3])) {
		ret = 2;
		goto out;
	}
	memset(&b, 0, sizeof(b));
	rc = rcpt_domain_parse(&b.domain, &d, texts[0], lens[0]);
	if (rc) {
		cli_err("receipt bundle: domain '%s': %s", a.val[0], d.msg);
		goto out;
	}
	rc = rcpt_job_parse(&b.job, &d, texts[1], lens[1]);
	if (rc) {
		cli_err("receipt bundle: job '%s': %s", a.val[1], d.msg);
		goto out;
	}
	rc = rcpt_receipt_parse(&b.receipt, &d, texts[2], lens[2]);
	if (rc) {
		cli_err("receipt bundle: receipt '%s': %s", a.val[3], d.msg);
		goto out;
	}
	if (rcpt_sig_parse(b.job_sig, a.val[2]) || rcpt_sig_parse(b.receipt_sig, a.val[4])) {
		cli_err("receipt bundle: a signature is not 0x and 130 hex digits");
		goto out;
	}
	rc = rcpt_bundle_to_json(&out, &b);
	if (rc) {
		cli_err("receipt bundle: %s", rcpt_strerror(rc));
		goto out;
	}
	printf("%s\n", out);
	ret = 0;
out:
	for (int i = 0; i < 3; i++)
		free(texts[i]);
	free(out);
	return ret;
}

static int receipt_explain(int argc, char **argv)
{
	struct cli_args a;
	struct rcpt_bundle b;
	struct rcpt_diag d = { "" };
	char *text = NULL;
	size_t len;
	enum rcpt_err rc;
	int ret = 1;

	if (cli_parse(&a, argc, argv, NULL, 0, 1, 1))
		return 2;
	if (a.help) {
		fputs(RECEIPT_USAGE, stdout);
		return 0;
	}
	if (read_bounded(&text, &len, a.pos[0], RCPT_JSON_BYTES_MAX))
		return 2;
	rc = rcpt_bundle_parse(&b, &d, text, len);
	if (rc) {
		cli_err("receipt explain: could not parse '%s': %s", a.pos[0], d.msg);
		goto out;
	}
	rc = rcpt_bundle_explain(stdout, &b);
	if (rc) {
		cli_err("receipt explain: %s", rcpt_strerror(rc));
		goto out;
	}
	ret = 0;
out:
	free(text);
	return ret;
}

static int cmd_receipt(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(RECEIPT_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "verify") == 0)
		return receipt_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "bundle") == 0)
		return receipt_bundle(argc - 1, argv + 1);
	if (strcmp(argv[1], "explain") == 0)
		return receipt_explain(argc - 1, argv + 1);
	cli_err("receipt: unknown subcommand '%.32s' (verify, bundle, explain)", argv[1]);
	return 2;
}

/* ------------------------------------------------------------------ */
/* assay statement                                                      */

static const char STATEMENT_USAGE[] =
	"usage: assay statement hash --type TYPE --domain FILE STATEMENT\n"
	"       assay statement sign --type TYPE --domain FILE --key FILE STATEMENT\n"
	"\n"
	"TYPE is JobSpec, Receipt or Attestation (PROTOCOL.md section 3);\n"
	"STATEMENT and the domain are JSON files in the forms of section 4.\n"
	"hash  print the EIP-712 digest (for a JobSpec: the job id)\n"
	"sign  print the signature; the key must be the statement's signer\n"
	"      (customer, provider or validator), else nothing is signed\n";

static int cmd_statement(int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ "type", 0, 1 }, { "domain", 0, 1 }, { "key", 0, 0 },
	};
	struct cli_args a;
	struct rcpt_domain dom;
	struct rcpt_job job;
	struct rcpt_receipt rec;
	struct rcpt_attestation att;
	struct rcpt_key key;
	struct rcpt_diag d = { "" };
	uint8_t digest[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
	const uint8_t *signer = NULL;
	char out[RCPT_SIG_HEX_BYTES], want[RCPT_ADDR_HEX_BYTES];
	char *dtext = NULL, *stext = NULL;
	size_t dlen, slen;
	enum rcpt_err rc;
	int sign, ret = 1, have_key = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(STATEMENT_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (cli_parse(&a, argc - 1, argv + 1, opts, 3, 1, 1))
		return 2;
	if (a.help) {
		fputs(STATEMENT_USAGE, stdout);
		return 0;
	}
	sign = strcmp(argv[1], "sign") == 0;
	if (!sign && strcmp(argv[1], "hash") != 0) {
		cli_err("statement: unknown subcommand '%.32s' (hash, sign)", argv[1]);
		return 2;
	}
	if (sign != (a.val[2] != NULL)) {
		cli_err("statement %s: --key is %s", argv[1],
			sign ? "required" : "only for sign");
		return 2;
	}
	if (read_statement(&dtext, &dlen, a.val[1]) ||
	    read_statement(&stext, &slen, a.pos[0])) {
		ret = 2;
		goto out;
	}
	rc = rcpt_domain_parse(&dom, &d, dtext, dlen);
	if (rc) {
		cli_err("statement: domain '%s': %s", a.val[1], d.msg);
		goto out;
	}
	if (strcmp(a.val[0], "JobSpec") == 0) {
		rc = rcpt_job_parse(&job, &d, stext, slen);
		if (!rc)
			rc = rcpt_job_id(digest, &d, &dom, &job);
		signer = job.customer;
	} else if (strcmp(a.val[0], "Receipt") == 0) {
		rc = rcpt_receipt_parse(&rec, &d, stext, slen);
		if (!rc)
			rc = rcpt_receipt_id(digest, &d, &dom, &rec);
		signer = rec.provider;
	} else if (strcmp(a.val[0], "Attestation") == 0) {
		rc = rcpt_attestation_parse(&att, &d, stext, slen);
		if (!rc)
			rc = rcpt_attestation_digest(digest, &d, &dom, &att);
		signer = att.validator;
	} else {
		cli_err("statement: --type must be JobSpec, Receipt or Attestation");
		ret = 2;
		goto out;
	}
	if (rc) {
		cli_err("statement: %s '%s': %s", a.val[0], a.pos[0],
			d.msg[0] ? d.msg : rcpt_strerror(rc));
		goto out;
	}
	if (!sign) {
		if (rcpt_hex_encode(out, sizeof(out), digest, sizeof(digest)))
			goto out;
		printf("%s\n", out);
		ret = 0;
		goto out;
	}
	if (load_key(&key, a.val[2]))
		goto out;
	have_key = 1;
	if (memcmp(key.address, signer, RCPT_ADDR_BYTES) != 0) {
		rcpt_address_format(want, signer);
		cli_err("statement sign: the key is not the %s's signer %s", a.val[0], want);
		goto out;
	}
	rc = rcpt_sign_digest(sig, &key, digest);
	if (rc || rcpt_hex_encode(out, sizeof(out), sig, sizeof(sig))) {
		cli_err("statement sign: %s", rcpt_strerror(rc));
		goto out;
	}
	printf("%s\n", out);
	ret = 0;
out:
	if (have_key)
		rcpt_key_wipe(&key);
	free(dtext);
	free(stext);
	return ret;
}

/* ------------------------------------------------------------------ */

static const char USAGE[] =
	"usage: assay COMMAND [ARGS]   (assay COMMAND --help for more)\n"
	"\n"
	"  key new --out FILE                 create a key (0600), print its address\n"
	"  key address FILE                   print the address of a key file\n"
	"  message sign --key FILE MESSAGE    EIP-191 signature of MESSAGE\n"
	"  message recover --sig SIG MESSAGE  address that signed MESSAGE\n"
	"  commit FILE                        {\"root\":...,\"size\":...} of FILE\n"
	"  kernel list                        kernels: name@version kernelHash text\n"
	"  kernel run NAME --input IN --params JSON --output OUT [--device D]\n"
	"  receipt verify BUNDLE [--input F] [--output F]\n"
	"  receipt bundle ...                 assemble a bundle from its parts\n"
	"  statement hash|sign ...            EIP-712 digest or signature\n"
	"  tensor random|show ...             make or inspect safetensors files\n"
	"  tokens encode|decode --vocab F ... GPT-2's BPE: text to token ids and back\n"
	"  audit verify FILE                  check an escrow audit chain\n"
	"  escrow SUBCOMMAND ... [--url URL]  talk to assay-escrow (params, faucet,\n"
	"                                     balance, stake, open, receipt, attest, ...)\n"
	"  apikey create|list|revoke --key FILE [--url URL | --provider URL]\n"
	"                                     the escrow's scoped API keys\n"
	"  signin --url URL --key FILE --out SESSION [--role ROLE] [--scopes A,B]\n"
	"                                     Sign-In with Ethereum; saves a session\n"
	"  deposit AMOUNT --escrow URL --key FILE   fund the account (devnet faucet)\n"
	"  deposit AMOUNT --rpc URL --escrow-address A --key FILE [--mint]\n"
	"                                     approve and deposit into the EVM contract\n"
	"  balance [ADDRESS] --escrow URL [--key FILE]\n"
	"  balance [ADDRESS] --rpc URL --escrow-address A [--key FILE]\n"
	"                                     (--chain FILE instead of --escrow-address:\n"
	"                                     what chain deploy printed; assay deposit --help)\n"
	"  job submit|status|fetch ...        run a job at a provider (assay job --help)\n"
	"  reconcile --escrow URL --key FILE [--provider-data DIR] [--bundles DIR]\n"
	"            [--audit-dir DIR]        your records against the escrow's: every\n"
	"                                     difference, one a line (exit 1 if any)\n"
	"  chain deploy --rpc URL --key FILE [--token ADDRESS]\n"
	"                                     deploy the settlement contract on an EVM\n"
	"                                     chain (assay chain --help)\n"
	"\n"
	"HTTPS peers are verified against the system's CA bundle, or against\n"
	"$ASSAY_CA_FILE when set (a private CA); TLS below 1.2 is refused.\n"
	"Exit status: 0 success, 1 failure or invalid subject, 2 bad arguments.\n";

/* ASSAY_CA_FILE: every https request verifies its peer against this CA
 * bundle instead of the system's. */
static int ca_file_from_env(void)
{
	const char *ca = getenv("ASSAY_CA_FILE");
	char why[320];

	if (!ca || !ca[0])
		return 0;
	if (httpd_client_set_ca_file(ca, why, sizeof(why)) ||
	    evm_rpc_set_ca_file(ca, why, sizeof(why))) {
		cli_err("ASSAY_CA_FILE: %s", why);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	if (rcpt_harden_process() != RCPT_OK) {
		cli_err("could not disable core dumps; refusing to handle keys");
		return 1;
	}
	if (argc < 2) {
		fputs(USAGE, stderr);
		return 2;
	}
	if (httpd_client_global_init()) {
		cli_err("could not initialise libcurl");
		return 1;
	}
	if (ca_file_from_env())
		return 2;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (strcmp(argv[1], "key") == 0)
		ret = cmd_key(argc - 1, argv + 1);
	else if (strcmp(argv[1], "message") == 0)
		ret = cmd_message(argc - 1, argv + 1);
	else if (strcmp(argv[1], "commit") == 0)
		ret = cmd_commit(argc - 1, argv + 1);
	else if (strcmp(argv[1], "kernel") == 0)
		ret = cmd_kernel(argc - 1, argv + 1);
	else if (strcmp(argv[1], "receipt") == 0)
		ret = cmd_receipt(argc - 1, argv + 1);
	else if (strcmp(argv[1], "tensor") == 0)
		ret = cmd_tensor(argc - 1, argv + 1);
	else if (strcmp(argv[1], "audit") == 0)
		ret = cmd_audit(argc - 1, argv + 1);
	else if (strcmp(argv[1], "escrow") == 0)
		ret = cmd_escrow(argc - 1, argv + 1);
	else if (strcmp(argv[1], "apikey") == 0)
		ret = cmd_apikey(argc - 1, argv + 1);
	else if (strcmp(argv[1], "statement") == 0)
		ret = cmd_statement(argc - 1, argv + 1);
	else if (strcmp(argv[1], "signin") == 0)
		ret = cmd_signin(argc - 1, argv + 1);
	else if (strcmp(argv[1], "deposit") == 0)
		ret = cmd_deposit(argc - 1, argv + 1);
	else if (strcmp(argv[1], "balance") == 0)
		ret = cmd_balance(argc - 1, argv + 1);
	else if (strcmp(argv[1], "job") == 0)
		ret = cmd_job(argc - 1, argv + 1);
	else if (strcmp(argv[1], "chain") == 0)
		ret = cmd_chain(argc - 1, argv + 1);
	else if (strcmp(argv[1], "tokens") == 0)
		ret = cmd_tokens(argc - 1, argv + 1);
	else if (strcmp(argv[1], "reconcile") == 0)
		ret = cmd_reconcile(argc - 1, argv + 1);
	else {
		cli_err("unknown command '%.32s' (see assay --help)", argv[1]);
		ret = 2;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err("could not write the result to standard output");
		ret = 1;
	}
	return ret;
}
