#!/usr/bin/env bash
# Runs every test and prints one summary line: "N passed, N failed, N skipped".
#
# Every test program speaks TAP ("ok N - name", "not ok N - name",
# "ok N - name # SKIP why"): the cmocka unit tests (build/tests/test-*) and
# the integration tests (tests/integration/test-*.{py,sh}). A program that
# exits non-zero without reporting a failure counts as one failure.
# Usage: tests/run.sh [name-filter...]   (OUTPUT=build dir)
set -u
cd "$(dirname "$0")/.."
OUTPUT=${OUTPUT:-$PWD/build}
export OUTPUT
LOGDIR=$(mktemp -d /tmp/fdwatch-tests.XXXXXX)
passed=0 failed=0 skipped=0
failures=()

want() {
	[ $# -eq 1 ] && return 0
	local name=$1; shift
	for f in "$@"; do [[ $name == *"$f"* ]] && return 0; done
	return 1
}

run_one() {
	local name=$1; shift
	local log="$LOGDIR/$name.log" rc p=0 f=0 s=0
	local t0=$SECONDS
	CMOCKA_MESSAGE_OUTPUT=TAP timeout --kill-after=10 "${TEST_TIMEOUT:-900}" "$@" >"$log" 2>&1
	rc=$?
	p=$(grep -Ec '^ok [0-9]+' "$log" | tr -d ' ')
	s=$(grep -Eic '^ok [0-9]+.*# *skip' "$log" | tr -d ' ')
	f=$(grep -Ec '^not ok [0-9]+' "$log" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	printf '%-40s %3d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $((SECONDS - t0))
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		grep -E '^not ok|^# ' "$log" | head -40 | sed 's/^/    /'
		echo "    (full log: $log)"
	fi
	grep -Ei '^ok [0-9]+.*# *skip' "$log" | sed 's/^/    /'
}

for t in "$OUTPUT"/tests/test-*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	want "$name" "$@" || continue
	run_one "$name" "$t"
done

for t in tests/integration/test-*.py tests/integration/test-*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t")
	want "$name" "$@" || continue
	case $t in
	*.py) run_one "$name" python3 "$t" ;;
	*.sh) run_one "$name" bash "$t" ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
