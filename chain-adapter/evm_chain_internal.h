/*
 * evm_chain_internal.h: what evm_chain.c (the EVM backend of chain.h)
 * shows its tests.  Not for callers (they have chain.h).
 */
#ifndef ASSAY_EVM_CHAIN_INTERNAL_H
#define ASSAY_EVM_CHAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chain.h"

/* openJob's calldata with the longest strings receipts.h allows (kernel
 * 64, params 4096 bytes) is under 5 KiB; attest's under 1 KiB. */
#define EVM_CHAIN_CALLDATA_BYTES (8u * 1024u)

/* The chain_err of an AssayEscrow revert (its custom error's selector,
 * docs/contract.md's mapping); CHAIN_ERR_BACKEND for anything else
 * (a panic, an Error(string), no data, an error this interface does not
 * know).  NotReleasable maps to CHAIN_OK: releaseUnbonded's "nothing is
 * due", which chain_release_unbonded answers with success. */
enum chain_err chain_evm_revert_err(const uint8_t *data, size_t len);

#endif
