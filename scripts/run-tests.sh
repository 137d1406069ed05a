#!/bin/bash
# run-tests.sh TESTBIN [ARGS...]: runs the Criterion suite.
#
# - The binary gets its own PID in ASSAY_RUNNER_PID (exec keeps the PID).
#   Under SAN=1 it uses it to skip LeakSanitizer in Criterion's runner
#   process only: that process runs none of our code, and libcriterion 2.4
#   leaks its timeout watchdog entries there.
# - A failing run ends by repeating each failed test's name and its
#   assertion lines, so that the tail of a long CI log names them.
# - A test process reports leaks only as it exits, after Criterion has
#   counted the test as passed, so a leak would not fail the run.  This
#   script does: any sanitizer report in the output fails it.
set -uo pipefail

log=$(mktemp "${TMPDIR:-/tmp}/assay-tests.XXXXXX")
trap 'rm -f "$log"' EXIT

bash -c 'ASSAY_RUNNER_PID=$$; export ASSAY_RUNNER_PID; exec "$@"' run-tests "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if grep -q -E "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" "$log"; then
	echo "run-tests: a sanitizer reported an error above; failing the run" >&2
	[ "$rc" -eq 0 ] && rc=1
fi
if [ "$rc" -ne 0 ]; then
	echo "run-tests: what failed (repeated from above):" >&2
	grep -E "^\[(FAIL|----)\]|\[FAIL\]|CRASH|Timed out|Assertion [Ff]ailed" "$log" | \
		grep -v -E "^\[----\] +(Criterion|Running)" | tail -n 60 >&2
fi
exit "$rc"
