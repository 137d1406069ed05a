/*
 * embed.h: files built into the `assay` binary by scripts/embed-files.sh
 * (the struct is declared again in the generated file; keep both alike).
 */
#ifndef ASSAY_CLIENT_EMBED_H
#define ASSAY_CLIENT_EMBED_H

#include <stddef.h>

struct embed_file {
	const char *name;                /* base name: "AssayEscrow.bin" */
	const unsigned char *data;       /* len bytes, then a NUL */
	size_t len;
};

/* chain-adapter/evm/artifacts/{AssayEscrow,DevToken}.{bin,json}, as
 * committed when assay was built (build/gen/evm_artifacts.c). */
extern const struct embed_file evm_artifacts[];
extern const size_t evm_artifacts_count;

/* The one of evm_artifacts named `name` ("AssayEscrow.json"); asserts
 * (it is the build's to embed) that it is there and NUL-terminated.
 * Never NULL.  Defined in cmd_chain.c. */
const struct embed_file *embed_evm_artifact(const char *name);

#endif
