// merkle_ref.mjs: an independent reference for the commitment of
// shared/PROTOCOL.md section 1, written from RFC 6962 (section 2.1) and
// RFC 9162 (section 2.1.3.2, audit path verification) with node:crypto
// only.  It writes ../merkle.json, the known answers that
// tests/test_vectors.c checks the receipts library against.
//
//   cd tests/vectors/gen && node merkle_ref.mjs
//
// Deterministic: the test strings are a fixed function of the byte index,
//   byte i = (i * 131 + (i >> 16)) & 0xff
// which the C side computes the same way.

import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import assert from "node:assert/strict";

const CHUNK = 65536;
const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, "..");

function sha256(...parts) {
	const h = createHash("sha256");
	for (const p of parts) h.update(p);
	return h.digest();
}

const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

export function content(n) {
	const b = Buffer.alloc(n);
	for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 16)) & 0xff;
	return b;
}

function chunksOf(buf) {
	const out = [];
	for (let off = 0; off < buf.length; off += CHUNK)
		out.push(buf.subarray(off, Math.min(off + CHUNK, buf.length)));
	return out;
}

// Largest power of two strictly smaller than n (n >= 2).
function split(n) {
	let k = 1;
	while (k * 2 < n) k *= 2;
	return k;
}

// MTH(D[n]) of RFC 6962 section 2.1, over leaf hashes.
function mth(leaves) {
	const n = leaves.length;
	if (n === 0) return sha256(Buffer.alloc(0));
	if (n === 1) return leaves[0];
	const k = split(n);
	return sha256(NODE, mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

// PATH(m, D[n]) of RFC 6962 section 2.1.1: the deepest sibling first.
function auditPath(m, leaves) {
	const n = leaves.length;
	if (n <= 1) return [];
	const k = split(n);
	if (m < k)
		return [...auditPath(m, leaves.slice(0, k)), mth(leaves.slice(k))];
	return [...auditPath(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

function chunkLen(size, index) {
	const start = index * BigInt(CHUNK);
	if (start >= size) return -1n;
	const rest = size - start;
	return rest < BigInt(CHUNK) ? rest : BigInt(CHUNK);
}

// RFC 9162 section 2.1.3.2, plus the protocol's rule that the chunk has
// exactly the length of chunk `index` of a string of `size` bytes.
// size and index are BigInt so that flipped high bits stay exact.
function verify(root, size, index, chunk, pathHashes) {
	const nLeaves = (size + BigInt(CHUNK) - 1n) / BigInt(CHUNK);
	if (index >= nLeaves) return false;
	if (chunkLen(size, index) !== BigInt(chunk.length)) return false;
	let fn = index;
	let sn = nLeaves - 1n;
	let r = sha256(LEAF, chunk);
	for (const p of pathHashes) {
		if (sn === 0n) return false;
		if ((fn & 1n) === 1n || fn === sn) {
			r = sha256(NODE, p, r);
			while ((fn & 1n) === 0n && fn !== 0n) {
				fn >>= 1n;
				sn >>= 1n;
			}
		} else {
			r = sha256(NODE, r, p);
		}
		fn >>= 1n;
		sn >>= 1n;
	}
	return sn === 0n && r.equals(root);
}

const hex = (b) => "0x" + b.toString("hex");

const SIZES = [
	0,
	1,
	65535,
	65536,
	65537,
	3 * 65536 + 1,
	5 * 65536 + 7,
	4194304 + 123,
];

// A second, bottom-up computation of the root (level by level, an odd
// last node promoted), to cross-check the recursive one above.
function rootBottomUp(leaves) {
	if (leaves.length === 0) return sha256(Buffer.alloc(0));
	let level = leaves;
	while (level.length > 1) {
		const next = [];
		for (let i = 0; i + 1 < level.length; i += 2)
			next.push(sha256(NODE, level[i], level[i + 1]));
		if (level.length % 2 === 1) next.push(level[level.length - 1]);
		level = next;
	}
	return level[0];
}

const out = [];
for (const size of SIZES) {
	const data = content(size);
	const chunks = chunksOf(data);
	const leaves = chunks.map((c) => sha256(LEAF, c));
	const root = mth(leaves);
	assert.ok(root.equals(rootBottomUp(leaves)), `root mismatch at ${size}`);
	if (size === 0)
		assert.equal(hex(root),
			"0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const entry = { size, chunks: chunks.length, root: hex(root), proofs: [] };
	const indices = [...new Set(chunks.length === 0 ? [] :
		[0, chunks.length - 1, Math.floor(chunks.length / 2)])].sort((a, b) => a - b);
	for (const index of indices) {
		const p = auditPath(index, leaves);
		const S = BigInt(size), I = BigInt(index);
		assert.ok(verify(root, S, I, chunks[index], p), `proof ${size}/${index}`);
		// Every single-bit change of the index must be refused.
		for (let b = 0n; b < 64n; b++)
			assert.ok(!verify(root, S, I ^ (1n << b), chunks[index], p),
				`index flip ${b} verifies at ${size}/${index}`);
		// A single-bit change of the size is refused unless the tree
		// shape and the chunk's length along the path survive it: the
		// RFC 6962 root does not bind the size by itself, so some flips
		// (for example a few bytes more in a last chunk this proof does
		// not touch) still verify.  Those bits are listed.
		const sizeFlipVerifies = [];
		for (let b = 0n; b < 64n; b++) {
			const s2 = (S ^ (1n << b)) & ((1n << 64n) - 1n);
			if (verify(root, s2, I, chunks[index], p))
				sizeFlipVerifies.push(Number(b));
		}
		entry.proofs.push({
			index,
			path: p.map(hex),
			size_flip_verifies: sizeFlipVerifies,
		});
	}
	out.push(entry);
}

const file = path.join(outDir, "merkle.json");
writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
console.log(`wrote ${path.relative(process.cwd(), file)} (${out.length} sizes)`);
