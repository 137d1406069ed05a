// account.mjs: reads an account of an AssayEscrow and its token with
// ethers.js, independently of the C client whose money commands
// tests/test_evm_money.c checks against it.  The ABI fragments are
// written out here from PROTOCOL.md section 7 and ERC-20, not taken
// from the artifacts the client embeds.
//
//   node account.mjs RPC_URL ESCROW ADDRESS [BLOCK]
//
// Prints one JSON line, every value read at BLOCK (a number; default the
// latest, whose number is printed):
//   {"chainId":N,"block":N,"token":"0x..","available":"dec","bonded":"dec",
//    "unbonding":"dec","releaseAt":"dec","wallet":"dec","allowance":"dec",
//    "escrowHolds":"dec","nonce":N}
// wallet is the token balance of ADDRESS, allowance what ADDRESS allows
// the escrow, escrowHolds the token balance of the escrow itself, nonce
// the transactions ADDRESS has sent.  Exits 1 with the error otherwise.
import { ethers } from "ethers";

const ESCROW_ABI = [
	"function token() view returns (address)",
	"function available(address who) view returns (uint256)",
	"function bonded(address who) view returns (uint256)",
	"function unbonding(address who) view returns (uint256 amount, uint64 releaseAt)",
];
const ERC20_ABI = [
	"function balanceOf(address who) view returns (uint256)",
	"function allowance(address owner, address spender) view returns (uint256)",
];

async function main() {
	const [url, escrowAddr, who, blockArg] = process.argv.slice(2);
	if (!url || !escrowAddr || !who) throw new Error("usage: account.mjs RPC_URL ESCROW ADDRESS [BLOCK]");
	const provider = new ethers.JsonRpcProvider(url, undefined, { cacheTimeout: -1 });
	const chainId = Number((await provider.getNetwork()).chainId);
	const blockTag = blockArg === undefined ? await provider.getBlockNumber() : Number(blockArg);
	const at = { blockTag };
	const escrow = new ethers.Contract(ethers.getAddress(escrowAddr), ESCROW_ABI, provider);
	const tokenAddr = await escrow.token(at);
	const token = new ethers.Contract(tokenAddr, ERC20_ABI, provider);
	const address = ethers.getAddress(who);
	const u = await escrow.unbonding(address, at);
	const out = {
		chainId,
		block: blockTag,
		token: tokenAddr,
		available: (await escrow.available(address, at)).toString(),
		bonded: (await escrow.bonded(address, at)).toString(),
		unbonding: u.amount.toString(),
		releaseAt: u.releaseAt.toString(),
		wallet: (await token.balanceOf(address, at)).toString(),
		allowance: (await token.allowance(address, escrow.target, at)).toString(),
		escrowHolds: (await token.balanceOf(escrow.target, at)).toString(),
		nonce: await provider.getTransactionCount(address, blockTag),
	};
	console.log(JSON.stringify(out));
}

main().catch((err) => {
	console.error("account.mjs: " + (err.shortMessage ?? err.message));
	process.exit(1);
});
