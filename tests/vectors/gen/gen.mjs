// gen.mjs: known-answer vectors for Assay's receipts library, computed
// with ethers.js v6 (an implementation independent of ours: its Keccak,
// EIP-55, EIP-191, EIP-712 and secp256k1 code are noble-hashes and
// noble-curves).  Writes pretty JSON files into tests/vectors/, which
// tests/test_vectors.c reads.
//
//   cd tests/vectors/gen && npm ci && node gen.mjs && node merkle_ref.mjs
//
// Deterministic: every key, hash and byte string is derived from fixed
// strings through keccak256 or a fixed formula; nothing is random.  ethers
// signs with RFC 6979 nonces and low-S, as libsecp256k1 does, so the
// signatures here are the exact bytes our library must produce.
//
// Every file is also checked here against facts that do not come from
// ethers where such facts exist (the EIP-55 and EIP-712 documents'
// published values), and every invalid bundle is run through a small
// reference checker below so that each one fails the check it claims to.

import { ethers } from "ethers";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import assert from "node:assert/strict";

const {
	keccak256, toUtf8Bytes, getBytes, hexlify, getAddress, SigningKey,
	Signature, TypedDataEncoder, hashMessage, recoverAddress, concat,
	dataSlice, toBeHex,
} = ethers;

assert.equal(ethers.version, "6.17.0", "package.json pins ethers 6.17.0");

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, "..");

function write(name, value) {
	const file = path.join(outDir, name);
	writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
	console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

// ------------------------------------------------------------ helpers

// secp256k1 group order, half of it (the EIP-2 low-S bound) and the field.
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;
const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
assert.equal(toBeHex(HALF_N, 32),
	"0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

const U256_MAX = (1n << 256n) - 1n;
const U53_MAX = 2 ** 53 - 1;

const kh = (s) => keccak256(toUtf8Bytes(s));
const hx = (n) => toBeHex(n, 32);

// A private key derived from a label.
function keyFor(label) {
	const k = kh("assay vectors key: " + label);
	const v = BigInt(k);
	assert.ok(v > 0n && v < N, "key in range");
	return k;
}
const addrOf = (key) => ethers.computeAddress(new SigningKey(key).publicKey);

// r || s || v with v in {27, 28}.
const signDigest = (key, digest) => new SigningKey(key).sign(digest).serialized;

function sigSplit(sig) {
	const b = getBytes(sig);
	assert.equal(b.length, 65);
	return {
		r: BigInt(hexlify(b.slice(0, 32))),
		s: BigInt(hexlify(b.slice(32, 64))),
		v: b[64],
	};
}
function sigJoin(r, s, v) {
	return hexlify(concat([toBeHex(r, 32), toBeHex(s, 32), new Uint8Array([v])]));
}

function modpow(b, e, m) {
	let r = 1n;
	b %= m;
	while (e > 0n) {
		if (e & 1n) r = (r * b) % m;
		b = (b * b) % m;
		e >>= 1n;
	}
	return r;
}

// An r below n that is the x coordinate of no curve point (y^2 = x^3 + 7
// has no solution): recovery with v 27/28 must fail on it.
function rWithoutPoint(label) {
	for (let i = 0; ; i++) {
		const r = BigInt(kh(`${label} ${i}`)) % N;
		if (r === 0n) continue;
		const rhs = (r * r * r + 7n) % P;
		if (modpow(rhs, (P - 1n) / 2n, P) === P - 1n) return r;
	}
}

// The rules of PROTOCOL.md section 2 for a signature, written
// independently of the C code: the error name, or the signer's address.
function refRecover(sigHex, digest) {
	const b = getBytes(sigHex);
	if (b.length !== 65) return { error: "sig-format" };
	const { r, s, v } = sigSplit(sigHex);
	if (![0, 1, 27, 28].includes(v)) return { error: "sig-v" };
	if (s > HALF_N) return { error: "sig-high-s" };
	if (r === 0n || s === 0n || r >= N || s >= N) return { error: "sig-format" };
	try {
		const sig = Signature.from({ r: hx(r), s: hx(s), yParity: v >= 27 ? v - 27 : v });
		return { error: null, address: recoverAddress(digest, sig) };
	} catch {
		return { error: "sig-recover" };
	}
}

// ------------------------------------------------------------ keccak

function patternBytes(n, mul, add) {
	const b = new Uint8Array(n);
	for (let i = 0; i < n; i++) b[i] = (i * mul + add) & 0xff;
	return b;
}

{
	assert.equal(keccak256("0x"),
		"0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
	assert.equal(kh("abc"),
		"0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
	const lengths = [0, 1, 3, 31, 32, 33, 135, 136, 137, 200, 271, 272, 273, 1000, 5000];
	const out = lengths.map((n) => {
		const input = n === 3 ? toUtf8Bytes("abc") : patternBytes(n, 7, 3);
		return { input: hexlify(input), hash: keccak256(input) };
	});
	write("keccak.json", out);
}

// ------------------------------------------------------------ EIP-55

{
	// The examples printed in EIP-55 itself.
	const eipMixed = [
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	];
	const eipAllCaps = [
		"0x52908400098527886E0F7030069857D2E4169EE7",
		"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	];
	const eipAllLower = [
		"0xde709f2102306220921060314715629080e2fb77",
		"0x27b1fdb04752bbc536007a920d24acb045561c26",
	];
	const derived = [];
	for (let i = 0; i < 14; i++)
		derived.push(getAddress(dataSlice(kh(`eip55 address ${i}`), 12)));
	const all = [
		...eipMixed, ...eipAllCaps, ...eipAllLower, ...derived,
		getAddress("0x" + "00".repeat(20)),
		getAddress("0x" + "ff".repeat(20)),
		getAddress("0x" + "0123456789abcdef".repeat(3).slice(0, 40)),
	];
	const valid = all.map((c) => {
		assert.equal(getAddress(c.toLowerCase()), c, `EIP-55 example ${c}`);
		return { lower: c.toLowerCase(), checksum: c };
	});
	assert.ok(valid.length >= 20);

	// Mixed case with one letter's case flipped: a wrong checksum.
	const flipOne = (c, which) => {
		const letters = [];
		for (let i = 2; i < 42; i++) if (/[a-fA-F]/.test(c[i])) letters.push(i);
		const i = letters[which % letters.length];
		const ch = c[i] === c[i].toLowerCase() ? c[i].toUpperCase() : c[i].toLowerCase();
		return c.slice(0, i) + ch + c.slice(i + 1);
	};
	const invalid = [];
	const sources = [...eipMixed, ...eipAllCaps, ...eipAllLower, ...derived.slice(0, 6)];
	sources.forEach((c, j) => {
		const bad = flipOne(c, j * 5 + 1);
		const body = bad.slice(2);
		assert.ok(/[a-f]/.test(body) && /[A-F]/.test(body), "mixed case");
		assert.throws(() => getAddress(bad), `ethers refuses ${bad}`);
		invalid.push(bad);
	});
	// Not "0x" + 40 hex digits at all.
	const lower = derived[0].toLowerCase();
	invalid.push(
		"",
		"0x",
		lower.slice(2),                    // missing 0x
		"0X" + lower.slice(2),             // capital X
		lower.slice(0, 41),                // 39 digits
		lower + "0",                       // 41 digits
		lower + "00",                      // 42 digits
		lower.slice(0, 41) + "g",          // non-hex
		derived[1].slice(0, 41) + "G",     // non-hex, mixed case
		lower.slice(0, 20) + " " + lower.slice(21),
		" " + lower,
		lower + "\n",
		lower.slice(0, 41) + "\u00e9",     // non-ASCII
		"0x" + "zz".repeat(20),
	);
	write("eip55.json", { valid, invalid });
}

// ------------------------------------------------------------ EIP-191

{
	const siweKey = keyFor("eip191 siwe");
	const siwe = [
		"assay.example wants you to sign in with your Ethereum account:",
		addrOf(siweKey),
		"",
		"Sign in to Assay to submit and verify jobs.",
		"",
		"URI: https://assay.example/login",
		"Version: 1",
		"Chain ID: 31337",
		"Nonce: 8f3kQ2bZ9xTmW4rL",
		"Issued At: 2025-06-01T12:00:00.000Z",
		"Expiration Time: 2025-06-01T12:10:00.000Z",
	].join("\n");
	const messages = [
		["empty", new Uint8Array(0)],
		["hello", toUtf8Bytes("hello")],
		["utf8", toUtf8Bytes("Grüße aus Zürich — 東京 🚀")],
		["siwe", toUtf8Bytes(siwe)],
		["binary-1000", patternBytes(1000, 29, 11)],
		// The decimal length changes width at 10 and 100 bytes.
		["len-9", toUtf8Bytes("123456789")],
		["len-10", toUtf8Bytes("0123456789")],
		["len-99", patternBytes(99, 3, 0x41)],
		["len-100", patternBytes(100, 3, 0x41)],
	];
	const out = messages.map(([name, msg]) => {
		const key = name === "siwe" ? siweKey : keyFor("eip191 " + name);
		const digest = hashMessage(msg);
		// The prefix by hand, as a check on ethers' hashMessage.
		assert.equal(digest, keccak256(concat([
			toUtf8Bytes("\x19Ethereum Signed Message:\n" + msg.length), msg])));
		const signature = signDigest(key, digest);
		assert.equal(new ethers.Wallet(key).signMessageSync(msg), signature);
		assert.ok(sigSplit(signature).s <= HALF_N);
		assert.equal(refRecover(signature, digest).address, addrOf(key));
		return {
			name, key, address: addrOf(key), message_hex: hexlify(msg),
			digest, signature,
		};
	});
	write("eip191.json", out);

	// Recovery rules.
	const key = keyFor("eip191 recover");
	const signer = addrOf(key);
	const byV = {};
	for (let i = 0; !(byV[27] && byV[28]); i++) {
		const msg = toUtf8Bytes(`assay recover vector #${i}`);
		const sig = signDigest(key, hashMessage(msg));
		const { v } = sigSplit(sig);
		if (!byV[v]) byV[v] = { msg, sig };
	}
	const rec = [];
	const add = (name, msg, sig, error, address) => {
		const ref = refRecover(sig, hashMessage(msg));
		assert.equal(ref.error, error, `recover vector ${name}`);
		if (error === null) assert.equal(ref.address, address, name);
		rec.push({ name, message_hex: hexlify(msg), signature: sig,
			address: error === null ? address : null, error });
	};
	for (const v of [27, 28]) {
		const { msg, sig } = byV[v];
		const { r, s } = sigSplit(sig);
		add(`v${v}`, msg, sig, null, signer);
		add(`v${v - 27}`, msg, sigJoin(r, s, v - 27), null, signer);
		add(`high-s-v${v}`, msg, sigJoin(r, N - s, v === 27 ? 28 : 27), "sig-high-s", null);
		add(`high-s-v${v - 27}`, msg, sigJoin(r, N - s, v === 27 ? 1 : 0), "sig-high-s", null);
	}
	{
		const { msg, sig } = byV[27];
		const { r, s } = sigSplit(sig);
		for (const v of [2, 26, 29, 255, 3, 35, 37])
			add(`v-${v}`, msg, sigJoin(r, s, v), "sig-v", null);
		// s exactly n/2 is low; one more is high.  ethers' own check is
		// on the top bit only, so these are the rule of PROTOCOL.md.
		const atHalf = sigJoin(r, HALF_N, 27);
		add("s-half-n", msg, atHalf, null,
			recoverAddress(hashMessage(msg), Signature.from({ r: hx(r), s: hx(HALF_N), yParity: 0 })));
		add("s-half-n-plus-1", msg, sigJoin(r, HALF_N + 1n, 27), "sig-high-s", null);
		add("r-zero", msg, sigJoin(0n, s, 27), "sig-format", null);
		add("s-zero", msg, sigJoin(r, 0n, 27), "sig-format", null);
		add("r-zero-s-zero", msg, sigJoin(0n, 0n, 27), "sig-format", null);
		add("r-n", msg, sigJoin(N, s, 27), "sig-format", null);
		add("r-n-plus-1", msg, sigJoin(N + 1n, s, 28), "sig-format", null);
		add("r-max", msg, sigJoin(U256_MAX, s, 27), "sig-format", null);
		add("r-no-point-v27", msg, sigJoin(rWithoutPoint("no point a"), s, 27), "sig-recover", null);
		add("r-no-point-v28", msg, sigJoin(rWithoutPoint("no point b"), s, 28), "sig-recover", null);
		// A good signature over another message names another signer.
		const other = toUtf8Bytes("assay recover vector: not the signed message");
		const otherAddr = recoverAddress(hashMessage(other), sig);
		assert.notEqual(otherAddr, signer);
		add("other-message", other, sig, null, otherAddr);
	}
	write("eip191_recover.json", rec);
}

// ------------------------------------------------------------ EIP-712 mail

{
	const domain = {
		name: "Ether Mail", version: "1", chainId: 1,
		verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
	};
	const types = {
		Person: [{ name: "name", type: "string" }, { name: "wallet", type: "address" }],
		Mail: [
			{ name: "from", type: "Person" },
			{ name: "to", type: "Person" },
			{ name: "contents", type: "string" },
		],
	};
	const message = {
		from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
		to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
		contents: "Hello, Bob!",
	};
	const key = kh("cow");
	const enc = TypedDataEncoder.from(types);
	const mailType = enc.encodeType("Mail");
	const personType = enc.encodeType("Person");
	assert.equal(mailType, "Mail(Person from,Person to,string contents)Person(string name,address wallet)");
	assert.equal(personType, "Person(string name,address wallet)");
	const domainSeparator = TypedDataEncoder.hashDomain(domain);
	const hashFrom = TypedDataEncoder.hashStruct("Person", types, message.from);
	const hashTo = TypedDataEncoder.hashStruct("Person", types, message.to);
	const hashMail = TypedDataEncoder.hashStruct("Mail", types, message);
	const digest = TypedDataEncoder.hash(domain, types, message);
	const signature = signDigest(key, digest);
	// The values EIP-712 publishes for this example.
	assert.equal(domainSeparator, "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
	assert.equal(hashMail, "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
	assert.equal(digest, "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
	assert.equal(addrOf(key), message.from.wallet);
	assert.equal(signature,
		"0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d" +
		"07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562" + "1c");
	write("eip712_mail.json", {
		domain, message, key, signer: addrOf(key),
		mailTypeString: mailType, personTypeString: personType,
		personTypeHash: kh(personType), mailTypeHash: kh(mailType),
		domainSeparator,
		hashStructFrom: hashFrom, hashStructTo: hashTo, hashStructMail: hashMail,
		digest, signature,
	});
}

// ------------------------------------------------------------ Assay types

const TYPES = {
	JobSpec: [
		["customer", "address"], ["provider", "address"], ["kernel", "string"],
		["kernelHash", "bytes32"], ["params", "string"], ["inputRoot", "bytes32"],
		["inputSize", "uint64"], ["maxPrice", "uint256"], ["deadline", "uint64"],
		["nonce", "uint64"],
	],
	Receipt: [
		["job", "bytes32"], ["kernelHash", "bytes32"], ["inputRoot", "bytes32"],
		["inputSize", "uint64"], ["outputRoot", "bytes32"], ["outputSize", "uint64"],
		["price", "uint256"], ["device", "string"], ["startedAt", "uint64"],
		["finishedAt", "uint64"], ["provider", "address"],
	],
	Attestation: [
		["receipt", "bytes32"], ["outputRoot", "bytes32"], ["verdict", "uint8"],
		["validator", "address"],
	],
};
const TYPE_STRINGS = {
	JobSpec: "JobSpec(address customer,address provider,string kernel,bytes32 kernelHash,string params,bytes32 inputRoot,uint64 inputSize,uint256 maxPrice,uint64 deadline,uint64 nonce)",
	Receipt: "Receipt(bytes32 job,bytes32 kernelHash,bytes32 inputRoot,uint64 inputSize,bytes32 outputRoot,uint64 outputSize,uint256 price,string device,uint64 startedAt,uint64 finishedAt,address provider)",
	Attestation: "Attestation(bytes32 receipt,bytes32 outputRoot,uint8 verdict,address validator)",
};
const ethTypes = (t) => ({ [t]: TYPES[t].map(([name, type]) => ({ name, type })) });
for (const t of Object.keys(TYPES))
	assert.equal(TypedDataEncoder.from(ethTypes(t)).encodeType(t), TYPE_STRINGS[t]);
assert.equal(
	TypedDataEncoder.from({ EIP712Domain: [
		{ name: "name", type: "string" }, { name: "version", type: "string" },
		{ name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" },
	] }).encodeType("EIP712Domain"),
	"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

// The JSON form (PROTOCOL.md section 4) to what ethers takes.
function ethValue(type, msg) {
	const v = {};
	for (const [name, t] of TYPES[type]) {
		const x = msg[name];
		if (t === "uint256") {
			assert.match(x, /^(0|[1-9][0-9]*)$/);
			v[name] = BigInt(x);
		} else if (t === "uint64") {
			assert.ok(Number.isSafeInteger(x) && x >= 0);
			v[name] = BigInt(x);
		} else {
			v[name] = x;
		}
	}
	return v;
}
const hashStructOf = (type, msg) =>
	TypedDataEncoder.hashStruct(type, ethTypes(type), ethValue(type, msg));
const digestOf = (domain, type, msg) =>
	TypedDataEncoder.hash(domain, ethTypes(type), ethValue(type, msg));

const ESCROW = getAddress(dataSlice(kh("assay escrow 31337"), 12));
const ESCROW_MAINNET = getAddress(dataSlice(kh("assay escrow 1"), 12));
const assayDomain = (chainId, vc) =>
	({ name: "Assay", version: "1", chainId, verifyingContract: vc });

const K = {
	customer: keyFor("customer"),
	provider: keyFor("provider"),
	provider2: keyFor("provider 2"),
	mallory: keyFor("mallory"),
	validator: keyFor("validator"),
	customer2: keyFor("customer 2"),
};

// Compact JSON, sorted keys, of a given length: a long `params`.
function longParams(n) {
	const s = '{"weights":[' + Array.from({ length: 2000 }, (_, i) => (i * 37) % 1000).join(",");
	const cut = s.slice(0, n - 2);
	return cut.replace(/,?[0-9]*$/, "") + "]}";
}

{
	const base = {
		JobSpec: (o) => ({
			customer: addrOf(K.customer), provider: addrOf(K.provider),
			kernel: "matmul_f32@1", kernelHash: kh("kernel matmul_f32@1"),
			params: '{"relu":false}', inputRoot: kh("input a"),
			inputSize: 1048576, maxPrice: "1000000000000000000",
			deadline: 1767225600, nonce: 1, ...o,
		}),
		Receipt: (o) => ({
			job: kh("job a"), kernelHash: kh("kernel matmul_f32@1"),
			inputRoot: kh("input a"), inputSize: 1048576,
			outputRoot: kh("output a"), outputSize: 4096,
			price: "750000000000000000", device: "cuda:sm_90",
			startedAt: 1767225000000, finishedAt: 1767225001234,
			provider: addrOf(K.provider), ...o,
		}),
		Attestation: (o) => ({
			receipt: kh("receipt a"), outputRoot: kh("output a"), verdict: 1,
			validator: addrOf(K.validator), ...o,
		}),
	};
	const signerOf = { JobSpec: K.customer, Receipt: K.provider, Attestation: K.validator };
	const Z = "0x" + "00".repeat(32);
	const F = "0x" + "ff".repeat(32);
	const cases = [
		["job-basic", "JobSpec", 31337, {}],
		["job-mainnet", "JobSpec", 1, { kernel: "gemm_i8@1", params: "{}", nonce: 7 }],
		["job-zero", "JobSpec", 31337, { inputSize: 0, maxPrice: "0", deadline: 0, nonce: 0,
			kernelHash: Z, inputRoot: Z, params: "{}" }],
		["job-max", "JobSpec", 1, { inputSize: U53_MAX, maxPrice: U256_MAX.toString(),
			deadline: U53_MAX, nonce: U53_MAX, kernelHash: F, inputRoot: F }],
		// Well-defined for EIP-712, but not Assay statements: `kernel`
		// is name@version and `params` is "{}" when there are none
		// (PROTOCOL.md section 3), and a device is named.  The library
		// must refuse to parse them (error "field" naming the member),
		// so that nothing malformed is signed; the hashes are recorded
		// all the same.
		["job-empty-kernel", "JobSpec", 31337, { kernel: "" }, "kernel"],
		["job-kernel-without-version", "JobSpec", 31337, { kernel: "matmul_f32" }, "kernel"],
		["job-empty-params", "JobSpec", 31337, { params: "" }, "params"],
		["job-long-params", "JobSpec", 31337, { params: longParams(3000) }],
		["job-conv2d-params", "JobSpec", 8453, { kernel: "conv2d_f32@1",
			params: '{"padding":[1,1],"stride":[2,2]}' }],
		["job-unicode-params", "JobSpec", 31337, { params: '{"label":"Grüße 東京 🚀"}' }],
		["job-chain-max", "JobSpec", U53_MAX, {}],
		["job-same-parties", "JobSpec", 31337, { provider: addrOf(K.customer) }],
		["receipt-basic", "Receipt", 31337, {}],
		["receipt-mainnet", "Receipt", 1, { device: "cpu" }],
		["receipt-zero", "Receipt", 31337, { job: Z, kernelHash: Z, inputRoot: Z, outputRoot: Z,
			inputSize: 0, outputSize: 0, price: "0", startedAt: 0, finishedAt: 0 }],
		["receipt-max", "Receipt", 1, { job: F, inputSize: U53_MAX, outputSize: U53_MAX,
			price: U256_MAX.toString(), startedAt: U53_MAX, finishedAt: U53_MAX }],
		["receipt-empty-device", "Receipt", 31337, { device: "" }, "device"],
		["receipt-unicode-device", "Receipt", 31337, { device: "cuda:sm_90 — Größe ✓ 東京" }],
		["receipt-price-one", "Receipt", 11155111, { price: "1" }],
		["attestation-match", "Attestation", 31337, {}],
		["attestation-differs", "Attestation", 1, { verdict: 2 }],
		["attestation-zero", "Attestation", 31337, { receipt: Z, outputRoot: Z }],
	];
	const out = cases.map(([name, type, chainId, o, refusedField]) => {
		const domain = assayDomain(chainId, chainId === 1 ? ESCROW_MAINNET : ESCROW);
		const message = base[type](o);
		const key = signerOf[type];
		const domainSeparator = TypedDataEncoder.hashDomain(domain);
		const hashStruct = hashStructOf(type, message);
		const digest = digestOf(domain, type, message);
		assert.equal(digest, keccak256(concat(["0x1901", domainSeparator, hashStruct])));
		const signature = signDigest(key, digest);
		assert.equal(refRecover(signature, digest).address, addrOf(key));
		return {
			name, type, domain, message, key, signer: addrOf(key),
			typeString: TYPE_STRINGS[type], typeHash: kh(TYPE_STRINGS[type]),
			domainSeparator, hashStruct, digest, signature,
			refused: refusedField ? { error: "field", field: refusedField } : null,
		};
	});
	write("eip712_assay.json", out);
}

// ------------------------------------------------------------ bundles

// A JSON writer that can also write what JSON.stringify cannot: raw
// tokens (1.0, 1e3, NaN), duplicate keys, \u escapes.
class Raw { constructor(text) { this.text = text; } }
class Entries { constructor(list) { this.list = list; } }

function ser(v, pretty, level = 0) {
	const ind = pretty ? "\n" + "  ".repeat(level + 1) : "";
	const end = pretty ? "\n" + "  ".repeat(level) : "";
	const colon = pretty ? ": " : ":";
	if (v instanceof Raw) return v.text;
	if (v === null) return "null";
	if (typeof v === "string") return JSON.stringify(v);
	if (typeof v === "number") {
		assert.ok(Number.isSafeInteger(v), `unsafe number ${v}`);
		return String(v);
	}
	if (Array.isArray(v))
		return "[" + v.map((x) => ind + ser(x, pretty, level + 1)).join(",") + end + "]";
	const list = v instanceof Entries ? v.list : Object.entries(v);
	return "{" + list.map(([k, x]) => ind + JSON.stringify(k) + colon +
		ser(x, pretty, level + 1)).join(",") + end + "}";
}
// A JSON string with every non-ASCII character as a \u escape.
function asciiString(s) {
	let o = '"';
	for (const ch of JSON.stringify(s).slice(1, -1)) {
		const c = ch.codePointAt(0);
		if (c < 0x80) { o += ch; continue; }
		for (let i = 0; i < ch.length; i++)
			o += "\\u" + ch.charCodeAt(i).toString(16).padStart(4, "0");
	}
	return o + '"';
}

const clone = (x) => structuredClone(x);

// One bundle, signed as the options say.  o.job / o.receipt override
// fields before signing; o.receipt may be a function of the job id.
function build(o = {}) {
	const chainId = o.chainId ?? 31337;
	const domain = {
		name: o.name ?? "Assay", version: o.version ?? "1", chainId,
		verifyingContract: o.vc ?? (chainId === 1 ? ESCROW_MAINNET : ESCROW),
	};
	const custKey = o.customerKey ?? K.customer;
	const provKey = o.providerKey ?? K.provider;
	const job = {
		customer: addrOf(custKey), provider: addrOf(provKey),
		kernel: "matmul_f32@1", kernelHash: kh("kernel matmul_f32@1"),
		params: '{"relu":true}', inputRoot: kh("bundle input"),
		inputSize: 2097152, maxPrice: "5000000000000000",
		deadline: 1767229200, nonce: 42, ...(o.job ?? {}),
	};
	const jobId = digestOf(domain, "JobSpec", job);
	const jobSignature = signDigest(o.jobSignerKey ?? custKey, jobId);
	const recProvKey = o.receiptProviderKey ?? provKey;
	const receipt = {
		job: jobId, kernelHash: job.kernelHash, inputRoot: job.inputRoot,
		inputSize: job.inputSize, outputRoot: kh("bundle output"),
		outputSize: 16384, price: "4200000000000000", device: "cuda:sm_90",
		startedAt: 1767225000000, finishedAt: 1767225003500,
		provider: addrOf(recProvKey),
		...(typeof o.receipt === "function" ? o.receipt(jobId) : (o.receipt ?? {})),
	};
	const receiptId = digestOf(domain, "Receipt", receipt);
	const receiptSignature = signDigest(o.receiptSignerKey ?? recProvKey, receiptId);
	return {
		bundle: { domain, job, jobSignature, receipt, receiptSignature },
		jobId, receiptId, customer: job.customer, provider: receipt.provider,
	};
}

// Every check of PROTOCOL.md section 4 on a bundle whose fields are well
// formed, in rcpt_bundle_verify's order; returns the names of all that
// fail (the first is the expected error).
function refChecks(b) {
	const fails = [];
	const d = b.domain;
	if (d.name !== "Assay" || d.version !== "1") fails.push("domain");
	const jobId = digestOf(d, "JobSpec", b.job);
	const receiptId = digestOf(d, "Receipt", b.receipt);
	const js = refRecover(b.jobSignature, jobId);
	if (js.error) fails.push("job-signature");
	else if (js.address !== getAddress(b.job.customer)) fails.push("job-signer");
	const rs = refRecover(b.receiptSignature, receiptId);
	if (rs.error) fails.push("receipt-signature");
	else if (rs.address !== getAddress(b.receipt.provider)) fails.push("receipt-signer");
	if (getAddress(b.receipt.provider) !== getAddress(b.job.provider)) fails.push("provider-mismatch");
	if (b.receipt.job.toLowerCase() !== jobId) fails.push("job-link");
	if (b.receipt.kernelHash.toLowerCase() !== b.job.kernelHash.toLowerCase()) fails.push("kernel-mismatch");
	if (b.receipt.inputRoot.toLowerCase() !== b.job.inputRoot.toLowerCase() ||
	    b.receipt.inputSize !== b.job.inputSize) fails.push("input-mismatch");
	if (BigInt(b.receipt.price) > BigInt(b.job.maxPrice)) fails.push("price");
	if (b.receipt.finishedAt < b.receipt.startedAt) fails.push("time");
	return { fails, jobId, receiptId, js, rs };
}

{
	const valid = [];
	const invalid = [];
	const addValid = (name, built, text) => {
		const r = refChecks(built.bundle);
		assert.deepEqual(r.fails, [], `valid bundle ${name}`);
		assert.equal(r.jobId, built.jobId);
		valid.push({
			name, bundle_text: text ?? ser(built.bundle, true),
			job_id: built.jobId, receipt_id: built.receiptId,
			customer: built.customer, provider: built.provider,
		});
	};
	// A well-formed bundle that fails the semantic checks: the reference
	// checker must agree on the first failure; `multi` allows later
	// checks to fail too where one change necessarily breaks two.
	const addCheck = (name, error, bundle, extra = {}) => {
		const r = refChecks(bundle);
		assert.equal(r.fails[0], error, `invalid bundle ${name}: ${r.fails}`);
		if (!extra.multi)
			assert.equal(r.fails.length, 1, `bundle ${name} fails ${r.fails}`);
		const e = { name, bundle_text: extra.text ?? ser(bundle, false), error, field: null,
			sig_error: null };
		if (error === "job-signature") {
			e.sig_error = r.js.error;
			e.sig_digest = r.jobId;
		} else if (error === "receipt-signature") {
			e.sig_error = r.rs.error;
			e.sig_digest = r.receiptId;
		}
		if (extra.sig_error) assert.equal(e.sig_error, extra.sig_error, name);
		invalid.push(e);
	};
	const addText = (name, error, text, field = null) => {
		invalid.push({ name, bundle_text: text, error, field, sig_error: null });
	};

	// ---- valid
	const std = build();
	addValid("devnet", std);
	addValid("mainnet", build({ chainId: 1 }));
	addValid("sepolia", build({ chainId: 11155111, job: { nonce: 0 } }));
	addValid("base", build({ chainId: 8453, job: { kernel: "softmax_f32@1", params: "{}" } }));
	addValid("compact", std, ser(std.bundle, false));
	addValid("trailing-newline", std, ser(std.bundle, true) + "\n");
	addValid("surrounding-whitespace", std, " \t\r\n" + ser(std.bundle, false) + "\n\n ");
	{
		// v written as 0/1 is accepted (PROTOCOL.md section 2).
		const b = clone(std.bundle);
		for (const k of ["jobSignature", "receiptSignature"]) {
			const { r, s, v } = sigSplit(b[k]);
			b[k] = sigJoin(r, s, v - 27);
		}
		addValid("v-0-1", { ...std, bundle: b });
	}
	{
		// Upper-case hex in bytes32 and signatures, lower- and upper-case
		// addresses: input accepts either case.
		const b = clone(std.bundle);
		const up = (h) => "0x" + h.slice(2).toUpperCase();
		for (const k of ["kernelHash", "inputRoot"]) b.job[k] = up(b.job[k]);
		for (const k of ["job", "kernelHash", "inputRoot", "outputRoot"]) b.receipt[k] = up(b.receipt[k]);
		b.jobSignature = up(b.jobSignature);
		b.receiptSignature = up(b.receiptSignature);
		b.job.customer = b.job.customer.toLowerCase();
		b.job.provider = up(b.job.provider);
		b.receipt.provider = b.receipt.provider.toLowerCase();
		b.domain.verifyingContract = up(b.domain.verifyingContract);
		addValid("hex-case", { ...std, bundle: b });
	}
	{
		// Keys in another order than the type's, at every level.
		const b = std.bundle;
		const rev = (o) => new Entries(Object.entries(o).reverse());
		const text = ser(new Entries([
			["receiptSignature", b.receiptSignature], ["receipt", rev(b.receipt)],
			["jobSignature", b.jobSignature], ["job", rev(b.job)], ["domain", rev(b.domain)],
		]), true);
		addValid("key-order", std, text);
	}
	{
		// Non-ASCII written as \u escapes must hash as its UTF-8 bytes.
		const built = build({ receipt: { device: "cuda:sm_90 Größe 🚀" },
			job: { params: '{"label":"東京"}' } });
		const b = clone(built.bundle);
		b.receipt.device = new Raw(asciiString(b.receipt.device));
		b.job.params = new Raw(asciiString(b.job.params));
		addValid("unicode-escaped", built, ser(b, true));
		addValid("unicode-raw", built);
	}
	addValid("price-equals-max", build({ job: { maxPrice: "4200000000000000" } }));
	addValid("price-zero", build({ receipt: { price: "0" } }));
	addValid("price-99-max-100", build({ job: { maxPrice: "100" }, receipt: { price: "99" } }));
	addValid("price-u256-max", build({ job: { maxPrice: U256_MAX.toString() },
		receipt: { price: U256_MAX.toString() } }));
	addValid("finished-equals-started", build({ receipt: { startedAt: 1767225000000,
		finishedAt: 1767225000000 } }));
	addValid("edge-uint64", build({ job: { inputSize: U53_MAX, deadline: U53_MAX, nonce: U53_MAX },
		receipt: { outputSize: 0, startedAt: 0, finishedAt: U53_MAX } }));
	addValid("empty-input", build({ job: { inputSize: 0,
		inputRoot: "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" } }));
	addValid("long-params", build({ job: { params: longParams(4000) } }));
	addValid("other-parties", build({ customerKey: K.customer2, providerKey: K.provider2,
		chainId: 1 }));
	addValid("customer-is-provider", build({ providerKey: K.customer }));

	// ---- json: not one well-formed JSON document
	const compact = ser(std.bundle, false);
	const pretty = ser(std.bundle, true);
	addText("json-empty", "json", "");
	addText("json-whitespace", "json", " \n\t ");
	addText("json-not-json", "json", "receipt bundle");
	addText("json-truncated-half", "json", compact.slice(0, compact.length >> 1));
	addText("json-truncated-brace", "json", compact.slice(0, -1));
	addText("json-truncated-pretty", "json", pretty.slice(0, -2));
	addText("json-trailing-word", "json", compact + " x");
	addText("json-trailing-object", "json", compact + "{}");
	addText("json-two-documents", "json", pretty + "\n" + pretty);
	addText("json-trailing-brace", "json", compact + "}");
	addText("json-leading-garbage", "json", "x" + compact);
	addText("json-comment", "json", "/* bundle */" + compact);
	addText("json-trailing-comma", "json", compact.slice(0, -1) + ",}");
	addText("json-single-quotes", "json", compact.replace('"domain"', "'domain'"));
	{
		const b = std.bundle;
		const dup = (o, k, v) => new Entries([...Object.entries(o), [k, v]]);
		addText("json-duplicate-top", "json", ser(new Entries([
			...Object.entries(b), ["receiptSignature", b.receiptSignature]]), false));
		addText("json-duplicate-domain-key", "json",
			ser({ ...b, domain: dup(b.domain, "name", "Assay") }, false));
		addText("json-duplicate-job-key", "json",
			ser({ ...b, job: dup(b.job, "nonce", b.job.nonce) }, false));
		addText("json-duplicate-job-key-differs", "json",
			ser({ ...b, job: dup(b.job, "maxPrice", "1") }, false));
		addText("json-duplicate-receipt-key", "json",
			ser({ ...b, receipt: dup(b.receipt, "price", b.receipt.price) }, false));
		addText("json-nan", "json", ser({ ...b, job: { ...b.job, nonce: new Raw("NaN") } }, false));
		addText("json-bad-escape", "json",
			ser({ ...b, receipt: { ...b.receipt, device: new Raw('"cuda\\x"') } }, false));
		addText("json-control-in-string", "json",
			ser({ ...b, receipt: { ...b.receipt, device: new Raw('"cuda\nsm_90"') } }, false));
		addText("json-unquoted-key", "json", compact.replace('"nonce"', "nonce"));
	}
	addText("too-large-padding", "too-large", compact + " ".repeat(70000));

	// ---- field: well-formed JSON, bad schema.  The field is the JSON
	// path the diagnostic must name.
	{
		const F = (name, field, mutate) => {
			const b = clone(std.bundle);
			const r = mutate(b) ?? b;
			addText(name, "field", ser(r, false), field);
		};
		const without = (o, k) => { const c = { ...o }; delete c[k]; return c; };
		const flipCase = (a) => {
			const i = [...a].findIndex((c, j) => j >= 2 && /[a-fA-F]/.test(c));
			const ch = a[i] === a[i].toLowerCase() ? a[i].toUpperCase() : a[i].toLowerCase();
			return a.slice(0, i) + ch + a.slice(i + 1);
		};
		F("field-unknown-top", "extra", (b) => { b.extra = 1; });
		F("field-unknown-job", "job.extra", (b) => { b.job.extra = "x"; });
		F("field-unknown-receipt", "receipt.extra", (b) => { b.receipt.extra = 0; });
		F("field-unknown-domain-salt", "domain.salt", (b) => { b.domain.salt = kh("salt"); });
		F("field-missing-job-nonce", "job.nonce", (b) => ({ ...b, job: without(b.job, "nonce") }));
		F("field-missing-job-customer", "job.customer", (b) => ({ ...b, job: without(b.job, "customer") }));
		F("field-missing-receipt-finishedAt", "receipt.finishedAt",
			(b) => ({ ...b, receipt: without(b.receipt, "finishedAt") }));
		F("field-missing-domain-verifyingContract", "domain.verifyingContract",
			(b) => ({ ...b, domain: without(b.domain, "verifyingContract") }));
		F("field-missing-receiptSignature", "receiptSignature", (b) => without(b, "receiptSignature"));
		F("field-missing-job", "job", (b) => without(b, "job"));
		F("field-job-not-object", "job", (b) => { b.job = "job"; });
		F("field-receipt-array", "receipt", (b) => { b.receipt = [b.receipt]; });
		F("field-inputSize-string", "job.inputSize", (b) => { b.job.inputSize = "2097152"; });
		F("field-kernel-integer", "job.kernel", (b) => { b.job.kernel = 1; });
		F("field-outputSize-float", "receipt.outputSize", (b) => { b.receipt.outputSize = new Raw("16384.0"); });
		F("field-nonce-float-1", "job.nonce", (b) => { b.job.nonce = new Raw("1.0"); });
		F("field-inputSize-exponent", "receipt.inputSize", (b) => { b.receipt.inputSize = new Raw("2e6"); });
		F("field-params-null", "job.params", (b) => { b.job.params = null; });
		F("field-device-true", "receipt.device", (b) => { b.receipt.device = true; });
		F("field-maxPrice-integer", "job.maxPrice", (b) => { b.job.maxPrice = 100; });
		F("field-deadline-2^53", "job.deadline", (b) => { b.job.deadline = new Raw("9007199254740992"); });
		F("field-nonce-2^63-1", "job.nonce", (b) => { b.job.nonce = new Raw("9223372036854775807"); });
		F("field-startedAt-negative", "receipt.startedAt", (b) => { b.receipt.startedAt = -1; });
		F("field-maxPrice-leading-zero", "job.maxPrice", (b) => { b.job.maxPrice = "0100"; });
		F("field-maxPrice-plus", "job.maxPrice", (b) => { b.job.maxPrice = "+100"; });
		F("field-price-minus", "receipt.price", (b) => { b.receipt.price = "-1"; });
		F("field-price-exponent", "receipt.price", (b) => { b.receipt.price = "1e3"; });
		F("field-price-hex", "receipt.price", (b) => { b.receipt.price = "0x64"; });
		F("field-maxPrice-2^256", "job.maxPrice", (b) => { b.job.maxPrice = (U256_MAX + 1n).toString(); });
		F("field-price-empty", "receipt.price", (b) => { b.receipt.price = ""; });
		F("field-price-space", "receipt.price", (b) => { b.receipt.price = " 100"; });
		F("field-price-decimal-point", "receipt.price", (b) => { b.receipt.price = "100.0"; });
		F("field-maxPrice-00", "job.maxPrice", (b) => { b.job.maxPrice = "00"; });
		F("field-outputRoot-short", "receipt.outputRoot", (b) => { b.receipt.outputRoot = b.receipt.outputRoot.slice(0, 64); });
		F("field-outputRoot-long", "receipt.outputRoot", (b) => { b.receipt.outputRoot += "00"; });
		F("field-kernelHash-bad-hex", "job.kernelHash", (b) => { b.job.kernelHash = b.job.kernelHash.slice(0, 65) + "g"; });
		F("field-inputRoot-no-0x", "job.inputRoot", (b) => { b.job.inputRoot = b.job.inputRoot.slice(2); });
		F("field-receipt-job-0X", "receipt.job", (b) => { b.receipt.job = "0X" + b.receipt.job.slice(2); });
		F("field-customer-bad-checksum", "job.customer", (b) => { b.job.customer = flipCase(b.job.customer); });
		F("field-receipt-provider-short", "receipt.provider", (b) => { b.receipt.provider = b.receipt.provider.slice(0, 40); });
		F("field-verifyingContract-bad-checksum", "domain.verifyingContract",
			(b) => { b.domain.verifyingContract = flipCase(b.domain.verifyingContract); });
		F("field-jobSignature-64-bytes", "jobSignature", (b) => { b.jobSignature = b.jobSignature.slice(0, 130); });
		F("field-jobSignature-66-bytes", "jobSignature", (b) => { b.jobSignature += "00"; });
		F("field-receiptSignature-bad-hex", "receiptSignature",
			(b) => { b.receiptSignature = b.receiptSignature.slice(0, 131) + "z"; });
		F("field-jobSignature-no-0x", "jobSignature", (b) => { b.jobSignature = b.jobSignature.slice(2); });
		F("field-jobSignature-integer", "jobSignature", (b) => { b.jobSignature = 0; });
		F("field-chainId-string", "domain.chainId", (b) => { b.domain.chainId = "31337"; });
		F("field-chainId-float", "domain.chainId", (b) => { b.domain.chainId = new Raw("31337.0"); });
		F("field-chainId-negative", "domain.chainId", (b) => { b.domain.chainId = -1; });
		F("field-chainId-2^53", "domain.chainId", (b) => { b.domain.chainId = new Raw("9007199254740992"); });
		F("field-domain-name-integer", "domain.name", (b) => { b.domain.name = 5; });
		// Not Assay statements (see the eip712_assay cases above).
		F("field-kernel-empty", "job.kernel", (b) => { b.job.kernel = ""; });
		F("field-kernel-without-version", "job.kernel", (b) => { b.job.kernel = "matmul_f32"; });
		F("field-params-empty", "job.params", (b) => { b.job.params = ""; });
		F("field-device-empty", "receipt.device", (b) => { b.receipt.device = ""; });
	}

	// ---- domain
	addCheck("domain-name", "domain", build({ name: "Assay2" }).bundle);
	addCheck("domain-name-case", "domain", build({ name: "assay" }).bundle);
	addCheck("domain-version", "domain", build({ version: "2" }).bundle);
	addCheck("domain-empty-name", "domain", build({ name: "" }).bundle);

	// ---- job-signature / receipt-signature: unusable signatures
	{
		const mangle = (sig, how) => {
			const { r, s, v } = sigSplit(sig);
			switch (how) {
			case "high-s": return sigJoin(r, N - s, v === 27 ? 28 : 27);
			case "v-29": return sigJoin(r, s, 29);
			case "v-2": return sigJoin(r, s, 2);
			case "r-zero": return sigJoin(0n, s, v);
			case "s-zero": return sigJoin(r, 0n, v);
			case "r-n": return sigJoin(N, s, v);
			case "no-point": return sigJoin(rWithoutPoint("bundle no point"), s, v);
			}
			throw new Error(how);
		};
		const expected = {
			"high-s": "sig-high-s", "v-29": "sig-v", "v-2": "sig-v", "r-zero": "sig-format",
			"s-zero": "sig-format", "r-n": "sig-format", "no-point": "sig-recover",
		};
		for (const how of Object.keys(expected)) {
			const b = clone(std.bundle);
			b.jobSignature = mangle(b.jobSignature, how);
			addCheck(`job-signature-${how}`, "job-signature", b, { sig_error: expected[how] });
			const c = clone(std.bundle);
			c.receiptSignature = mangle(c.receiptSignature, how);
			addCheck(`receipt-signature-${how}`, "receipt-signature", c, { sig_error: expected[how] });
		}
	}

	// ---- job-signer
	addCheck("job-signer-other-key", "job-signer", build({ jobSignerKey: K.mallory }).bundle);
	addCheck("job-signer-provider-key", "job-signer", build({ jobSignerKey: K.provider }).bundle);
	{
		const t = (name, mutate, multi = false) => {
			const b = clone(std.bundle);
			mutate(b);
			addCheck(name, "job-signer", b, { multi });
		};
		// A tampered job changes the job id, so receipt.job no longer
		// links to it either: job-link fails too, later.
		t("job-signer-tampered-maxPrice", (b) => { b.job.maxPrice = "5000000000000001"; }, true);
		t("job-signer-tampered-params", (b) => { b.job.params = '{"relu":false}'; }, true);
		t("job-signer-tampered-nonce", (b) => { b.job.nonce = 43; }, true);
		t("job-signer-tampered-deadline", (b) => { b.job.deadline += 1; }, true);
		t("job-signer-tampered-customer", (b) => { b.job.customer = addrOf(K.customer2); }, true);
		// Wrong chain: both signatures were made for another domain.
		t("job-signer-wrong-chain", (b) => { b.domain.chainId = 1; }, true);
		t("job-signer-wrong-contract", (b) => {
			b.domain.verifyingContract = ESCROW_MAINNET;
		}, true);
	}

	// ---- receipt-signer
	addCheck("receipt-signer-other-key", "receipt-signer", build({ receiptSignerKey: K.mallory }).bundle);
	addCheck("receipt-signer-customer-key", "receipt-signer", build({ receiptSignerKey: K.customer }).bundle);
	{
		const t = (name, mutate) => {
			const b = clone(std.bundle);
			mutate(b);
			addCheck(name, "receipt-signer", b);
		};
		t("receipt-signer-tampered-price", (b) => { b.receipt.price = "4200000000000001"; });
		t("receipt-signer-tampered-outputRoot", (b) => { b.receipt.outputRoot = kh("other output"); });
		t("receipt-signer-tampered-device", (b) => { b.receipt.device = "cpu"; });
		t("receipt-signer-tampered-finishedAt", (b) => { b.receipt.finishedAt += 1; });
		t("receipt-signer-tampered-outputSize", (b) => { b.receipt.outputSize += 1; });
	}

	// ---- later checks, each otherwise correctly signed
	addCheck("provider-mismatch", "provider-mismatch",
		build({ receiptProviderKey: K.provider2 }).bundle);
	addCheck("provider-mismatch-mallory", "provider-mismatch",
		build({ receiptProviderKey: K.mallory }).bundle);
	addCheck("job-link-other-hash", "job-link", build({ receipt: { job: kh("another job") } }).bundle);
	{
		// The job's id on another chain is not this bundle's job id.
		const onMainnet = build({ chainId: 1, vc: ESCROW });
		addCheck("job-link-other-chain-id", "job-link",
			build({ receipt: { job: onMainnet.jobId } }).bundle);
		addCheck("job-link-receipt-id", "job-link",
			build({ receipt: { job: std.receiptId } }).bundle);
	}
	addCheck("kernel-mismatch", "kernel-mismatch",
		build({ receipt: { kernelHash: kh("kernel gemm_i8@1") } }).bundle);
	addCheck("input-mismatch-root", "input-mismatch",
		build({ receipt: { inputRoot: kh("another input") } }).bundle);
	addCheck("input-mismatch-size", "input-mismatch",
		build({ receipt: { inputSize: 2097153 } }).bundle);
	addCheck("price-101-over-100", "price", build({ job: { maxPrice: "100" }, receipt: { price: "101" } }).bundle);
	addCheck("price-100-over-99", "price", build({ job: { maxPrice: "99" }, receipt: { price: "100" } }).bundle);
	addCheck("price-1-over-0", "price", build({ job: { maxPrice: "0" }, receipt: { price: "1" } }).bundle);
	addCheck("price-u256-max", "price", build({ job: { maxPrice: (U256_MAX - 1n).toString() },
		receipt: { price: U256_MAX.toString() } }).bundle);
	addCheck("price-high-word", "price", build({ job: { maxPrice: (1n << 200n).toString() },
		receipt: { price: ((1n << 200n) + 1n).toString() } }).bundle);
	addCheck("time-1ms", "time", build({ receipt: { startedAt: 1767225000000,
		finishedAt: 1767224999999 } }).bundle);
	addCheck("time-zero", "time", build({ receipt: { startedAt: 1, finishedAt: 0 } }).bundle);

	write("bundles.json", { valid, invalid });
}
