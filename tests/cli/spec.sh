#!/usr/bin/env bash
# Speculative decoding from the command line: the drafters reproduce plain greedy output, the
# statistics appear on stderr and in --json, and every bad option or draft model is one clear error.
source "$(dirname "$0")/lib.bash"

need_models
M="$MODELS/stories260K"
"$KILN" convert "$M/stories260K.bin" --tokenizer "$M/tok512.bin" -o "$TMP/s.kiln" 2>/dev/null
"$KILN" convert "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --dtype f16 -o "$TMP/s16.kiln" 2>/dev/null
S="$TMP/s.kiln"
P="Once upon a time"

# --- same tokens as plain greedy decoding, for every drafter ---------------------------------------------
"$KILN" run -m "$S" -p "$P" -n 120 --temp 0 -t 1 --no-echo > "$TMP/plain.txt" 2>/dev/null
for d in "--lookup" "--lookup --lookup-n 5 --draft-max 16" "--self-draft 1" "--self-draft 1,3 --draft-max 3" \
         "--draft $TMP/s16.kiln" "--draft $TMP/s16.kiln --draft-max 1"; do
  # shellcheck disable=SC2086
  if "$KILN" run -m "$S" -p "$P" -n 120 --temp 0 -t 1 --no-echo $d > "$TMP/spec.txt" 2>"$TMP/spec.err" &&
     cmp -s "$TMP/plain.txt" "$TMP/spec.txt" && grep -q "speculation: .*accepted" "$TMP/spec.err"; then
    echo "ok   greedy output unchanged with $d"
  else
    echo "FAIL greedy output or stats differ with $d"; cat "$TMP/spec.err"; FAILS=$((FAILS+1))
  fi
done

# --spec-compare: a speedup line and the same tokens; --json carries the statistics.
expect_ok "spec-compare" "$KILN" run -m "$S" -p "$P" -n 60 --temp 0 -t 1 --lookup --spec-compare
if grep -q "speedup .*same tokens" "$TMP/stderr"; then echo "ok   spec-compare reports the speedup"
else echo "FAIL spec-compare line"; cat "$TMP/stderr"; FAILS=$((FAILS+1)); fi
"$KILN" run -m "$S" -p "$P" -n 60 --temp 0 -t 1 --self-draft 1 --spec-compare --json > "$TMP/out.json" 2>/dev/null
for key in '"speculation"' '"drafted"' '"accepted"' '"acceptance_rate"' '"tokens_per_step"' '"speedup"' '"same_tokens_as_plain":true'; do
  if grep -q -- "$key" "$TMP/out.json"; then echo "ok   --json has $key"
  else echo "FAIL --json lacks $key"; cat "$TMP/out.json"; FAILS=$((FAILS+1)); fi
done

# A draft longer than the context that is left: stops at the end of the context with the plain tokens.
"$KILN" run -m "$S" -p "$P" -c 12 -n 50 --temp 0 -t 1 --no-echo > "$TMP/plain_c.txt" 2>"$TMP/plain_c.err"
"$KILN" run -m "$S" -p "$P" -c 12 -n 50 --temp 0 -t 1 --no-echo --draft "$TMP/s16.kiln" --draft-max 16 \
  > "$TMP/spec_c.txt" 2>"$TMP/spec_c.err"
if cmp -s "$TMP/plain_c.txt" "$TMP/spec_c.txt" && grep -q "stop: context full" "$TMP/spec_c.err"; then
  echo "ok   draft longer than the remaining context"
else echo "FAIL draft at the context end"; cat "$TMP/spec_c.err"; FAILS=$((FAILS+1)); fi

# Sampling runs (the distribution is checked in test_spec); same seed, same output.
"$KILN" run -m "$S" -p "$P" -n 40 --seed 5 --lookup -t 1 > "$TMP/a.txt" 2>/dev/null
"$KILN" run -m "$S" -p "$P" -n 40 --seed 5 --lookup -t 1 > "$TMP/b.txt" 2>/dev/null
if cmp -s "$TMP/a.txt" "$TMP/b.txt"; then echo "ok   sampling with a seed is reproducible"
else echo "FAIL sampling with a seed differs between runs"; FAILS=$((FAILS+1)); fi

# kiln bench with a drafter: the speculative test with its efficiency.
if "$KILN" bench -m "$S" --self-draft 1 --draft-fixed --draft-max 3 -n 24 -r 1 -t 1 > "$TMP/bench.txt" 2>&1 &&
   grep -q "speculative decoding: self-draft" "$TMP/bench.txt" && grep -qE "\| yes \|$" "$TMP/bench.txt"; then
  echo "ok   bench with a drafter"
else echo "FAIL bench with a drafter"; cat "$TMP/bench.txt"; FAILS=$((FAILS+1)); fi
expect_fail "bench --draft-max without a drafter" "--draft-max needs a drafter" "$KILN" bench -m "$S" --draft-max 3 -n 8

# The fixed prompt set for measuring n-gram lookup (docs/SPECULATIVE.md): every prompt runs, same tokens as plain.
if "$ROOT/scripts/spec-lookup-bench.sh" -m "$S" --kiln "$KILN" -n 24 -r 1 -t 1 --rounds 1 > "$TMP/lookup.md" 2>&1 &&
   [ "$(grep -c '| yes |$' "$TMP/lookup.md")" -eq "$(grep -vc '^#' "$ROOT/tests/data/spec_lookup_prompts.tsv")" ]; then
  echo "ok   spec-lookup-bench.sh over the prompt set"
else echo "FAIL spec-lookup-bench.sh"; cat "$TMP/lookup.md"; FAILS=$((FAILS+1)); fi
expect_fail "spec-lookup-bench.sh without a model" "-m MODEL is required" "$ROOT/scripts/spec-lookup-bench.sh" --kiln "$KILN"
expect_fail "spec-lookup-bench.sh bad kind" "--kind must be" "$ROOT/scripts/spec-lookup-bench.sh" -m "$S" --kiln "$KILN" --kind poems

# --- bad input ----------------------------------------------------------------------------------------------
expect_fail "missing draft file" "no such file" "$KILN" run -m "$S" -p hi --draft "$TMP/none.kiln"
expect_fail "--draft with --lookup" "alternatives" "$KILN" run -m "$S" -p hi --draft "$TMP/s16.kiln" --lookup
expect_fail "--lookup with --self-draft" "alternatives" "$KILN" run -m "$S" -p hi --lookup --self-draft 1
expect_fail "--lookup-n without --lookup" "--lookup-n needs --lookup" "$KILN" run -m "$S" -p hi --lookup-n 3
expect_fail "--lookup-n out of range" "--lookup-n 0 is out of range" "$KILN" run -m "$S" -p hi --lookup --lookup-n 0
expect_fail "--draft-max zero" "--draft-max 0 is out of range" "$KILN" run -m "$S" -p hi --lookup --draft-max 0
expect_fail "--draft-max huge" "--draft-max 65 is out of range" "$KILN" run -m "$S" -p hi --lookup --draft-max 65
expect_fail "--draft-max without a drafter" "--draft-max needs a drafter" "$KILN" run -m "$S" -p hi --draft-max 4
expect_fail "--draft-fixed without a drafter" "--draft-fixed needs a drafter" "$KILN" run -m "$S" -p hi --draft-fixed
expect_fail "--spec-compare without a drafter" "--spec-compare needs a drafter" "$KILN" run -m "$S" -p hi --spec-compare
expect_fail "--self-draft all layers" "skip all 5 layers" "$KILN" run -m "$S" -p hi --self-draft 5
expect_fail "--self-draft all layers listed" "skip all 5 layers" "$KILN" run -m "$S" -p hi --self-draft 0,1,2,3,4
expect_fail "--self-draft too many" "--self-draft 4 is out of range \[1, 3\]" "$KILN" run -m "$S" -p hi --self-draft 4
expect_fail "--self-draft zero" "--self-draft 0 is out of range" "$KILN" run -m "$S" -p hi --self-draft 0
expect_fail "--self-draft layer out of range" "layer 9 is out of range \[0, 4\]" "$KILN" run -m "$S" -p hi --self-draft 1,9
expect_fail "--self-draft duplicate" "layer 1 is listed twice" "$KILN" run -m "$S" -p hi --self-draft 1,1
expect_fail "--self-draft junk" "expected a layer count" "$KILN" run -m "$S" -p hi --self-draft half

# A draft model with a smaller vocabulary: a tiny llama2.c checkpoint (dim 8, 1 layer, vocab 500, zero weights).
{ printf '\x08\x00\x00\x00\x10\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\xf4\x01\x00\x00\x20\x00\x00\x00'
  head -c $((4792 * 4)) /dev/zero; } > "$TMP/v500.bin"
"$KILN" convert "$TMP/v500.bin" --tokenizer "$M/tok512.bin" -o "$TMP/v500.kiln" 2>/dev/null
expect_fail "draft vocabulary size" "500 tokens but the target .* has 512" "$KILN" run -m "$S" -p hi --draft "$TMP/v500.kiln"
# The same size but other token texts: one token of the tokenizer renamed.
cp "$M/tok512.bin" "$TMP/tok_other.bin"
off=$(LC_ALL=C grep -boa "Once" "$TMP/tok_other.bin" | head -1 | cut -d: -f1)
printf 'Onze' | dd of="$TMP/tok_other.bin" bs=1 seek="$off" conv=notrunc 2>/dev/null
"$KILN" convert "$M/stories260K.bin" --tokenizer "$TMP/tok_other.bin" -o "$TMP/other.kiln" 2>/dev/null
expect_fail "draft vocabulary texts" "another vocabulary .* token [0-9]+ is '.*Onze'" "$KILN" run -m "$S" -p hi --draft "$TMP/other.kiln"
finish
