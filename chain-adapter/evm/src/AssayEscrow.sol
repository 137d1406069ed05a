// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title AssayEscrow: Assay's settlement contract (PROTOCOL.md section 7).
/// @notice Holds every customer's, provider's and validator's tokens and
/// enforces the escrow's rules (docs/contract.md): jobs opened from a
/// customer's signed JobSpec, paid from a provider's signed Receipt after the
/// challenge window, disputed by staked validators' signed Attestations and
/// decided by the referee, whose only power is the verdict.  Anyone may
/// relay a signed statement.  No ETH is held.
contract AssayEscrow is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    struct JobSpec {
        address customer;
        address provider;
        string kernel;
        bytes32 kernelHash;
        string params;
        bytes32 inputRoot;
        uint64 inputSize;
        uint256 maxPrice;
        uint64 deadline;
        uint64 nonce;
    }

    struct Receipt {
        bytes32 job;
        bytes32 kernelHash;
        bytes32 inputRoot;
        uint64 inputSize;
        bytes32 outputRoot;
        uint64 outputSize;
        uint256 price;
        string device;
        uint64 startedAt;
        uint64 finishedAt;
        address provider;
    }

    struct Attestation {
        bytes32 receipt;
        bytes32 outputRoot;
        uint8 verdict;
        address validator;
    }

    bytes32 private constant JOBSPEC_TYPEHASH = keccak256(
        "JobSpec(address customer,address provider,string kernel,bytes32 kernelHash,string params,bytes32 inputRoot,uint64 inputSize,uint256 maxPrice,uint64 deadline,uint64 nonce)"
    );
    bytes32 private constant RECEIPT_TYPEHASH = keccak256(
        "Receipt(bytes32 job,bytes32 kernelHash,bytes32 inputRoot,uint64 inputSize,bytes32 outputRoot,uint64 outputSize,uint256 price,string device,uint64 startedAt,uint64 finishedAt,address provider)"
    );
    bytes32 private constant ATTESTATION_TYPEHASH =
        keccak256("Attestation(bytes32 receipt,bytes32 outputRoot,uint8 verdict,address validator)");

    /// @dev EIP-2: the largest s a signature may carry (n / 2).
    uint256 private constant S_MAX = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 private constant BPS = 10_000;
    /// @dev A job's deadline is at most this far ahead (the PostgreSQL escrow's rule).
    uint256 public constant DEADLINE_MAX = 30 days;
    /// @dev The provider's clock may run this far from the chain's (ms).
    uint256 public constant CLOCK_SKEW_MS = 60_000;
    /// @dev Open disputes one job may carry: bounds the loop that closes them.
    uint256 public constant DISPUTES_PER_JOB_MAX = 8;

    uint8 public constant STATE_UNKNOWN = 0;
    uint8 public constant STATE_OPEN = 1;
    uint8 public constant STATE_RECEIPTED = 2;
    uint8 public constant STATE_DISPUTED = 3;
    uint8 public constant STATE_PAID = 4;
    uint8 public constant STATE_REFUNDED = 5;

    uint8 public constant DISPUTE_NONE = 0;
    uint8 public constant DISPUTE_OPEN = 1;
    uint8 public constant DISPUTE_PROVIDER_WRONG = 2;
    uint8 public constant DISPUTE_VALIDATOR_WRONG = 3;
    uint8 public constant DISPUTE_MOOT = 4;
    uint8 public constant DISPUTE_EXPIRED = 5;

    /// @dev Three storage slots: (customer, deadline, openedAt, state,
    /// disputes), (provider, windowEnd), (maxPrice, price), and one word
    /// that holds keccak256(kernelHash, inputRoot, inputSize) while the job
    /// is open and the receipt id once it is receipted.
    struct Job {
        address customer;
        uint40 deadline;
        uint40 openedAt;
        uint8 state;
        uint8 openDisputes;
        address provider;
        uint40 windowEnd;
        uint128 maxPrice;
        uint128 price;
        bytes32 commitment;
    }

    struct Unbonding {
        uint128 amount;
        uint64 releaseAt;
    }

    struct Dispute {
        uint8 state;
        uint40 deadline;
    }

    IERC20 private immutable _token;
    address public immutable referee;
    address public immutable treasury;
    uint256 public immutable minStake;
    uint256 public immutable sampleBps;
    uint256 public immutable slashBps;
    uint256 public immutable bountyBps;
    uint256 public immutable challengeWindow;
    uint256 public immutable refereeDeadline;
    uint256 public immutable unbondingPeriod;

    mapping(bytes32 => Job) private _jobs;
    mapping(address => uint256) private _available;
    mapping(address => uint256) private _bonded;
    mapping(address => Unbonding) private _unbonding;
    /// @notice Sum of the maxPrice of the unsettled jobs an address provides.
    mapping(address => uint256) public exposure;
    /// @notice Open disputes an address filed (its bond backs them).
    mapping(address => uint256) public disputesFiled;
    mapping(bytes32 => mapping(address => Dispute)) private _disputes;
    mapping(bytes32 => address[]) private _disputants;

    event Deposited(address indexed who, uint256 amount);
    event Withdrawn(address indexed who, uint256 amount);
    event Staked(address indexed who, uint256 amount);
    event Unstaked(address indexed who, uint256 amount, uint64 releaseAt);
    event UnbondReleased(address indexed who, uint256 amount);
    event JobOpened(bytes32 indexed job, address indexed customer, address indexed provider, uint256 maxPrice);
    event ReceiptSubmitted(bytes32 indexed job, bytes32 receipt);
    event JobSettled(bytes32 indexed job, uint8 state);
    event Attested(bytes32 indexed job, address indexed validator, uint8 verdict);
    event DisputeOpened(bytes32 indexed job, address indexed validator, uint64 deadline);
    event DisputeClosed(bytes32 indexed job, address indexed validator, uint8 state);
    event Slashed(address indexed offender, uint256 amount, address bountyTo, uint256 bounty);

    error ZeroAddress();
    error BadParameter();
    error ZeroAmount();
    error AmountTooLarge();
    error Insufficient();
    error TransferShort();
    error BadSignature();
    error WrongSigner();
    error SameParty();
    error JobExists();
    error BadDeadline();
    error StakeTooLow();
    error StakeTooLowForPrice();
    error WrongState();
    error DeadlinePassed();
    error JobLink();
    error CommitmentMismatch();
    error ProviderMismatch();
    error PriceAboveMax();
    error BadTimes();
    error NotSettleable();
    error WindowClosed();
    error ReceiptMismatch();
    error BadVerdict();
    error VerdictOutput();
    error DisputeExists();
    error TooManyDisputes();
    error NotReferee();
    error DisputeNotOpen();
    error DisputeExpiredAlready();
    error DisputeNotExpired();
    error NotReleasable();
    error StakeBacksOpenJobs();
    error StakeBacksOpenDisputes();

    /// @param token_ the ERC-20 every amount is in
    /// @param referee_ the only address that may decide open disputes
    /// @param treasury_ receives what slashes keep after the bounty
    constructor(
        address token_,
        address referee_,
        address treasury_,
        uint256 minStake_,
        uint256 sampleBps_,
        uint256 slashBps_,
        uint256 bountyBps_,
        uint256 challengeWindow_,
        uint256 refereeDeadline_,
        uint256 unbondingPeriod_
    ) EIP712("Assay", "1") {
        if (token_ == address(0) || referee_ == address(0) || treasury_ == address(0)) revert ZeroAddress();
        if (minStake_ == 0 || sampleBps_ == 0 || slashBps_ == 0) revert BadParameter();
        if (sampleBps_ > BPS || slashBps_ > BPS || bountyBps_ > BPS) revert BadParameter();
        if (challengeWindow_ == 0 || refereeDeadline_ == 0) revert BadParameter();
        if (unbondingPeriod_ <= challengeWindow_ + refereeDeadline_) revert BadParameter();
        if (unbondingPeriod_ > 365 days || challengeWindow_ > 30 days || refereeDeadline_ > 30 days) {
            revert BadParameter();
        }
        _token = IERC20(token_);
        referee = referee_;
        treasury = treasury_;
        minStake = minStake_;
        sampleBps = sampleBps_;
        slashBps = slashBps_;
        bountyBps = bountyBps_;
        challengeWindow = challengeWindow_;
        refereeDeadline = refereeDeadline_;
        unbondingPeriod = unbondingPeriod_;
    }

    // ------------------------------------------------------------ views

    /// @notice The ERC-20 every amount is in.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The job id: the EIP-712 digest of the JobSpec under this contract's domain.
    function jobDigest(JobSpec calldata s) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    JOBSPEC_TYPEHASH,
                    s.customer,
                    s.provider,
                    keccak256(bytes(s.kernel)),
                    s.kernelHash,
                    keccak256(bytes(s.params)),
                    s.inputRoot,
                    s.inputSize,
                    s.maxPrice,
                    s.deadline,
                    s.nonce
                )
            )
        );
    }

    /// @notice The receipt id: the EIP-712 digest of the Receipt.
    function receiptDigest(Receipt calldata r) public view returns (bytes32) {
        bytes32 h = keccak256(
            bytes.concat(
                abi.encode(RECEIPT_TYPEHASH, r.job, r.kernelHash, r.inputRoot, r.inputSize, r.outputRoot),
                abi.encode(r.outputSize, r.price, keccak256(bytes(r.device)), r.startedAt, r.finishedAt, r.provider)
            )
        );
        return _hashTypedDataV4(h);
    }

    /// @notice The EIP-712 digest of an Attestation.
    function attestationDigest(Attestation calldata a) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ATTESTATION_TYPEHASH, a.receipt, a.outputRoot, a.verdict, a.validator))
        );
    }

    function available(address who) external view returns (uint256) {
        return _available[who];
    }

    function bonded(address who) external view returns (uint256) {
        return _bonded[who];
    }

    /// @notice Unstaked funds of `who` and when they may be released.
    function unbonding(address who) external view returns (uint256 amount, uint64 releaseAt) {
        Unbonding memory u = _unbonding[who];
        return (u.amount, u.releaseAt);
    }

    /// @notice 0 unknown, 1 open, 2 receipted, 3 disputed, 4 paid, 5 refunded.
    function jobState(bytes32 job) external view returns (uint8) {
        return _jobs[job].state;
    }

    /// @notice The stored record of a job (docs/contract.md, storage layout).
    function jobInfo(bytes32 job) external view returns (Job memory) {
        return _jobs[job];
    }

    /// @notice The state of `validator`'s dispute on `job` and its referee deadline.
    function dispute(bytes32 job, address validator) external view returns (uint8 state, uint64 deadline) {
        Dispute memory d = _disputes[job][validator];
        return (d.state, d.deadline);
    }

    // ------------------------------------------------------------ accounts

    /// @notice Pulls `amount` of token() from the sender (approve first).
    /// Refuses a token that delivers less than asked (fee on transfer).
    function deposit(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        if (_token.balanceOf(address(this)) - before != amount) revert TransferShort();
        _available[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
    }

    /// @notice Sends `amount` of the sender's available balance to the sender.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (_available[msg.sender] < amount) revert Insufficient();
        _available[msg.sender] -= amount;
        _token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Bonds `amount` of the sender's available balance.
    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        if (_available[msg.sender] < amount) revert Insufficient();
        _available[msg.sender] -= amount;
        _bonded[msg.sender] += amount;
        emit Staked(msg.sender, amount);
    }

    /// @notice Moves `amount` of the bond to the sender's one unbonding
    /// bucket; adding to it restarts the bucket's whole unbonding period.
    /// Unbonding funds stay slashable.
    function unstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        if (_bonded[msg.sender] < amount) revert Insufficient();
        Unbonding storage u = _unbonding[msg.sender];
        uint256 total = uint256(u.amount) + amount;
        if (total > type(uint128).max) revert AmountTooLarge();
        _bonded[msg.sender] -= amount;
        u.amount = uint128(total);
        u.releaseAt = uint64(block.timestamp + unbondingPeriod);
        emit Unstaked(msg.sender, amount, u.releaseAt);
    }

    /// @notice Anyone may release `who`'s matured unbonding bucket to its
    /// available balance, once no job it provides is unsettled and no
    /// dispute it filed is open.
    function releaseUnbonded(address who) external {
        Unbonding memory u = _unbonding[who];
        if (u.amount == 0 || block.timestamp < u.releaseAt) revert NotReleasable();
        if (exposure[who] != 0) revert StakeBacksOpenJobs();
        if (disputesFiled[who] != 0) revert StakeBacksOpenDisputes();
        delete _unbonding[who];
        _available[who] += u.amount;
        emit UnbondReleased(who, u.amount);
    }

    // ------------------------------------------------------------ jobs

    /// @notice Opens the job a customer signed and locks its maxPrice from
    /// the customer's available balance.  Any account may relay it.
    function openJob(JobSpec calldata s, bytes calldata customerSignature) external returns (bytes32 job) {
        job = jobDigest(s);
        if (_recover(job, customerSignature) != s.customer) revert WrongSigner();
        _checkOpen(job, s);
        _jobs[job] = Job({
            customer: s.customer,
            deadline: uint40(s.deadline),
            openedAt: uint40(block.timestamp),
            state: STATE_OPEN,
            openDisputes: 0,
            provider: s.provider,
            windowEnd: 0,
            maxPrice: uint128(s.maxPrice),
            price: 0,
            commitment: keccak256(abi.encode(s.kernelHash, s.inputRoot, s.inputSize))
        });
        _available[s.customer] -= s.maxPrice;
        exposure[s.provider] += s.maxPrice;
        emit JobOpened(job, s.customer, s.provider, s.maxPrice);
    }

    function _checkOpen(bytes32 job, JobSpec calldata s) private view {
        if (s.customer == address(0) || s.provider == address(0)) revert ZeroAddress();
        if (s.customer == s.provider) revert SameParty();
        if (_jobs[job].state != STATE_UNKNOWN) revert JobExists();
        if (s.deadline <= block.timestamp || s.deadline > block.timestamp + DEADLINE_MAX) revert BadDeadline();
        if (s.maxPrice == 0) revert ZeroAmount();
        if (s.maxPrice > type(uint128).max) revert AmountTooLarge();
        if (_available[s.customer] < s.maxPrice) revert Insufficient();
        uint256 bond = _bonded[s.provider];
        if (bond < minStake) revert StakeTooLow();
        // docs/economics.md: maxPrice + exposure < p * f * stake, rounded down.
        if (s.maxPrice + exposure[s.provider] >= (bond * sampleBps * slashBps) / (BPS * BPS)) {
            revert StakeTooLowForPrice();
        }
    }

    /// @notice Posts the provider's signed receipt of an open job before its
    /// deadline; the challenge window starts.  Any account may relay it.
    function submitReceipt(Receipt calldata r, bytes calldata providerSignature) external returns (bytes32 receipt) {
        Job storage j = _jobs[r.job];
        if (j.state != STATE_OPEN) revert WrongState();
        if (block.timestamp > j.deadline) revert DeadlinePassed();
        if (keccak256(abi.encode(r.kernelHash, r.inputRoot, r.inputSize)) != j.commitment) {
            revert CommitmentMismatch();
        }
        if (r.provider != j.provider) revert ProviderMismatch();
        if (r.price > j.maxPrice) revert PriceAboveMax();
        _checkTimes(r, j.openedAt);
        receipt = receiptDigest(r);
        if (_recover(receipt, providerSignature) != r.provider) revert WrongSigner();
        j.state = STATE_RECEIPTED;
        j.windowEnd = uint40(block.timestamp + challengeWindow);
        j.price = uint128(r.price);
        j.commitment = receipt;
        emit ReceiptSubmitted(r.job, receipt);
    }

    function _checkTimes(Receipt calldata r, uint40 openedAt) private view {
        if (r.startedAt > r.finishedAt) revert BadTimes();
        if (r.finishedAt > block.timestamp * 1000 + CLOCK_SKEW_MS) revert BadTimes();
        if (uint256(r.startedAt) + CLOCK_SKEW_MS < uint256(openedAt) * 1000) revert BadTimes();
    }

    /// @notice Pays a receipted job whose window is over with no dispute
    /// open (price to the provider, the rest back to the customer), or
    /// refunds an open job whose deadline passed without a receipt.
    function settle(bytes32 job) public {
        Job storage j = _jobs[job];
        if (j.state == STATE_RECEIPTED && block.timestamp >= j.windowEnd) {
            _close(job, j, STATE_PAID);
        } else if (j.state == STATE_OPEN && block.timestamp > j.deadline) {
            _close(job, j, STATE_REFUNDED);
        } else {
            revert NotSettleable();
        }
    }

    /// @notice settle() of many jobs in one transaction; reverts as a whole
    /// when one of them cannot be settled.
    function settleMany(bytes32[] calldata jobs) external {
        for (uint256 i = 0; i < jobs.length; i++) {
            settle(jobs[i]);
        }
    }

    /// @dev Ends a job: paid (price to the provider, the rest back) or
    /// refunded (maxPrice back).  The only place a job's lock is released.
    function _close(bytes32 job, Job storage j, uint8 to) private {
        assert(j.state == STATE_OPEN || j.state == STATE_RECEIPTED || j.state == STATE_DISPUTED);
        uint256 maxPrice = j.maxPrice;
        uint256 paid = to == STATE_PAID ? j.price : 0;
        j.state = to;
        exposure[j.provider] -= maxPrice;
        _available[j.provider] += paid;
        _available[j.customer] += maxPrice - paid;
        emit JobSettled(job, to);
    }

    // ------------------------------------------------------------ disputes

    /// @notice A staked validator's signed attestation of a receipt, inside
    /// the challenge window.  Verdict 1 must name the receipt's outputRoot
    /// (recorded as an event); verdict 2 a different one, and opens a
    /// dispute that the referee decides.  `r` is the receipt attested (its
    /// digest must be the job's receipt id).  Any account may relay it.
    function attest(Attestation calldata a, bytes calldata sig, Receipt calldata r) external {
        Job storage j = _jobs[r.job];
        if (j.state != STATE_RECEIPTED && j.state != STATE_DISPUTED) revert WrongState();
        if (block.timestamp >= j.windowEnd) revert WindowClosed();
        bytes32 rid = receiptDigest(r);
        if (rid != j.commitment || a.receipt != rid) revert ReceiptMismatch();
        if (_recover(attestationDigest(a), sig) != a.validator) revert WrongSigner();
        if (a.validator == j.provider) revert SameParty();
        if (_bonded[a.validator] < minStake) revert StakeTooLow();
        if (a.verdict == 1) {
            if (a.outputRoot != r.outputRoot) revert VerdictOutput();
        } else if (a.verdict == 2) {
            if (a.outputRoot == r.outputRoot) revert VerdictOutput();
            _openDispute(r.job, j, a.validator);
        } else {
            revert BadVerdict();
        }
        emit Attested(r.job, a.validator, a.verdict);
    }

    function _openDispute(bytes32 job, Job storage j, address validator) private {
        Dispute storage d = _disputes[job][validator];
        if (d.state != DISPUTE_NONE) revert DisputeExists();
        if (_disputants[job].length >= DISPUTES_PER_JOB_MAX) revert TooManyDisputes();
        d.state = DISPUTE_OPEN;
        d.deadline = uint40(block.timestamp + refereeDeadline);
        _disputants[job].push(validator);
        j.openDisputes += 1;
        j.state = STATE_DISPUTED;
        disputesFiled[validator] += 1;
        emit DisputeOpened(job, validator, d.deadline);
    }

    /// @notice The referee's verdict on an open dispute, before its deadline.
    /// Provider wrong: slashBps of the provider's bond is slashed, bountyBps
    /// of that to the validator and the rest to the treasury, the customer
    /// refunded in full and the job's other disputes closed as moot.
    /// Validator wrong: slashBps of the validator's bond to the treasury;
    /// the job is receipted again once no dispute is open.
    function decide(bytes32 job, address validator, bool providerWrong) external {
        if (msg.sender != referee) revert NotReferee();
        Dispute storage d = _disputes[job][validator];
        if (d.state != DISPUTE_OPEN) revert DisputeNotOpen();
        if (block.timestamp > d.deadline) revert DisputeExpiredAlready();
        Job storage j = _jobs[job];
        assert(j.state == STATE_DISPUTED);
        if (providerWrong) {
            _endDispute(job, j, validator, DISPUTE_PROVIDER_WRONG);
            _slash(j.provider, validator);
            _closeAllDisputes(job, j, DISPUTE_MOOT);
            _close(job, j, STATE_REFUNDED);
        } else {
            _endDispute(job, j, validator, DISPUTE_VALIDATOR_WRONG);
            _slash(validator, address(0));
            if (j.openDisputes == 0) j.state = STATE_RECEIPTED;
        }
    }

    /// @notice Ends a dispute the referee left undecided past its deadline,
    /// by a rule that needs no one's trust: nobody is slashed, and the job,
    /// which did not survive verification, is refunded to the customer in
    /// full (its other disputes close as moot).  Anyone may call it.
    function expireDispute(bytes32 job, address validator) external {
        Dispute storage d = _disputes[job][validator];
        if (d.state != DISPUTE_OPEN) revert DisputeNotOpen();
        if (block.timestamp <= d.deadline) revert DisputeNotExpired();
        Job storage j = _jobs[job];
        assert(j.state == STATE_DISPUTED);
        _endDispute(job, j, validator, DISPUTE_EXPIRED);
        _closeAllDisputes(job, j, DISPUTE_MOOT);
        _close(job, j, STATE_REFUNDED);
    }

    function _endDispute(bytes32 job, Job storage j, address validator, uint8 to) private {
        _disputes[job][validator].state = to;
        j.openDisputes -= 1;
        disputesFiled[validator] -= 1;
        emit DisputeClosed(job, validator, to);
    }

    function _closeAllDisputes(bytes32 job, Job storage j, uint8 to) private {
        address[] storage vs = _disputants[job];
        for (uint256 i = 0; i < vs.length; i++) {
            if (_disputes[job][vs[i]].state == DISPUTE_OPEN) _endDispute(job, j, vs[i], to);
        }
        assert(j.openDisputes == 0);
    }

    /// @dev Takes slashBps of the offender's bond (bonded first, then
    /// unbonding); bountyBps of it to `bountyTo` (none when zero), the rest
    /// to the treasury.  Amounts stay inside the contract.
    function _slash(address offender, address bountyTo) private {
        uint256 fromBond = _bonded[offender];
        uint256 fromUnbonding = _unbonding[offender].amount;
        uint256 amount = ((fromBond + fromUnbonding) * slashBps) / BPS;
        if (amount <= fromBond) {
            _bonded[offender] = fromBond - amount;
        } else {
            _bonded[offender] = 0;
            _unbonding[offender].amount = uint128(fromUnbonding - (amount - fromBond));
        }
        uint256 bounty = bountyTo == address(0) ? 0 : (amount * bountyBps) / BPS;
        if (bounty != 0) _available[bountyTo] += bounty;
        _available[treasury] += amount - bounty;
        emit Slashed(offender, amount, bountyTo, bounty);
    }

    /// @dev PROTOCOL.md section 2: 65 bytes r || s || v, v in {0, 1, 27, 28},
    /// s at most n / 2.  Returns the signer (never the zero address).
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        if (sig.length != 65) revert BadSignature();
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) revert BadSignature();
        if (uint256(s) > S_MAX) revert BadSignature();
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
        if (err != ECDSA.RecoverError.NoError || signer == address(0)) revert BadSignature();
        return signer;
    }
}
