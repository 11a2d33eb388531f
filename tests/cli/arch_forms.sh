#!/usr/bin/env bash
# Every reference architecture (../shared/refs/arch) exported with `kiln export --hf` runs from the
# Hugging Face folder exactly as from its GGUF: same prompt ids and greedy tokens, and both equal
# llama.cpp's up to the first near-tie (top-1/top-2 margin below 1e-2, as in test_arch.cpp).
# Then export's bad inputs: a quantized model, an existing output, an unknown architecture.
source "$(dirname "$0")/lib.bash"
ARCH="${REFS:+$REFS/arch}"
if [ -z "$ARCH" ] || ! ls "$ARCH"/*.gguf >/dev/null 2>&1; then echo "../shared/refs/arch not available: skipped"; exit 0; fi

# Of the reference prompts, the one whose first 16 greedy steps have the longest run without a
# near-tie (the first prompt when several tie): its text goes to $TMP/prompt, and stdout gets
# "N_SAFE PROMPT_IDS GREEDY_IDS" (ids comma-separated).
pick_prompt() {
  python3 - "$1" "$TMP/prompt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
best, best_n = None, -1
for p in r["prompts"]:
    m = p["greedy_top1_top2_margin"][:16]
    n = next((i for i, x in enumerate(m) if x < 1e-2), len(m))
    if n > best_n:
        best, best_n = p, n
open(sys.argv[2], "w", encoding="utf-8", newline="").write(best["text"])
print(best_n, ",".join(map(str, best["ids"])), ",".join(map(str, best["greedy_ids"][:16])))
PY
}

# compare NAME N_SAFE WANT_PROMPT WANT_IDS GGUF_JSON HF_JSON
compare_runs() {
  python3 - "$@" <<'PY'
import json, sys
name, n_safe, want_prompt, want, a, b = sys.argv[1:]
n_safe = int(n_safe)
want_prompt = [int(x) for x in want_prompt.split(",")]
want = [int(x) for x in want.split(",")]
g, h = json.load(open(a)), json.load(open(b))
bad = []
if g["prompt_ids"] != want_prompt: bad.append(f"GGUF prompt ids {g['prompt_ids']} != llama.cpp's {want_prompt}")
if h["prompt_ids"] != g["prompt_ids"]: bad.append(f"HF prompt ids {h['prompt_ids']} != GGUF's {g['prompt_ids']}")
if h["generated_ids"] != g["generated_ids"]: bad.append(f"HF greedy {h['generated_ids']} != GGUF's {g['generated_ids']}")
if g["generated_ids"][:n_safe] != want[:n_safe]:
    bad.append(f"greedy {g['generated_ids'][:n_safe]} != llama.cpp's {want[:n_safe]} (first {n_safe} steps)")
if bad:
    print(f"FAIL {name}: " + "; ".join(bad)); sys.exit(1)
print(f"ok   {name}: GGUF and HF give the same {len(g['prompt_ids'])} prompt ids and {len(g['generated_ids'])} "
      f"greedy tokens; llama.cpp's over the first {n_safe} (before the first near-tie)")
PY
}

for gguf in "$ARCH"/*.gguf; do
  name=$(basename "$gguf" .gguf)
  refs="$ARCH/$name/refs.json"
  if [ ! -f "$refs" ]; then echo "FAIL $name: no $refs"; FAILS=$((FAILS+1)); continue; fi
  expect_ok "export $name" "$KILN" export "$gguf" --hf -o "$TMP/$name-hf"
  [ -f "$TMP/$name-hf/config.json" ] || continue
  read -r n_safe want_prompt want < <(pick_prompt "$refs")
  prompt=$(cat "$TMP/prompt")
  ok=1
  for form in gguf hf; do
    model="$gguf"; [ "$form" = hf ] && model="$TMP/$name-hf"
    if ! "$KILN" run -m "$model" -p "$prompt" -n 16 --temp 0 --ignore-eos --json >"$TMP/$form.json" 2>"$TMP/err"; then
      echo "FAIL run $name ($form)"; cat "$TMP/err"; FAILS=$((FAILS+1)); ok=0
    fi
  done
  [ "$ok" = 1 ] || continue
  compare_runs "$name" "$n_safe" "$want_prompt" "$want" "$TMP/gguf.json" "$TMP/hf.json" || FAILS=$((FAILS+1))
done

# Bad input. A quantized model: no float bytes to write.
G2="$ARCH/gemma2-tiny.gguf"
if [ -f "$G2" ]; then
  expect_ok "convert gemma2 q8" "$KILN" convert "$G2" --type q8 -o "$TMP/q8.kiln"
  expect_fail "export quantized" "q8.kiln: tensor '[^']+' is q8.*only f32, f16 and bf16" "$KILN" export "$TMP/q8.kiln" --hf -o "$TMP/q8-hf"
  [ ! -e "$TMP/q8-hf" ] && [ ! -e "$TMP/q8-hf.tmp" ] || { echo "FAIL export quantized left files behind"; FAILS=$((FAILS+1)); }
  # An existing, non-empty output directory is left alone; an empty one is filled.
  mkdir -p "$TMP/full" && echo keep >"$TMP/full/x"
  expect_fail "export into a non-empty dir" "full: directory exists and is not empty" "$KILN" export "$G2" --hf -o "$TMP/full"
  [ "$(ls "$TMP/full")" = x ] || { echo "FAIL non-empty dir was changed"; FAILS=$((FAILS+1)); }
  expect_fail "export onto a file" "x: exists and is not a directory" "$KILN" export "$G2" --hf -o "$TMP/full/x"
  mkdir -p "$TMP/empty"
  expect_ok "export into an empty dir" "$KILN" export "$G2" --hf -o "$TMP/empty/"
  [ -f "$TMP/empty/model.safetensors" ] && [ ! -e "$TMP/empty.tmp" ] || { echo "FAIL empty dir not filled"; FAILS=$((FAILS+1)); }
  mkdir -p "$TMP/stale.tmp"
  expect_fail "export over a stale DIR.tmp" "stale.tmp: exists \(left by an interrupted export\?\)" "$KILN" export "$G2" --hf -o "$TMP/stale"
  [ -d "$TMP/stale.tmp" ] && [ ! -e "$TMP/stale" ] || { echo "FAIL stale DIR.tmp was touched"; FAILS=$((FAILS+1)); }
  expect_fail "export without --hf" "needs a target format: --hf" "$KILN" export "$G2" -o "$TMP/nohf"
fi
# An architecture kiln does not know (a GGUF with two keys and one tensor).
python3 - "$TMP/gemma3.gguf" <<'PY'
import struct, sys
def s(x): return struct.pack("<Q", len(x)) + x.encode()
kv = s("general.architecture") + struct.pack("<I", 8) + s("gemma3")
kv += s("gemma3.block_count") + struct.pack("<II", 4, 1)
info = s("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 4) + struct.pack("<IQ", 0, 0)
head = b"GGUF" + struct.pack("<IQQ", 3, 1, 2) + kv + info
head += b"\0" * (-len(head) % 32)
open(sys.argv[1], "wb").write(head + struct.pack("<16f", *([0.5] * 16)))
PY
expect_fail "export unknown architecture" "unsupported architecture 'gemma3'" "$KILN" export "$TMP/gemma3.gguf" --hf -o "$TMP/gemma3-hf"
finish
