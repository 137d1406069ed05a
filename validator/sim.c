/*
 * sim.c: assay-sim, a Monte Carlo model of the marketplace's incentives
 * (docs/economics.md, "Simulated").  Many jobs go to providers, a share
 * of which cheat on every job (they skip the computation and sign a
 * made-up output); each receipt is sampled with probability p; a sampled
 * cheat is proven by the referee, which slashes the provider, refunds the
 * customer and pays the validator's bounty.  A caught cheater tops its
 * stake back up to the minimum and goes on cheating (the most patient
 * cheater).  It prints the cheaters' profit per job against an honest
 * provider's, how long until a cheater is first caught, and the
 * validators' cost as a share of the providers' compute.
 *
 * Deterministic: the same --seed gives the same output, byte for byte
 * (xoshiro256** seeded by splitmix64; no clock, no thread).  Amounts are
 * in tokens as doubles: this is a model, not the ledger.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

/* Bounds on the model's size: a run stays under a few seconds. */
#define SIM_JOBS_MAX 100000000ull
#define SIM_PROVIDERS_MAX 100000u

struct sim_params {
	uint64_t jobs;
	unsigned providers;
	double cheater_share;     /* share of providers that cheat */
	unsigned sample_bps;      /* p */
	double stake;             /* each provider's bonded stake, tokens */
	unsigned slash_bps;       /* share of the stake slashed */
	unsigned bounty_bps;      /* share of the slash to the validator */
	double price;             /* paid per job */
	double compute_cost;      /* a provider's cost to run one job */
	double validator_cost;    /* a validator's cost to re-run one job */
	double jobs_per_hour;     /* one provider's job rate */
	uint64_t seed;
};

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return res;
}

/* Uniform in [0, n) without modulo bias. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;

	do
		v = rng_next(r);
	while (v >= lim);
	return v % n;
}

/* A Bernoulli draw with probability bps / 10^4, exact. */
static int rng_bps(struct rng *r, unsigned bps)
{
	return rng_below(r, 10000u) < bps;
}

struct prov {
	int cheater;
	uint64_t jobs, caught, jobs_to_first_catch;
	double profit;
};

static int parse_u64(uint64_t *out, const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_dbl(double *out, const char *s, double max)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0.0) || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char usage[] =
	"usage: assay-sim [--jobs N] [--providers N] [--cheaters SHARE] [--sample-bps N]\n"
	"       [--stake T] [--slash-bps N] [--bounty-bps N] [--price T] [--compute-cost T]\n"
	"       [--validator-cost T] [--jobs-per-hour N] [--seed N]\n";

static int parse_args(struct sim_params *p, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t u = 0;
		int bad;
		if (strcmp(a, "--jobs") == 0) {
			bad = parse_u64(&p->jobs, v, SIM_JOBS_MAX) || p->jobs == 0;
		} else if (strcmp(a, "--providers") == 0) {
			bad = parse_u64(&u, v, SIM_PROVIDERS_MAX) || u == 0;
			p->providers = (unsigned)u;
		} else if (strcmp(a, "--cheaters") == 0) {
			bad = parse_dbl(&p->cheater_share, v, 1.0);
		} else if (strcmp(a, "--sample-bps") == 0) {
			bad = parse_u64(&u, v, 10000);
			p->sample_bps = (unsigned)u;
		} else if (strcmp(a, "--slash-bps") == 0) {
			bad = parse_u64(&u, v, 10000);
			p->slash_bps = (unsigned)u;
		} else if (strcmp(a, "--bounty-bps") == 0) {
			bad = parse_u64(&u, v, 10000);
			p->bounty_bps = (unsigned)u;
		} else if (strcmp(a, "--stake") == 0) {
			bad = parse_dbl(&p->stake, v, 1e15);
		} else if (strcmp(a, "--price") == 0) {
			bad = parse_dbl(&p->price, v, 1e15);
		} else if (strcmp(a, "--compute-cost") == 0) {
			bad = parse_dbl(&p->compute_cost, v, 1e15);
		} else if (strcmp(a, "--validator-cost") == 0) {
			bad = parse_dbl(&p->validator_cost, v, 1e15);
		} else if (strcmp(a, "--jobs-per-hour") == 0) {
			bad = parse_dbl(&p->jobs_per_hour, v, 1e9) || p->jobs_per_hour <= 0.0;
		} else if (strcmp(a, "--seed") == 0) {
			bad = parse_u64(&p->seed, v, UINT64_MAX);
		} else {
			fprintf(stderr, "assay-sim: unknown argument '%s'\n%s", a, usage);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "assay-sim: bad value for '%s'\n%s", a, usage);
			return -1;
		}
		i++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sim_params p = {
		.jobs = 1000000, .providers = 100, .cheater_share = 0.10,
		.sample_bps = 1000, .stake = 100.0, .slash_bps = 5000, .bounty_bps = 2000,
		.price = 1.0, .compute_cost = 0.5, .validator_cost = 0.5,
		.jobs_per_hour = 10.0, .seed = 1,
	};
	struct prov *pv;
	struct rng r;
	uint64_t x, j, sampled = 0, cheats = 0, caught = 0, first_n = 0;
	double slash, bounty, validator_spend = 0, bounty_paid = 0, provider_compute = 0;
	double cheat_profit = 0, honest_profit = 0, first_sum = 0, refunds = 0;
	uint64_t cheat_jobs = 0, honest_jobs = 0;
	unsigned i, ncheat;

	if (parse_args(&p, argc, argv))
		return 2;
	pv = calloc(p.providers, sizeof(*pv));
	if (!pv) {
		fprintf(stderr, "assay-sim: out of memory\n");
		return 1;
	}
	x = p.seed;
	for (i = 0; i < 4; i++)
		r.s[i] = splitmix64(&x);
	ncheat = (unsigned)llround(p.cheater_share * p.providers);
	for (i = 0; i < ncheat; i++)
		pv[i].cheater = 1;
	slash = p.stake * p.slash_bps / 10000.0;
	bounty = slash * p.bounty_bps / 10000.0;
	for (j = 0; j < p.jobs; j++) {
		struct prov *v = &pv[rng_below(&r, p.providers)];
		int s = rng_bps(&r, p.sample_bps);
		v->jobs++;
		if (s) {
			sampled++;
			validator_spend += p.validator_cost;
		}
		if (!v->cheater) {
			v->profit += p.price - p.compute_cost;
			provider_compute += p.compute_cost;
			continue;
		}
		cheats++;
		if (!s) {
			v->profit += p.price;   /* paid for work not done */
			continue;
		}
		/* Caught: no price (the customer is refunded), slashed, and
		 * the stake topped back up to go on. */
		caught++;
		v->caught++;
		v->profit -= slash;
		refunds += p.price;
		bounty_paid += bounty;
		if (v->caught == 1)
			v->jobs_to_first_catch = v->jobs;
	}
	for (i = 0; i < p.providers; i++) {
		if (pv[i].cheater) {
			cheat_profit += pv[i].profit;
			cheat_jobs += pv[i].jobs;
			if (pv[i].caught) {
				first_sum += (double)pv[i].jobs_to_first_catch;
				first_n++;
			}
		} else {
			honest_profit += pv[i].profit;
			honest_jobs += pv[i].jobs;
		}
	}
	printf("assay-sim: jobs=%" PRIu64 " providers=%u cheaters=%u sample_bps=%u stake=%.4g "
	       "slash_bps=%u bounty_bps=%u price=%.4g compute_cost=%.4g validator_cost=%.4g "
	       "jobs_per_hour=%.4g seed=%" PRIu64 "\n", p.jobs, p.providers, ncheat, p.sample_bps,
	       p.stake, p.slash_bps, p.bounty_bps, p.price, p.compute_cost, p.validator_cost,
	       p.jobs_per_hour, p.seed);
	printf("sampled receipts:                 %" PRIu64 " of %" PRIu64 " (%.4f)\n", sampled,
	       p.jobs, (double)sampled / (double)p.jobs);
	printf("cheating jobs:                    %" PRIu64 ", caught %" PRIu64 "\n", cheats, caught);
	if (cheat_jobs) {
		double per = cheat_profit / (double)cheat_jobs;
		double expect = (1.0 - p.sample_bps / 10000.0) * p.price -
				p.sample_bps / 10000.0 * slash;
		printf("cheater profit per job:           %.4f (expected %.4f)\n", per, expect);
	}
	if (honest_jobs)
		printf("honest profit per job:            %.4f\n", honest_profit / (double)honest_jobs);
	if (caught) {
		/* Every catch ends a run of cheating jobs that is geometric
		 * with mean 1/p, so the mean over all catches is the estimate;
		 * the first catch of each cheater is shown beside it. */
		double jobs = (double)cheats / (double)caught;
		printf("jobs until a cheater is caught:   %.2f (over %" PRIu64 " catches; 1/p = %.2f)\n",
		       jobs, caught, 10000.0 / p.sample_bps);
		printf("hours until a cheater is caught:  %.2f at %.4g jobs/hour\n",
		       jobs / p.jobs_per_hour, p.jobs_per_hour);
		if (first_n)
			printf("first catch, mean over cheaters:  %.2f jobs\n",
			       first_sum / (double)first_n);
	} else if (ncheat) {
		printf("jobs until a cheater is caught:   never in this run\n");
	}
	if (provider_compute + (double)cheats * p.compute_cost > 0)
		printf("validator cost / provider compute: %.4f\n",
		       validator_spend / (provider_compute + (double)cheats * p.compute_cost));
	printf("validators: spent %.2f, bounties %.2f, net %.2f\n", validator_spend, bounty_paid,
	       bounty_paid - validator_spend);
	printf("customers refunded:               %.2f\n", refunds);
	free(pv);
	return 0;
}
