#!/usr/bin/env bash
# kiln chat: --render against jinja2, template selection errors, the piped REPL
# (turns, slash commands, /save then /load continuing identically in a new
# process), bad input (failing templates, corrupt /load files, messages longer
# than the context, binary garbage), and the REPL in a real pseudo-terminal.
source "$(dirname "$0")/lib.bash"
need_models
M="$MODELS/stories260K"
"$KILN" convert "$M/stories260K.bin" --tokenizer "$M/tok512.bin" -o "$TMP/s.kiln" >/dev/null 2>&1 || { echo "FAIL convert"; exit 1; }
MODEL=(-m "$TMP/s.kiln")
CHAT=("$KILN" chat "${MODEL[@]}")

check() {  # check NAME CONDITION-COMMAND...
  local name="$1"; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; FAILS=$((FAILS+1)); fi
}

# ---- --render ------------------------------------------------------------------------------
cat > "$TMP/msgs.json" <<'EOF'
[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Grüße 🎉"}, {"role": "assistant", "content": "Hallo!"}, {"role": "user", "content": "Again"}]
EOF
expect_ok "render chatml" "${CHAT[@]}" --chat-template chatml --render "$TMP/msgs.json" --add-generation-prompt
printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nGrüße 🎉<|im_end|>\n<|im_start|>assistant\nHallo!<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\n' > "$TMP/want"
check "render chatml output" cmp -s "$TMP/stdout" "$TMP/want"

PY=""
for c in "${KILN_PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$c" ] && "$c" -c 'import jinja2' 2>/dev/null; then PY="$c"; break; fi
done
if [ -n "$PY" ]; then
  cat > "$TMP/tools.json" <<'EOF'
{"messages": [{"role": "system", "content": "Tools are on."}, {"role": "user", "content": "Weather in Paris?"}],
 "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}
EOF
  for t in "$MODELS/tokenizers/qwen3/tokenizer_config.json" "$MODELS/tokenizers/llama3/tokenizer_config.json" \
           "$MODELS/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja" "$MODELS/chat-templates/openai-gpt-oss-120b.jinja"; do
    [ -f "$t" ] || continue
    name=$(basename "$(dirname "$t")")/$(basename "$t")
    "$PY" "$ROOT/tests/jinja_oracle.py" render "$t" "$TMP/tools.json" --add-generation-prompt > "$TMP/want" 2>/dev/null
    # the oracle gives a .jinja file <s>/</s>; kiln takes bos/eos from the model, which here are the same texts
    expect_ok "render $name" "${CHAT[@]}" --chat-template "$t" --render "$TMP/tools.json" --add-generation-prompt --now 2025-03-14T09:26:53
    if ! grep -q strftime_now "$t"; then check "render $name = jinja2" cmp -s "$TMP/stdout" "$TMP/want"; fi
  done
else
  echo "python3-jinja2 not installed: jinja2 comparisons skipped"
fi
printf '{%% if true %%}x{%% endif %%}{{ strftime_now("%%Y-%%m-%%d") }}|{{ enable_thinking }}' > "$TMP/now.jinja"
expect_ok "render --now and --chat-template-kwargs" "${CHAT[@]}" --chat-template "$TMP/now.jinja" --render "$TMP/msgs.json" \
  --now 2025-03-14T09:26:53 --chat-template-kwargs '{"enable_thinking": false}'
check "render --now output" test "$(cat "$TMP/stdout")" = "x2025-03-14|False"

# the model's own template (GGUF tokenizer.chat_template carried into KILN): a tiny random model with Qwen2's vocabulary
if [ -f "$MODELS/vocab/ggml-vocab-qwen2.gguf" ]; then
  "$KILN" synth --dim 32 --layers 1 --heads 2 --ffn 64 --vocab 151936 --vocab-from "$MODELS/vocab/ggml-vocab-qwen2.gguf" \
    -o "$TMP/qwen.kiln" >/dev/null 2>&1 || { echo "FAIL synth"; FAILS=$((FAILS+1)); }
  printf '[{"role": "user", "content": "Hi"}]' > "$TMP/hi.json"
  expect_ok "render with the model's template" "$KILN" chat -m "$TMP/qwen.kiln" --render "$TMP/hi.json" --add-generation-prompt
  printf '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' > "$TMP/want"
  check "model template output" cmp -s "$TMP/stdout" "$TMP/want"
  printf 'Hello\nAgain\n' | "$KILN" chat -m "$TMP/qwen.kiln" -n 4 --temp 0 > "$TMP/out" 2> "$TMP/err"
  # <|im_start|> and <|im_end|> are single special tokens: "system...assistant\n" for "Hello" is 19 tokens
  check "chat with the model's template: special tokens parsed" grep -q "kiln: prompt 19 tokens (0 cached" "$TMP/err"
  check "chat with the model's template: second turn reuses the cache" grep -qE "kiln: prompt [0-9]+ tokens \([1-9][0-9]* cached" "$TMP/err"
  rm -f "$TMP/qwen.kiln"
fi

# ---- bad templates and options ------------------------------------------------------------
expect_fail "model without a template" "has no chat template: pass --chat-template" "${CHAT[@]}" --render "$TMP/msgs.json"
expect_fail "unknown template name" "no such file and no built-in template.*chatml" "${CHAT[@]}" --chat-template nosuch --render "$TMP/msgs.json"
printf 'line one\n{%% for m in messages %%}\n{{ raise_exception("no " + m.role + " here") }}\n{%% endfor %%}\n' > "$TMP/raise.jinja"
expect_fail "template raising" "chat template .*raise.jinja line 3: no system here" "${CHAT[@]}" --chat-template "$TMP/raise.jinja" --render "$TMP/msgs.json"
printf 'a\nb\n{%% if messages %%}\n{{ messages[0].content | nosuchfilter }}\n' > "$TMP/syntax.jinja"
expect_fail "template syntax error" "chat template .*syntax.jinja line [0-9]+:" "${CHAT[@]}" --chat-template "$TMP/syntax.jinja" --render "$TMP/msgs.json"
printf '{{ messages[0].content.nope.deeper }}' > "$TMP/undef.jinja"
expect_fail "template using an undefined value" "chat template .*undef.jinja line 1:" "${CHAT[@]}" --chat-template "$TMP/undef.jinja" --render "$TMP/msgs.json"
printf '[{"role": "user", "content": "x"' > "$TMP/bad.json"
expect_fail "corrupt messages file" "bad.json: not valid JSON" "${CHAT[@]}" --chat-template chatml --render "$TMP/bad.json"
printf '[{"content": "x"}]' > "$TMP/norole.json"
expect_fail "message without role" "message 0 has no string 'role'" "${CHAT[@]}" --chat-template chatml --render "$TMP/norole.json"
expect_fail "missing messages file" "cannot open" "${CHAT[@]}" --chat-template chatml --render "$TMP/none.json"
expect_fail "kwargs not an object" "chat-template-kwargs: expected a JSON object" "${CHAT[@]}" --chat-template chatml --render "$TMP/msgs.json" --chat-template-kwargs '[1]'
expect_fail "kwargs not JSON" "chat-template-kwargs: not valid JSON" "${CHAT[@]}" --chat-template chatml --render "$TMP/msgs.json" --chat-template-kwargs '{x'
expect_fail "bad --now" "--now yesterday" "${CHAT[@]}" --chat-template chatml --render "$TMP/msgs.json" --now yesterday
expect_fail "generation prompt without render" "add-generation-prompt needs --render" "${CHAT[@]}" --chat-template chatml --add-generation-prompt
expect_fail "bad temperature" "temp" "${CHAT[@]}" --chat-template chatml --temp -1
printf '{"chat_template": 5}' > "$TMP/tc.json"
expect_fail "tokenizer_config without a string template" "tc.json: 'chat_template' is neither" "${CHAT[@]}" --chat-template "$TMP/tc.json" --render "$TMP/msgs.json"

# ---- the piped REPL -----------------------------------------------------------------------
RUN=("${CHAT[@]}" --chat-template chatml -n 16 --seed 42 --temp 0.8)
printf 'Once upon a time\n/set temp 0\nThe dog\n/undo\n/system Stories only.\n/set top_k 5\n/stats\n"""first line\nsecond line"""\n/save %s\n/bogus\n/set temp x\n/set temp 0.9\n/exit\nnot reached\n' "$TMP/s1.json" \
  | "${RUN[@]}" > "$TMP/out" 2> "$TMP/err"
check "piped REPL exits 0" test $? -eq 0
check "three replies with stats" test "$(grep -c '^kiln: prompt .* | stop: ' "$TMP/err")" -eq 3
check "second turn reused the cache" grep -qE 'kiln: prompt [0-9]+ tokens \([1-9][0-9]* cached' "$TMP/err"
check "/undo" grep -q 'dropped the last exchange' "$TMP/err"
check "/stats" grep -q '^turns 2 | messages 3 ' "$TMP/out"
check "/save" grep -q "saved 5 messages" "$TMP/err"
check "unknown command" grep -q 'unknown command /bogus' "$TMP/err"
check "/set with a bad number" grep -q "/set temp: 'x' is not a number" "$TMP/err"
check "/exit stops reading" test "$(grep -c 'stop: ' "$TMP/err")" -eq 3
check "saved file" python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['format']=='kiln-chat' and d['messages'][0]=={'role':'system','content':'Stories only.'} and d['messages'][3]['content']=='first line\nsecond line' and d['sampling']['top_k']==5" "$TMP/s1.json"

# /save then /load in a new process continues identically (temperature sampling, fixed seed)
printf 'Hello there\n/save %s\nTell me more\n' "$TMP/s2.json" | "${RUN[@]}" > "$TMP/a.out" 2>/dev/null
printf '/load %s\nTell me more\n' "$TMP/s2.json" | "${CHAT[@]}" --chat-template chatml --seed 999 > "$TMP/b.out" 2> "$TMP/b.err"
check "/load continues identically" test "$(sed -n 2p "$TMP/a.out")" = "$(sed -n 1p "$TMP/b.out")"
check "/load message" grep -q "loaded 2 messages" "$TMP/b.err"

# /save FILE --kv then /load in a new process: the KV cache is restored, nothing is evaluated again
printf 'Hello there\n/save %s --kv\nTell me more\n/save --kv\n' "$TMP/k.json" | "${RUN[@]}" > "$TMP/ka.out" 2> "$TMP/ka.err"
check "/save --kv" grep -qE "saved 2 messages to .*k.json and [1-9][0-9]* cached tokens to .*k.json.kv" "$TMP/ka.err"
check "/save --kv without a file" grep -q "usage: /save FILE \[--kv\]" "$TMP/ka.err"
check "/save --kv leaves no temporary file" test ! -e "$TMP/k.json.kv.tmp"
printf '/load %s\nTell me more\n' "$TMP/k.json" | "${CHAT[@]}" --chat-template chatml --seed 999 > "$TMP/kb.out" 2> "$TMP/kb.err"
check "/load with KV continues identically" test "$(sed -n 2p "$TMP/ka.out")" = "$(sed -n 1p "$TMP/kb.out")"
check "/load with KV message" grep -qE "loaded 2 messages from .*k.json and [1-9][0-9]* cached tokens" "$TMP/kb.err"
turn_counts() { grep '^kiln: prompt ' "$1" | sed -n "$2p" | sed 's/, [0-9.]* t\/s).*//'; }
check "/load with KV evaluates only the new turn" test "$(turn_counts "$TMP/ka.err" 2)" = "$(turn_counts "$TMP/kb.err" 1)"
check "/load with KV reused the cache" grep -qE "^kiln: prompt [0-9]+ tokens \([1-9][0-9]* cached" "$TMP/kb.err"
# a KV cache from another model file (the GGUF of the same weights counts as another: the id covers the file), or a
# truncated one: a note, then re-evaluation
printf '/load %s\nTell me more\n' "$TMP/k.json" | "$KILN" chat -m "$M/stories260K.gguf" --chat-template chatml --seed 999 \
  > "$TMP/kc.out" 2> "$TMP/kc.err"
check "/load with a foreign KV: note" grep -q "note: .*k.json.kv: the KV cache was saved with another model; the conversation will be evaluated again" "$TMP/kc.err"
check "/load with a foreign KV: same reply" test "$(sed -n 2p "$TMP/ka.out")" = "$(sed -n 1p "$TMP/kc.out")"
check "/load with a foreign KV: nothing reused" grep -q "^kiln: prompt [0-9]* tokens (0 cached" "$TMP/kc.err"
cp "$TMP/k.json" "$TMP/kt.json"
head -c 1000 "$TMP/k.json.kv" > "$TMP/kt.json.kv"
printf '/load %s\nTell me more\n' "$TMP/kt.json" | "${CHAT[@]}" --chat-template chatml --seed 999 > "$TMP/kd.out" 2> "$TMP/kd.err"
check "/load with a truncated KV: note" grep -q "note: .*kt.json.kv: the KV cache file is 1000 bytes, expected [0-9]* (truncated or corrupt)" "$TMP/kd.err"
check "/load with a truncated KV: same reply" test "$(sed -n 2p "$TMP/ka.out")" = "$(sed -n 1p "$TMP/kd.out")"
# with speculative decoding the cache is used too (no note); the reply is that of a --lookup /load without it
# (sampling at temperature 0.8: speculative replies equal plain ones only in distribution)
printf '/load %s\nTell me more\n' "$TMP/k.json" | "${CHAT[@]}" --chat-template chatml --seed 999 --lookup > "$TMP/ke.out" 2> "$TMP/ke.err"
check "/load with KV and --lookup: no note" bash -c '! grep -q "note:" "$1"' _ "$TMP/ke.err"
check "/load with KV and --lookup: cache reused" grep -qE "prompt [0-9]+ tokens \([1-9][0-9]* cached" "$TMP/ke.err"
cp "$TMP/k.json" "$TMP/kn.json"
printf '/load %s\nTell me more\n' "$TMP/kn.json" | "${CHAT[@]}" --chat-template chatml --seed 999 --lookup > "$TMP/kf.out" 2>/dev/null
check "/load with KV and --lookup: same reply" cmp -s "$TMP/ke.out" "$TMP/kf.out"
# /save without --kv removes a stale FILE.kv
printf 'Hi\n/save %s\n' "$TMP/kt.json" | "${RUN[@]}" > /dev/null 2>&1
check "/save without --kv removes FILE.kv" test ! -e "$TMP/kt.json.kv"

# /load of corrupt or foreign files: an error line, and the chat goes on
printf '{"format": "kiln-chat", "version": 1, "messages": [' > "$TMP/corrupt.json"
printf '{"messages": [{"role": "user", "content": "x"}]}' > "$TMP/foreign.json"
head -c 300 "$M/tok512.bin" > "$TMP/binary.json"
printf '/load %s\n/load %s\n/load %s\n/load %s\nStill here\n' "$TMP/corrupt.json" "$TMP/foreign.json" "$TMP/binary.json" "$TMP/missing.json" \
  | "${RUN[@]}" > "$TMP/out" 2> "$TMP/err"
check "bad /load files exit 0" test $? -eq 0
check "corrupt /load" grep -q "corrupt.json: not valid JSON" "$TMP/err"
check "foreign /load" grep -q "foreign.json: not a kiln chat file" "$TMP/err"
check "binary /load" grep -q "binary.json: not valid JSON" "$TMP/err"
check "missing /load" grep -q "missing.json: cannot open" "$TMP/err"
check "chat continues after bad /load" test "$(grep -c 'stop: ' "$TMP/err")" -eq 1

# a message longer than the context: refused with one error line, the chat goes on
long=$(for i in $(seq 200); do printf 'word '; done)
printf '%s\nshort one\n' "$long" | "${RUN[@]}" -c 128 > "$TMP/out" 2> "$TMP/err"
check "too-long message exits 0" test $? -eq 0
check "too-long message refused" grep -q "longer than the context of 128 (raise -c)" "$TMP/err"
check "chat continues after a too-long message" test "$(grep -c 'stop: ' "$TMP/err")" -eq 1

# a small context fills: the oldest messages are dropped, the user is told
for i in $(seq 8); do echo "The little cat went to the big park number $i"; done | "${RUN[@]}" -c 160 > "$TMP/out" 2> "$TMP/err"
check "context full drops old messages" grep -q "context full: dropped the [0-9]* oldest message" "$TMP/err"
check "all turns answered in a small context" test "$(grep -c 'stop: ' "$TMP/err")" -eq 8

# binary garbage on stdin
head -c 4000 /dev/urandom | tr '\n' 'x' | fold -w 300 | "${RUN[@]}" -c 512 > "$TMP/out" 2> "$TMP/err"
rc=$?
check "binary garbage on stdin exits 0 (rc $rc)" test "$rc" -eq 0
printf '\x00\xff\xfe\x01\x1b[31m\n' | "${RUN[@]}" > "$TMP/out" 2> "$TMP/err"
check "control bytes on stdin" test "$(grep -c 'stop: ' "$TMP/err")" -eq 1

# speculative decoding: greedy replies are the same with a drafter, and the stats show it
printf 'Once upon a time\nThe dog and the cat\n/undo\nThe dog and the cat\n' > "$TMP/spec_in"
"${CHAT[@]}" --chat-template chatml -n 40 --temp 0 < "$TMP/spec_in" > "$TMP/plain.out" 2>/dev/null
for d in "--lookup" "--self-draft 2"; do
  # shellcheck disable=SC2086
  "${CHAT[@]}" --chat-template chatml -n 40 --temp 0 $d < "$TMP/spec_in" > "$TMP/spec.out" 2> "$TMP/spec.err"
  check "chat $d replies = plain" cmp -s "$TMP/plain.out" "$TMP/spec.out"
  check "chat $d stats" grep -q "draft accepted [0-9]*/[0-9]*" "$TMP/spec.err"
done
expect_fail "--spec-compare in chat" "spec-compare is for kiln run" "${CHAT[@]}" --chat-template chatml --lookup --spec-compare

# ---- the REPL in a pseudo-terminal ---------------------------------------------------------
mkdir -p "$TMP/state"
if python3 "$ROOT/tests/cli/chat_pty.py" "$KILN" "$TMP/s.kiln" "$TMP/state"; then :; else FAILS=$((FAILS+1)); fi

finish
