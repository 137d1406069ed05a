#!/bin/bash
# demo.sh: what `make demo` runs.
#
# Act 1, offline: the receipt round trip with real parts: real keys, a
# real kernel run, real commitments and EIP-712 signatures, and offline
# verification, including two frauds that verification catches.
#
# Act 2, with money: a private PostgreSQL (scripts/with-postgres.sh, which
# re-runs this script with --escrow-act), a real assay-escrow, two
# assay-provider daemons (one honest, one with fault injection that
# corrupts every output before signing), both holding a small GPT-2
# model, and an assay-validator, all on ports the kernel picks.  A
# customer signs in to the providers with its wallet key and runs
# matmul_f32, mlp_f32 and a GPT-2 prompt (gpt2_f32) at each with the
# `assay` client; the validator samples every receipt (the escrow
# announces 100 % here), re-runs the jobs on its CPU, attests the honest
# ones and files fraud claims on the others; the escrow's referee upholds
# them, slashes the cheater, refunds the customer, pays the validator's
# bounty and, once the challenge window closes, the honest provider.
# Every balance before and after, the ledger's invariants and an audit
# chain are printed and checked.
#
# Everything happens in private temporary directories that are removed
# on exit, Ctrl-C included; the escrow and PostgreSQL are stopped by
# traps, so nothing is left running and the demo can be run again at once.
set -euo pipefail

BUILD=${ASSAY_BUILD:-build}
A="$BUILD/bin/assay"
ESCROWD="$BUILD/bin/assay-escrow"
PROVD="$BUILD/bin/assay-provider"
VALD="$BUILD/bin/assay-validator"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -x "$A" ] || { echo "demo: $A not built (run make demo)" >&2; exit 1; }


WORK=$(mktemp -d "${TMPDIR:-/tmp}/assay-demo.XXXXXX")
PIDS=()
# Stops the daemons (act 2: validator, providers, escrow, newest first)
# before removing their directory; PostgreSQL is stopped by
# with-postgres.sh's own trap when this process has exited.
cleanup() {
	local i
	for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do
		kill -TERM "${PIDS[$i]}" 2>/dev/null || true
		wait "${PIDS[$i]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ assay %s\n' "$*" >&2; "$A" "$@"; }

# ---------------------------------------------------------------- act 2
# Amounts are base units (uint256 decimal strings); the story prints them
# in ASY = 10^18 base units.  Every amount in this act is a multiple of
# 10^16, so the script checks its sums exactly in hundredths of an ASY
# with shell integers (die() if one is not).
die() { echo "demo: $*" >&2; exit 1; }
E() { printf '$ assay escrow %s\n' "$*" >&2; "$A" escrow "$@" --url "$URL"; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -1; }
cents() {
	local v=$1
	[ "$v" = 0 ] && { echo 0; return; }
	if [ ${#v} -le 16 ] || [ "${v: -16}" != 0000000000000000 ]; then
		die "amount $v is not a multiple of 10^16"
	fi
	echo $(( 10#${v:0:${#v}-16} ))
}
# base CENTS: hundredths of an ASY back to base units (10^16 each).
base() { if [ "$1" = 0 ]; then echo 0; else echo "${1}0000000000000000"; fi; }
asy() {
	local c=$1 sign=
	[ "$c" -lt 0 ] && { sign=-; c=$(( -c )); }
	printf '%s%d.%02d' "$sign" $(( c / 100 )) $(( c % 100 ))
}
WHO="customer honest cheat validator"
declare -A ADDR BEFORE AFTER JOB PURL
# balances ARRAY: fills ARRAY[who_av], [who_st], [who_ub] (hundredths of
# ASY) for every party.  Each value goes through a plain assignment first,
# so that set -e sees a failed command substitution.
# shellcheck disable=SC2034  # `into` is a nameref: the caller reads it
balances() {
	local -n into=$1
	local who j av st ub
	for who in $WHO; do
		j=$("$A" escrow balance "${ADDR[$who]}" --url "$URL")
		av=$(cents "$(printf '%s' "$j" | field available)")
		st=$(cents "$(printf '%s' "$j" | field stake)")
		ub=$(cents "$(printf '%s' "$j" | field unbonding)")
		into[${who}_av]=$av
		into[${who}_st]=$st
		into[${who}_ub]=$ub
	done
}
# table ARRAY: the balances in ASY.
table() {
	local -n of=$1
	local who
	printf '  %-17s %12s %12s %12s %12s\n' "" available stake unbonding total
	for who in $WHO; do
		printf '  %-17s %12s %12s %12s %12s\n' "$(label "$who")" \
			"$(asy "${of[${who}_av]}")" "$(asy "${of[${who}_st]}")" \
			"$(asy "${of[${who}_ub]}")" \
			"$(asy $(( of[${who}_av] + of[${who}_st] + of[${who}_ub] )))"
	done
}
label() {
	case $1 in
	customer) echo customer ;; honest) echo "honest provider" ;;
	cheat) echo "cheating provider" ;; validator) echo validator ;;
	esac
}
# The ledger's own tables, read with psql (chain.h invariants I1-I5, the
# parts a script can state in SQL): prints "sum|negatives|locks|treasury|
# supply|drift".
ledger_check() {
	psql "$ASSAY_PG_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "
	SELECT (SELECT sum(balance) FROM accounts),
	       (SELECT count(*) FROM accounts WHERE kind <> 'world' AND balance < 0),
	       (SELECT coalesce(sum(balance), 0) FROM accounts WHERE kind = 'lock'),
	       (SELECT balance FROM accounts WHERE kind = 'treasury'),
	       (SELECT -balance FROM accounts WHERE kind = 'world'),
	       (SELECT count(*) FROM accounts a WHERE a.balance <>
	            coalesce((SELECT sum(amount) FROM transfers WHERE to_account = a.id), 0)
	          - coalesce((SELECT sum(amount) FROM transfers WHERE from_account = a.id), 0))"
}
# wait_for WHAT SECONDS CMD...: runs CMD every 0.2 s until it succeeds.
wait_for() {
	local what=$1 n=$(( $2 * 5 ))
	shift 2
	until "$@"; do
		n=$(( n - 1 ))
		[ "$n" -gt 0 ] || die "timed out waiting for $what"
		sleep 0.2
	done
}
job_state_is() { "$A" escrow job "$1" --url "$URL" | grep -q "\"state\":\"$2\""; }
slash_done() { "$A" escrow job "$1" --url "$URL" | grep -q '"executed":true'; }

KINDS="matmul mlp gpt2"

# A small GPT-2 (1 layer, width 64, 4 heads, 300 tokens, 32 positions;
# seeded weights) in DIR/model.safetensors with the Hugging Face names,
# a GPT-2-form vocabulary for its 300 ids (the 256 byte tokens in
# GPT-2's order, the merge "h e", 43 more) and its merges; GPT2_PARAMS
# names the model by its commitment.
gpt2_model() {
	local dir=$1 c root size
	mkdir -p "$dir"
	"$A" tensor random --out "$dir/model.safetensors" --seed 13 \
		wte.weight:F32:300x64 wpe.weight:F32:32x64 ln_f.weight:F32:64 ln_f.bias:F32:64 \
		h.0.ln_1.weight:F32:64 h.0.ln_1.bias:F32:64 h.0.attn.c_attn.weight:F32:64x192 \
		h.0.attn.c_attn.bias:F32:192 h.0.attn.c_proj.weight:F32:64x64 \
		h.0.attn.c_proj.bias:F32:64 h.0.ln_2.weight:F32:64 h.0.ln_2.bias:F32:64 \
		h.0.mlp.c_fc.weight:F32:64x256 h.0.mlp.c_fc.bias:F32:256 \
		h.0.mlp.c_proj.weight:F32:256x64 h.0.mlp.c_proj.bias:F32:64 >/dev/null
	/usr/bin/python3 - "$dir" <<'PY'
import json, sys
# GPT-2's bytes_to_unicode order: printable bytes as themselves, then the rest.
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:]
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + len(cs) - 188)
vocab = {chr(c): i for i, c in enumerate(cs)}
vocab["he"] = 256
for i in range(257, 300):
    vocab["q" + chr(97 + (i - 257) // 26) + chr(97 + (i - 257) % 26)] = i
open(sys.argv[1] + "/encoder.json", "w").write(json.dumps(vocab))
open(sys.argv[1] + "/vocab.bpe", "w").write("#version: 0.2\nh e\n")
PY
	c=$("$A" commit "$dir/model.safetensors")
	root=$(printf '%s' "$c" | field root)
	size=$(printf '%s' "$c" | field size)
	GPT2_PARAMS="{\"heads\":4,\"max_new_tokens\":8,\"model\":\"$root\",\"modelSize\":$size}"
	echo "a GPT-2 model (1 layer, width 64) committed as $root ($size bytes), in both providers' --model-dir"
}

# The operator's flags (GET /v1/operator/anomalies), one line each:
# "rule: who (value unit, bound N)".
flags() {
	local a who
	"$A" escrow anomalies --key "$WORK/operator.key" --url "$URL" |
		sed 's/},{/}\n{/g' | while IFS= read -r f; do
		a=$(printf '%s' "$f" | field address)
		who=$a
		for k in $WHO; do [ "${ADDR[$k]}" = "$a" ] && who=$(label "$k"); done
		printf '  %s: %s (%s %s, bound %s)\n' "$(printf '%s' "$f" | field rule)" "$who" \
			"$(printf '%s' "$f" | sed -n 's/.*"value":\([0-9]*\).*/\1/p')" \
			"$(printf '%s' "$f" | field unit)" \
			"$(printf '%s' "$f" | sed -n 's/.*"bound":\([0-9]*\).*/\1/p')"
	done
}
cheater_held() { flags | grep -q '^  held: cheating provider'; }
seed_audited() {
	"$A" audit validator "${ADDR[validator]}" --escrow "$URL" 2>/dev/null |
		grep -q '"escrowAudit":"agrees"'
}

# Step 21: what the escrow's watch saw (docs/operations.md, Anomalies).
watch_step() {
	say "21. The operator's view: anomaly flags, a hold, the validator's seed audited"
	wait_for "the cheater's hold (--hold-after-frauds 3)" 20 cheater_held
	printf '$ assay escrow anomalies --key operator.key --url %s\n' "$URL" >&2
	flags
	echo "The validator stops and reveals its seed; the escrow audits what it checked:"
	kill -TERM "$VPID" && wait "$VPID" || true
	wait_for "the validator's seed audit" 20 seed_audited
	run audit validator "${ADDR[validator]}" --escrow "$URL"
}

escrow_act() {
	local D=$WORK WINDOW=10 t0
	t0=$(date +%s)
	: "${ASSAY_PG_CONNINFO:?demo: act 2 runs under scripts/with-postgres.sh}"

	say "11. Act 2: a private PostgreSQL and a real escrow, with money"
	"$A" key new --out "$D/escrow.key" >/dev/null
	# The operator: reads the escrow's anomaly flags (step 21) and could
	# approve, suspend or revoke providers; it moves no money.
	OPERATOR=$("$A" key new --out "$D/operator.key")
	# The documented parameters (docs/escrow.md): min stake 100 ASY, slash
	# 50 %, bounty 20 % of the slash; only the challenge window is short
	# so that the demo does not take an hour, and the validator samples
	# every receipt (100 % instead of 10 %) so that the story is the same
	# on every run.  Every party reaches the escrow from 127.0.0.1 here,
	# one rate-limit bucket for all: the limit is raised accordingly.
	"$ESCROWD" --listen 127.0.0.1:0 --db "$ASSAY_PG_CONNINFO" --key "$D/escrow.key" \
		--devnet --challenge-window-s "$WINDOW" --sample-bps 10000 --quiet \
		--rate-per-s 1000 --rate-burst 2000 --operator "$OPERATOR" \
		>"$D/escrow.out" 2>"$D/escrow.log" &
	PIDS+=($!)
	wait_for "the escrow to listen" 20 grep -qs '^listening on ' "$D/escrow.out"
	URL="http://$(sed -n 's/^listening on \(.*\)$/\1/p' "$D/escrow.out" | head -1)"
	echo "assay-escrow listening on $URL, challenge window ${WINDOW} s"
	E params
	PARAMS=$("$A" escrow params --url "$URL")
	CHAIN=$(printf '%s' "$PARAMS" | field chainId)
	VC=$(printf '%s' "$PARAMS" | field verifyingContract)
	MIN_STAKE=$(printf '%s' "$PARAMS" | field minStake)
	SLASH_BPS=$(printf '%s' "$PARAMS" | field slashBps)
	BOUNTY_BPS=$(printf '%s' "$PARAMS" | field bountyBps)
	SAMPLE_BPS=$(printf '%s' "$PARAMS" | field sampleBps)
	printf '{"name":"Assay","version":"1","chainId":%s,"verifyingContract":"%s"}\n' \
		"$CHAIN" "$VC" > "$D/domain.json"

	say "12. Four wallets: a customer, two providers, a validator"
	for who in $WHO; do
		ADDR[$who]=$("$A" key new --out "$D/$who.key")
	done
	CUST=${ADDR[customer]} HON=${ADDR[honest]} CHEAT=${ADDR[cheat]} VAL=${ADDR[validator]}
	printf '  customer          %s\n  honest provider   %s\n' "$CUST" "$HON"
	printf '  cheating provider %s\n  validator         %s\n' "$CHEAT" "$VAL"

	say "13. Funding (devnet faucet) and staking (signed requests)"
	FUND_CUST=20000000000000000000      # 20 ASY: six jobs of 2 ASY may be locked at once
	FUND_NODE=500000000000000000000     # 500 ASY
	# Four times the minimum (100 ASY): a provider slashed twice (50 %
	# each) still holds the minimum, so the customer's three jobs at each
	# provider open whatever the order of events; after its third fraud
	# the cheater is below it and can take no new job.
	STAKE=400000000000000000000         # 400 ASY
	[ "$MIN_STAKE" = 100000000000000000000 ] || die "the demo's numbers assume a 100 ASY minimum stake"
	E faucet "$CUST" "$FUND_CUST"
	for who in "$HON" "$CHEAT" "$VAL"; do
		"$A" escrow faucet "$who" "$FUND_NODE" --url "$URL" >/dev/null
	done
	echo "(and the same $FUND_NODE for each provider and the validator)"
	E stake "$STAKE" --key "$D/honest.key"
	"$A" escrow stake "$STAKE" --key "$D/cheat.key" --url "$URL" >/dev/null
	"$A" escrow stake "$STAKE" --key "$D/validator.key" --url "$URL" >/dev/null
	echo "(the cheating provider and the validator stake the same)"
	balances BEFORE
	echo "Balances before the jobs (ASY = 10^18 base units):"
	table BEFORE

	say "14. Two providers and a validator start; each registers with the escrow"
	MAXP=2000000000000000000    # 2 ASY locked per job
	PRICE=1500000000000000000   # 1.5 ASY asked by each provider
	gpt2_model "$D/models"
	for p in honest cheat; do
		fault=()
		# The cheat flips a bit of every output before committing to it
		# (a provider that skipped work or ran a cheaper model looks the
		# same): its receipts are consistent, only re-execution tells.
		[ "$p" = cheat ] && fault=(--fault corrupt-output=1 --fault-seed 7)
		"$PROVD" --listen 127.0.0.1:0 --key "$D/$p.key" --escrow "$URL" \
			--data "$D/$p-data" --price "$PRICE" --janitor-period-s 1 \
			--siwe-domain auto --siwe-uri auto --quiet "${fault[@]}" \
			--model-dir "$D/models" \
			--rate-per-s 1000 --rate-burst 2000 \
			>"$D/$p.out" 2>"$D/$p.log" &
		PIDS+=($!)
		wait_for "the $p provider to listen" 20 grep -qs '^listening on ' "$D/$p.out"
		PURL[$p]="http://$(sed -n 's/^listening on \(.*\)$/\1/p' "$D/$p.out" | head -1)"
		echo "assay-provider ($(label "$p")) on ${PURL[$p]}: $(grep -o 'event=registered.*' "$D/$p.log")"
	done
	"$VALD" --escrow "$URL" --key "$D/validator.key" --state-dir "$D/validator-state" \
		--listen 127.0.0.1:0 --poll-ms 200 --quiet >"$D/validator.out" 2>"$D/validator.log" &
	VPID=$!
	PIDS+=($!)
	wait_for "the validator to listen" 20 grep -qs '^listening on ' "$D/validator.out"
	echo "assay-validator on http://$(sed -n 's/^listening on \(.*\)$/\1/p' "$D/validator.out" | head -1)," \
		"sampling probability $(( SAMPLE_BPS / 100 )) % (announced by the escrow)"

	say "15. The customer signs in with its wallet and submits six jobs"
	"$A" tensor random --out "$D/matmul.safetensors" --seed 11 a:F32:64x128 b:F32:128x32 >/dev/null
	"$A" tensor random --out "$D/mlp.safetensors" --seed 12 \
		x:F32:16x64 w0:F32:64x32 b0:F32:32 w1:F32:32x10 b1:F32:10 >/dev/null
	for p in honest cheat; do
		run signin --url "${PURL[$p]}" --key "$D/customer.key" --out "$D/session-$p.json"
	done
	for p in honest cheat; do
		for k in $KINDS; do
			params='{}'; [ "$k" = matmul ] && params='{"relu":false}'
			what=(--input "$D/$k.safetensors")
			if [ "$k" = gpt2 ]; then
				params=$GPT2_PARAMS
				what=(--prompt "hello there" --vocab "$D/models/encoder.json"
				      --merges "$D/models/vocab.bpe")
			fi
			res=$(run job submit --escrow "$URL" --provider "${PURL[$p]}" \
				--key "$D/customer.key" --session "$D/session-$p.json" \
				--kernel "${k}_f32@1" --params "$params" "${what[@]}" \
				--output "$D/out-$p-$k.safetensors" --bundle "$D/bundle-$p-$k.json" \
				--max-price "$MAXP")
			JOB[$p-$k]=$(printf '%s' "$res" | field job)
			[ -n "${JOB[$p-$k]}" ] || die "no job id from job submit"
			printf '%s\n' "$res"
			# A prompt job's input is made by job submit: its output is checked
			what=(--input "$D/$k.safetensors")
			[ "$k" = gpt2 ] && what=()
			run receipt verify "$D/bundle-$p-$k.json" "${what[@]}" \
				--output "$D/out-$p-$k.safetensors"
		done
	done
	echo "All six bundles verify offline: signatures, ids and the files' commitments."
	echo "Offline checks cannot tell a wrong result from a right one; re-execution can."

	say "16. The validator samples the receipts and re-runs them on the CPU"
	for k in $KINDS; do
		wait_for "the referee's slash of ${JOB[cheat-$k]}" 60 slash_done "${JOB[cheat-$k]}"
	done
	grep -E 'event=(sampled|verdict|attest|claim|fraud|submitted)' "$D/validator.log" |
		sed 's/^/  /' | head -12 || true

	say "17. The escrow's referee re-executes the disputed jobs; the window closes"
	for k in $KINDS; do
		wait_for "${JOB[cheat-$k]}'s refund" 30 job_state_is "${JOB[cheat-$k]}" refunded
		E job "${JOB[cheat-$k]}" | grep -o '"disputes":\[.*\]' || true
	done
	echo "waiting out the ${WINDOW} s challenge window of the honest jobs..."
	for k in $KINDS; do
		wait_for "${JOB[honest-$k]}'s payment" 30 job_state_is "${JOB[honest-$k]}" paid
	done
	n=0
	for j in honest-matmul honest-mlp honest-gpt2 cheat-matmul cheat-mlp cheat-gpt2; do
		n=$(( n + 1 ))
		echo "job $n ($j): $(E job "${JOB[$j]}" | grep -o '"state":"[a-z]*"')"
	done
	SLASHED=0 BOUNTY=0
	for k in $KINDS; do
		view=$("$A" escrow job "${JOB[cheat-$k]}" --url "$URL")
		SLASHED=$(( SLASHED + $(cents "$(printf '%s' "$view" | field slashAmount)") ))
		BOUNTY=$(( BOUNTY + $(cents "$(printf '%s' "$view" | field bounty)") ))
		REASON=$(printf '%s' "$view" | field reason)
	done

	say "18. Balances after (ASY = 10^18 base units)"
	balances AFTER
	echo "Before:"
	table BEFORE
	echo "After:"
	table AFTER

	# What each party gained or lost, checked against the rules: three
	# jobs paid, three refunded, the cheater slashed once per proven fraud
	# (each slash takes SLASH_BPS of what is bonded at that moment).
	d_cust=$(( AFTER[customer_av] - BEFORE[customer_av] ))
	d_hon=$(( AFTER[honest_av] - BEFORE[honest_av] ))
	d_cheat_stake=$(( BEFORE[cheat_st] + BEFORE[cheat_ub] - AFTER[cheat_st] - AFTER[cheat_ub] ))
	d_val=$(( AFTER[validator_av] - BEFORE[validator_av] ))
	price=$(cents "$PRICE"); maxp=$(cents "$MAXP")
	want_slash=0 want_bounty=0 bonded=${BEFORE[cheat_st]}
	for k in $KINDS; do
		slash=$(( bonded * SLASH_BPS / 10000 ))
		want_slash=$(( want_slash + slash ))
		want_bounty=$(( want_bounty + slash * BOUNTY_BPS / 10000 ))
		bonded=$(( bonded - slash ))
	done
	[ "$d_cust" -eq $(( -3 * price )) ] ||
		die "the customer should have paid exactly three prices ($(asy $(( 3 * price )))), moved $(asy "$d_cust")"
	[ "$d_hon" -eq $(( 3 * price )) ] || die "the honest provider should have been paid $(asy $(( 3 * price )))"
	[ "${AFTER[honest_st]}" -eq "${BEFORE[honest_st]}" ] || die "the honest provider lost stake"
	if [ "$d_cheat_stake" -ne "$want_slash" ] || [ "$SLASHED" -ne "$want_slash" ]; then
		die "the cheater should have lost $(asy "$want_slash") of stake, lost $(asy "$d_cheat_stake")"
	fi
	[ "${AFTER[cheat_av]}" -eq "${BEFORE[cheat_av]}" ] || die "the cheater's available balance moved"
	if [ "$d_val" -ne "$want_bounty" ] || [ "$BOUNTY" -ne "$want_bounty" ]; then
		die "the validator should have earned $(asy "$want_bounty"), earned $(asy "$d_val")"
	fi
	[ "${AFTER[validator_st]}" -eq "${BEFORE[validator_st]}" ] || die "the validator lost stake"

	say "19. The ledger's invariants (read from its own tables with psql)"
	IFS='|' read -r SUM NEG LOCKS TREASURY SUPPLY DRIFT <<<"$(ledger_check)"
	echo "sum of all accounts, world included: $SUM (I1 conservation)"
	echo "accounts below zero besides world:   $NEG (I2)"
	echo "money still locked in jobs:          $LOCKS (I3/I4: all six jobs settled)"
	echo "accounts that differ from their transfers: $DRIFT (I5)"
	echo "treasury (slash minus bounty):       $(asy "$(cents "$TREASURY")") ASY"
	funded=$(( $(cents "$FUND_CUST") + 3 * $(cents "$FUND_NODE") ))
	held=0
	for k in "${!AFTER[@]}"; do held=$(( held + AFTER[$k] )); done
	if [ "$SUM" != 0 ] || [ "$NEG" != 0 ] || [ "$LOCKS" != 0 ] || [ "$DRIFT" != 0 ]; then
		die "a ledger invariant does not hold"
	fi
	[ "$(cents "$SUPPLY")" -eq "$funded" ] || die "money in the system is not what the faucet gave"
	[ $(( held + $(cents "$TREASURY") )) -eq "$funded" ] ||
		die "the four wallets and the treasury do not add up to what the faucet gave"
	[ "$(cents "$TREASURY")" -eq $(( want_slash - want_bounty )) ] || die "treasury is not slash - bounty"
	echo "wallets $(asy "$held") + treasury $(asy "$(cents "$TREASURY")") = funded $(asy "$funded") ASY: ledger invariants hold"

	say "20. The customer fetches job 4's audit chain and checks every link"
	"$A" escrow audit "${JOB[cheat-matmul]}" --key "$D/customer.key" --url "$URL" > "$D/audit.json"
	sed 's/"event":"\([a-z-]*\)"/\n\1\n/g' "$D/audit.json" | grep -E '^[a-z-]+$' |
		tr '\n' ' ' | sed 's/^/events: /; s/ $/\n/'
	run audit verify "$D/audit.json"

	watch_step

	say "The story"
	echo "Six jobs (matmul_f32, mlp_f32 and a GPT-2 prompt, gpt2_f32, at each provider) of $(asy "$maxp") ASY each; each provider asked $(asy "$price") ASY."
	echo "Every bundle verified offline; the validator re-ran all six on its CPU (the GPT-2 model fetched by its commitment): the honest provider's matched, the cheater's did not ($REASON)."
	echo "cheater slashed: $(base "$want_slash") base units ($(asy "$want_slash") ASY of its $(asy "${BEFORE[cheat_st]}") ASY stake, in three slashes)"
	echo "customer refunded: $(base $(( 3 * maxp ))) base units ($(asy $(( 3 * maxp ))) ASY, the whole of jobs 4 to 6)"
	echo "honest provider paid: $(base $(( 3 * price ))) base units ($(asy $(( 3 * price ))) ASY for jobs 1 to 3)"
	echo "validator bounty: $(base "$want_bounty") base units ($(asy "$want_bounty") ASY)"
	echo "treasury kept: $TREASURY base units"
	echo "ledger invariants hold; audit chain verified"
	echo "Act 2 done in $(( $(date +%s) - t0 )) s: 6 jobs, 6 receipts verified, 6 sampled, 3 attestations, 3 frauds caught and slashed."
}

if [ "${1:-}" = "--escrow-act" ]; then
	escrow_act
	exit 0
fi

say "1. A customer and a provider each create a key (files are 0600)"
CUSTOMER=$(run key new --out "$WORK/customer.key" | tail -1)
PROVIDER=$(run key new --out "$WORK/provider.key" | tail -1)
echo "customer $CUSTOMER"
echo "provider $PROVIDER"
ESCROW=$("$A" key new --out "$WORK/escrow.key")

say "2. The customer prepares an input: a 64x128 by 128x32 matrix product"
run tensor random --out "$WORK/input.safetensors" --seed 7 a:F32:64x128 b:F32:128x32
run tensor show "$WORK/input.safetensors"
INPUT=$(run commit "$WORK/input.safetensors" | tail -1)
echo "input commitment: $INPUT"
IN_ROOT=$(printf '%s' "$INPUT" | sed 's/.*"root":"\(0x[0-9a-f]*\)".*/\1/')
IN_SIZE=$(printf '%s' "$INPUT" | sed 's/.*"size":\([0-9]*\).*/\1/')

say "3. The provider publishes its kernels and their code identities"
run kernel list
KHASH=$("$A" kernel list | awk '$1 == "matmul_f32@1" { print $2 }')

say "4. The customer signs a JobSpec (EIP-712) for that input and kernel"
cat > "$WORK/domain.json" <<EOF
{"name":"Assay","version":"1","chainId":31337,"verifyingContract":"$ESCROW"}
EOF
DEADLINE=$(( $(date +%s) + 3600 ))
cat > "$WORK/job.json" <<EOF
{"customer":"$CUSTOMER","provider":"$PROVIDER","kernel":"matmul_f32@1","kernelHash":"$KHASH","params":"{\"relu\":false}","inputRoot":"$IN_ROOT","inputSize":$IN_SIZE,"maxPrice":"1000000000000000","deadline":$DEADLINE,"nonce":1}
EOF
JOB_ID=$(run statement hash --type JobSpec --domain "$WORK/domain.json" "$WORK/job.json" | tail -1)
JOB_SIG=$(run statement sign --type JobSpec --domain "$WORK/domain.json" --key "$WORK/customer.key" "$WORK/job.json" | tail -1)
echo "job id   $JOB_ID"

say "5. The provider runs the job and commits to the output"
STARTED=$(( $(date +%s%N) / 1000000 ))
RESULT=$(run kernel run matmul_f32@1 --input "$WORK/input.safetensors" --params '{"relu":false}' --output "$WORK/output.safetensors" --device auto | tail -1)
FINISHED=$(( $(date +%s%N) / 1000000 ))
echo "$RESULT"
OUT_ROOT=$(printf '%s' "$RESULT" | sed 's/.*"outputRoot":"\(0x[0-9a-f]*\)".*/\1/')
OUT_SIZE=$(printf '%s' "$RESULT" | sed 's/.*"outputSize":\([0-9]*\).*/\1/')
DEVICE=$(printf '%s' "$RESULT" | sed 's/.*"device":"\([^"]*\)".*/\1/')
run tensor show "$WORK/output.safetensors"

say "6. The provider signs the Receipt and hands back the bundle"
cat > "$WORK/receipt.json" <<EOF
{"job":"$JOB_ID","kernelHash":"$KHASH","inputRoot":"$IN_ROOT","inputSize":$IN_SIZE,"outputRoot":"$OUT_ROOT","outputSize":$OUT_SIZE,"price":"800000000000000","device":"$DEVICE","startedAt":$STARTED,"finishedAt":$FINISHED,"provider":"$PROVIDER"}
EOF
RCPT_SIG=$(run statement sign --type Receipt --domain "$WORK/domain.json" --key "$WORK/provider.key" "$WORK/receipt.json" | tail -1)
"$A" receipt bundle --domain "$WORK/domain.json" --job "$WORK/job.json" --job-sig "$JOB_SIG" \
	--receipt "$WORK/receipt.json" --receipt-sig "$RCPT_SIG" > "$WORK/bundle.json"
echo "bundle: $(wc -c < "$WORK/bundle.json") bytes"

say "7. Anyone verifies it offline, against the input and output files"
run receipt verify "$WORK/bundle.json" --input "$WORK/input.safetensors" \
	--output "$WORK/output.safetensors" --chain-id 31337 --escrow "$ESCROW"

say "8. A validator without a GPU re-runs the job on the CPU: same bytes"
RERUN=$(run kernel run matmul_f32@1 --input "$WORK/input.safetensors" --params '{"relu":false}' --output "$WORK/rerun.safetensors" --device cpu | tail -1)
echo "$RERUN"
RERUN_ROOT=$(printf '%s' "$RERUN" | sed 's/.*"outputRoot":"\(0x[0-9a-f]*\)".*/\1/')
[ "$RERUN_ROOT" = "$OUT_ROOT" ] || { echo "demo: re-execution differs!" >&2; exit 1; }
echo "re-execution root equals the receipt's outputRoot"

say "9. Fraud 1: an output with one flipped bit no longer matches the receipt"
cp "$WORK/output.safetensors" "$WORK/forged.safetensors"
LAST=$(( $(wc -c < "$WORK/forged.safetensors") - 1 ))
BYTE=$(od -An -tu1 -j "$LAST" -N1 "$WORK/forged.safetensors" | tr -d ' ')
printf "$(printf '\\%03o' $(( BYTE ^ 1 )))" | dd of="$WORK/forged.safetensors" bs=1 seek="$LAST" conv=notrunc status=none
if run receipt verify "$WORK/bundle.json" --output "$WORK/forged.safetensors"; then
	echo "demo: a forged output was accepted!" >&2; exit 1
fi
echo "caught (exit 1)"

say "10. Fraud 2: the provider raises the price after the customer signed"
sed 's/"price":"800000000000000"/"price":"900000000000000"/' "$WORK/bundle.json" > "$WORK/greedy.json"
if run receipt verify "$WORK/greedy.json"; then
	echo "demo: a tampered price was accepted!" >&2; exit 1
fi
echo "caught (exit 1): the receipt signature no longer recovers the provider"

say "Act 1 done: 1 job run, 1 receipt verified, 1 re-execution matched, 2 frauds caught."

# Act 2 needs PostgreSQL (installed by scripts/deps.sh test as root) and
# the daemons.
for d in "$ESCROWD" "$PROVD" "$VALD"; do
	[ -x "$d" ] || { echo "demo: $d not built (run make demo)" >&2; exit 1; }
done
"$HERE/deps.sh" test
"$HERE/with-postgres.sh" /bin/bash "${BASH_SOURCE[0]}" --escrow-act
