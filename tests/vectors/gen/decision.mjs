// decision.mjs: known-answer vectors for the operator's ProviderDecision
// (the escrow's approved registry, docs/escrow.md "Approved registry"),
// computed with ethers.js v6 as gen.mjs computes those of PROTOCOL.md
// section 3.  Writes tests/vectors/eip712_decision.json, which
// tests/test_registry.c registry/decision_vectors reads.
//
//   cd tests/vectors/gen && npm ci && node decision.mjs
//
// Deterministic: keys and addresses derive from fixed strings.

import { ethers } from "ethers";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import assert from "node:assert/strict";

const { keccak256, toUtf8Bytes, getAddress, SigningKey, TypedDataEncoder, concat,
	dataSlice, recoverAddress } = ethers;

assert.equal(ethers.version, "6.17.0", "package.json pins ethers 6.17.0");

const here = path.dirname(fileURLToPath(import.meta.url));
const kh = (s) => keccak256(toUtf8Bytes(s));
const keyFor = (label) => kh("assay vectors key: " + label);
const addrOf = (key) => ethers.computeAddress(new SigningKey(key).publicKey);
const signDigest = (key, digest) => new SigningKey(key).sign(digest).serialized;

const TYPE = [
	["operator", "address"], ["provider", "address"], ["action", "string"],
	["organisation", "string"], ["contact", "string"], ["expires", "uint64"],
	["nonce", "uint64"], ["issuedAt", "uint64"],
];
const TYPE_STRING = "ProviderDecision(address operator,address provider,string action,string organisation,string contact,uint64 expires,uint64 nonce,uint64 issuedAt)";
const types = { ProviderDecision: TYPE.map(([name, type]) => ({ name, type })) };
assert.equal(TypedDataEncoder.from(types).encodeType("ProviderDecision"), TYPE_STRING);

const U53_MAX = 2 ** 53 - 1;
const ESCROW = getAddress(dataSlice(kh("assay escrow 31337"), 12));
const OPERATOR = keyFor("operator");
const PROVIDER = addrOf(keyFor("provider"));

const base = (o) => ({
	operator: addrOf(OPERATOR), provider: PROVIDER, action: "approve",
	organisation: "Example Compute GmbH", contact: "ops@example.com",
	expires: 1798761600, nonce: 1, issuedAt: 1767225600, ...o,
});
// Cases that EIP-712 hashes but the library must refuse carry the
// field its diagnostic names.
const cases = [
	["approve", 31337, {}],
	["suspend", 31337, { action: "suspend", organisation: "", contact: "", expires: 0, nonce: 2 }],
	["revoke", 1, { action: "revoke", organisation: "", contact: "", expires: 0, nonce: 3 }],
	["approve-unicode", 31337, { organisation: "Größe Rechenzentrum 東京 株式会社",
		contact: "+49 30 1234567" }],
	["approve-max", 31337, { expires: U53_MAX, nonce: U53_MAX, issuedAt: U53_MAX,
		organisation: "O".repeat(128), contact: "c".repeat(256) }],
	["action-unknown", 31337, { action: "delete" }, "action"],
	["organisation-too-long", 31337, { organisation: "O".repeat(129) }, "organisation"],
];

const out = cases.map(([name, chainId, o, refusedField]) => {
	const domain = { name: "Assay", version: "1", chainId, verifyingContract: ESCROW };
	const message = base(o);
	const value = { ...message, expires: BigInt(message.expires),
		nonce: BigInt(message.nonce), issuedAt: BigInt(message.issuedAt) };
	const domainSeparator = TypedDataEncoder.hashDomain(domain);
	const hashStruct = TypedDataEncoder.hashStruct("ProviderDecision", types, value);
	const digest = TypedDataEncoder.hash(domain, types, value);
	assert.equal(digest, keccak256(concat(["0x1901", domainSeparator, hashStruct])));
	const signature = signDigest(OPERATOR, digest);
	assert.equal(recoverAddress(digest, signature), addrOf(OPERATOR));
	return {
		name, domain, message, key: OPERATOR, signer: addrOf(OPERATOR),
		typeString: TYPE_STRING, typeHash: kh(TYPE_STRING),
		domainSeparator, hashStruct, digest, signature,
		refused: refusedField ? { error: "field", field: refusedField } : null,
	};
});

const file = path.resolve(here, "..", "eip712_decision.json");
writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
console.log(`wrote ${path.relative(process.cwd(), file)}`);
