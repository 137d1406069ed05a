// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AssayEscrow} from "../src/AssayEscrow.sol";
import {DevToken} from "../src/DevToken.sol";
import {TestBase} from "./Vm.sol";

/// Shared set-up: a token, an escrow with the default parameters of
/// docs/escrow.md, a funded customer, a staked provider and validator.
abstract contract EscrowFixture is TestBase {
    DevToken internal tok;
    AssayEscrow internal esc;
    uint256 internal constant CUSTOMER_KEY = 0xC0FFEE;
    uint256 internal constant PROVIDER_KEY = 0xBEEF;
    uint256 internal constant VALIDATOR_KEY = 0xA11CE;
    address internal customer;
    address internal provider;
    address internal validator;
    address internal constant REFEREE = address(0x5EF);
    address internal constant TREASURY = address(0x7EA);
    uint256 internal constant E18 = 1e18;
    uint256 internal constant T0 = 1_800_000_000;

    function setUp() public virtual {
        vm.warp(T0);
        tok = new DevToken();
        esc = new AssayEscrow(address(tok), REFEREE, TREASURY, 100 * E18, 1000, 5000, 2000, 3600, 600, 604800);
        customer = vm.addr(CUSTOMER_KEY);
        provider = vm.addr(PROVIDER_KEY);
        validator = vm.addr(VALIDATOR_KEY);
        fund(customer, 50 * E18, 0);
        fund(provider, 200 * E18, 200 * E18);
        fund(validator, 100 * E18, 100 * E18);
    }

    function fund(address who, uint256 amount, uint256 stakeAmount) internal {
        tok.mint(who, amount);
        vm.startPrank(who);
        tok.approve(address(esc), amount);
        esc.deposit(amount);
        if (stakeAmount != 0) esc.stake(stakeAmount);
        vm.stopPrank();
    }

    function spec(uint256 maxPrice, uint64 nonce) internal view returns (AssayEscrow.JobSpec memory s) {
        s = AssayEscrow.JobSpec({
            customer: customer,
            provider: provider,
            kernel: "matmul_f32@1",
            kernelHash: keccak256("kernel"),
            params: '{"relu":false}',
            inputRoot: keccak256("input"),
            inputSize: 1234,
            maxPrice: maxPrice,
            deadline: uint64(block.timestamp + 1 days),
            nonce: nonce
        });
    }

    function sig(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function open(AssayEscrow.JobSpec memory s) internal returns (bytes32) {
        return esc.openJob(s, sig(CUSTOMER_KEY, esc.jobDigest(s)));
    }

    function receiptFor(bytes32 job, AssayEscrow.JobSpec memory s, uint256 price, bytes32 out)
        internal
        view
        returns (AssayEscrow.Receipt memory r)
    {
        r = AssayEscrow.Receipt({
            job: job,
            kernelHash: s.kernelHash,
            inputRoot: s.inputRoot,
            inputSize: s.inputSize,
            outputRoot: out,
            outputSize: 4096,
            price: price,
            device: "cpu",
            startedAt: uint64(block.timestamp * 1000),
            finishedAt: uint64(block.timestamp * 1000 + 5),
            provider: provider
        });
    }

    function submit(AssayEscrow.Receipt memory r) internal returns (bytes32) {
        return esc.submitReceipt(r, sig(PROVIDER_KEY, esc.receiptDigest(r)));
    }

    function attestation(bytes32 rid, uint8 verdict, bytes32 out)
        internal
        view
        returns (AssayEscrow.Attestation memory a, bytes memory g)
    {
        a = AssayEscrow.Attestation({receipt: rid, outputRoot: out, verdict: verdict, validator: validator});
        g = sig(VALIDATOR_KEY, esc.attestationDigest(a));
    }

    function claim(AssayEscrow.Receipt memory r, bytes32 rid, uint8 verdict, bytes32 out) internal {
        (AssayEscrow.Attestation memory a, bytes memory g) = attestation(rid, verdict, out);
        esc.attest(a, g, r);
    }

    /// The next attest() of these values reverts with `err`.
    function claimRefused(AssayEscrow.Receipt memory r, bytes32 rid, uint8 verdict, bytes32 out, bytes4 err)
        internal
    {
        (AssayEscrow.Attestation memory a, bytes memory g) = attestation(rid, verdict, out);
        vm.expectRevert(err);
        esc.attest(a, g, r);
    }

    /// The contract's token balance equals everything it owes.
    function owed() internal view returns (uint256 sum) {
        address[4] memory who = [customer, provider, validator, TREASURY];
        for (uint256 i = 0; i < who.length; i++) {
            (uint256 u,) = esc.unbonding(who[i]);
            sum += esc.available(who[i]) + esc.bonded(who[i]) + u;
        }
    }
}

contract AssayEscrowTest is EscrowFixture {
    bytes32 internal constant OUT = keccak256("output");

    /// A job of maxPrice 2 tokens, opened and receipted at price 1.
    function receipted() internal returns (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) {
        AssayEscrow.JobSpec memory s = spec(2 * E18, 1);
        job = open(s);
        r = receiptFor(job, s, E18, OUT);
        rid = submit(r);
    }

    function test_constructorRefusesShortUnbonding() public {
        vm.expectRevert(AssayEscrow.BadParameter.selector);
        new AssayEscrow(address(tok), REFEREE, TREASURY, 1, 1000, 5000, 2000, 3600, 600, 4200);
    }

    function test_constructorRefusesZeroAddressAndBps() public {
        vm.expectRevert(AssayEscrow.ZeroAddress.selector);
        new AssayEscrow(address(0), REFEREE, TREASURY, 1, 1000, 5000, 2000, 3600, 600, 604800);
        vm.expectRevert(AssayEscrow.BadParameter.selector);
        new AssayEscrow(address(tok), REFEREE, TREASURY, 1, 1000, 10001, 2000, 3600, 600, 604800);
        vm.expectRevert(AssayEscrow.BadParameter.selector);
        new AssayEscrow(address(tok), REFEREE, TREASURY, 0, 1000, 5000, 2000, 3600, 600, 604800);
    }

    function test_happyLifePaysPriceAndReturnsTheRest() public {
        AssayEscrow.JobSpec memory s = spec(2 * E18, 1);
        bytes32 job = open(s);
        eq(esc.jobState(job), 1, "open");
        eq(esc.available(customer), 48 * E18, "locked");
        eq(esc.exposure(provider), 2 * E18, "exposure");
        submit(receiptFor(job, s, 15e17, OUT));
        eq(esc.jobState(job), 2, "receipted");
        vm.expectRevert(AssayEscrow.NotSettleable.selector);
        esc.settle(job);
        vm.warp(block.timestamp + 3600);
        esc.settle(job);
        eq(esc.jobState(job), 4, "paid");
        eq(esc.available(customer), 50 * E18 - 15e17, "customer pays the price");
        eq(esc.available(provider), 15e17, "provider paid");
        eq(esc.exposure(provider), 0, "exposure released");
        vm.expectRevert(AssayEscrow.NotSettleable.selector);
        esc.settle(job);
        eq(tok.balanceOf(address(esc)), owed(), "conservation");
    }

    function test_jobIdOpensOnce() public {
        AssayEscrow.JobSpec memory s = spec(E18, 1);
        open(s);
        bytes memory signature = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.JobExists.selector);
        esc.openJob(s, signature);
    }

    function test_openRefusesWrongSignerHighSAndBadV() public {
        AssayEscrow.JobSpec memory s = spec(E18, 1);
        bytes32 d = esc.jobDigest(s);
        bytes memory other = sig(PROVIDER_KEY, d);
        vm.expectRevert(AssayEscrow.WrongSigner.selector);
        esc.openJob(s, other);
        (uint8 v, bytes32 r, bytes32 ss) = vm.sign(CUSTOMER_KEY, d);
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory high = abi.encodePacked(r, bytes32(n - uint256(ss)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(AssayEscrow.BadSignature.selector);
        esc.openJob(s, high);
        vm.expectRevert(AssayEscrow.BadSignature.selector);
        esc.openJob(s, abi.encodePacked(r, ss, uint8(29)));
        // v in {0, 1} is accepted
        esc.openJob(s, abi.encodePacked(r, ss, v - 27));
    }

    function test_openRefusesDeadlineStakeAndExposure() public {
        AssayEscrow.JobSpec memory s = spec(E18, 1);
        s.deadline = uint64(block.timestamp);
        bytes memory g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.BadDeadline.selector);
        esc.openJob(s, g);
        s.deadline = uint64(block.timestamp + 31 days);
        g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.BadDeadline.selector);
        esc.openJob(s, g);
        // stake 200: cap = 0.1 * 0.5 * 200 = 10 tokens, strictly below
        s = spec(10 * E18, 2);
        g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.StakeTooLowForPrice.selector);
        esc.openJob(s, g);
        open(spec(6 * E18, 3));
        s = spec(4 * E18, 4); // 6 + 4 = 10, not below 10
        g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.StakeTooLowForPrice.selector);
        esc.openJob(s, g);
        open(spec(4 * E18 - 1, 5));
        s = spec(E18, 6);
        s.provider = address(0xABC); // holds no stake
        g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.StakeTooLow.selector);
        esc.openJob(s, g);
    }

    function test_openRefusesMoreThanAvailable() public {
        AssayEscrow.JobSpec memory s = spec(E18, 1);
        vm.prank(customer);
        esc.withdraw(495e17);
        bytes memory g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        vm.expectRevert(AssayEscrow.Insufficient.selector);
        esc.openJob(s, g);
    }

    function test_receiptRules() public {
        AssayEscrow.JobSpec memory s = spec(2 * E18, 1);
        bytes32 job = open(s);
        AssayEscrow.Receipt memory r = receiptFor(job, s, 3 * E18, OUT);
        bytes memory g = sig(PROVIDER_KEY, esc.receiptDigest(r));
        vm.expectRevert(AssayEscrow.PriceAboveMax.selector);
        esc.submitReceipt(r, g);
        r = receiptFor(job, s, E18, OUT);
        r.inputSize = 1;
        g = sig(PROVIDER_KEY, esc.receiptDigest(r));
        vm.expectRevert(AssayEscrow.CommitmentMismatch.selector);
        esc.submitReceipt(r, g);
        r = receiptFor(job, s, E18, OUT);
        g = sig(CUSTOMER_KEY, esc.receiptDigest(r));
        vm.expectRevert(AssayEscrow.WrongSigner.selector);
        esc.submitReceipt(r, g);
        r.finishedAt = uint64(block.timestamp * 1000 + 60_001);
        g = sig(PROVIDER_KEY, esc.receiptDigest(r));
        vm.expectRevert(AssayEscrow.BadTimes.selector);
        esc.submitReceipt(r, g);
        vm.warp(s.deadline + 1);
        r = receiptFor(job, s, E18, OUT);
        g = sig(PROVIDER_KEY, esc.receiptDigest(r));
        vm.expectRevert(AssayEscrow.DeadlinePassed.selector);
        esc.submitReceipt(r, g);
    }

    function test_noReceiptByDeadlineRefunds() public {
        bytes32 job = open(spec(2 * E18, 1));
        vm.expectRevert(AssayEscrow.NotSettleable.selector);
        esc.settle(job);
        vm.warp(block.timestamp + 1 days + 1);
        esc.settle(job);
        eq(esc.jobState(job), 5, "refunded");
        eq(esc.available(customer), 50 * E18, "maxPrice back");
        eq(esc.exposure(provider), 0, "exposure");
    }

    function test_fraudUpheldSlashesProviderPaysBountyRefundsCustomer() public {
        (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) = receipted();
        claim(r, rid, 2, keccak256("true output"));
        eq(esc.jobState(job), 3, "disputed");
        vm.warp(block.timestamp + 3600);
        vm.expectRevert(AssayEscrow.NotSettleable.selector);
        esc.settle(job);
        vm.expectRevert(AssayEscrow.NotReferee.selector);
        esc.decide(job, validator, true);
        vm.warp(block.timestamp - 3600 + 600);
        vm.prank(REFEREE);
        esc.decide(job, validator, true);
        eq(esc.jobState(job), 5, "refunded");
        eq(esc.available(customer), 50 * E18, "customer refunded in full");
        eq(esc.bonded(provider), 100 * E18, "half the provider's bond slashed");
        eq(esc.available(validator), 20 * E18, "bounty 20 % of 100");
        eq(esc.available(TREASURY), 80 * E18, "rest to the treasury");
        eq(esc.disputesFiled(validator), 0, "dispute closed");
        eq(tok.balanceOf(address(esc)), owed(), "conservation");
    }

    function test_falseClaimSlashesValidatorAndJobPays() public {
        (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) = receipted();
        claim(r, rid, 2, keccak256("made up"));
        vm.prank(REFEREE);
        esc.decide(job, validator, false);
        eq(esc.jobState(job), 2, "receipted again");
        eq(esc.bonded(validator), 50 * E18, "validator slashed half");
        eq(esc.available(TREASURY), 50 * E18, "all to the treasury");
        eq(esc.bonded(provider), 200 * E18, "honest provider untouched");
        vm.warp(block.timestamp + 3600);
        esc.settle(job);
        eq(esc.available(provider), E18, "paid");
        eq(tok.balanceOf(address(esc)), owed(), "conservation");
    }

    function test_attestationRules() public {
        (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) = receipted();
        claimRefused(r, rid, 1, keccak256("other"), AssayEscrow.VerdictOutput.selector);
        claimRefused(r, rid, 2, OUT, AssayEscrow.VerdictOutput.selector);
        claimRefused(r, rid, 3, OUT, AssayEscrow.BadVerdict.selector);
        claimRefused(r, keccak256("x"), 1, OUT, AssayEscrow.ReceiptMismatch.selector);
        claim(r, rid, 1, OUT);
        eq(esc.jobState(job), 2, "verdict 1 changes nothing");
        claim(r, rid, 2, keccak256("other"));
        claimRefused(r, rid, 2, keccak256("other"), AssayEscrow.DisputeExists.selector);
        vm.warp(block.timestamp + 3600);
        claimRefused(r, rid, 1, OUT, AssayEscrow.WindowClosed.selector);
    }

    function test_undecidedDisputeExpiresToARefund() public {
        (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) = receipted();
        claim(r, rid, 2, keccak256("other"));
        vm.expectRevert(AssayEscrow.DisputeNotExpired.selector);
        esc.expireDispute(job, validator);
        vm.warp(block.timestamp + 601);
        vm.prank(REFEREE);
        vm.expectRevert(AssayEscrow.DisputeExpiredAlready.selector);
        esc.decide(job, validator, true);
        esc.expireDispute(job, validator);
        eq(esc.jobState(job), 5, "refunded");
        eq(esc.available(customer), 50 * E18, "customer refunded");
        eq(esc.bonded(provider), 200 * E18, "nobody slashed");
        eq(esc.bonded(validator), 100 * E18, "nobody slashed");
    }

    function test_unbondingWaitsAndStaysSlashable() public {
        (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) = receipted();
        vm.prank(provider);
        esc.unstake(200 * E18);
        claim(r, rid, 2, keccak256("true"));
        vm.warp(block.timestamp + 604800);
        vm.expectRevert(AssayEscrow.StakeBacksOpenJobs.selector);
        esc.releaseUnbonded(provider);
        address v = validatorUnstaked();
        vm.expectRevert(AssayEscrow.StakeBacksOpenDisputes.selector);
        esc.releaseUnbonded(v);
        esc.expireDispute(job, validator); // past the referee deadline by now
        esc.releaseUnbonded(provider);
        eq(esc.available(provider), 200 * E18, "released");
    }

    function validatorUnstaked() internal returns (address) {
        vm.prank(validator);
        esc.unstake(E18);
        vm.warp(block.timestamp + 604800);
        return validator;
    }

    function test_slashReachesUnbondingFunds() public {
        (bytes32 job, AssayEscrow.Receipt memory r, bytes32 rid) = receipted();
        vm.prank(provider);
        esc.unstake(150 * E18);
        claim(r, rid, 2, keccak256("true"));
        vm.prank(REFEREE);
        esc.decide(job, validator, true);
        (uint256 u,) = esc.unbonding(provider);
        eq(esc.bonded(provider), 0, "bond first");
        eq(u, 100 * E18, "then unbonding: 200 - 100 slashed");
    }

    function test_withdrawOnlyWhatIsAvailable() public {
        vm.prank(customer);
        vm.expectRevert(AssayEscrow.Insufficient.selector);
        esc.withdraw(51 * E18);
        vm.prank(customer);
        esc.withdraw(50 * E18);
        eq(tok.balanceOf(customer), 50 * E18, "tokens out");
        eq(esc.available(customer), 0, "account empty");
    }

    function testFuzz_depositWithdrawConserve(uint128 a, uint128 w) public {
        vm.assume(a > 0 && w > 0 && w <= a);
        address who = address(0xD00D);
        fund(who, a, 0);
        vm.prank(who);
        esc.withdraw(w);
        eq(esc.available(who), uint256(a) - w, "available");
        eq(tok.balanceOf(who), w, "balance");
        eq(tok.balanceOf(address(esc)), owed() + esc.available(who), "conservation");
    }

    function testFuzz_openRespectsExposure(uint96 maxPrice) public {
        vm.assume(maxPrice > 0 && maxPrice <= 50 * E18);
        AssayEscrow.JobSpec memory s = spec(maxPrice, 7);
        bytes memory g = sig(CUSTOMER_KEY, esc.jobDigest(s));
        if (maxPrice >= 10 * E18) {
            vm.expectRevert(AssayEscrow.StakeTooLowForPrice.selector);
            esc.openJob(s, g);
        } else {
            esc.openJob(s, g);
            eq(esc.exposure(provider), maxPrice, "exposure");
        }
    }

    function testFuzz_settlePaysExactly(uint96 maxPrice, uint96 price) public {
        vm.assume(maxPrice > 0 && maxPrice < 10 * E18 && price <= maxPrice);
        AssayEscrow.JobSpec memory s = spec(maxPrice, 9);
        bytes32 job = open(s);
        submit(receiptFor(job, s, price, OUT));
        vm.warp(block.timestamp + 3600);
        esc.settle(job);
        eq(esc.available(provider), price, "price");
        eq(esc.available(customer), 50 * E18 - price, "rest returned");
    }
}
