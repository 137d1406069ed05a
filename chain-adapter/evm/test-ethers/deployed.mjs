// deployed.mjs: checks a deployment made by `assay chain deploy` with
// ethers.js, independently of the C code that made it (tests/test_evm_rpc.c
// runs it).  Exits 0 and prints the number of checks when every one holds;
// exits 1 with the first failure otherwise.
//
//   node deployed.mjs RPC_URL EXPECT_JSON
//
// EXPECT_JSON: {"chainId":N,"escrow":"0x..","token":"0x..","devToken":bool,
//   "referee":"0x..","treasury":"0x..","minStake":"dec","sampleBps":"dec",
//   "slashBps":"dec","bountyBps":"dec","challengeWindow":"dec",
//   "refereeDeadline":"dec","unbondingPeriod":"dec"}
//
// - the escrow's code is the committed artifact's deployedBytecode, byte
//   for byte outside its immutable slots (the zero PUSH32 immediates solc
//   leaves for them), and every immutable slot holds one of the values the
//   constructor was given or derives (parameters, token, this address,
//   chain id, the EIP-712 name, version and domain separator);
// - a devnet token's code is DevToken's deployedBytecode exactly, with the
//   name, symbol and decimals of src/DevToken.sol;
// - token(), every parameter getter and eip712Domain() return what was
//   asked for.
import { ethers } from "ethers";
import { artifact } from "./lib.mjs";

let checks = 0;
function same(got, want, what) {
	if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
	checks++;
}

// Offsets of the 32-byte immediates of PUSH32 instructions that are all zero.
function immutableSlots(code) {
	const slots = [];
	for (let i = 0; i < code.length;) {
		const op = code[i];
		if (op >= 0x60 && op <= 0x7f) {
			const n = op - 0x5f;
			if (op === 0x7f && code.slice(i + 1, i + 33).every((b) => b === 0)) slots.push(i + 1);
			i += 1 + n;
		} else {
			i++;
		}
	}
	return slots;
}

const shortString = (s) => {
	const b = ethers.toUtf8Bytes(s);
	const w = new Uint8Array(32);
	w.set(b);
	w[31] = b.length;
	return ethers.hexlify(w);
};

function checkEscrowCode(code, want) {
	const art = ethers.getBytes(artifact("AssayEscrow").deployedBytecode);
	same(code.length, art.length, "escrow code length");
	const slots = immutableSlots(art);
	if (slots.length === 0) throw new Error("no immutable slots found in the artifact");
	const inSlot = new Uint8Array(art.length);
	for (const s of slots) inSlot.fill(1, s, s + 32);
	for (let i = 0; i < art.length; i++)
		if (!inSlot[i] && art[i] !== code[i]) throw new Error(`escrow code differs at byte ${i}`);
	checks++;
	const domain = { name: "Assay", version: "1", chainId: want.chainId, verifyingContract: want.escrow };
	const word = (v) => ethers.toBeHex(BigInt(v), 32);
	// Value -> the names it stands for (two parameters may be equal).
	const expected = new Map();
	for (const [v, name] of [
		[word(want.token), "token"], [word(want.referee), "referee"], [word(want.treasury), "treasury"],
		[word(want.minStake), "minStake"], [word(want.sampleBps), "sampleBps"],
		[word(want.slashBps), "slashBps"], [word(want.bountyBps), "bountyBps"],
		[word(want.challengeWindow), "challengeWindow"], [word(want.refereeDeadline), "refereeDeadline"],
		[word(want.unbondingPeriod), "unbondingPeriod"], [word(want.escrow), "this"],
		[word(want.chainId), "chainId"], [ethers.TypedDataEncoder.hashDomain(domain), "domainSeparator"],
		[ethers.id("Assay"), "hashedName"], [ethers.id("1"), "hashedVersion"],
		[shortString("Assay"), "name"], [shortString("1"), "version"],
	]) expected.set(v, [...(expected.get(v) ?? []), name]);
	const seen = new Set();
	for (const s of slots) {
		const v = ethers.hexlify(code.slice(s, s + 32));
		if (!expected.has(v)) throw new Error(`immutable at byte ${s} holds ${v}, not a given value`);
		for (const name of expected.get(v)) seen.add(name);
	}
	for (const name of ["token", "this", "domainSeparator", "referee", "treasury", "minStake",
		"sampleBps", "slashBps", "bountyBps", "challengeWindow", "refereeDeadline", "unbondingPeriod"])
		if (!seen.has(name)) throw new Error(`no immutable holds ${name}`);
	checks++;
}

async function main() {
	const [url, expectJson] = process.argv.slice(2);
	const want = JSON.parse(expectJson);
	const provider = new ethers.JsonRpcProvider(url, want.chainId,
		{ staticNetwork: ethers.Network.from(want.chainId), cacheTimeout: -1 });
	same(Number((await provider.getNetwork()).chainId), want.chainId, "chain id");
	const e = artifact("AssayEscrow");
	const t = artifact("DevToken");
	checkEscrowCode(ethers.getBytes(await provider.getCode(want.escrow)), want);
	const escrow = new ethers.Contract(want.escrow, e.abi, provider);
	same(await escrow.token(), ethers.getAddress(want.token), "token()");
	same(await escrow.referee(), ethers.getAddress(want.referee), "referee()");
	same(await escrow.treasury(), ethers.getAddress(want.treasury), "treasury()");
	for (const p of ["minStake", "sampleBps", "slashBps", "bountyBps", "challengeWindow",
		"refereeDeadline", "unbondingPeriod"])
		same(await escrow[p](), BigInt(want[p]), `${p}()`);
	const d = await escrow.eip712Domain();
	same(d.fields, "0x0f", "eip712Domain fields");
	same(d.name, "Assay", "eip712Domain name");
	same(d.version, "1", "eip712Domain version");
	same(d.chainId, BigInt(want.chainId), "eip712Domain chainId");
	same(d.verifyingContract, ethers.getAddress(want.escrow), "eip712Domain verifyingContract");
	same(d.salt, ethers.ZeroHash, "eip712Domain salt");
	same(d.extensions.length, 0, "eip712Domain extensions");
	if (want.devToken) {
		same(await provider.getCode(want.token), t.deployedBytecode, "DevToken code");
		const token = new ethers.Contract(want.token, t.abi, provider);
		same(await token.name(), "Assay Devnet Token", "name()");
		same(await token.symbol(), "ADT", "symbol()");
		same(await token.decimals(), 18n, "decimals()");
	}
	console.log(`deployed.mjs: ${checks} checks against ethers.js ${ethers.version} passed`);
}

main().catch((err) => {
	console.error("deployed.mjs: " + err.message);
	process.exit(1);
});
