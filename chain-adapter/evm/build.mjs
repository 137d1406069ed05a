// build.mjs: compiles src/*.sol with the pinned solc-js (standard JSON,
// every setting fixed) and writes artifacts/<Name>.json and <Name>.bin.
// `node build.mjs --check` recompiles and fails when the bytes differ from
// the committed artifacts (the bytecode is reproducible from the repo).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = path.dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const CONTRACTS = ["DevToken", "AssayEscrow"].filter((n) =>
	fs.existsSync(path.join(here, "src", n + ".sol")));

const settings = {
	optimizer: { enabled: true, runs: 200 },
	evmVersion: "cancun",
	metadata: { bytecodeHash: "none" },
	outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
const sources = {};
for (const n of CONTRACTS) {
	const p = "src/" + n + ".sol";
	sources[p] = { content: fs.readFileSync(path.join(here, p), "utf8") };
}
function findImports(p) {
	const f = path.join(here, "node_modules", p);
	if (fs.existsSync(f)) return { contents: fs.readFileSync(f, "utf8") };
	return { error: "not found: " + p };
}
const out = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings }),
	{ import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === "error");
for (const e of out.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let bad = 0;
fs.mkdirSync(path.join(here, "artifacts"), { recursive: true });
for (const n of CONTRACTS) {
	const c = out.contracts["src/" + n + ".sol"][n];
	const art = {
		contractName: n,
		abi: c.abi,
		bytecode: "0x" + c.evm.bytecode.object,
		deployedBytecode: "0x" + c.evm.deployedBytecode.object,
		solcVersion: solc.version(),
		settings,
	};
	const json = JSON.stringify(art, null, 2) + "\n";
	const bin = c.evm.bytecode.object + "\n";
	const jp = path.join(here, "artifacts", n + ".json");
	const bp = path.join(here, "artifacts", n + ".bin");
	if (check) {
		const same = fs.existsSync(jp) && fs.readFileSync(jp, "utf8") === json &&
			fs.existsSync(bp) && fs.readFileSync(bp, "utf8") === bin;
		console.log(`${n}: ${same ? "reproduced" : "DIFFERS from the committed artifact"}`);
		if (!same) bad = 1;
	} else {
		fs.writeFileSync(jp, json);
		fs.writeFileSync(bp, bin);
		console.log(`${n}: ${c.evm.bytecode.object.length / 2} bytes of creation code`);
	}
}
process.exit(bad);
