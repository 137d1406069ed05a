// check.mjs: the settlement contract against ethers.js on a real anvil.
// - jobDigest, receiptDigest and attestationDigest equal ethers'
//   TypedDataEncoder.hash for several values (empty and unicode strings,
//   extreme integers);
// - statements signed by ethers wallets open, receipt and settle a job,
//   relayed by a third account, and the balances are those computed here;
// - a high-S signature and v = 29 are refused.
// Exits 1 on the first failure.
import { ethers } from "ethers";
import { start, party, advance, now, TYPES, E18 } from "./lib.mjs";

let checked = 0;
function same(a, b, what) {
	if (a !== b) throw new Error(`${what}: contract ${a} != ethers ${b}`);
	checked++;
}

async function digests(env, customer, provider) {
	const specs = [
		["matmul_f32@1", '{"relu":false}', 1n, 0n],
		["", "", 0n, 0n],
		["ünïcødé@1 ✓", '{"x":"日本"}', (1n << 256n) - 1n, (1n << 64n) - 1n],
	];
	for (const [kernel, params, maxPrice, big] of specs) {
		const s = { customer, provider, kernel, kernelHash: ethers.id("k" + kernel), params,
			inputRoot: ethers.id("in"), inputSize: big, maxPrice, deadline: big, nonce: big };
		same(await env.escrow.jobDigest(s), ethers.TypedDataEncoder.hash(env.domain, { JobSpec: TYPES.JobSpec }, s), "jobDigest");
		const r = { job: ethers.id("job"), kernelHash: s.kernelHash, inputRoot: s.inputRoot, inputSize: big,
			outputRoot: ethers.id("out"), outputSize: big, price: maxPrice, device: kernel ? "cuda:sm_90" : "",
			startedAt: big, finishedAt: big, provider };
		same(await env.escrow.receiptDigest(r), ethers.TypedDataEncoder.hash(env.domain, { Receipt: TYPES.Receipt }, r), "receiptDigest");
		const a = { receipt: ethers.id("r"), outputRoot: ethers.id("o"), verdict: big ? 2 : 1, validator: customer };
		same(await env.escrow.attestationDigest(a), ethers.TypedDataEncoder.hash(env.domain, { Attestation: TYPES.Attestation }, a), "attestationDigest");
	}
}

async function refused(promise, what) {
	try { await promise; } catch (e) { checked++; return; }
	throw new Error(`${what}: was accepted`);
}

async function life(env, c, p) {
	const relayer = env.escrow.connect(env.deployer);
	const t = await now(env);
	const s = { customer: c.wallet.address, provider: p.wallet.address, kernel: "matmul_f32@1",
		kernelHash: ethers.id("kernel"), params: '{"relu":false}', inputRoot: ethers.id("input"),
		inputSize: 1000n, maxPrice: 2n * E18, deadline: t + 3600n, nonce: 7n };
	const jobSig = await c.wallet.signTypedData(env.domain, { JobSpec: TYPES.JobSpec }, s);
	const sig = ethers.Signature.from(jobSig);
	const n = ethers.toBigInt("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
	const high = ethers.concat([sig.r, ethers.toBeHex(n - ethers.toBigInt(sig.s), 32), sig.v === 27 ? "0x1c" : "0x1b"]);
	await refused(relayer.openJob.staticCall(s, high), "high-S signature");
	await refused(relayer.openJob.staticCall(s, ethers.concat([sig.r, sig.s, "0x1d"])), "v = 29");
	const job = ethers.TypedDataEncoder.hash(env.domain, { JobSpec: TYPES.JobSpec }, s);
	const open = await (await relayer.openJob(s, jobSig)).wait();
	same(await env.escrow.jobState(job), 1n, "state after openJob");
	const t1 = await now(env);
	const r = { job, kernelHash: s.kernelHash, inputRoot: s.inputRoot, inputSize: s.inputSize,
		outputRoot: ethers.id("output"), outputSize: 4096n, price: 15n * E18 / 10n, device: "cpu",
		startedAt: t1 * 1000n, finishedAt: t1 * 1000n + 10n, provider: p.wallet.address };
	const rSig = await p.wallet.signTypedData(env.domain, { Receipt: TYPES.Receipt }, r);
	const rec = await (await relayer.submitReceipt(r, rSig)).wait();
	same(await env.escrow.jobState(job), 2n, "state after submitReceipt");
	await advance(env, 3600);
	const set = await (await relayer.settle(job)).wait();
	same(await env.escrow.jobState(job), 4n, "state after settle");
	same(await env.escrow.available(c.wallet.address), 10n * E18 - r.price, "customer's balance");
	same(await env.escrow.available(p.wallet.address), r.price, "provider's balance");
	return { open: open.gasUsed, receipt: rec.gasUsed, settle: set.gasUsed };
}

const env = await start();
try {
	const c = await party(env, 10n * E18, 0n);
	const p = await party(env, 200n * E18, 200n * E18);
	await digests(env, c.wallet.address, p.wallet.address);
	await life(env, c, p);
	console.log(`check.mjs: ${checked} checks against ethers.js ${ethers.version} passed`);
} catch (e) {
	console.error("check.mjs: " + e.message);
	process.exitCode = 1;
} finally {
	env.stop();
}
