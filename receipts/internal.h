/*
 * internal.h: helpers shared by the receipts library's own files.  Not
 * installed, not for callers.
 */
#ifndef ASSAY_RCPT_INTERNAL_H
#define ASSAY_RCPT_INTERNAL_H

#include <stdarg.h>

#include "receipts.h"

/* Writes one formatted line into diag (NULL-safe, always terminated). */
void rcpt_diagf(struct rcpt_diag *diag, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 32-byte big-endian encoding of an unsigned integer (ABI word). */
void rcpt_word_u64(uint8_t out[32], uint64_t v);
void rcpt_word_address(uint8_t out[32], const uint8_t addr[RCPT_ADDR_BYTES]);

/* Checks a statement string: at most max bytes, valid UTF-8, no control
 * characters; `what` names the field in diag.  RCPT_OK or RCPT_ERR_FIELD. */
enum rcpt_err rcpt_check_text(struct rcpt_diag *diag, const char *what,
			      const char *s, size_t max, int allow_empty);

/* Checks `kernel` is name@version: [A-Za-z0-9_.-]+ '@' [A-Za-z0-9_.-]+,
 * at most RCPT_KERNEL_BYTES_MAX bytes.  RCPT_OK or RCPT_ERR_FIELD. */
enum rcpt_err rcpt_check_kernel(struct rcpt_diag *diag, const char *what,
				const char *kernel);

/* The EIP-712 type strings of PROTOCOL.md section 3. */
extern const char RCPT_DOMAIN_TYPE[];
extern const char RCPT_JOB_TYPE[];
extern const char RCPT_RECEIPT_TYPE[];
extern const char RCPT_ATTESTATION_TYPE[];
extern const char RCPT_DECISION_TYPE[];

/* 0 when the hard-coded EIP-712 type hashes equal keccak256 of their type
 * strings; -1 otherwise.  For the tests. */
int rcpt_eip712_selfcheck(void);

/* Money and identity code keeps its assertions in release builds: a
 * broken invariant stops the process rather than sign or pay out from
 * a corrupt state.  Never used on bytes from outside. */
#define RCPT_ASSERT(cond)                                                    \
	do {                                                                 \
		if (!(cond))                                                 \
			rcpt_assert_fail(#cond, __FILE__, __LINE__);         \
	} while (0)
_Noreturn void rcpt_assert_fail(const char *what, const char *file, int line);

#endif
