# Shared by the CLI test scripts (sourced): a temporary folder, pass/fail counting, and
# expect_error NAME PATTERN CMD...: a non-zero exit that is not a signal (>= 128 means a crash) and
# exactly one stderr line matching PATTERN.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "ok   $1"; }
bad() { echo "FAIL $1"; failures=$((failures + 1)); }

expect_error() {
    local name=$1 pattern=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    local lines; lines=$(wc -l <"$tmp/err")
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit $rc"; return; fi
    if [ "$lines" -ne 1 ]; then bad "$name: $lines lines on stderr"; cat "$tmp/err"; return; fi
    if ! grep -q -- "$pattern" "$tmp/err"; then bad "$name: stderr was: $(cat "$tmp/err")"; return; fi
    pass "$name"
}

# expect_final_error NAME PATTERN CMD...: as expect_error, for commands that print progress on
# stderr before failing (sib train): the error is the last line, and the only one saying "error".
expect_final_error() {
    local name=$1 pattern=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "$name: exit $rc"; return; fi
    if [ "$(grep -c 'error' "$tmp/err")" -ne 1 ]; then bad "$name: not one error line"; cat "$tmp/err"; return; fi
    if ! tail -n 1 "$tmp/err" | grep -q -- "$pattern"; then bad "$name: stderr ended with: $(tail -n 1 "$tmp/err")"; return; fi
    pass "$name"
}
