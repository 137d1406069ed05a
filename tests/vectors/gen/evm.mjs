// evm.mjs: known-answer vectors for receipts/evm.h (RLP, EIP-1559
// transactions, CREATE addresses, the contract ABI), computed with
// ethers.js v6, an implementation independent of ours.  Writes
// tests/vectors/evm_rlp.json, evm_tx.json, evm_abi.json and
// evm_create.json, which tests/test_evm.c reads.
//
//   cd tests/vectors/gen && npm ci && node evm.mjs     (or: make vectors)
//
// Deterministic, like gen.mjs: keys and byte strings derive from fixed
// strings through keccak256 or a fixed formula.  Where published values
// exist (the Yellow Paper's RLP examples, the address of the first
// contract anvil's first account deploys) they are asserted here, so
// that ethers itself is checked before its answers are written.
//
// Integers that may pass 2^53 are written as decimal strings (uint64)
// or as 32-byte hex words (uint256), so that a test reads them without
// the library under test.

import { ethers } from "ethers";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import assert from "node:assert/strict";

const {
	keccak256, toUtf8Bytes, hexlify, getAddress, SigningKey, Transaction,
	Interface, AbiCoder, encodeRlp, toBeArray, toBeHex, getCreateAddress,
	TypedDataEncoder, dataSlice, id,
} = ethers;

assert.equal(ethers.version, "6.17.0", "package.json pins ethers 6.17.0");

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, "..");
const artifacts = path.resolve(here, "../../../chain-adapter/evm/artifacts");

function write(name, value) {
	const file = path.join(outDir, name);
	writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
	console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

const artifact = (name) => JSON.parse(readFileSync(path.join(artifacts, name + ".json"), "utf8"));
const ESCROW = artifact("AssayEscrow");
const TOKEN = artifact("DevToken");

const U64_MAX = (1n << 64n) - 1n;
const U256_MAX = (1n << 256n) - 1n;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const kh = (s) => keccak256(toUtf8Bytes(s));
const word = (n) => toBeHex(n, 32);
const keyFor = (label) => {
	const k = kh("assay evm vectors key: " + label);
	assert.ok(BigInt(k) > 0n && BigInt(k) < N);
	return k;
};
const addrOf = (key) => ethers.computeAddress(new SigningKey(key).publicKey);
const addrFor = (label) => getAddress(dataSlice(kh("assay evm vectors address: " + label), 12));

function pattern(n, mul, add) {
	const b = new Uint8Array(n);
	for (let i = 0; i < n; i++) b[i] = (i * mul + add) & 0xff;
	return b;
}

// ------------------------------------------------------------ RLP

{
	// The examples of the Yellow Paper / the Ethereum wiki, by hand.
	assert.equal(encodeRlp(toUtf8Bytes("dog")), "0x83646f67");
	assert.equal(encodeRlp([toUtf8Bytes("cat"), toUtf8Bytes("dog")]), "0xc88363617483646f67");
	assert.equal(encodeRlp("0x"), "0x80");
	assert.equal(encodeRlp([]), "0xc0");
	assert.equal(encodeRlp(toBeArray(0)), "0x80");
	assert.equal(encodeRlp(toBeArray(15)), "0x0f");
	assert.equal(encodeRlp(toBeArray(1024)), "0x820400");
	assert.equal(encodeRlp([[], [[]], [[], [[]]]]), "0xc7c0c1c0c3c0c1c0");
	const lorem = toUtf8Bytes("Lorem ipsum dolor sit amet, consectetur adipisicing elit");
	assert.equal(encodeRlp(lorem), "0xb838" + hexlify(lorem).slice(2));

	const bytes = [];
	const addBytes = (name, b) => bytes.push({ name, input: hexlify(b), rlp: encodeRlp(b) });
	addBytes("empty", new Uint8Array(0));
	addBytes("byte-00", new Uint8Array([0]));
	addBytes("byte-7f", new Uint8Array([0x7f]));
	addBytes("byte-80", new Uint8Array([0x80]));
	addBytes("byte-ff", new Uint8Array([0xff]));
	addBytes("dog", toUtf8Bytes("dog"));
	for (const n of [2, 54, 55, 56, 57, 255, 256, 257, 1024])
		addBytes(`len-${n}`, pattern(n, 13, 5));
	addBytes("lorem-56", lorem);
	// Long strings (3-byte lengths) by formula: byte i = (i * mul + add) & 0xff;
	// the encoding by its first bytes, its length and its keccak256.
	const long = [];
	for (const n of [65535, 65536, 70000]) {
		const rlp = encodeRlp(pattern(n, 13, 5));
		long.push({ name: `len-${n}`, len: n, mul: 13, add: 5, rlp_head: dataSlice(rlp, 0, 8),
			rlp_len: (rlp.length - 2) / 2, rlp_keccak: keccak256(rlp) });
	}

	const uints = [];
	for (const v of [0n, 1n, 15n, 127n, 128n, 255n, 256n, 1024n, 65535n, 65536n,
		(1n << 32n) - 1n, 1n << 32n, (1n << 56n), U64_MAX, 1n << 64n, (1n << 128n) + 1n,
		U256_MAX]) {
		uints.push({ value: v.toString(), word: word(v), fits_u64: v <= U64_MAX,
			rlp: encodeRlp(toBeArray(v)) });
	}

	// Lists as trees: an item is {"bytes": hex} or {"list": [items]}.
	const toTree = (x) => Array.isArray(x) ? { list: x.map(toTree) } : { bytes: hexlify(x) };
	const lists = [];
	const addList = (name, x) => lists.push({ name, tree: toTree(x), rlp: encodeRlp(x) });
	addList("empty", []);
	addList("cat-dog", [toUtf8Bytes("cat"), toUtf8Bytes("dog")]);
	addList("set-theoretic-three", [[], [[]], [[], [[]]]]);
	addList("payload-55", [pattern(53, 3, 1)]);          // 2 + 53 = 55
	addList("payload-56", [pattern(54, 3, 1)]);          // 2 + 54 = 56
	addList("payload-256", [pattern(253, 5, 2)]);        // 3 + 253 = 256
	addList("nested-long", [[pattern(60, 7, 1), [pattern(300, 11, 9)]], new Uint8Array([0x7f]),
		new Uint8Array(0), [[], []]]);
	addList("many-items", Array.from({ length: 40 }, (_, i) => pattern(i % 7, 1, i)));

	write("evm_rlp.json", { bytes, long, uints, lists });
}

// ------------------------------------------------------------ EIP-1559 transactions

{
	const devTokenInit = "0x" + readFileSync(path.join(artifacts, "DevToken.bin"), "utf8").trim().replace(/^0x/, "");
	assert.equal(devTokenInit, TOKEN.bytecode, "DevToken.bin is the artifact's bytecode");

	const cases = [];
	const add = (name, keyLabel, t) => {
		const key = keyFor(keyLabel);
		const tx = Transaction.from({
			type: 2, chainId: t.chainId, nonce: t.nonce,
			maxPriorityFeePerGas: t.maxPriorityFeePerGas, maxFeePerGas: t.maxFeePerGas,
			gasLimit: t.gasLimit, to: t.to, value: t.value, data: t.data, accessList: [],
		});
		const unsigned = tx.unsignedSerialized;
		const signingHash = tx.unsignedHash;
		assert.equal(signingHash, keccak256(unsigned));
		tx.signature = new SigningKey(key).sign(signingHash);
		const raw = tx.serialized;
		// Parse it back: ethers recovers the sender from the raw bytes.
		const back = Transaction.from(raw);
		assert.equal(back.from, addrOf(key), name);
		assert.equal(back.hash, keccak256(raw));
		assert.ok(BigInt(tx.signature.s) <= N >> 1n, "low-S");
		cases.push({
			name, key, address: addrOf(key),
			tx: {
				chainId: BigInt(t.chainId).toString(), nonce: BigInt(t.nonce).toString(),
				maxPriorityFeePerGas: word(t.maxPriorityFeePerGas), maxFeePerGas: word(t.maxFeePerGas),
				gasLimit: BigInt(t.gasLimit).toString(), to: t.to, value: word(t.value), data: t.data,
			},
			unsigned, signingHash, raw, hash: keccak256(raw),
			yParity: tx.signature.yParity,
		});
	};
	const to = addrFor("tx to");
	const base = { chainId: 31337n, nonce: 0, maxPriorityFeePerGas: 1000000000n,
		maxFeePerGas: 2000000000n, gasLimit: 21000n, to, value: 0n, data: "0x" };
	add("transfer-empty-data", "a", base);
	add("all-zero-creation", "a", { ...base, maxPriorityFeePerGas: 0n, maxFeePerGas: 0n,
		gasLimit: 0n, to: null });
	add("nonce-1", "b", { ...base, nonce: 1 });
	add("nonce-127", "b", { ...base, nonce: 127 });
	add("nonce-128", "b", { ...base, nonce: 128 });
	add("nonce-2^32", "c", { ...base, nonce: 2 ** 32 });
	add("nonce-2^53-1", "c", { ...base, nonce: Number.MAX_SAFE_INTEGER });
	add("chain-1", "d", { ...base, chainId: 1n });
	add("chain-u64-max", "d", { ...base, chainId: U64_MAX });
	add("gas-u64-max", "d", { ...base, gasLimit: U64_MAX });
	add("fees-u256-max", "e", { ...base, maxPriorityFeePerGas: U256_MAX, maxFeePerGas: U256_MAX });
	add("value-u256-max", "e", { ...base, value: U256_MAX });
	add("value-1-wei", "e", { ...base, value: 1n });
	add("fee-127-128", "f", { ...base, maxPriorityFeePerGas: 127n, maxFeePerGas: 128n });
	for (const [n, b] of [[1, 0x00], [1, 0x7f], [1, 0x80], [2, 0], [4, 0], [55, 0], [56, 0],
		[100, 0], [255, 0], [256, 0], [1000, 0], [3000, 0]]) {
		const data = hexlify(n === 1 ? new Uint8Array([b]) : pattern(n, 31, 7));
		add(`data-${n}${n === 1 ? "-" + b.toString(16).padStart(2, "0") : ""}`, `data ${n}`,
			{ ...base, gasLimit: 100000n + BigInt(n), data });
	}
	add("creation-data-56", "g", { ...base, to: null, data: hexlify(pattern(56, 3, 3)) });
	add("creation-devtoken", "h", { ...base, to: null, gasLimit: 1500000n, data: devTokenInit });
	// anvil's first default account, as the chain_deploy test uses it.
	const anvil0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
	{
		const tx = Transaction.from({ type: 2, chainId: 31337n, nonce: 0, maxPriorityFeePerGas: 1n,
			maxFeePerGas: 3000000000n, gasLimit: 30000n, to, value: 0n, data: "0x" });
		tx.signature = new SigningKey(anvil0).sign(tx.unsignedHash);
		assert.equal(Transaction.from(tx.serialized).from, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
	}
	write("evm_tx.json", cases);
}

// ------------------------------------------------------------ CREATE addresses

{
	// The first contract anvil's (and hardhat's) first account deploys.
	assert.equal(getCreateAddress({ from: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", nonce: 0 }),
		"0x5FbDB2315678afecb367f032d93F642f64180aa3");
	const out = [];
	const senders = ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", addrFor("create a"),
		getAddress("0x" + "00".repeat(20)), getAddress("0x" + "ff".repeat(20))];
	for (const from of senders) {
		for (const nonce of [0n, 1n, 2n, 127n, 128n, 255n, 256n, 65535n, 65536n, 1n << 32n,
			(1n << 53n) - 1n, U64_MAX]) {
			out.push({ sender: from, nonce: nonce.toString(), address: getCreateAddress({ from, nonce }) });
		}
	}
	write("evm_create.json", out);
}

// ------------------------------------------------------------ ABI

{
	const escrow = new Interface(ESCROW.abi);
	const token = new Interface(TOKEN.abi);
	const coder = AbiCoder.defaultAbiCoder();

	// Selectors and topics of everything in both ABIs, as ethers formats them.
	const selectors = [];
	const errors = [];
	const events = [];
	for (const iface of [escrow, token]) {
		iface.forEachFunction((f) => selectors.push({ signature: f.format("sighash"), selector: f.selector }));
		iface.forEachError((e) => errors.push({ signature: e.format("sighash"), selector: e.selector }));
		iface.forEachEvent((e) => events.push({ signature: e.format("sighash"), topic: e.topicHash }));
	}
	for (const s of ["Error(string)", "Panic(uint256)"])
		errors.push({ signature: s, selector: dataSlice(id(s), 0, 4) });
	// The two well-known ones, by fact.
	assert.equal(dataSlice(id("Error(string)"), 0, 4), "0x08c379a0");
	assert.equal(dataSlice(id("Panic(uint256)"), 0, 4), "0x4e487b71");
	assert.equal(token.getFunction("transfer").selector, "0xa9059cbb");
	assert.equal(token.getEvent("Transfer").topicHash,
		"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

	const SIG_OPEN = "openJob((address,address,string,bytes32,string,bytes32,uint64,uint256,uint64,uint64),bytes)";
	const SIG_RECEIPT = "submitReceipt((bytes32,bytes32,bytes32,uint64,bytes32,uint64,uint256,string,uint64,uint64,address),bytes)";
	assert.equal(escrow.getFunction("openJob").format("sighash"), SIG_OPEN);
	assert.equal(escrow.getFunction("submitReceipt").format("sighash"), SIG_RECEIPT);

	const domain = { name: "Assay", version: "1", chainId: 31337, verifyingContract: addrFor("escrow") };
	const JOB_TYPES = { JobSpec: ESCROW.abi.find((f) => f.name === "jobDigest").inputs[0].components
		.map((c) => ({ name: c.name, type: c.type })) };
	const RECEIPT_TYPES = { Receipt: ESCROW.abi.find((f) => f.name === "receiptDigest").inputs[0].components
		.map((c) => ({ name: c.name, type: c.type })) };
	const ATT_TYPES = { Attestation: ESCROW.abi.find((f) => f.name === "attestationDigest").inputs[0].components
		.map((c) => ({ name: c.name, type: c.type })) };

	// A JobSpec as written in the vector: u64 as decimal strings, u256 as words.
	const jobOut = (s) => ({
		customer: s.customer, provider: s.provider, kernel: s.kernel, kernelHash: s.kernelHash,
		params: s.params, inputRoot: s.inputRoot, inputSize: s.inputSize.toString(),
		maxPrice: word(s.maxPrice), deadline: s.deadline.toString(), nonce: s.nonce.toString(),
	});
	const receiptOut = (r) => ({
		job: r.job, kernelHash: r.kernelHash, inputRoot: r.inputRoot, inputSize: r.inputSize.toString(),
		outputRoot: r.outputRoot, outputSize: r.outputSize.toString(), price: word(r.price),
		device: r.device, startedAt: r.startedAt.toString(), finishedAt: r.finishedAt.toString(),
		provider: r.provider,
	});

	const customerKey = keyFor("customer");
	const providerKey = keyFor("provider");
	const validatorKey = keyFor("validator");
	const openJob = [];
	const jobSpecs = [
		["ordinary", "matmul_f32@1", '{"relu":false}', 2097152n, 5n * 10n ** 18n, 1767225600n, 42n],
		["empty-strings", "", "", 0n, 0n, 0n, 0n],
		["unicode", "ünïcødé@1 ✓", '{"x":"日本語","y":"🚀"}', 1n, 1n, 1n, 1n],
		["strings-32-and-33", "k".repeat(30) + "@1", "p".repeat(33), 7n, 1000n, 99n, 3n],
		["strings-31-and-64", "k".repeat(29) + "@1", "q".repeat(64), 7n, 1000n, 99n, 3n],
		["extremes", "matmul_f32@1", "{}", U64_MAX, U256_MAX, U64_MAX, U64_MAX],
		["params-4096", "gemm_i8@1", '{"a":"' + "x".repeat(4088) + '"}', 3n, 4n, 5n, 6n],
	];
	for (const [name, kernel, params, big, maxPrice, deadline, nonce] of jobSpecs) {
		const s = { customer: addrOf(customerKey), provider: addrOf(providerKey), kernel,
			kernelHash: kh("kernel " + name), params, inputRoot: kh("input " + name),
			inputSize: big, maxPrice, deadline, nonce };
		assert.ok(toUtf8Bytes(params).length <= 4096, `${name}: params within RCPT_PARAMS_BYTES_MAX`);
		const sig = new SigningKey(customerKey).sign(TypedDataEncoder.hash(domain, JOB_TYPES, s)).serialized;
		openJob.push({ name, job: jobOut(s), signature: sig, data: escrow.encodeFunctionData("openJob", [s, sig]) });
	}

	const submitReceipt = [];
	const attest = [];
	const receipts = [
		["ordinary", "cuda:sm_90", 2097152n, 16384n, 42n * 10n ** 17n, 1767225000000n, 1767225001234n],
		["empty-device", "", 0n, 0n, 0n, 0n, 0n],
		["unicode-device", "gpü:日本 🚀", 1n, 2n, 3n, 4n, 5n],
		["device-32", "d".repeat(32), 1n, 2n, 3n, 4n, 5n],
		["device-33", "d".repeat(33), 1n, 2n, 3n, 4n, 5n],
		["extremes", "cpu", U64_MAX, U64_MAX, U256_MAX, U64_MAX, U64_MAX],
	];
	for (const [name, device, inputSize, outputSize, price, startedAt, finishedAt] of receipts) {
		const r = { job: kh("job " + name), kernelHash: kh("kernel " + name), inputRoot: kh("input " + name),
			inputSize, outputRoot: kh("output " + name), outputSize, price, device, startedAt, finishedAt,
			provider: addrOf(providerKey) };
		const sig = new SigningKey(providerKey).sign(TypedDataEncoder.hash(domain, RECEIPT_TYPES, r)).serialized;
		submitReceipt.push({ name, receipt: receiptOut(r), signature: sig,
			data: escrow.encodeFunctionData("submitReceipt", [r, sig]) });
		for (const verdict of [1, 2]) {
			const a = { receipt: TypedDataEncoder.hash(domain, RECEIPT_TYPES, r),
				outputRoot: verdict === 1 ? r.outputRoot : kh("other output"), verdict,
				validator: addrOf(validatorKey) };
			const asig = new SigningKey(validatorKey).sign(TypedDataEncoder.hash(domain, ATT_TYPES, a)).serialized;
			attest.push({ name: `${name}-verdict-${verdict}`,
				attestation: { receipt: a.receipt, outputRoot: a.outputRoot, verdict, validator: a.validator },
				signature: asig, receipt: receiptOut(r),
				data: escrow.encodeFunctionData("attest", [a, asig, r]) });
		}
	}

	// Calls of one static argument (or none): kind says which C helper builds them.
	const simple = [];
	const addSimple = (iface, fn, kind, args) => {
		const f = iface.getFunction(fn);
		simple.push({ signature: f.format("sighash"), kind, args: args.map((a) =>
			typeof a === "bigint" ? word(a) : a), data: iface.encodeFunctionData(fn, args) });
	};
	for (const fn of ["deposit", "withdraw", "stake", "unstake"])
		for (const v of [0n, 1n, 10n ** 18n, U256_MAX])
			addSimple(escrow, fn, "u256", [v]);
	for (const fn of ["settle", "jobState"])
		addSimple(escrow, fn, "b32", [kh("job " + fn)]);
	for (const fn of ["available", "bonded", "exposure", "releaseUnbonded"])
		addSimple(escrow, fn, "addr", [addrFor(fn)]);
	addSimple(token, "balanceOf", "addr", [addrFor("holder")]);
	for (const fn of ["approve", "mint", "transfer"])
		for (const v of [0n, 100n * 10n ** 18n, U256_MAX])
			addSimple(token, fn, "addr_u256", [addrFor(fn), v]);
	for (const fn of ["token", "eip712Domain", "minStake", "referee", "treasury", "sampleBps",
		"slashBps", "bountyBps", "challengeWindow", "refereeDeadline", "unbondingPeriod"])
		addSimple(escrow, fn, "none", []);
	for (const fn of ["name", "symbol", "decimals", "totalSupply"])
		addSimple(token, fn, "none", []);

	// Constructor arguments: every one a static word.
	const constructor = [];
	const ctor = (name, args) => {
		const enc = escrow.encodeDeploy(args);
		constructor.push({ name, args: args.map((a) => typeof a === "string" ? a : word(a)), encoded: enc });
	};
	const me = addrOf(keyFor("deployer"));
	ctor("defaults", [addrFor("token"), me, me, 100n * 10n ** 18n, 1000n, 5000n, 2000n, 3600n, 600n, 604800n]);
	ctor("extremes", [addrFor("token"), addrFor("referee"), addrFor("treasury"), U256_MAX, 10000n, 1n, 0n,
		2592000n, 1n, 31536000n]);

	// Return data and log data, for the decoders.
	const returns = [];
	const ret = (name, types, values) => returns.push({ name, types, values: values.map((v) =>
		typeof v === "bigint" ? v.toString() : v), data: coder.encode(types, values) });
	ret("address", ["address"], [addrFor("token")]);
	ret("uint8-4", ["uint8"], [4n]);
	ret("uint64-max", ["uint64"], [U64_MAX]);
	ret("bool-true", ["bool"], [true]);
	ret("bool-false", ["bool"], [false]);
	ret("uint256-max", ["uint256"], [U256_MAX]);
	ret("two-words", ["uint8", "uint64"], [2n, 1767225600n]);
	for (const s of ["", "Assay", "x".repeat(31), "y".repeat(32), "z".repeat(33), "日本語 🚀"])
		ret(`string-${toUtf8Bytes(s).length}`, ["string"], [s]);
	ret("bytes-65", ["bytes"], [hexlify(pattern(65, 9, 1))]);
	ret("string-after-word", ["uint256", "string"], [7n, "second"]);
	{
		// eip712Domain(): (bytes1, string, string, uint256, address, bytes32, uint256[])
		const f = escrow.getFunction("eip712Domain");
		const out = [ "0x0f", "Assay", "1", 31337n, addrFor("escrow"), "0x" + "00".repeat(32), [] ];
		returns.push({ name: "eip712Domain", types: f.outputs.map((o) => o.type),
			values: out.map((v) => typeof v === "bigint" ? v.toString() : v),
			data: escrow.encodeFunctionResult("eip712Domain", out) });
	}

	const reverts = [];
	const rev = (name, kind, data, extra) => reverts.push({ name, kind, data, ...extra });
	rev("empty", "empty", "0x", {});
	for (const m of ["", "boom", "m".repeat(32), "ERC20: insufficient allowance ✓"])
		rev(`error-${toUtf8Bytes(m).length}`, "error",
			concatHex("0x08c379a0", coder.encode(["string"], [m])), { message: m });
	for (const c of [0x01n, 0x11n, 0x12n, 0x32n])
		rev(`panic-${c}`, "panic", concatHex("0x4e487b71", coder.encode(["uint256"], [c])), { code: word(c) });
	rev("custom-BadParameter", "custom", escrow.encodeErrorResult("BadParameter", []),
		{ selector: escrow.getError("BadParameter").selector, args: "0x" });
	{
		const args = [addrFor("spender"), 5n, 10n];
		const data = token.encodeErrorResult("ERC20InsufficientAllowance", args);
		rev("custom-ERC20InsufficientAllowance", "custom", data,
			{ selector: token.getError("ERC20InsufficientAllowance").selector, args: "0x" + data.slice(10) });
	}

	const logs = [];
	{
		const e = escrow.getEvent("JobOpened");
		const args = [kh("log job"), addrOf(customerKey), addrOf(providerKey), 5n * 10n ** 18n];
		const l = escrow.encodeEventLog(e, args);
		logs.push({ signature: e.format("sighash"), topics: l.topics, data: l.data,
			job: args[0], customer: args[1], provider: args[2], maxPrice: word(args[3]) });
	}
	{
		const e = escrow.getEvent("JobSettled");
		const l = escrow.encodeEventLog(e, [kh("log job"), 4n]);
		logs.push({ signature: e.format("sighash"), topics: l.topics, data: l.data, job: kh("log job"), state: 4 });
	}
	{
		const e = escrow.getEvent("ReceiptSubmitted");
		const l = escrow.encodeEventLog(e, [kh("log job"), kh("log receipt")]);
		logs.push({ signature: e.format("sighash"), topics: l.topics, data: l.data,
			job: kh("log job"), receipt: kh("log receipt") });
	}

	write("evm_abi.json", { selectors, errors, events, openJob, submitReceipt, attest, simple,
		constructor, returns, reverts, logs });
}

function concatHex(a, b) {
	return a + b.slice(2);
}
