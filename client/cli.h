/*
 * cli.h: what the `assay` client's command files share: one-line errors,
 * a small strict option parser and a bounded file reader.
 */
#ifndef ASSAY_CLI_H
#define ASSAY_CLI_H

#include <stddef.h>

#define CLI_OPT_MAX 24   /* the most options one command takes (escrow: 17) */
#define CLI_POS_MAX 32

struct cli_opt {
	const char *name;   /* without the leading "--" */
	int flag;           /* 1: takes no value */
	int required;
};

struct cli_args {
	const char *val[CLI_OPT_MAX];   /* per option, NULL when absent */
	const char *pos[CLI_POS_MAX];
	size_t npos;
	int help;                       /* --help or -h was given */
};

/* "assay: " + the formatted message as one line on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses argv[1..argc-1]: "--name value", "--name=value", flags, "--"
 * ending options, and between pos_min and pos_max positionals.  Refuses
 * unknown or repeated options.  Returns 0, or -1 after printing why. */
int cli_parse(struct cli_args *a, int argc, char **argv,
	      const struct cli_opt *opts, size_t nopts,
	      size_t pos_min, size_t pos_max);

/* Reads a whole file ("-": stdin) of at most max bytes into a NUL-
 * terminated buffer the caller frees.  Returns 0; CLI_READ_TOO_LARGE
 * when the file is over max (nothing printed: the caller decides what
 * that means); -1 after printing why it could not be read. */
#define CLI_READ_TOO_LARGE (-2)
int cli_read_file(char **out, size_t *len, const char *path, size_t max);

/* `assay kernel ...` (client/cmd_kernel.c); argv[0] is "kernel". */
int cmd_kernel(int argc, char **argv);
/* `assay tensor ...` (client/cmd_tensor.c); argv[0] is "tensor". */
int cmd_tensor(int argc, char **argv);
/* `assay audit ...` (client/cmd_audit.c); argv[0] is "audit". */
int cmd_audit(int argc, char **argv);
/* `assay audit validator` (client/cmd_audit_validator.c); argv[0] is "validator". */
int audit_validator(int argc, char **argv);
/* `assay escrow ...` (client/cmd_escrow.c); argv[0] is "escrow". */
int cmd_escrow(int argc, char **argv);
/* `assay apikey create|list|revoke` (client/cmd_escrow.c); argv[0] is "apikey". */
int cmd_apikey(int argc, char **argv);
/* The customer's commands (client/cmd_job.c): `assay signin`, `assay
 * deposit`, `assay balance`, `assay job ...`; argv[0] is the command. */
int cmd_signin(int argc, char **argv);
int cmd_deposit(int argc, char **argv);
int cmd_balance(int argc, char **argv);
int cmd_job(int argc, char **argv);
/* The API key of ASSAY_API_KEY_FILE (mode 0600) or else ASSAY_API_KEY
 * into bearer (bearer_len at least HTTPD_APIKEY_TOKEN_BYTES + 1; "" when
 * neither is set), checked for form; 0, or -1 after one line opened by
 * `what` (never the key).  In client/cmd_escrow.c. */
int cli_api_key_from_env(char *bearer, size_t bearer_len, const char *what);

/* `assay reconcile` (client/cmd_reconcile.c); argv[0] is "reconcile". */
int cmd_reconcile(int argc, char **argv);

/* `assay chain deploy` (client/cmd_chain.c); argv[0] is "chain". */
int cmd_chain(int argc, char **argv);
/* `assay tokens encode|decode` (client/cmd_tokens.c); argv[0] is "tokens". */
int cmd_tokens(int argc, char **argv);
struct bpe;
/* GPT-2's vocabulary (and merges when given) from files, for `cmd`'s
 * messages: 0; 1 refused content; 2 a file that cannot be read. */
int tokens_load(struct bpe **b, const char *cmd, const char *vocab, const char *merges);

/* `assay job submit --prompt` (client/gpt2_text.c): the prompt's tokens
 * as a gpt2_f32@1 input file image in *in (malloc'd), and the generated
 * text of a checked output added to the summary as "ids" and "text".
 * 0, or 1/2 after saying why. */
#include <jansson.h>
int gpt2_prompt_input(char **in, size_t *in_len, const char *cmd, const char *text,
		      const char *vocab, const char *merges);
int gpt2_text_of_output(json_t *summary, const char *cmd, const char *output_path,
			const char *vocab);

#endif
