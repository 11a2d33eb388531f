#!/usr/bin/env bash
# kiln tokenize: `--ids-only --no-add-special -f FILE.inp` reproduces llama.cpp's FILE.out for every
# vocab test vector; the listing format; the Hugging Face directory form; bad input.
source "$(dirname "$0")/lib.bash"

expect_fail "tokenize without model" "model" "$KILN" tokenize "hi"
expect_fail "tokenize missing model" "no such file" "$KILN" tokenize -m "$TMP/none.gguf" "hi"

need_models
V="$MODELS/vocab"

expect_fail "tokenize without text" "needs a TEXT or -f FILE" "$KILN" tokenize -m "$V/ggml-vocab-gpt-2.gguf"
expect_fail "tokenize text and file" "not both" "$KILN" tokenize -m "$V/ggml-vocab-gpt-2.gguf" -f "$V/ggml-vocab-gpt-2.gguf.inp" "hi"
expect_fail "tokenize missing file" "none.txt" "$KILN" tokenize -m "$V/ggml-vocab-gpt-2.gguf" -f "$TMP/none.txt"

# Every vector. Most .out files write each id after a space (llama.cpp's generator); a few newer
# ones join the ids without the leading space: those are compared with spacing normalized.
n=0
for inp in "$V"/*.gguf.inp; do
  gguf="${inp%.inp}"; out="$gguf.out"
  [ -f "$gguf" ] && [ -f "$out" ] || continue
  case "$gguf" in *bert*) continue ;; esac
  name="$(basename "$gguf")"
  if ! "$KILN" tokenize -m "$gguf" --ids-only --no-add-special -f "$inp" > "$TMP/ids" 2> "$TMP/err"; then
    echo "FAIL $name: exit code $?"; cat "$TMP/err"; FAILS=$((FAILS+1)); continue
  fi
  if cmp -s "$TMP/ids" "$out"; then
    echo "ok   $name: identical to the .out file"
  elif diff <(sed 's/^ //' "$TMP/ids") "$out" > /dev/null; then
    echo "ok   $name: same ids as the .out file (which omits the leading spaces)"
  else
    echo "FAIL $name: ids differ from $out"; diff "$TMP/ids" "$out" | head -5; FAILS=$((FAILS+1))
  fi
  n=$((n+1))
done
[ "$n" -ge 7 ] || { echo "FAIL: only $n vector files found"; FAILS=$((FAILS+1)); }

# The listing: id -> 'piece', BOS added by default, specials parsed on request.
"$KILN" tokenize -m "$V/ggml-vocab-llama-bpe.gguf" "Hello world<|eot_id|>" --parse-special > "$TMP/list"
printf "%s\n" "128000 -> '<|begin_of_text|>'" "  9906 -> 'Hello'" "  1917 -> ' world'" "128009 -> '<|eot_id|>'" > "$TMP/want"
if cmp -s "$TMP/list" "$TMP/want"; then echo "ok   listing"; else echo "FAIL listing:"; cat "$TMP/list"; FAILS=$((FAILS+1)); fi
ids=$("$KILN" tokenize -m "$V/ggml-vocab-llama-bpe.gguf" --ids-only "Hello world")
[ "$ids" = " 128000 9906 1917" ] && echo "ok   ids with BOS" || { echo "FAIL ids with BOS: '$ids'"; FAILS=$((FAILS+1)); }

# A Hugging Face directory gives the same ids as the GGUF.
if [ -f "$MODELS/tokenizers/llama3/tokenizer.json" ]; then
  "$KILN" tokenize -m "$MODELS/tokenizers/llama3" --ids-only --no-add-special -f "$V/ggml-vocab-llama-bpe.gguf.inp" > "$TMP/hf"
  if cmp -s "$TMP/hf" "$V/ggml-vocab-llama-bpe.gguf.out"; then echo "ok   llama3 tokenizer.json"
  else echo "FAIL llama3 tokenizer.json"; diff "$TMP/hf" "$V/ggml-vocab-llama-bpe.gguf.out" | head -5; FAILS=$((FAILS+1)); fi
fi

# A GGUF naming an unknown pre-tokenizer is refused with its name (patched copy of a real file).
python3 - "$V/ggml-vocab-gpt-2.gguf" "$TMP/badpre.gguf" <<'EOF' 2>/dev/null && \
  expect_fail "unknown pre-tokenizer" "tokenizer.pre 'gpt-9' is not a known pre-tokenizer" "$KILN" tokenize -m "$TMP/badpre.gguf" "hi"
import sys
data = open(sys.argv[1], "rb").read()
old = b"tokenizer.ggml.pre\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00gpt-2"
assert data.count(old) == 1
open(sys.argv[2], "wb").write(data.replace(old, old[:-5] + b"gpt-9"))
EOF

finish
