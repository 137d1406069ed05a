/*
 * rcpt_limits.h: every bound the receipts library enforces, in one place
 * (SQLite's sqliteLimit.h habit).  Each limit has a reason; raising one
 * is a protocol-visible change for other implementations only where the
 * comment says so.
 */
#ifndef ASSAY_RCPT_LIMITS_H
#define ASSAY_RCPT_LIMITS_H

/* Room for one diagnostic line: a field name, a quoted subject, a reason. */
#define RCPT_DIAG_BYTES 256

/* A JSON statement or bundle: the largest legitimate bundle is about
 * 2 KiB plus `params`; 64 KiB leaves room and caps parser work. */
#define RCPT_JSON_BYTES_MAX 65536

/* Domain name and version strings ("Assay", "1"): short by nature. */
#define RCPT_DOMAIN_STRING_BYTES_MAX 64

/* `kernel` is name@version, e.g. "matmul_f32@1". */
#define RCPT_KERNEL_BYTES_MAX 64

/* `params` is compact JSON; kernels take a handful of numbers. */
#define RCPT_PARAMS_BYTES_MAX 4096

/* `device` is "cpu", "cuda:sm_90", ... */
#define RCPT_DEVICE_BYTES_MAX 64

/* A ProviderDecision (an operator's statement about a provider, the
 * escrow's approved registry): `action` is "approve", "suspend" or
 * "revoke"; `organisation` names the provider's legal entity as a
 * registry would print it; `contact` is an e-mail address, a URL or a
 * phone number.  Long enough for real names in any script (UTF-8),
 * short enough that a registry row and its audit entry stay small.
 * Raising one changes what other implementations must accept. */
#define RCPT_DECISION_ACTION_BYTES_MAX 16
#define RCPT_ORGANISATION_BYTES_MAX 128
#define RCPT_CONTACT_BYTES_MAX 256

/* EIP-191 messages: a SIWE message is well under 2 KiB. */
#define RCPT_MESSAGE_BYTES_MAX 65536

/* A key file: "0x" + 64 hex + "\n" is 67 bytes; read at most this many
 * so that a huge file is refused without reading it. */
#define RCPT_KEY_FILE_BYTES_MAX 128

/* Files we commit to: 2^53 - 1 bytes is the largest size a JSON uint64
 * can carry (PROTOCOL.md section 4). */
#define RCPT_COMMIT_FILE_BYTES_MAX 9007199254740991ull

/* Worker threads for hashing a file's leaves. */
#define RCPT_COMMIT_THREADS_MAX 16

/* Leaves hashed per batch when committing a file: 1024 x 64 KiB = 64 MiB
 * in flight at most per batch, spread over the workers. */
#define RCPT_COMMIT_BATCH_LEAVES 1024

#endif
