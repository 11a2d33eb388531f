#!/usr/bin/env bash
# bench-compare.sh: kiln against llama.cpp's llama-bench on the identical synthetic model, or a new kiln
# against a previous kiln binary, run in alternation (A, B, A, B, ... for --rounds rounds) so that the
# drift of a shared machine hits both sides alike. Prints, per type and test (ppP, tgN), the median over
# the rounds of each side's mean tokens/s and the ratio A / B.
#
#   scripts/bench-compare.sh --llama-bench PATH [--kiln PATH] [--shape NAME | --dims "SYNTH DIMS"]
#                            [--types q4_0,q8_0] [-p 128] [-n 64] [-r 3] [-t N] [--rounds 3] [--cache DIR]
#   scripts/bench-compare.sh --kiln-old PATH [--kiln PATH] ...       (ratio new / old)
#
# The models are `kiln synth --shape S --type T` as KILN (kiln's side) and `--gguf` (llama.cpp's side);
# one seed, so both hold identical weights (docs/SYNTH.md). They are cached in models/cache/ (or --cache)
# as synth-SHAPE-TYPE.{kiln,gguf}, remade when missing or when `kiln info` rejects the KILN file.
# --dims passes explicit dimensions to kiln synth instead of a shape (e.g. for tests: "--dim 64
# --layers 2 --heads 4 --ffn 96 --vocab 300 --vocab-from synthetic"). Both sides get the same -t
# (default: the number of logical CPUs).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "bench-compare: error: $*" >&2; exit 1; }

kiln="$root/build/bin/kiln"
llama_bench=""
kiln_old=""
shape="stories110M"
dims=""
types="q4_0,q8_0"
p=128
n=64
reps=3
threads="$(nproc 2>/dev/null || echo 1)"
rounds=3
cache="$root/models/cache"

need_arg() { [ "$#" -ge 2 ] || die "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --llama-bench) need_arg "$@"; llama_bench="$2"; shift 2 ;;
    --kiln-old) need_arg "$@"; kiln_old="$2"; shift 2 ;;
    --kiln) need_arg "$@"; kiln="$2"; shift 2 ;;
    --shape) need_arg "$@"; shape="$2"; shift 2 ;;
    --dims) need_arg "$@"; dims="$2"; shift 2 ;;
    --types) need_arg "$@"; types="$2"; shift 2 ;;
    -p) need_arg "$@"; p="$2"; shift 2 ;;
    -n) need_arg "$@"; n="$2"; shift 2 ;;
    -r) need_arg "$@"; reps="$2"; shift 2 ;;
    -t) need_arg "$@"; threads="$2"; shift 2 ;;
    --rounds) need_arg "$@"; rounds="$2"; shift 2 ;;
    --cache) need_arg "$@"; cache="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

# --- checks: one line each, before anything runs
check_bin() {  # check_bin OPTION PATH
  [ -n "$2" ] || return 0
  [ -e "$2" ] || die "$1 $2: no such file"
  { [ -f "$2" ] && [ -x "$2" ]; } || die "$1 $2: not an executable file"
}
check_bin --kiln "$kiln"
check_bin --llama-bench "$llama_bench"
check_bin --kiln-old "$kiln_old"
[ -n "$llama_bench" ] && [ -n "$kiln_old" ] && die "give --llama-bench or --kiln-old, not both"
[ -n "$llama_bench" ] || [ -n "$kiln_old" ] || die "nothing to compare with: give --llama-bench PATH or --kiln-old PATH"
for opt in "-p $p" "-n $n" "-r $reps" "-t $threads" "--rounds $rounds"; do
  [[ "${opt#* }" =~ ^[0-9]+$ ]] || die "${opt%% *} '${opt#* }' is not a whole number"
done
[ "$p" -gt 0 ] || [ "$n" -gt 0 ] || die "nothing to measure: -p 0 and -n 0"
[ "$reps" -ge 1 ] || die "-r $reps is out of range (at least 1)"
[ "$threads" -ge 1 ] || die "-t $threads is out of range (at least 1)"
[ "$rounds" -ge 1 ] || die "--rounds $rounds is out of range (at least 1)"
known_shapes="stories15M stories42M stories110M TinyLlama-1.1B Llama-3.2-1B Qwen2.5-0.5B"
known_types="f32 f16 bf16 q8_0 q4_0 q4_k"
if [ -z "$dims" ]; then
  [[ " $known_shapes " == *" $shape "* ]] || die "--shape $shape: unknown shape (known: $known_shapes)"
  tag="$shape"
else
  # cached under a digest of the dimensions (one file per distinct --dims)
  tag="dims-$(echo "$dims" | tr -s ' ' | md5sum | cut -c1-8)"
fi
IFS=',' read -r -a type_list <<<"$types"
[ "${#type_list[@]}" -gt 0 ] || die "--types is empty"
for t in "${type_list[@]}"; do
  [[ " $known_types " == *" $t "* ]] || die "--types: unknown type '$t' (known: $known_types)"
done
mkdir -p "$cache" 2>/dev/null || die "--cache $cache: cannot create the directory"

# --- models
synth_args() { if [ -n "$dims" ]; then echo "$dims"; else echo "--shape $shape"; fi; }
make_models() {  # make_models TYPE: sets kmodel, gmodel
  kmodel="$cache/synth-$tag-$1.kiln"
  gmodel="$cache/synth-$tag-$1.gguf"
  local err remake=0
  if [ "${BENCH_RESYNTH:-0}" = 1 ] || [ ! -f "$kmodel" ] || ! "$kiln" info "$kmodel" >/dev/null 2>&1; then remake=1; fi
  # A missing or unreadable GGUF twin remakes both: a KILN file cached by an older kiln synth might not
  # hold the weights the current one writes.
  if [ -n "$llama_bench" ] && [ "$(head -c 4 "$gmodel" 2>/dev/null)" != GGUF ]; then remake=1; fi
  if [ "$remake" = 1 ]; then
    echo "bench-compare: synthesizing $kmodel" >&2
    # shellcheck disable=SC2046  # the synth dimensions are words
    err=$("$kiln" synth $(synth_args) --type "$1" -o "$kmodel" 2>&1 >/dev/null) || die "kiln synth ($tag, $1) failed: $(echo "$err" | tail -1)"
    rm -f "$gmodel"  # the GGUF must come from the same synth as the KILN file
  fi
  if [ -n "$llama_bench" ] && [ ! -s "$gmodel" ]; then
    echo "bench-compare: synthesizing $gmodel" >&2
    # shellcheck disable=SC2046
    err=$("$kiln" synth $(synth_args) --type "$1" --gguf -o "$gmodel" 2>&1 >/dev/null) || die "kiln synth --gguf ($tag, $1) failed: $(echo "$err" | tail -1)"
  fi
}

# --- one measurement each: prints "TEST T_S" lines (pp$p, tg$n)
tests=()
[ "$p" -gt 0 ] && tests+=("pp$p")
[ "$n" -gt 0 ] && tests+=("tg$n")

run_kiln() {  # run_kiln BINARY MODEL LABEL
  local out
  out=$("$1" bench -m "$2" -p "$p" -n "$n" -r "$reps" -b 0 -t "$threads" --json 2>&1) \
    || die "$3 bench failed: $(echo "$out" | tail -1)"
  python3 -c "$py_kiln" "$3" "${tests[@]}" <<<"$out" || exit 1
}
read -r -d '' py_kiln <<'EOF'
import json, sys
label, want = sys.argv[1], sys.argv[2:]
text = sys.stdin.read()
try:
    rows = json.loads(text[text.index('['):text.rindex(']') + 1])
except ValueError:
    sys.exit("bench-compare: error: %s bench --json output is not a JSON list: %s" % (label, text.strip()[-200:]))
got = {r.get("test"): r for r in rows if isinstance(r, dict)}
for t in want:
    r = got.get(t)
    if r is None or "t_s_mean" not in r:
        sys.exit("bench-compare: error: %s bench --json output has no %s result with t_s_mean" % (label, t))
    print(t, "%.4f" % float(r["t_s_mean"]))
EOF

run_llama() {  # run_llama MODEL
  local out
  local errf="$results.err"
  out=$("$llama_bench" -m "$1" -p "$p" -n "$n" -r "$reps" -t "$threads" -o json 2>"$errf") \
    || die "llama-bench failed on $1: $(tail -1 "$errf")"
  python3 -c "$py_llama" "$p" "$n" <<<"$out" || exit 1
}
read -r -d '' py_llama <<'EOF'
import json, statistics, sys
p, n = int(sys.argv[1]), int(sys.argv[2])
text = sys.stdin.read()
rows = None
try:  # a JSON list (-o json) ...
    rows = json.loads(text[text.index('['):text.rindex(']') + 1])
except ValueError:
    try:  # ... or one object per line (-o jsonl)
        rows = [json.loads(l) for l in text.splitlines() if l.strip().startswith('{')]
    except ValueError:
        rows = None
if not rows or not isinstance(rows, list):
    sys.exit("bench-compare: error: llama-bench -o json output is not a JSON list: %s" % text.strip()[-200:])
def num(r, k):
    try:
        return int(r.get(k, 0) or 0)
    except (TypeError, ValueError):
        return 0
def ts(r):
    for k in ("avg_ts", "avg_t/s", "t_s"):
        if k in r:
            return float(r[k])
    s = r.get("samples_ts")
    if isinstance(s, list) and s:
        return statistics.mean(float(x) for x in s)
    return None
found = {}
for r in rows:
    if not isinstance(r, dict) or num(r, "n_depth"):
        continue
    np_, ng = num(r, "n_prompt"), num(r, "n_gen")
    t = "pp%d" % np_ if ng == 0 and np_ > 0 else "tg%d" % ng if np_ == 0 and ng > 0 else None
    if t and ts(r) is not None:
        found.setdefault(t, ts(r))
for t in (["pp%d" % p] if p > 0 else []) + (["tg%d" % n] if n > 0 else []):
    if t not in found:
        sys.exit("bench-compare: error: llama-bench output has no %s result (n_prompt/n_gen with avg_ts)" % t)
    print(t, "%.4f" % found[t])
EOF

# --- rounds, alternating
if [ -n "$llama_bench" ]; then a_name="kiln"; b_name="llama.cpp"; else a_name="kiln"; b_name="kiln-old"; fi
results="$(mktemp)"
trap 'rm -f "$results" "$results.err"' EXIT
echo "bench-compare: $a_name ($kiln) vs $b_name (${llama_bench:-$kiln_old}); $tag${dims:+ ($dims)}; -p $p -n $n -r $reps -t $threads; $rounds rounds" >&2
for t in "${type_list[@]}"; do
  make_models "$t"
  for ((round = 1; round <= rounds; round++)); do
    a=$(run_kiln "$kiln" "$kmodel" kiln) || exit 1
    echo "bench-compare: $t round $round/$rounds $a_name: $(tr "\n" " " <<<"$a")" >&2
    while read -r test v; do echo "$t $test A $v" >> "$results"; done <<<"$a"
    if [ -n "$llama_bench" ]; then b=$(run_llama "$gmodel") || exit 1
    else b=$(run_kiln "$kiln_old" "$kmodel" kiln-old) || exit 1; fi
    echo "bench-compare: $t round $round/$rounds $b_name: $(tr "\n" " " <<<"$b")" >&2
    while read -r test v; do echo "$t $test B $v" >> "$results"; done <<<"$b"
  done
done

read -r -d '' py_table <<'EOF'
import statistics, sys
a_name, b_name, tag, rounds = sys.argv[1:5]
vals, order = {}, []
for line in sys.stdin:
    t, test, side, v = line.split()
    key = (t, test)
    if key not in vals:
        vals[key] = {"A": [], "B": []}
        order.append(key)
    vals[key][side].append(float(v))
print("| model | type | test | %s t/s | %s t/s | %s / %s |" % (a_name, b_name, a_name, b_name))
print("| --- | --- | --- | ---: | ---: | ---: |")
for key in order:
    a, b = statistics.median(vals[key]["A"]), statistics.median(vals[key]["B"])
    ratio = "%.3f" % (a / b) if b > 0 else "n/a"
    print("| %s | %s | %s | %.2f | %.2f | %s |" % (tag, key[0], key[1], a, b, ratio))
print()
print("t/s: median over %s alternated rounds of each run's mean (kiln: t_s_mean; llama-bench: avg_ts)." % rounds)
EOF
python3 -c "$py_table" "$a_name" "$b_name" "$tag" "$rounds" < "$results"
