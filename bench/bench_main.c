/*
 * bench_main.c: runs every benchmark section and prints one table.
 * BENCH_ONLY=receipts, kernels, gpt2, sandbox, escrow, provider or validator runs
 * one section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "banned.h"

double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_row(const char *what, double ours, double ref, const char *unit,
	       const char *ref_name, double target_ratio)
{
	double ratio = ref > 0 ? ours / ref : 0;

	printf("%-34s %12.1f %-8s %12.1f  %-28s %6.2fx  %s%.2fx %s\n", what, ours,
	       unit, ref, ref_name, ratio, target_ratio > 0 ? ">=" : "",
	       target_ratio, target_ratio <= 0 ? "" : ratio >= target_ratio ? "MET" : "MISSED");
	fflush(stdout);
}

int main(void)
{
	const char *only = getenv("BENCH_ONLY");

	printf("%-34s %12s %-8s %12s  %-28s %7s  %s\n", "benchmark", "ours", "unit",
	       "reference", "reference is", "ratio", "target");
	if (!only || strcmp(only, "receipts") == 0)
		bench_receipts();
	if (!only || strcmp(only, "kernels") == 0)
		bench_kernels();
	if (!only || strcmp(only, "gpt2") == 0)
		bench_gpt2();
	if (!only || strcmp(only, "sandbox") == 0)
		bench_sandbox();
	if (!only || strcmp(only, "escrow") == 0)
		bench_escrow();
	if (!only || strcmp(only, "provider") == 0)
		bench_provider();
	if (!only || strcmp(only, "validator") == 0)
		bench_validator();
	return 0;
}
