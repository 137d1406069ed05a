// job.mjs: the statements and jobs of an AssayEscrow with ethers.js,
// independently of the C client whose statement commands
// tests/test_evm_statements.c checks against it.  The EIP-712 types are
// lib.mjs's (written out from PROTOCOL.md section 3); the view and event
// fragments are written out here from section 7 and
// chain-adapter/evm/src/AssayEscrow.sol, not taken from the artifacts.
//
//   node job.mjs digest TYPE RPC_URL ESCROW FILE      the statement's EIP-712 digest
//   node job.mjs sign TYPE RPC_URL ESCROW FILE KEY    its signature by KEY (0x + 64 hex)
//   node job.mjs state RPC_URL ESCROW JOB [BLOCK]     the job, at BLOCK (default latest)
//
// TYPE is JobSpec, Receipt or Attestation; FILE its JSON form (section 4);
// the domain is "Assay", "1", the node's chain id, ESCROW.  `state` prints
// one JSON line: {"block":N,"state":N,"customer","provider","maxPrice",
// "price","deadline","openedAt","windowEnd","openDisputes","commitment",
// "attested":[verdicts of the job's Attested events up to BLOCK]}.
// Exits 1 with the error otherwise.
import fs from "node:fs";
import { ethers } from "ethers";
import { TYPES } from "./lib.mjs";

const ESCROW_ABI = [
	"function jobState(bytes32 job) view returns (uint8)",
	"function jobInfo(bytes32 job) view returns (tuple(address customer, uint40 deadline, uint40 openedAt, uint8 state, uint8 openDisputes, address provider, uint40 windowEnd, uint128 maxPrice, uint128 price, bytes32 commitment))",
	"event Attested(bytes32 indexed job, address indexed validator, uint8 verdict)",
];

async function domain(provider, escrow) {
	const chainId = (await provider.getNetwork()).chainId;
	return { name: "Assay", version: "1", chainId, verifyingContract: ethers.getAddress(escrow) };
}

function statement(type, file) {
	if (!TYPES[type]) throw new Error("TYPE must be JobSpec, Receipt or Attestation");
	return { types: { [type]: TYPES[type] }, value: JSON.parse(fs.readFileSync(file, "utf8")) };
}

async function state(provider, escrowAddr, job, blockArg) {
	const blockTag = blockArg === undefined ? await provider.getBlockNumber() : Number(blockArg);
	const escrow = new ethers.Contract(ethers.getAddress(escrowAddr), ESCROW_ABI, provider);
	const j = await escrow.jobInfo(job, { blockTag });
	const events = await escrow.queryFilter(escrow.filters.Attested(job), 0, blockTag);
	return {
		block: blockTag,
		state: Number(await escrow.jobState(job, { blockTag })),
		customer: j.customer, provider: j.provider,
		maxPrice: j.maxPrice.toString(), price: j.price.toString(),
		deadline: Number(j.deadline), openedAt: Number(j.openedAt), windowEnd: Number(j.windowEnd),
		openDisputes: Number(j.openDisputes), commitment: j.commitment,
		attested: events.map((e) => Number(e.args.verdict)),
	};
}

async function main() {
	const [mode, ...a] = process.argv.slice(2);
	const provider = new ethers.JsonRpcProvider(mode === "state" ? a[0] : a[1], undefined,
		{ cacheTimeout: -1 });
	if (mode === "digest" || mode === "sign") {
		const { types, value } = statement(a[0], a[3]);
		const dom = await domain(provider, a[2]);
		if (mode === "digest") console.log(ethers.TypedDataEncoder.hash(dom, types, value));
		else console.log(await new ethers.Wallet(a[4]).signTypedData(dom, types, value));
	} else if (mode === "state") {
		console.log(JSON.stringify(await state(provider, a[1], a[2], a[3])));
	} else {
		throw new Error("usage: job.mjs digest|sign|state ...");
	}
}

main().catch((err) => {
	console.error("job.mjs: " + (err.shortMessage ?? err.message));
	process.exit(1);
});
