/*
 * evm_internal.h: what evm_rpc.c shares with evm_send.c and
 * evm_revert.c.  Not for callers (they have evm_rpc.h).
 */
#ifndef ASSAY_EVM_INTERNAL_H
#define ASSAY_EVM_INTERNAL_H

#include "evm_rpc.h"

/* Replaces rpc's last error with one formatted line (control characters
 * become '?'). */
void evm_rpc_whyf(struct evm_rpc *rpc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copies at most max bytes of s into out (out_len >= 1) with every byte
 * that is not printable ASCII as '?', and '"' and '\\' as '\''. */
void evm_printable(char *out, size_t out_len, const char *s, size_t len);

#endif
