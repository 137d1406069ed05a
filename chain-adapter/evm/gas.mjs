// gas.mjs (`make bench-gas`): gas of the settlement contract's operations on
// anvil, beside an ERC-20 transfer measured in the same run (the named
// reference), and against the 150,000-gas target for a job's whole life.
import { ethers } from "ethers";
import { start, party, advance, now, TYPES, E18 } from "./test-ethers/lib.mjs";

const env = await start();
const relayer = env.escrow.connect(env.deployer);
let nonce = 0n;

async function openSigned(c, p, maxPrice) {
	const s = { customer: c.wallet.address, provider: p.wallet.address, kernel: "matmul_f32@1",
		kernelHash: ethers.id("kernel"), params: '{"relu":false}', inputRoot: ethers.id("input"),
		inputSize: 1000n, maxPrice, deadline: (await now(env)) + 86400n, nonce: nonce++ };
	const sig = await c.wallet.signTypedData(env.domain, { JobSpec: TYPES.JobSpec }, s);
	const rc = await (await relayer.openJob(s, sig)).wait();
	return { job: ethers.TypedDataEncoder.hash(env.domain, { JobSpec: TYPES.JobSpec }, s), s, gas: rc.gasUsed };
}

async function receipt(p, o) {
	const t = await now(env);
	const r = { job: o.job, kernelHash: o.s.kernelHash, inputRoot: o.s.inputRoot, inputSize: o.s.inputSize,
		outputRoot: ethers.id("output"), outputSize: 4096n, price: o.s.maxPrice / 2n, device: "cpu",
		startedAt: t * 1000n, finishedAt: t * 1000n + 10n, provider: p.wallet.address };
	const sig = await p.wallet.signTypedData(env.domain, { Receipt: TYPES.Receipt }, r);
	const rc = await (await relayer.submitReceipt(r, sig)).wait();
	return { r, gas: rc.gasUsed, id: ethers.TypedDataEncoder.hash(env.domain, { Receipt: TYPES.Receipt }, r) };
}

const rows = [];
const row = (what, gas, note = "") => rows.push([what, Number(gas), note]);
try {
	const c = await party(env, 1000n * E18, 0n);
	const p = await party(env, 10000n * E18, 10000n * E18);
	const v = await party(env, 200n * E18, 200n * E18);
	// The reference: a plain transfer of the same token, to an address that already holds some.
	await (await env.token.connect(env.deployer).mint(await env.deployer.getAddress(), 10n)).wait();
	await (await env.token.connect(env.deployer).mint(c.wallet.address, 10n)).wait();
	const xfer = await (await env.token.connect(c.wallet).transfer(await env.deployer.getAddress(), 1n)).wait();
	row("ERC-20 transfer (reference)", xfer.gasUsed);
	row("approve", c.gas.approve);
	row("deposit", c.gas.deposit, "first deposit of the account");
	// Warm the provider's exposure slot with one job so that the measured job is a typical one.
	await openSigned(c, p, E18);
	const o = await openSigned(c, p, 2n * E18);
	const rec = await receipt(p, o);
	await advance(env, 3600);
	const set = await (await relayer.settle(o.job)).wait();
	row("openJob", o.gas);
	row("submitReceipt", rec.gas);
	row("settle", set.gasUsed);
	const life = o.gas + rec.gas + set.gasUsed;
	row("a job's life (open + receipt + settle)", life, `target 150000: ${(Number(life) / 150000).toFixed(2)}x`);
	// A dispute: a fraud claim (verdict 2) and the referee's verdict.
	const d = await openSigned(c, p, 2n * E18);
	const dr = await receipt(p, d);
	const a = { receipt: dr.id, outputRoot: ethers.id("true output"), verdict: 2, validator: v.wallet.address };
	const asig = await v.wallet.signTypedData(env.domain, { Attestation: TYPES.Attestation }, a);
	const att = await (await relayer.attest(a, asig, dr.r)).wait();
	const dec = await (await relayer.decide(d.job, v.wallet.address, true)).wait();
	row("attest (verdict 2, opens a dispute)", att.gasUsed);
	row("decide (provider wrong: slash, bounty, refund)", dec.gasUsed);
	// settleMany: N receipted jobs settled in one transaction.
	for (const n of [1, 10, 50]) {
		const jobs = [];
		for (let i = 0; i < n; i++) {
			const j = await openSigned(c, p, E18 / 100n);
			await receipt(p, j);
			jobs.push(j.job);
		}
		await advance(env, 3600);
		const m = await (await relayer.settleMany(jobs)).wait();
		row(`settleMany, N=${n}, per job`, m.gasUsed / BigInt(n), `${m.gasUsed} in all`);
	}
	const ref = rows[0][1];
	console.log("| operation | gas | vs ERC-20 transfer | note |");
	console.log("|---|---:|---:|---|");
	for (const [what, gas, note] of rows) {
		console.log(`| ${what} | ${gas} | ${(gas / ref).toFixed(2)}x | ${note} |`);
	}
} catch (e) {
	console.error("gas.mjs: " + e.message);
	process.exitCode = 1;
} finally {
	env.stop();
}
