#!/usr/bin/env bash
# `make bench`: synthesizes random-weight models of the stories110M and TinyLlama-1.1B shapes in
# each weight type (cached in models/cache/), runs `kiln bench` on each, and prints kiln's figures
# beside llama.cpp's from ../shared/refs/bench_llamacpp.md (same shapes and types, pp128 / tg64,
# 2 threads). Speed does not depend on the weights' values, so random weights measure real speed.
#
# Environment: BENCH_SHAPES (default "stories110M TinyLlama-1.1B"), BENCH_TYPES (default
# "f32 bf16 q8_0 q4_0 q4_k"), BENCH_REPS (3), BENCH_THREADS (kiln's default), BENCH_P (128),
# BENCH_N (64), BENCH_B (1,8), BENCH_RESYNTH=1 (remake the cached models, e.g. after a format or
# recipe change). f32 is skipped for shapes over 1B parameters (4.4 GB).
set -uo pipefail
kiln="${1:-build/bin/kiln}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/models/cache"
mkdir -p "$cache"
refs="${KILN_REFS:-}"
if [ -z "$refs" ] && [ -d "$root/../shared/refs" ]; then refs="$root/../shared/refs"; fi
peer_file="$refs/bench_llamacpp.md"

shapes=(${BENCH_SHAPES:-stories110M TinyLlama-1.1B})
types=(${BENCH_TYPES:-f32 bf16 q8_0 q4_0 q4_k})
reps="${BENCH_REPS:-3}"
p="${BENCH_P:-128}"
n="${BENCH_N:-64}"
b="${BENCH_B:-1,8}"
threads=()
[ -n "${BENCH_THREADS:-}" ] && threads=(-t "$BENCH_THREADS")

# peer SHAPE TYPE COLUMN: llama.cpp (3, 4) or ik_llama.cpp (5, 6) figure from the refs table.
peer() {
  [ -f "$peer_file" ] || { echo "n/a"; return; }
  local want_type
  want_type=$(echo "$2" | tr 'a-z' 'A-Z')
  awk -F'|' -v s="$1" -v t="$want_type" -v c="$3" '
    { shape=$2; type=$3; gsub(/^ +| +$/, "", shape); sub(/^ +/, "", type); split(type, tt, " ");
      if (shape == s && tt[1] == t) { v=$(c+1); gsub(/^ +| +$/, "", v); print v; found=1; exit } }
    END { if (!found) print "n/a" }' "$peer_file"
}

# field JSON TEST KEY: a value from kiln bench --json output (one key per line, objects closed by "}").
field() {
  awk -v t="$2" -v k="$3" '
    /^ *"[a-z0-9_]+": / { key=$1; gsub(/[":]/, "", key); v=$0; sub(/^ *"[a-z0-9_]+": /, "", v); sub(/,$/, "", v);
                          gsub(/"/, "", v); obj[key]=v }
    /^ *}/ { if (obj["test"] == t && (k in obj)) { print obj[k]; exit } delete obj }' <<<"$1"
}

fmt() { [ -n "$1" ] && printf "%.${2:-1}f" "$1" || printf "n/a"; }

"$kiln" bench --membw -p 0 -n 0 -b 0 "${threads[@]}" | head -2
echo
echo "| shape | type | file | kiln pp$p | kiln tg$n | tg GB/s of membw (%) | b8 / b1 | llama.cpp pp128 | llama.cpp tg64 | ik_llama.cpp pp128 | ik_llama.cpp tg64 |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for shape in "${shapes[@]}"; do
  for type in "${types[@]}"; do
    if [ "$type" = f32 ] && [ "$shape" = TinyLlama-1.1B ]; then continue; fi
    model="$cache/synth-$shape-$type.kiln"
    if [ "${BENCH_RESYNTH:-0}" = 1 ] || [ ! -f "$model" ] || ! "$kiln" info "$model" >/dev/null 2>&1; then
      if ! err=$("$kiln" synth --shape "$shape" --type "$type" -o "$model" 2>&1 >/dev/null); then
        echo "| $shape | $type | synth failed: $(echo "$err" | tail -1) | | | | | | | | |"
        continue
      fi
    fi
    size=$(stat -c %s "$model")
    if ! out=$("$kiln" bench -m "$model" -p "$p" -n "$n" -r "$reps" -b "$b" --json "${threads[@]}" 2>&1); then
      echo "| $shape | $type | $((size / 1000000)) MB | bench failed: $(echo "$out" | tail -1) | | | | | | | |"
      continue
    fi
    pp_m=$(field "$out" "pp$p" t_s_mean); pp_sd=$(field "$out" "pp$p" t_s_sd)
    tg_m=$(field "$out" "tg$n" t_s_mean); tg_sd=$(field "$out" "tg$n" t_s_sd)
    tg_gb=$(field "$out" "tg$n" gb_s); tg_pct=$(field "$out" "tg$n" membw_pct); bw=$(field "$out" "tg$n" membw_gb_s)
    rel8=$(field "$out" b8 rel_b1)
    echo "| $shape | $type | $((size / 1000000)) MB | $(fmt "$pp_m") ± $(fmt "$pp_sd") | $(fmt "$tg_m") ± $(fmt "$tg_sd") |" \
         "$(fmt "$tg_gb") of $(fmt "$bw") ($(fmt "$tg_pct" 0)%) | $(fmt "$rel8" 2)x | $(peer "$shape" "$type" 3) | $(peer "$shape" "$type" 4) |" \
         "$(peer "$shape" "$type" 5) | $(peer "$shape" "$type" 6) |"
  done
done
echo
echo "kiln: mean ± sd over $reps runs (random prompt tokens; tg from an empty cache); membw measured by each"
echo "kiln bench run just before its tests. Peers (2 threads): $peer_file"
echo "(measured on their own day; compare ratios measured in one sitting, see that file)."
