#!/usr/bin/env bash
# kiln synth and kiln bench: tiny shapes work end to end; bad input gets one clear line.
source "$(dirname "$0")/lib.bash"

T="$TMP/t.kiln"
TINY=(--dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 96 --vocab 300 --vocab-from synthetic)
expect_ok "synth tiny" "$KILN" synth "${TINY[@]}" -o "$T"
expect_ok "synth tiny gguf" "$KILN" synth "${TINY[@]}" -o "$TMP/t.gguf" --gguf
expect_ok "run synth" "$KILN" run -m "$T" -p "once upon" -n 4 --temp 0
kiln_out=$(cat "$TMP/stdout")
expect_ok "run synth gguf" "$KILN" run -m "$TMP/t.gguf" -p "once upon" -n 4 --temp 0
[ "$kiln_out" = "$(cat "$TMP/stdout")" ] || { echo "FAIL: GGUF and KILN synth outputs differ"; FAILS=$((FAILS+1)); }
expect_ok "bench tiny" "$KILN" bench -m "$T" -p 8 -n 4 -r 2 -b 1,2
grep -q '^kiln bench | CPU: ' "$TMP/stdout" || { echo "FAIL: bench prints no machine line"; FAILS=$((FAILS+1)); }
grep -q '^| tg4 |' "$TMP/stdout" || { echo "FAIL: bench prints no tg4 row"; FAILS=$((FAILS+1)); }
expect_ok "bench json" "$KILN" bench -m "$T" -p 8 -n 4 -r 2 -b 2 --json
for key in '"test": "pp8"' '"test": "tg4"' '"test": "b2"' '"t_s_mean"' '"t_s_sd"' '"gb_s"' '"membw_pct"'; do
  grep -q "$key" "$TMP/stdout" || { echo "FAIL: bench --json lacks $key"; FAILS=$((FAILS+1)); }
done
# batch ratios are relative to one token's step: with neither b1 nor tg measured there is none to print
expect_ok "bench batches without a base" "$KILN" bench -m "$T" -p 0 -n 0 -r 2 -b 2,4
grep -q '^| b2 |.*| [0-9.]*x |$' "$TMP/stdout" && { echo "FAIL: bench prints a ratio without b1 or tg"; FAILS=$((FAILS+1)); }
grep -q '^| b4 |.*|  |$' "$TMP/stdout" || { echo "FAIL: bench lacks the b4 row with an empty ratio"; FAILS=$((FAILS+1)); }
expect_ok "bench batches with b1" "$KILN" bench -m "$T" -p 0 -n 0 -r 2 -b 1,2
grep -q '^| b2 |.*| [0-9.]*x |$' "$TMP/stdout" || { echo "FAIL: bench prints no b2 ratio against b1"; FAILS=$((FAILS+1)); }
expect_ok "bench membw alone" "$KILN" bench --membw
grep -q 'memory bandwidth' "$TMP/stdout" || { echo "FAIL: bench --membw prints no bandwidth"; FAILS=$((FAILS+1)); }

# synth: bad input
expect_fail "synth unknown shape" "--shape gpt5: unknown shape" "$KILN" synth --shape gpt5 -o "$TMP/x.kiln"
expect_fail "synth heads do not divide dim" "--heads 3 does not divide --dim 64" "$KILN" synth --dim 64 --layers 2 --heads 3 --ffn 96 -o "$TMP/x.kiln"
expect_fail "synth kv heads do not divide heads" "not a multiple of --kv-heads 3" "$KILN" synth --dim 64 --layers 2 --heads 4 --kv-heads 3 --ffn 96 -o "$TMP/x.kiln"
expect_fail "synth zero layers" "--layers 0 is out of range" "$KILN" synth --dim 64 --layers 0 --heads 4 --ffn 96 -o "$TMP/x.kiln"
expect_fail "synth tiny vocab" "--vocab 10 is out of range" "$KILN" synth --dim 64 --layers 2 --heads 4 --ffn 96 --vocab 10 -o "$TMP/x.kiln"
expect_fail "synth missing dims" "--ffn is required" "$KILN" synth --dim 64 --layers 2 --heads 4 -o "$TMP/x.kiln"
expect_fail "synth neither shape nor dims" "needs --shape" "$KILN" synth -o "$TMP/x.kiln"
expect_fail "synth unknown type" "--type q3: unknown type" "$KILN" synth "${TINY[@]}" --type q3 -o "$TMP/x.kiln"
expect_fail "synth unknown arch" "--arch gpt2: not supported" "$KILN" synth "${TINY[@]}" --arch gpt2 -o "$TMP/x.kiln"
expect_fail "synth noise without expand" "--noise applies to --expand only" "$KILN" synth "${TINY[@]}" --noise 0.1 -o "$TMP/x.kiln"
expect_fail "synth q4_k needs 256-wide rows" "not a multiple of the weight type's block size 256" "$KILN" synth "${TINY[@]}" --type q4_k -o "$TMP/x.kiln"
expect_fail "synth missing output dir" "does not exist" "$KILN" synth "${TINY[@]}" -o "$TMP/nodir/x.kiln"
expect_fail "synth expand missing model" "no such file" "$KILN" synth --expand "$TMP/none.bin" --shape stories110M -o "$TMP/x.kiln"
[ ! -e "$TMP/x.kiln" ] || { echo "FAIL: a failed synth left an output file"; FAILS=$((FAILS+1)); }

# bench: bad input
expect_fail "bench -p negative" "-p -1 is out of range" "$KILN" bench -m "$T" -p -1
expect_fail "bench -n too large" "-n 100000 is out of range" "$KILN" bench -m "$T" -n 100000
expect_fail "bench -r zero" "-r 0 is out of range" "$KILN" bench -m "$T" -r 0
expect_fail "bench -b not a number" "-b 1,x: 'x' is not a batch size" "$KILN" bench -m "$T" -b 1,x
expect_fail "bench -b too large" "batch size 1000 is out of range" "$KILN" bench -m "$T" -b 1000
expect_fail "bench nothing to measure" "nothing to measure" "$KILN" bench -m "$T" -p 0 -n 0 -b 0
expect_fail "bench missing model" "no such file" "$KILN" bench -m "$TMP/none.kiln"
expect_fail "bench without model" "needs -m MODEL" "$KILN" bench
expect_fail "bench -t zero" "-t 0 is out of range" "$KILN" bench -m "$T" -t 0

need_models
expect_fail "synth vocab file of another size" "has 32000 tokens" "$KILN" synth --dim 64 --layers 2 --heads 4 --ffn 96 --vocab 300 --vocab-from "$MODELS/vocab/ggml-vocab-llama-spm.gguf" -o "$TMP/x.kiln"
M="$MODELS/stories260K"
expect_ok "synth expand" "$KILN" synth --expand "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --dim 128 --layers 6 --heads 8 --kv-heads 4 --ffn 256 -o "$TMP/e.kiln"
expect_ok "run small" "$KILN" run -m "$M/stories260K.bin" --tokenizer "$M/tok512.bin" -p "Once upon a time" -n 40 --temp 0
small_out=$(cat "$TMP/stdout")
expect_ok "run expanded" "$KILN" run -m "$TMP/e.kiln" -p "Once upon a time" -n 40 --temp 0
[ "$small_out" = "$(cat "$TMP/stdout")" ] || { echo "FAIL: the expanded model's greedy text differs from stories260K's"; FAILS=$((FAILS+1)); }
expect_fail "expand into a narrower shape" "smaller than the small model" "$KILN" synth --expand "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --dim 32 --layers 6 --heads 4 --ffn 256 -o "$TMP/x.kiln"
expect_fail "expand with too few KV heads" "cannot hold" "$KILN" synth --expand "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --dim 128 --layers 6 --heads 8 --kv-heads 2 --ffn 256 -o "$TMP/x.kiln"
expect_fail "expand with another arch" "--arch qwen2: --expand writes" "$KILN" synth --expand "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --shape stories110M --arch qwen2 -o "$TMP/x.kiln"
expect_fail "expand noise out of range" "--noise -1 is out of range" "$KILN" synth --expand "$M/stories260K.bin" --tokenizer "$M/tok512.bin" --shape stories110M --noise -1 -o "$TMP/x.kiln"
finish
