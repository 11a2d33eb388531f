#!/usr/bin/env bash
# Every bad input gets one clear line on stderr and a non-zero exit, never a crash.
source "$(dirname "$0")/lib.bash"

expect_fail "no subcommand" "subcommand" "$KILN"
expect_fail "unknown flag" "--bogus" "$KILN" run -m x.kiln -p hi --bogus
expect_fail "missing model file" "no such file" "$KILN" run -m "$TMP/none.kiln" -p hi
expect_fail "missing convert input" "no such file" "$KILN" convert "$TMP/none.gguf" -o "$TMP/out.kiln"
printf 'this is not a model at all, just some text bytes' > "$TMP/junk.dat"
expect_fail "unrecognised format" "unrecognised model format" "$KILN" run -m "$TMP/junk.dat" -p hi
expect_fail "info without model" "needs a MODEL" "$KILN" info

need_models
M="$MODELS/stories260K"
"$KILN" convert "$M/stories260K.bin" --tokenizer "$M/tok512.bin" -o "$TMP/s.kiln" 2>/dev/null
size=$(stat -c %s "$TMP/s.kiln")

# wrong magic, truncation at several cut points
{ printf 'XILN'; tail -c +5 "$TMP/s.kiln"; } > "$TMP/magic.kiln"
expect_fail "wrong magic" "unrecognised model format" "$KILN" run -m "$TMP/magic.kiln" -p hi
for cut in 100 4096 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$TMP/s.kiln" > "$TMP/cut.kiln"
  expect_fail "truncated at $cut" "truncated" "$KILN" run -m "$TMP/cut.kiln" -p hi
  expect_fail "info truncated at $cut" "truncated" "$KILN" info "$TMP/cut.kiln"
done
head -c 1000 "$M/stories260K.bin" > "$TMP/cut.bin"
expect_fail "truncated llama2.c checkpoint" "stories|cut.bin" "$KILN" run -m "$TMP/cut.bin" --tokenizer "$M/tok512.bin" -p hi
head -c 5000 "$M/stories260K.gguf" > "$TMP/cut.gguf"
expect_fail "truncated GGUF" "cut.gguf" "$KILN" convert "$TMP/cut.gguf" -o "$TMP/x.kiln"
[ ! -e "$TMP/x.kiln" ] || { echo "FAIL: failed convert left an output file"; FAILS=$((FAILS+1)); }
expect_fail "llama2.c without tokenizer" "tokenizer" "$KILN" run -m "$M/stories260K.bin" -p hi

# option ranges
expect_fail "-n out of range" "-n .*out of range" "$KILN" run -m "$TMP/s.kiln" -p hi -n -5
expect_fail "-t zero" "-t .*out of range" "$KILN" run -m "$TMP/s.kiln" -p hi -t 0
expect_fail "-t huge" "-t .*out of range" "$KILN" run -m "$TMP/s.kiln" -p hi -t 100000
expect_fail "-n not a number" "-n" "$KILN" run -m "$TMP/s.kiln" -p hi -n lots
expect_fail "-c negative" "-c .*out of range" "$KILN" run -m "$TMP/s.kiln" -p hi -c -1
KILN_ISA=bogus expect_fail "unknown KILN_ISA" "KILN_ISA=bogus" "$KILN" run -m "$TMP/s.kiln" -p "Hello" -n 2
[ ! -s "$TMP/stdout" ] || { echo "FAIL unknown KILN_ISA: the prompt was printed before the error"; FAILS=$((FAILS+1)); }
expect_fail "prompt longer than context" "longer than the context" "$KILN" run -m "$TMP/s.kiln" -c 4 -p "Once upon a time there was a cat"
expect_fail "bad temperature" "--temp" "$KILN" run -m "$TMP/s.kiln" -p hi --temp -1
expect_fail "bad top-p" "--top-p" "$KILN" run -m "$TMP/s.kiln" -p hi --top-p 1.5
expect_fail "bad dtype" "--dtype q3" "$KILN" convert "$TMP/s.kiln" --dtype q3 -o "$TMP/y.kiln"
expect_fail "convert onto itself" "overwrite the input" "$KILN" convert "$TMP/s.kiln" -o "$TMP/s.kiln"
expect_fail "output dir missing" "does not exist" "$KILN" convert "$TMP/s.kiln" -o "$TMP/nodir/y.kiln"
finish
