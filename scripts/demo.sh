#!/bin/bash
# demo.sh: what `make demo` runs.
#
# The marketplace services (escrow, provider, validator) are not written
# yet, so this is the offline receipt round trip with real parts: real
# keys, a real kernel run, real commitments and EIP-712 signatures, and
# offline verification, including two frauds that verification catches.
# Everything happens in a private temporary directory that is removed on
# exit, Ctrl-C included; the demo can be run again at once.
set -euo pipefail

BUILD=${ASSAY_BUILD:-build}
A="$BUILD/bin/assay"
[ -x "$A" ] || { echo "demo: $A not built (run make demo)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/assay-demo.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ assay %s\n' "$*" >&2; "$A" "$@"; }

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

say "Done: 1 job run, 1 receipt verified, 1 re-execution matched, 2 frauds caught."
echo "Next: the same job through the escrow daemon, with money and slashing (see README.md)."
