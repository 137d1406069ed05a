// lib.mjs: what the ethers.js checks share: a private anvil on a free
// loopback port, the committed artifacts deployed, wallets funded, and the
// EIP-712 types of PROTOCOL.md section 3 written out independently of the
// contract (ethers computes the digests).
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ethers } from "ethers";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "..");
const ANVIL = path.join(root, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
// anvil's first default account (public test key, holds devnet ETH only).
const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

export const TYPES = {
	JobSpec: [
		{ name: "customer", type: "address" }, { name: "provider", type: "address" },
		{ name: "kernel", type: "string" }, { name: "kernelHash", type: "bytes32" },
		{ name: "params", type: "string" }, { name: "inputRoot", type: "bytes32" },
		{ name: "inputSize", type: "uint64" }, { name: "maxPrice", type: "uint256" },
		{ name: "deadline", type: "uint64" }, { name: "nonce", type: "uint64" },
	],
	Receipt: [
		{ name: "job", type: "bytes32" }, { name: "kernelHash", type: "bytes32" },
		{ name: "inputRoot", type: "bytes32" }, { name: "inputSize", type: "uint64" },
		{ name: "outputRoot", type: "bytes32" }, { name: "outputSize", type: "uint64" },
		{ name: "price", type: "uint256" }, { name: "device", type: "string" },
		{ name: "startedAt", type: "uint64" }, { name: "finishedAt", type: "uint64" },
		{ name: "provider", type: "address" },
	],
	Attestation: [
		{ name: "receipt", type: "bytes32" }, { name: "outputRoot", type: "bytes32" },
		{ name: "verdict", type: "uint8" }, { name: "validator", type: "address" },
	],
};

export const E18 = 10n ** 18n;

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on("error", reject);
		s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
	});
}

export function artifact(name) {
	return JSON.parse(fs.readFileSync(path.join(root, "artifacts", name + ".json"), "utf8"));
}

// Starts anvil, deploys DevToken and AssayEscrow (default parameters of
// docs/escrow.md, referee and treasury = the deployer).  `stop()` kills anvil.
export async function start() {
	const port = await freePort();
	const proc = spawn(ANVIL, ["--port", String(port), "--host", "127.0.0.1", "--silent"],
		{ stdio: "ignore" });
	const stop = () => { try { proc.kill("SIGKILL"); } catch { /* gone */ } };
	process.on("exit", stop);
	const url = `http://127.0.0.1:${port}`;
	for (let i = 0; ; i++) {
		try {
			const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" },
				body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
			if (res.ok) break;
		} catch { /* not up yet */ }
		if (i > 400) { stop(); throw new Error("anvil did not answer on port " + port); }
		await new Promise((r) => setTimeout(r, 50));
	}
	// No response cache: a nonce read right after a mined tx must be fresh.
	const provider = new ethers.JsonRpcProvider(url, 31337,
		{ staticNetwork: ethers.Network.from(31337), cacheTimeout: -1, pollingInterval: 50 });
	const deployer = new ethers.NonceManager(new ethers.Wallet(DEPLOYER_KEY, provider));
	const t = artifact("DevToken");
	const e = artifact("AssayEscrow");
	const token = await (await new ethers.ContractFactory(t.abi, t.bytecode, deployer).deploy()).waitForDeployment();
	const me = await deployer.getAddress();
	const escrow = await (await new ethers.ContractFactory(e.abi, e.bytecode, deployer).deploy(
		await token.getAddress(), me, me, 100n * E18, 1000, 5000, 2000, 3600, 600, 604800)).waitForDeployment();
	const domain = { name: "Assay", version: "1", chainId: 31337, verifyingContract: await escrow.getAddress() };
	return { provider, deployer, token, escrow, domain, stop };
}

// A new wallet with devnet ETH, `amount` tokens deposited and `stake` bonded
// (its own key signs the approve and the deposit).
export async function party(env, amount, stake) {
	const w = ethers.Wallet.createRandom().connect(env.provider);
	await (await env.deployer.sendTransaction({ to: w.address, value: E18 })).wait();
	const gas = {};
	await (await env.token.connect(env.deployer).mint(w.address, amount)).wait();
	const ap = await (await env.token.connect(w).approve(await env.escrow.getAddress(), amount)).wait();
	const dp = await (await env.escrow.connect(w).deposit(amount)).wait();
	gas.approve = ap.gasUsed;
	gas.deposit = dp.gasUsed;
	if (stake) await (await env.escrow.connect(w).stake(stake)).wait();
	return { wallet: w, gas };
}

export async function advance(env, seconds) {
	await env.provider.send("evm_increaseTime", [seconds]);
	await env.provider.send("evm_mine", []);
}

export async function now(env) {
	return BigInt((await env.provider.getBlock("latest")).timestamp);
}
