#!/usr/bin/env bash
# spec-lookup-bench.sh: n-gram lookup speculation over the fixed prompt set tests/data/spec_lookup_prompts.tsv
# (repetitive tasks and plain story starts), greedy. Each round runs `kiln bench --lookup` once per prompt
# (its -r interleaved plain/speculative pairs, fastest of each compared); the rounds go prompt after prompt,
# so drift on a shared machine spreads over all prompts. Prints per prompt the acceptance and tokens per
# target step (deterministic) and the median and range over the rounds of the speedup.
#
#   scripts/spec-lookup-bench.sh -m MODEL [--kiln PATH] [-n 300] [-r 3] [-t 2] [--rounds 3]
#                                [--kind repetitive|story|all] [--extra "--draft-max 16 ..."]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "spec-lookup-bench: error: $*" >&2; exit 1; }

kiln="$root/build/bin/kiln"
model=""
n=300
reps=3
threads=2
rounds=3
kind="all"
extra=""
prompts="$root/tests/data/spec_lookup_prompts.tsv"
while [ $# -gt 0 ]; do
  case "$1" in
    -m) model="$2"; shift 2 ;;
    --kiln) kiln="$2"; shift 2 ;;
    -n) n="$2"; shift 2 ;;
    -r) reps="$2"; shift 2 ;;
    -t) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --kind) kind="$2"; shift 2 ;;
    --extra) extra="$2"; shift 2 ;;
    --prompts) prompts="$2"; shift 2 ;;
    *) die "unknown option '$1' (see the comment at the top of this script)" ;;
  esac
done
[ -n "$model" ] || die "-m MODEL is required"
[ -f "$model" ] || die "no such model file: $model"
[ -x "$kiln" ] || die "no kiln binary at $kiln (build it, or give --kiln)"
[ -f "$prompts" ] || die "no prompt file at $prompts"
case "$kind" in repetitive|story|all) ;; *) die "--kind must be repetitive, story or all, not '$kind'" ;; esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%FT%TZ) | $(uptime | sed 's/.*load average/load average/') | model $model | -n $n -r $reps -t $threads | $rounds rounds ${extra:+| $extra}"
for round in $(seq 1 "$rounds"); do
  while IFS=$'\t' read -r name k text; do
    case "$name" in ''|'#'*) continue ;; esac
    [ "$kind" = all ] || [ "$kind" = "$k" ] || continue
    # shellcheck disable=SC2086
    if ! "$kiln" bench -m "$model" --lookup --spec-prompt "$(printf '%b' "$text")" -n "$n" -r "$reps" -t "$threads" \
         $extra --json > "$tmp/$name.$round.json" 2> "$tmp/err"; then
      cat "$tmp/err" >&2
      die "kiln bench failed on prompt '$name'"
    fi
  done < "$prompts"
done

python3 - "$tmp" "$rounds" "$prompts" "$kind" <<'EOF'
import json, os, statistics, sys
tmp, rounds, prompts, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
print("| prompt | kind | drafted | accepted | rate | tokens/step | speedup median | range | same tokens |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
for line in open(prompts):
    if not line.strip() or line.startswith("#"):
        continue
    name, k, _ = line.rstrip("\n").split("\t", 2)
    if kind != "all" and kind != k:
        continue
    runs = [json.load(open(os.path.join(tmp, f"{name}.{r}.json"))) for r in range(1, rounds + 1)]
    sp = [r["speedup"] for r in runs]
    a = runs[0]
    same = "yes" if all(r["same_tokens_as_plain"] for r in runs) else "NO"
    print(f"| {name} | {k} | {a['drafted']} | {a['accepted']} | {100 * a['acceptance_rate']:.1f}% | "
          f"{a['tokens_per_step']:.2f} | {statistics.median(sp):.2f}x | {min(sp):.2f}-{max(sp):.2f}x | {same} |")
EOF
