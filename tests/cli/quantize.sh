#!/usr/bin/env bash
# kiln quantize / convert --type / perplexity: the recipes, rows8 output, calibration, and every bad input.
source "$(dirname "$0")/lib.bash"

expect_fail "quantize: missing input" "no such file" "$KILN" quantize "$TMP/none.kiln" -o "$TMP/q.kiln" --type q8
need_models
M="$MODELS/stories260K"
"$KILN" convert "$M/stories260K.gguf" -o "$TMP/f32.kiln" 2>/dev/null

# a short scoring text (the eval text when present; quality figures are checked in test_perplexity)
if [ -n "$REFS" ]; then head -c 4000 "$REFS/stories260K/eval_text.txt" > "$TMP/text.txt"
else "$KILN" run -m "$TMP/f32.kiln" -p "Once upon a time" -n 400 --temp 0.9 --seed 7 > "$TMP/text.txt" 2>/dev/null; fi
# calibration text: never the evaluation text; the model's own stories, sampled with fixed seeds
for s in 1 2 3; do "$KILN" run -m "$TMP/f32.kiln" -p "Once upon a time" -n 300 --temp 0.9 --seed $s 2>/dev/null; echo; done > "$TMP/calib.txt"
head -c 600 "$TMP/text.txt" > "$TMP/short.txt"
: > "$TMP/empty.txt"
printf '  \n\n' > "$TMP/blank.txt"

# bad input
expect_fail "quantize: unknown type" "--type q3 is not supported" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q.kiln" --type q3
expect_fail "quantize: --keep-output bf16" "--keep-output bf16 is not supported" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q.kiln" --type q4 --keep-output bf16
expect_fail "quantize: calibration file missing" "none.txt: cannot open the calibration text" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q.kiln" --type q4 --calibrate "$TMP/none.txt"
expect_fail "quantize: calibration file empty" "empty.txt: the calibration text is empty" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q.kiln" --type q4 --calibrate "$TMP/empty.txt"
expect_fail "quantize: calibration file blank" "blank.txt: the calibration text is empty" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q.kiln" --type q4 --calibrate "$TMP/blank.txt"
expect_fail "quantize: output over input" "overwrite the input" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/f32.kiln" --type q8
expect_fail "quantize: -t 0" "-t .*out of range" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q.kiln" --type q8 -t 0
expect_fail "convert: unknown --type" "--type q5 is not supported" "$KILN" convert "$M/stories260K.gguf" -o "$TMP/q.kiln" --type q5
expect_fail "convert: --dtype with --type" "cannot be combined" "$KILN" convert "$M/stories260K.gguf" -o "$TMP/q.kiln" --type q8 --dtype f16
[ ! -e "$TMP/q.kiln" ] || { echo "FAIL: a failed quantize left an output file"; FAILS=$((FAILS+1)); }

# the recipes: quantized matrices in rows8, ffn_down (row length 172) kept f16 with a note, norms f32
for t in q8 q4 q4k; do
  expect_ok "quantize $t" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/$t.kiln" --type $t -t 2
  grep -Eq "blk.0.ffn_down.weight.* and 2 more: row length 172 is not a multiple of (256 or )?32: kept f16" "$TMP/stderr" \
    || { echo "FAIL quantize $t: no f16 fallback note"; cat "$TMP/stderr"; FAILS=$((FAILS+1)); }
  expect_ok "verify $t" "$KILN" info --verify "$TMP/$t.kiln"
  grep -Eq "blk.0.attn_q.weight +q(8_0|4_0|4_1) +rows8" "$TMP/stdout" || { echo "FAIL $t: attn_q not rows8"; FAILS=$((FAILS+1)); }
  grep -Eq "blk.0.ffn_down.weight +f16 +plain" "$TMP/stdout" || { echo "FAIL $t: ffn_down not f16"; FAILS=$((FAILS+1)); }
  grep -Eq "blk.0.attn_norm.weight +f32" "$TMP/stdout" || { echo "FAIL $t: norm not f32"; FAILS=$((FAILS+1)); }
  grep -Eq "output.weight +q8_0 +rows8" "$TMP/stdout" || { echo "FAIL $t: output not q8_0"; FAILS=$((FAILS+1)); }
done
# q4k on rows of 64 (not a multiple of 256) falls back to q4_1 (not q4_0) and says so
"$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q4k2.kiln" --type q4k 2>"$TMP/err" >/dev/null
grep -q "token_embd.weight, blk.0.attn_q.weight, blk.0.attn_k.weight and 28 more: row length 64 is not a multiple of 256: q4_1" "$TMP/err" || { echo "FAIL q4k fallback note"; FAILS=$((FAILS+1)); }
"$KILN" info "$TMP/q4k.kiln" | grep -Eq "blk.0.attn_q.weight +q4_1 +rows8" || { echo "FAIL q4k: attn_q not q4_1 rows8"; FAILS=$((FAILS+1)); }
cmp -s "$TMP/q4.kiln" "$TMP/q4k.kiln" && { echo "FAIL q4k is the same file as q4"; FAILS=$((FAILS+1)); }
expect_ok "run q4k" "$KILN" run -m "$TMP/q4k.kiln" -p "Once upon a time" -n 16 --temp 0
expect_ok "quantize q4k --calibrate" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q4kc.kiln" --type q4k --calibrate "$TMP/calib.txt"
cmp -s "$TMP/q4k.kiln" "$TMP/q4kc.kiln" && { echo "FAIL q4k calibration changed nothing"; FAILS=$((FAILS+1)); }
# q6k on rows of 64 falls back to q8_0 (the next finer type) and says so; it runs
expect_ok "quantize q6k" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q6k.kiln" --type q6k
grep -q "and 28 more: row length 64 is not a multiple of 256: q8_0" "$TMP/stderr" || { echo "FAIL q6k fallback note"; cat "$TMP/stderr"; FAILS=$((FAILS+1)); }
"$KILN" info "$TMP/q6k.kiln" | grep -Eq "blk.0.attn_q.weight +q8_0 +rows8" || { echo "FAIL q6k: attn_q not q8_0 rows8"; FAILS=$((FAILS+1)); }
expect_ok "run q6k" "$KILN" run -m "$TMP/q6k.kiln" -p "Once upon a time" -n 16 --temp 0
# q5_0 / q5_1 (GGUF Q5_0 / Q5_1): rows8 matrices that run; a synth GGUF of them imports and runs
for t in q5_0 q5_1; do
  expect_ok "quantize $t" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/$t.kiln" --type $t
  "$KILN" info "$TMP/$t.kiln" | grep -Eq "blk.0.attn_q.weight +$t +rows8" || { echo "FAIL $t: attn_q not $t rows8"; FAILS=$((FAILS+1)); }
  expect_ok "run $t" "$KILN" run -m "$TMP/$t.kiln" -p "Once upon a time" -n 16 --temp 0
  expect_ok "synth $t --gguf" "$KILN" synth --dim 64 --layers 1 --heads 4 --ffn 128 --vocab 512 --vocab-from synthetic \
    --type $t --gguf -o "$TMP/synth_$t.gguf"
  expect_ok "run synth $t gguf" "$KILN" run -m "$TMP/synth_$t.gguf" -p "hello" -n 4 --temp 0
done
expect_ok "quantize q4 --keep-output f16" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q4o.kiln" --type q4 --keep-output f16
"$KILN" info "$TMP/q4o.kiln" | grep -Eq "output.weight +f16" || { echo "FAIL --keep-output f16"; FAILS=$((FAILS+1)); }
expect_ok "quantize q4 --calibrate" "$KILN" quantize "$TMP/f32.kiln" -o "$TMP/q4c.kiln" --type q4 --calibrate "$TMP/calib.txt"
grep -q "calibrated on" "$TMP/stderr" || { echo "FAIL calibrate: no summary"; FAILS=$((FAILS+1)); }
cmp -s "$TMP/q4.kiln" "$TMP/q4c.kiln" && { echo "FAIL calibration changed nothing"; FAILS=$((FAILS+1)); }
expect_ok "convert --type q4" "$KILN" convert "$M/stories260K.gguf" -o "$TMP/cq4.kiln" --type q4
"$KILN" info "$TMP/cq4.kiln" | grep -Eq "blk.0.attn_q.weight +q4_0 +rows8" || { echo "FAIL convert --type q4"; FAILS=$((FAILS+1)); }
expect_ok "run q4" "$KILN" run -m "$TMP/q4.kiln" -p "Once upon a time" -n 16 --temp 0

# already-quantized input: the same type is a lossless copy, another type is refused
expect_ok "quantize q8 -> q8 (lossless)" "$KILN" quantize "$TMP/q8.kiln" -o "$TMP/q8b.kiln" --type q8
sums() { "$KILN" info "$1" | awk '/ (plain|rows8) /{print $1, $2, $3, $NF}'; }
[ "$(sums "$TMP/q8.kiln")" = "$(sums "$TMP/q8b.kiln")" ] || { echo "FAIL q8 -> q8 changed tensor bytes"; FAILS=$((FAILS+1)); }
expect_ok "convert a rows8 file" "$KILN" convert "$TMP/q4.kiln" -o "$TMP/q4b.kiln"
[ "$(sums "$TMP/q4.kiln")" = "$(sums "$TMP/q4b.kiln")" ] || { echo "FAIL convert of a rows8 file changed tensor bytes"; FAILS=$((FAILS+1)); }
expect_fail "quantize q8 -> q4" "already quantized \(q8_0\).*lose quality" "$KILN" quantize "$TMP/q8.kiln" -o "$TMP/x.kiln" --type q4
expect_ok "quantize q8 -> q4 --allow-requantize" "$KILN" quantize "$TMP/q8.kiln" -o "$TMP/x.kiln" --type q4 --allow-requantize

# a weight that is not a finite number is named, and no output is left behind
off=$("$KILN" info "$TMP/f32.kiln" | awk '$1=="blk.0.attn_q.weight"{print $(NF-2)}')
cp "$TMP/f32.kiln" "$TMP/nan.kiln"; chmod u+w "$TMP/nan.kiln"
printf '\xff\xff\xff\x7f' | dd of="$TMP/nan.kiln" bs=1 seek=$((off + 40)) conv=notrunc 2>/dev/null
expect_fail "quantize: NaN weight" "quantizing blk.0.attn_q.weight to q4_0: row 0 column 10 is not a finite number" "$KILN" quantize "$TMP/nan.kiln" -o "$TMP/nanq.kiln" --type q4
[ ! -e "$TMP/nanq.kiln" ] || { echo "FAIL: a failed quantize left an output file"; FAILS=$((FAILS+1)); }

# llama.cpp's Q8_0/Q4_0 GGUF files convert losslessly into rows8
if [ -n "$REFS" ]; then
  for q in q8_0 q4_0; do
    expect_ok "convert gguf $q" "$KILN" convert "$REFS/stories260K/stories260K-$q.gguf" -o "$TMP/g$q.kiln"
    "$KILN" info "$TMP/g$q.kiln" | grep -Eq "blk.0.attn_q.weight +$q +rows8" || { echo "FAIL gguf $q not rows8"; FAILS=$((FAILS+1)); }
  done
  expect_fail "quantize llama.cpp q4_0 file to q8" "already quantized" "$KILN" quantize "$TMP/gq4_0.kiln" -o "$TMP/x2.kiln" --type q8
fi

# perplexity
expect_ok "perplexity" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text.txt" -c 128 --kld-base "$TMP/f32.kiln"
grep -q "^perplexity: " "$TMP/stdout" && grep -q "^mean KLD: " "$TMP/stdout" && grep -q "^same top-1: " "$TMP/stdout" \
  || { echo "FAIL perplexity output"; cat "$TMP/stdout"; FAILS=$((FAILS+1)); }
expect_ok "perplexity --json" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/text.txt" -c 128 --json
grep -q '"ppl":' "$TMP/stdout" || { echo "FAIL perplexity --json"; cat "$TMP/stdout"; FAILS=$((FAILS+1)); }
expect_fail "perplexity: missing text" "none.txt: cannot open the text file" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/none.txt"
expect_fail "perplexity: empty text" "empty.txt: the text file is empty" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/empty.txt"
expect_fail "perplexity: -c too small" "-c 4 is out of range" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/text.txt" -c 4
expect_fail "perplexity: -c beyond the model" "-c 1024 is larger than the model's context of 512" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/text.txt" -c 1024
expect_fail "perplexity: text too short" "perplexity at -c 256 needs at least 512" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/short.txt" -c 256
expect_fail "perplexity: missing base" "none.kiln" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/text.txt" -c 128 --kld-base "$TMP/none.kiln"
# --kl-save / --kl-base FILE: the base's logits saved once give the same figures as the base model
expect_ok "perplexity --kl-save" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/text.txt" -c 128 --kl-save "$TMP/base.klb" --json
ls -a "$TMP" | grep -q '\.tmp\.' && { echo "FAIL --kl-save left a temporary file"; FAILS=$((FAILS+1)); }
kl_figs() { grep -o '"\(kld_mean\|kld_max\|same_top1_pct\|base_ppl\|ppl\)":[^,}]*' "$TMP/stdout" | sort; }
expect_ok "perplexity --kl-base model" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text.txt" -c 128 --kl-base "$TMP/f32.kiln" --json
figs_model=$(kl_figs)
expect_ok "perplexity --kl-base file" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text.txt" -c 128 --kl-base "$TMP/base.klb" --json
[ -n "$figs_model" ] && [ "$figs_model" = "$(kl_figs)" ] || { echo "FAIL --kl-base file differs from the model: $figs_model vs $(kl_figs)"; FAILS=$((FAILS+1)); }
head -c 3000 "$TMP/text.txt" > "$TMP/text2.txt"
expect_fail "perplexity: logits of another text" "base.klb: the logits were saved for a different text" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text2.txt" -c 128 --kl-base "$TMP/base.klb"
expect_fail "perplexity: logits at another -c" "base.klb: the logits were saved at -c 128, not -c 64" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text.txt" -c 64 --kl-base "$TMP/base.klb"
head -c 100000 "$TMP/base.klb" > "$TMP/trunc.klb"
expect_fail "perplexity: truncated logits file" "trunc.klb: truncated or damaged logits file" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text.txt" -c 128 --kl-base "$TMP/trunc.klb"
{ printf 'XILNKLB\0'; tail -c +9 "$TMP/base.klb"; } > "$TMP/magic.klb"
expect_fail "perplexity: logits file with a wrong magic" "magic.klb: unrecognised model format.*also takes a logits file" "$KILN" perplexity -m "$TMP/q4.kiln" -f "$TMP/text.txt" -c 128 --kl-base "$TMP/magic.klb"
expect_fail "perplexity: --kl-save into a missing directory" "nodir/x.klb: output directory .* does not exist" "$KILN" perplexity -m "$TMP/f32.kiln" -f "$TMP/text.txt" -c 128 --kl-save "$TMP/nodir/x.klb"
finish
