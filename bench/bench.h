/*
 * bench.h: the pieces of `make bench`.  Each section prints rows of one
 * table: what was measured, our figure, the named reference measured in
 * the same run, the ratio and the target.  Timings are wall clock on an
 * otherwise idle machine; nothing here is asserted by tests.
 */
#ifndef ASSAY_BENCH_H
#define ASSAY_BENCH_H

double bench_now_s(void);
/* One table row. */
void bench_row(const char *what, double ours, double ref, const char *unit,
	       const char *ref_name, double target_ratio);

void bench_receipts(void);
void bench_kernels(void);
void bench_escrow(void);
void bench_provider(void);
void bench_validator(void);
void bench_sandbox(void);
void bench_gpt2(void);

#endif
