# Shared helpers for the CLI tests (sourced). $KILN is the binary under test.
set -u
KILN="${1:?usage: $0 KILN_BINARY}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODELS="${KILN_MODELS:-}"
if [ -z "$MODELS" ] && [ -d "$ROOT/../shared/models" ]; then MODELS="$(cd "$ROOT/../shared/models" && pwd)"; fi
REFS="${KILN_REFS:-}"
if [ -z "$REFS" ] && [ -d "$ROOT/../shared/refs" ]; then REFS="$(cd "$ROOT/../shared/refs" && pwd)"; fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
FAILS=0

# expect_fail NAME PATTERN CMD...: the command must exit non-zero (not by a signal),
# print exactly one line on stderr, and that line must match PATTERN (grep -E).
expect_fail() {
  local name="$1" pattern="$2"; shift 2
  local err="$TMP/stderr" rc=0
  "$@" >"$TMP/stdout" 2>"$err" </dev/null || rc=$?
  local lines; lines=$(grep -c '' "$err" || true)
  if [ "$rc" -eq 0 ]; then echo "FAIL $name: exit code 0"; FAILS=$((FAILS+1)); return; fi
  if [ "$rc" -ge 124 ]; then echo "FAIL $name: exit code $rc (crash, signal or timeout)"; cat "$err"; FAILS=$((FAILS+1)); return; fi
  if [ "$lines" -ne 1 ]; then echo "FAIL $name: $lines stderr lines"; cat "$err"; FAILS=$((FAILS+1)); return; fi
  if ! grep -qE -- "$pattern" "$err"; then echo "FAIL $name: stderr does not match /$pattern/:"; cat "$err"; FAILS=$((FAILS+1)); return; fi
  echo "ok   $name: $(cat "$err")"
}

# expect_ok NAME CMD...: exit code 0.
expect_ok() {
  local name="$1"; shift
  if "$@" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null; then echo "ok   $name"
  else echo "FAIL $name (exit $?)"; cat "$TMP/stderr"; FAILS=$((FAILS+1)); fi
}

finish() {
  if [ "$FAILS" -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
  echo "all passed"
}

need_models() {
  if [ -z "$MODELS" ] || [ ! -f "$MODELS/stories260K/stories260K.bin" ]; then
    echo "models not available (set KILN_MODELS): skipped"; exit 0
  fi
}
