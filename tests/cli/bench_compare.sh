#!/usr/bin/env bash
# scripts/bench-compare.sh: kiln against a fake llama-bench (tests/cli/fake-llama-bench: llama-bench's
# options and JSON shape, fixed speeds) and against a "previous" kiln, on a tiny synthetic model; the
# runs alternate; bad input gets one clear line.
source "$(dirname "$0")/lib.bash"

CMP="$ROOT/scripts/bench-compare.sh"
cp "$ROOT/tests/cli/fake-llama-bench" "$TMP/llama-bench" && chmod +x "$TMP/llama-bench"
DIMS="--dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 96 --vocab 300 --vocab-from synthetic"
COMMON=(--kiln "$KILN" --dims "$DIMS" --types q8_0,q4_0 -p 16 -n 8 -r 2 -t 1 --rounds 2 --cache "$TMP/cache")

# expect_fail_last NAME PATTERN CMD...: non-zero exit and the LAST stderr line matches (progress lines may precede).
expect_fail_last() {
  local name="$1" pattern="$2"; shift 2
  local rc=0
  "$@" >"$TMP/stdout" 2>"$TMP/stderr" </dev/null || rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ]; then echo "FAIL $name: exit code $rc"; cat "$TMP/stderr"; FAILS=$((FAILS+1)); return; fi
  if ! tail -1 "$TMP/stderr" | grep -qE -- "$pattern"; then echo "FAIL $name: last stderr line does not match /$pattern/:"; cat "$TMP/stderr"; FAILS=$((FAILS+1)); return; fi
  echo "ok   $name: $(tail -1 "$TMP/stderr")"
}

export FAKE_LLAMA_LOG="$TMP/llama.log"
expect_ok "compare with llama-bench" "$CMP" "${COMMON[@]}" --llama-bench "$TMP/llama-bench"
cat "$TMP/stdout"
for t in q8_0 q4_0; do
  grep -Eq "^\| dims-[0-9a-f]{8} \| $t \| pp16 \| [0-9.]+ \| 1000\.00 \| [0-9.]+ \|$" "$TMP/stdout" || { echo "FAIL: no $t pp16 row with llama.cpp's 1000 t/s"; FAILS=$((FAILS+1)); }
  grep -Eq "^\| dims-[0-9a-f]{8} \| $t \| tg8 \| [0-9.]+ \| 100\.00 \| [0-9.]+ \|$" "$TMP/stdout" || { echo "FAIL: no $t tg8 row with llama.cpp's 100 t/s"; FAILS=$((FAILS+1)); }
done
grep -q '| kiln / llama.cpp |' "$TMP/stdout" || { echo "FAIL: no ratio column"; FAILS=$((FAILS+1)); }
# alternation: kiln, llama.cpp, kiln, llama.cpp per type
order=$(grep -oE 'round [0-9]/2 (kiln|llama\.cpp)' "$TMP/stderr" | awk '{print $3}' | tr '\n' ' ')
[ "$order" = "kiln llama.cpp kiln llama.cpp kiln llama.cpp kiln llama.cpp " ] || { echo "FAIL: runs do not alternate: $order"; FAILS=$((FAILS+1)); }
# llama-bench ran on the GGUF twin of the KILN model, with the same options
[ "$(grep -c -- '-q8_0.gguf -p 16 -n 8 -r 2 -t 1 -o json' "$FAKE_LLAMA_LOG")" = 2 ] || { echo "FAIL: llama-bench calls:"; cat "$FAKE_LLAMA_LOG"; FAILS=$((FAILS+1)); }
ls "$TMP/cache"/synth-dims-*-q4_0.kiln "$TMP/cache"/synth-dims-*-q4_0.gguf >/dev/null || { echo "FAIL: models not cached"; FAILS=$((FAILS+1)); }
# the cached pair is reused (no second synth)
expect_ok "compare again (cached models)" "$CMP" "${COMMON[@]}" --types q4_0 --rounds 1 --llama-bench "$TMP/llama-bench"
grep -q synthesizing "$TMP/stderr" && { echo "FAIL: cached models were synthesized again"; FAILS=$((FAILS+1)); }

expect_ok "compare with a previous kiln" "$CMP" "${COMMON[@]}" --types q8_0 --kiln-old "$KILN"
grep -Eq "^\| dims-[0-9a-f]{8} \| q8_0 \| tg8 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$" "$TMP/stdout" && grep -q '| kiln / kiln-old |' "$TMP/stdout" \
  || { echo "FAIL: kiln-old table"; cat "$TMP/stdout"; FAILS=$((FAILS+1)); }

# bad input
expect_fail "missing llama-bench" "--llama-bench $TMP/none: no such file" "$CMP" "${COMMON[@]}" --llama-bench "$TMP/none"
expect_fail "llama-bench not executable" "not an executable file" "$CMP" "${COMMON[@]}" --llama-bench "$ROOT/README.md"
expect_fail "missing kiln" "--kiln $TMP/none: no such file" "$CMP" --kiln "$TMP/none" --llama-bench "$TMP/llama-bench"
expect_fail "missing old kiln" "--kiln-old $TMP/none: no such file" "$CMP" "${COMMON[@]}" --kiln-old "$TMP/none"
expect_fail "nothing to compare with" "give --llama-bench PATH or --kiln-old PATH" "$CMP" "${COMMON[@]}"
expect_fail "unknown shape" "--shape gpt5: unknown shape" "$CMP" --kiln "$KILN" --shape gpt5 --llama-bench "$TMP/llama-bench"
expect_fail "unknown type" "--types: unknown type 'q3'" "$CMP" "${COMMON[@]}" --types q8_0,q3 --llama-bench "$TMP/llama-bench"
expect_fail "bad -r" "-r 'x' is not a whole number" "$CMP" "${COMMON[@]}" -r x --llama-bench "$TMP/llama-bench"
expect_fail "unknown option" "unknown option '--frob'" "$CMP" --frob
expect_fail_last "bad synth dims" "kiln synth \(dims-[0-9a-f]+, q8_0\) failed: .*--heads 3 does not divide" "$CMP" --kiln "$KILN" --dims "--dim 64 --layers 2 --heads 3 --ffn 96" --types q8_0 --cache "$TMP/cache" --llama-bench "$TMP/llama-bench"
FAKE_LLAMA_MODE=garbage expect_fail_last "llama-bench prints no JSON" "llama-bench -o json output is not a JSON list" "$CMP" "${COMMON[@]}" --llama-bench "$TMP/llama-bench"
FAKE_LLAMA_MODE=no-tg expect_fail_last "llama-bench without tg" "llama-bench output has no tg8 result" "$CMP" "${COMMON[@]}" --llama-bench "$TMP/llama-bench"
FAKE_LLAMA_MODE=fail expect_fail_last "llama-bench fails" "llama-bench failed on .*: error: failed to create context" "$CMP" "${COMMON[@]}" --llama-bench "$TMP/llama-bench"
finish
