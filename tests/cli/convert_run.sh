#!/usr/bin/env bash
# convert from every source, verify, and run greedy: the token ids match the references.
source "$(dirname "$0")/lib.bash"
need_models
M="$MODELS/stories260K"

expect_ok "convert llama2.c" "$KILN" convert "$M/stories260K.bin" --tokenizer "$M/tok512.bin" -o "$TMP/l2c.kiln"
expect_ok "convert gguf" "$KILN" convert "$M/stories260K.gguf" -o "$TMP/gguf.kiln"
expect_ok "convert gguf f16" "$KILN" convert "$M/stories260K.gguf" --dtype f16 -o "$TMP/f16.kiln"
expect_ok "convert gguf bf16" "$KILN" convert "$M/stories260K.gguf" --dtype bf16 -o "$TMP/bf16.kiln"
for f in l2c gguf f16 bf16; do
  expect_ok "info --verify $f" "$KILN" info --verify "$TMP/$f.kiln"
  grep -q "all .* tensor checksums match" "$TMP/stdout" || { echo "FAIL verify $f output"; FAILS=$((FAILS+1)); }
done
expect_ok "info --system" "$KILN" info --system
grep -q "^kernels: " "$TMP/stdout" || { echo "FAIL info --system has no kernels line"; FAILS=$((FAILS+1)); }

if [ -n "$REFS" ]; then
  # every reference prompt, from both converted files, full length, via the CLI's --json
  while IFS= read -r line; do
    prompt=$(printf '%s' "$line" | sed -E 's/.*"prompt": "([^"]*)".*/\1/')
    want_prompt=$(printf '%s' "$line" | sed -E 's/.*"prompt_tokens": \[([^]]*)\].*/\1/' | tr -d ' ')
    want=$(printf '%s' "$line" | sed -E 's/.*"tokens": \[([^]]*)\].*/\1/' | tr -d ' ')
    n=$(printf '%s' "$want" | tr ',' '\n' | grep -c .)
    for f in l2c gguf; do
      "$KILN" run -m "$TMP/$f.kiln" -p "$prompt" -n "$n" --temp 0 --ignore-eos --json > "$TMP/out.json" 2>"$TMP/err" \
        || { echo "FAIL run $f '$prompt'"; cat "$TMP/err"; FAILS=$((FAILS+1)); continue; }
      got=$(sed -E 's/.*"generated_ids":\[([^]]*)\].*/\1/' "$TMP/out.json")
      got_prompt=$(sed -E 's/.*"prompt_ids":\[([^]]*)\].*/\1/' "$TMP/out.json")
      if [ "$got" = "$want" ] && [ "$got_prompt" = "$want_prompt" ]; then echo "ok   greedy $f '$prompt' ($n tokens)"
      else echo "FAIL greedy $f '$prompt'"; echo " want $want_prompt | $want"; echo " got  $got_prompt | $got"; FAILS=$((FAILS+1)); fi
    done
  done < "$REFS/stories260K/greedy_llamacpp_f32.jsonl"
fi

# same seed, same output; the summary goes to stderr, text to stdout
"$KILN" run -m "$TMP/gguf.kiln" -p "Once upon a time" -n 40 --temp 0.9 --seed 7 >"$TMP/a.txt" 2>/dev/null
"$KILN" run -m "$TMP/gguf.kiln" -p "Once upon a time" -n 40 --temp 0.9 --seed 7 >"$TMP/b.txt" 2>"$TMP/err"
cmp -s "$TMP/a.txt" "$TMP/b.txt" && echo "ok   seed reproducible" || { echo "FAIL seed"; FAILS=$((FAILS+1)); }
grep -q "generated 40 tokens" "$TMP/err" && echo "ok   summary on stderr" || { echo "FAIL summary"; cat "$TMP/err"; FAILS=$((FAILS+1)); }
grep -q "^Once upon a time" "$TMP/a.txt" && echo "ok   text on stdout" || { echo "FAIL stdout"; FAILS=$((FAILS+1)); }

# a non-KILN model runs directly (converted in memory, with a note)
expect_ok "run gguf directly" "$KILN" run -m "$M/stories260K.gguf" -p "The cat" -n 8 --temp 0
grep -q "converted in memory" "$TMP/stderr" || { echo "FAIL no conversion note"; FAILS=$((FAILS+1)); }
expect_ok "run --no-mmap" "$KILN" run -m "$TMP/l2c.kiln" --no-mmap -p "The cat" -n 8 --temp 0

# q6_k (GGUF Q6_K) end to end: a GGUF file (plain Q6_K, repacked on load) and the KILN file (rows8)
# of the same synthetic model generate the same tokens
Q6=(synth --dim 256 --layers 2 --heads 4 --ffn 512 --vocab 300 --vocab-from synthetic --type q6_k)
expect_ok "synth q6_k gguf" "$KILN" "${Q6[@]}" --gguf -o "$TMP/q6.gguf"
expect_ok "synth q6_k kiln" "$KILN" "${Q6[@]}" -o "$TMP/q6.kiln"
q6_ids() { "$KILN" run -m "$1" -p "a b c" -n 12 --temp 0 --json 2>/dev/null | sed -E 's/.*"generated_ids":\[([^]]*)\].*/\1/'; }
q6_gguf=$(q6_ids "$TMP/q6.gguf")
q6_kiln=$(q6_ids "$TMP/q6.kiln")
if [ -n "$q6_kiln" ] && [ "$q6_gguf" = "$q6_kiln" ]; then echo "ok   q6_k gguf and kiln generate the same tokens ($q6_kiln)"
else echo "FAIL q6_k gguf '$q6_gguf' vs kiln '$q6_kiln'"; FAILS=$((FAILS+1)); fi
finish
