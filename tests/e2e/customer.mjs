// customer.mjs: an Assay customer written with ethers.js only, for the
// end-to-end test tests/test_provider_ethers.c (issue 5's evidence that
// any standard wallet library can use the escrow and a provider).
//
// It does what a customer's wallet does, over plain HTTP (Node's fetch):
//   1. GET escrow /v1/params: the EIP-712 domain (chain id, escrow address);
//   2. signs in to the escrow with Sign-In with Ethereum (EIP-4361):
//      GET /v1/auth/nonce, personal_sign of the message, POST /v1/auth/signin;
//   3. funds itself with the devnet faucet (POST /v1/faucet);
//   4. reads the provider's /v1/info (address, price, kernelHash);
//   5. commits to the input (RFC 6962 over 64 KiB chunks, node:crypto),
//      signs the JobSpec with wallet.signTypedData under the escrow's domain,
//      and checks that ethers' digest is the job id the services answer;
//   6. opens the job at the escrow (POST /v1/jobs, bearer, Idempotency-Key);
//   7. signs in to the provider the same way, POSTs the job, PUTs the input,
//      polls GET /v1/jobs/{id} until `receipted`;
//   8. downloads /bundle and /output to files, checks the receipt's
//      signature with ethers.verifyTypedData, and prints one JSON line:
//      {"job","receipt","customer","provider","outputRoot","outputSize"}.
//
// Usage (every flag but the optional ones is required):
//   node customer.mjs --escrow URL --provider URL --key FILE
//     --escrow-domain HOST --escrow-uri URI
//     --provider-domain HOST --provider-uri URI
//     --input FILE --kernel NAME@V --params JSON --kernel-hash 0x..
//     --bundle-out FILE --output-out FILE
//     [--fund WEI] [--max-price WEI] [--timeout-s N]
// The key file holds one private key as 0x + 64 hex digits (PROTOCOL.md
// section 5); the key is never put on the command line and, like the
// session tokens, never printed.  ethers is loaded from
// tests/vectors/gen/node_modules (or $ASSAY_ETHERS_DIR/node_modules).
// Exit 0 on success; 1 with one line on stderr naming the failed step.

import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const genDir = process.env.ASSAY_ETHERS_DIR || path.join(here, "..", "vectors", "gen");
const require = createRequire(path.join(genDir, "package.json"));
const { Wallet, TypedDataEncoder, verifyTypedData, getAddress } = require("ethers");

const CHUNK = 65536;            // PROTOCOL.md section 1
const POLL_MS = 100;
const SESSION_MS = 10 * 60 * 1000;

class StepError extends Error {}

function fail(step, why) {
	throw new StepError(`${step}: ${why}`);
}

// ------------------------------------------------------------ commitment

function sha256(...parts) {
	const h = createHash("sha256");
	for (const p of parts) h.update(p);
	return h.digest();
}

// RFC 6962 Merkle Tree Hash over leaves [lo, hi).
function mth(leaves, lo, hi) {
	if (hi - lo === 1) return leaves[lo];
	let k = 1;
	while (k * 2 < hi - lo) k *= 2;
	return sha256(Buffer.from([1]), mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

function commit(bytes) {
	if (bytes.length === 0) return { root: "0x" + sha256(Buffer.alloc(0)).toString("hex"), size: 0 };
	const leaves = [];
	for (let off = 0; off < bytes.length; off += CHUNK)
		leaves.push(sha256(Buffer.from([0]), bytes.subarray(off, off + CHUNK)));
	return { root: "0x" + mth(leaves, 0, leaves.length).toString("hex"), size: bytes.length };
}

// ------------------------------------------------------------ HTTP

function idemKey() {
	return "e2e." + randomBytes(12).toString("hex");
}

// One request; answers { status, headers, json, bytes }.  A problem
// answer is described by its type and title, never by a header value.
async function http(step, method, base, target, { body, json, bearer, idem, ctype } = {}) {
	const headers = {};
	let payload;
	if (json !== undefined) {
		payload = JSON.stringify(json);
		headers["Content-Type"] = "application/json";
	} else if (body !== undefined) {
		payload = body;
		headers["Content-Type"] = ctype || "application/octet-stream";
	}
	if (bearer) headers["Authorization"] = `Bearer ${bearer}`;
	if (idem) headers["Idempotency-Key"] = idem;
	let res;
	try {
		res = await fetch(base + target, { method, headers, body: payload });
	} catch (e) {
		fail(step, `${method} ${base}${target.split("?")[0]}: no answer (${e.cause?.code || e.message})`);
	}
	const bytes = Buffer.from(await res.arrayBuffer());
	const ct = res.headers.get("content-type") || "";
	let parsed = null;
	if (ct.startsWith("application/json") || ct.startsWith("application/problem+json")) {
		try {
			parsed = JSON.parse(bytes.toString("utf8"));
		} catch {
			fail(step, `${method} ${target}: answer is not JSON`);
		}
	}
	return { status: res.status, headers: res.headers, json: parsed, bytes };
}

function expect(step, r, ...ok) {
	if (!ok.includes(r.status)) {
		const p = r.json && typeof r.json === "object" ? r.json : {};
		fail(step, `HTTP ${r.status} ${p.type || ""} ${p.title || ""}${p.detail ? ": " + p.detail : ""}`);
	}
	return r;
}

// ------------------------------------------------------------ sign-in

// EIP-4361 message, exactly the grammar docs/api-auth.md accepts.
function siweMessage(domain, address, uri, chainId, nonce) {
	const now = Date.now();
	return `${domain} wants you to sign in with your Ethereum account:\n` +
		`${address}\n\nSign in to Assay with ethers.js.\n\n` +
		`URI: ${uri}\nVersion: 1\nChain ID: ${chainId}\nNonce: ${nonce}\n` +
		`Issued At: ${new Date(now).toISOString()}\n` +
		`Expiration Time: ${new Date(now + SESSION_MS).toISOString()}`;
}

async function signIn(step, wallet, base, domain, uri, chainId) {
	const n = expect(step, await http(step, "GET", base, "/v1/auth/nonce"), 200).json;
	if (n.domain !== domain || n.uri !== uri || n.chainId !== chainId)
		fail(step, `the server signs in ${n.domain} ${n.uri} chain ${n.chainId}, not ${domain} ${uri} chain ${chainId}`);
	const message = siweMessage(domain, wallet.address, uri, chainId, n.nonce);
	const signature = await wallet.signMessage(message);
	const s = expect(step, await http(step, "POST", base, "/v1/auth/signin",
		{ json: { message, signature } }), 200).json;
	if (getAddress(s.address) !== wallet.address || s.role !== "customer" ||
	    !/^[0-9a-f]{64}$/.test(s.token || ""))
		fail(step, "the sign-in answer is not a customer session for this wallet");
	return s.token;
}

// ------------------------------------------------------------ EIP-712

const JOB_TYPES = {
	JobSpec: [
		{ name: "customer", type: "address" },
		{ name: "provider", type: "address" },
		{ name: "kernel", type: "string" },
		{ name: "kernelHash", type: "bytes32" },
		{ name: "params", type: "string" },
		{ name: "inputRoot", type: "bytes32" },
		{ name: "inputSize", type: "uint64" },
		{ name: "maxPrice", type: "uint256" },
		{ name: "deadline", type: "uint64" },
		{ name: "nonce", type: "uint64" },
	],
};

const RECEIPT_TYPES = {
	Receipt: [
		{ name: "job", type: "bytes32" },
		{ name: "kernelHash", type: "bytes32" },
		{ name: "inputRoot", type: "bytes32" },
		{ name: "inputSize", type: "uint64" },
		{ name: "outputRoot", type: "bytes32" },
		{ name: "outputSize", type: "uint64" },
		{ name: "price", type: "uint256" },
		{ name: "device", type: "string" },
		{ name: "startedAt", type: "uint64" },
		{ name: "finishedAt", type: "uint64" },
		{ name: "provider", type: "address" },
	],
};

// ------------------------------------------------------------ main

async function main() {
	const { values: a } = parseArgs({
		options: Object.fromEntries([
			"escrow", "provider", "key", "escrow-domain", "escrow-uri", "provider-domain",
			"provider-uri", "input", "kernel", "params", "kernel-hash", "bundle-out",
			"output-out", "fund", "max-price", "timeout-s",
		].map((k) => [k, { type: "string" }])),
		strict: true,
	});
	for (const k of ["escrow", "provider", "key", "escrow-domain", "escrow-uri", "provider-domain",
		"provider-uri", "input", "kernel", "params", "kernel-hash", "bundle-out", "output-out"])
		if (!a[k]) fail("arguments", `--${k} is required`);
	const timeoutMs = 1000 * Number(a["timeout-s"] || "120");

	const keyText = readFileSync(a.key, "utf8").trim();
	if (!/^0x[0-9a-fA-F]{64}$/.test(keyText)) fail("key", `${a.key} does not hold 0x + 64 hex digits`);
	const wallet = new Wallet(keyText);
	const input = readFileSync(a.input);

	// 1. The escrow's EIP-712 domain.
	const par = expect("params", await http("params", "GET", a.escrow, "/v1/params"), 200).json;
	const domain = {
		name: "Assay", version: "1", chainId: par.chainId,
		verifyingContract: getAddress(par.verifyingContract),
	};

	// 2. Sign in to the escrow; 3. fund.
	const escrowToken = await signIn("escrow sign-in", wallet, a.escrow, a["escrow-domain"],
		a["escrow-uri"], par.chainId);
	expect("faucet", await http("faucet", "POST", a.escrow, "/v1/faucet", {
		json: { address: wallet.address, amount: a.fund || "100000" },
		bearer: escrowToken, idem: idemKey(),
	}), 200);

	// 4. The provider: its address, price and build of the kernel.
	const info = expect("provider info", await http("provider info", "GET", a.provider, "/v1/info"), 200).json;
	const served = (info.kernels || []).find((k) => k.kernel === a.kernel);
	if (!served) fail("provider info", `the provider does not serve ${a.kernel}`);
	if (served.kernelHash !== a["kernel-hash"].toLowerCase())
		fail("provider info", `the provider's ${a.kernel} has another kernelHash`);
	if (info.domain.chainId !== domain.chainId ||
	    getAddress(info.domain.verifyingContract) !== domain.verifyingContract)
		fail("provider info", "the provider works for another escrow");

	// 5. The JobSpec, signed as typed data.
	const c = commit(input);
	const job = {
		customer: wallet.address,
		provider: getAddress(info.address),
		kernel: a.kernel,
		kernelHash: a["kernel-hash"].toLowerCase(),
		params: a.params,
		inputRoot: c.root,
		inputSize: c.size,
		maxPrice: a["max-price"] || info.price,
		deadline: Math.floor(Date.now() / 1000) + 600,
		nonce: randomBytes(6).readUIntBE(0, 6),
	};
	const jobSignature = await wallet.signTypedData(domain, JOB_TYPES, job);
	const jobId = TypedDataEncoder.hash(domain, JOB_TYPES, job);

	// 6. Open it at the escrow: the customer's money is held for it.
	const opened = expect("escrow open", await http("escrow open", "POST", a.escrow, "/v1/jobs", {
		json: { job, jobSignature }, bearer: escrowToken, idem: idemKey(),
	}), 200, 201).json;
	if (opened.job !== jobId)
		fail("escrow open", `the escrow names the job ${opened.job}, ethers computes ${jobId}`);

	// 7. Sign in to the provider, submit, upload, wait.
	const provToken = await signIn("provider sign-in", wallet, a.provider, a["provider-domain"],
		a["provider-uri"], par.chainId);
	const sub = expect("provider submit", await http("provider submit", "POST", a.provider, "/v1/jobs", {
		json: { job, jobSignature }, bearer: provToken, idem: idemKey(),
	}), 201).json;
	if (sub.id !== jobId) fail("provider submit", `the provider names the job ${sub.id}, ethers computes ${jobId}`);
	expect("upload", await http("upload", "PUT", a.provider, `/v1/jobs/${jobId}/input`,
		{ body: input }), 202, 200);
	const until = Date.now() + timeoutMs;
	let st;
	for (;;) {
		st = expect("status", await http("status", "GET", a.provider, `/v1/jobs/${jobId}`,
			{ bearer: provToken }), 200).json;
		if (st.status === "receipted") break;
		if (["failed", "settled", "deleted"].includes(st.status))
			fail("status", `the job ended ${st.status}${st.error ? ": " + st.error : ""}`);
		if (Date.now() > until) fail("status", `still ${st.status} after ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, POLL_MS));
	}

	// 8. The bundle and the output.
	const b = expect("bundle", await http("bundle", "GET", a.provider, `/v1/jobs/${jobId}/bundle`,
		{ bearer: provToken }), 200);
	const out = expect("output", await http("output", "GET", a.provider, `/v1/jobs/${jobId}/output`,
		{ bearer: provToken }), 200);
	writeFileSync(a["bundle-out"], b.bytes, { mode: 0o600 });
	writeFileSync(a["output-out"], out.bytes, { mode: 0o600 });
	const bundle = JSON.parse(b.bytes.toString("utf8"));
	const rcpt = bundle.receipt;
	if (rcpt.job !== jobId) fail("bundle", "the receipt is for another job");
	const signer = verifyTypedData(domain, RECEIPT_TYPES, rcpt, bundle.receiptSignature);
	if (signer !== job.provider) fail("bundle", "the receipt is not signed by the job's provider");
	const oc = commit(out.bytes);
	if (oc.root !== rcpt.outputRoot || oc.size !== rcpt.outputSize)
		fail("output", "the downloaded output does not match the receipt's commitment");
	process.stdout.write(JSON.stringify({
		job: jobId,
		receipt: TypedDataEncoder.hash(domain, RECEIPT_TYPES, rcpt),
		customer: wallet.address,
		provider: job.provider,
		outputRoot: oc.root,
		outputSize: oc.size,
	}) + "\n");
}

main().catch((e) => {
	// An ethers error's message may quote the data it refused (never
	// the key, which was checked above): its short form is enough.
	const msg = e instanceof StepError ? e.message : `unexpected: ${e && (e.shortMessage || e.message)}`;
	process.stderr.write(`customer.mjs: ${msg}\n`);
	process.exit(1);
});
