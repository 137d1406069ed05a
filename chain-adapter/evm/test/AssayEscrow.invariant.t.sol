// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AssayEscrow} from "../src/AssayEscrow.sol";
import {DevToken} from "../src/DevToken.sol";
import {EscrowFixture} from "./AssayEscrow.t.sol";

/// Drives random jobs through an honest provider, a validator that claims
/// fraud at random, a referee that decides by the truth, and time.  Keeps
/// ghost sums: what is locked in unsettled jobs, how often each job ended.
contract Handler is EscrowFixture {
    bytes32 internal constant TRUE_OUT = keccak256("the true output");
    bytes32[] public jobs;
    mapping(bytes32 => AssayEscrow.JobSpec) internal specs;
    mapping(bytes32 => AssayEscrow.Receipt) internal receipts;
    mapping(bytes32 => bytes32) internal receiptIds;
    mapping(bytes32 => uint256) public ends;
    uint256 public locked;
    uint256 public endedTwice;
    uint64 internal nonce;

    constructor(DevToken t, AssayEscrow e, address c, address p, address v) {
        tok = t;
        esc = e;
        customer = c;
        provider = p;
        validator = v;
    }

    /// Not a target: the handler is set up by its constructor.
    function setUp() public override {}

    function jobCount() external view returns (uint256) {
        return jobs.length;
    }

    function openOne(uint96 price) external {
        uint256 maxPrice = bound(price, 1, 2 * E18);
        AssayEscrow.JobSpec memory s = spec(maxPrice, nonce++);
        try esc.openJob(s, sig(CUSTOMER_KEY, esc.jobDigest(s))) returns (bytes32 job) {
            jobs.push(job);
            specs[job] = s;
            locked += maxPrice;
        } catch {}
    }

    function receiptOne(uint256 i, uint96 price) external {
        if (jobs.length == 0) return;
        bytes32 job = jobs[i % jobs.length];
        AssayEscrow.JobSpec memory s = specs[job];
        AssayEscrow.Receipt memory r = receiptFor(job, s, bound(price, 0, s.maxPrice), TRUE_OUT);
        try esc.submitReceipt(r, sig(PROVIDER_KEY, esc.receiptDigest(r))) returns (bytes32 rid) {
            receipts[job] = r;
            receiptIds[job] = rid;
        } catch {}
    }

    function claimOne(uint256 i) external {
        if (jobs.length == 0) return;
        bytes32 job = jobs[i % jobs.length];
        if (receiptIds[job] == bytes32(0)) return;
        (AssayEscrow.Attestation memory a, bytes memory g) =
            attestation(receiptIds[job], 2, keccak256(abi.encode("made up", i)));
        try esc.attest(a, g, receipts[job]) {} catch {}
    }

    /// The referee decides by the truth: the provider is honest.
    function decideOne(uint256 i) external {
        if (jobs.length == 0) return;
        bytes32 job = jobs[i % jobs.length];
        vm.prank(REFEREE);
        try esc.decide(job, validator, false) {} catch {}
    }

    function expireOne(uint256 i) external {
        if (jobs.length == 0) return;
        bytes32 job = jobs[i % jobs.length];
        uint8 before = esc.jobState(job);
        try esc.expireDispute(job, validator) {
            ended(job, before);
        } catch {}
    }

    function settleOne(uint256 i) external {
        if (jobs.length == 0) return;
        bytes32 job = jobs[i % jobs.length];
        uint8 before = esc.jobState(job);
        try esc.settle(job) {
            ended(job, before);
        } catch {}
    }

    function warp(uint32 dt) external {
        vm.warp(block.timestamp + bound(dt, 1, 2 hours));
    }

    function ended(bytes32 job, uint8 before) internal {
        if (ends[job]++ != 0) endedTwice++;
        if (before == 4 || before == 5) endedTwice++;
        locked -= specs[job].maxPrice;
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }
}

contract AssayEscrowInvariants is EscrowFixture {
    Handler internal h;

    function setUp() public override {
        super.setUp();
        h = new Handler(tok, esc, customer, provider, validator);
        // The validator's bond must survive many false claims.
        fund(validator, 1e9 * E18, 1e9 * E18);
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(h);
    }

    /// The tokens the contract holds equal everything it owes.
    function invariant_balanceEqualsWhatIsOwed() public view {
        eq(tok.balanceOf(address(esc)), owed() + h.locked(), "token balance");
    }

    /// A job ends (paid or refunded) at most once.
    function invariant_jobEndsAtMostOnce() public view {
        eq(h.endedTwice(), 0, "a job ended twice");
    }

    /// The honest provider is never slashed.
    function invariant_honestProviderNeverSlashed() public view {
        eq(esc.bonded(provider), 200 * E18, "honest provider's bond");
    }
}
