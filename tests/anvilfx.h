/*
 * anvilfx.h: a private anvil (Foundry's devnet node, from
 * chain-adapter/evm/node_modules: `make contract-deps`, which `make test`
 * runs first) for the suites that talk to an EVM chain (prefix anvilfx_):
 * test_evm_rpc.c, test_evm_money.c, test_evm_follow.c and
 * test_chain_conformance.c.
 *
 * anvilfx_start makes a temporary directory, starts anvil on a free
 * loopback port (port 0, the port read back from its log) with three
 * funded development accounts, and skips the test when anvil is not
 * installed; anvilfx_stop, the tests' .fini, kills it and removes the
 * directory.  anvil gets SIGKILL when the test process dies.
 */
#ifndef ASSAY_ANVILFX_H
#define ASSAY_ANVILFX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "receipts.h"

/* anvil's default chain id. */
#define ANVILFX_CHAIN_ID 31337u
/* How long anvil may take to listen. */
#define ANVILFX_START_MS 30000

struct anvilfx {
	pid_t pid;
	char dir[256];      /* private to the test; removed by anvilfx_stop */
	char url[64];       /* http://127.0.0.1:PORT */
	char log[320];      /* anvil's stdout and stderr */
};

/* anvil's well-known development keys (0x + 64 hex) and their EIP-55
 * addresses: accounts 0 to 2, each funded with 10,000 ETH. */
extern const char *const ANVILFX_KEYS[3];
extern const char *const ANVILFX_ADDRS[3];

/* Development accounts anvilfx_start_n may fund. */
#define ANVILFX_ACCOUNTS_MAX 32

/* Starts anvil with extra flags (NULL-terminated, at most 6; may be
 * NULL).  Aborts the test when anvil exits or does not listen in time. */
void anvilfx_start(struct anvilfx *a, const char *const extra[]);
/* The same with `accounts` funded development accounts (3 to
 * ANVILFX_ACCOUNTS_MAX). */
void anvilfx_start_n(struct anvilfx *a, unsigned accounts, const char *const extra[]);
/* Development key i as anvil printed it in its log (any i below the
 * accounts it was started with). */
void anvilfx_dev_key(struct rcpt_key *out, const struct anvilfx *a, unsigned i);
/* anvil's method(params) (params a JSON array as text): its result, a
 * new reference the caller decrefs.  Fails the test on an error answer
 * (for the anvil_* and evm_* methods evm_rpc.h has no function for). */
json_t *anvilfx_call(const struct anvilfx *a, const char *method, const char *params);
/* The committed creation code of artifact `name` ("DevToken",
 * "AssayEscrow") with room for `extra` bytes after it (constructor
 * words); *len is the code's length.  The caller frees it. */
uint8_t *anvilfx_initcode(size_t *len, const char *name, size_t extra);
/* Kills anvil and removes its directory; idempotent. */
void anvilfx_stop(struct anvilfx *a);
/* Writes development key i to a->dir/key<i>-<mode> with that mode (for
 * the key file rules: 0600 accepted, 0644 refused); returns path. */
const char *anvilfx_key_file(const struct anvilfx *a, char *path, size_t len, int i, int mode);

#endif
