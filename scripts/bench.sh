#!/usr/bin/env bash
# Times `kiln run` on the default model (until `kiln bench` exists): 5 runs, prints the summaries.
set -euo pipefail
kiln="${1:-build/bin/kiln}"
for i in 1 2 3 4 5; do
  "$kiln" run -m models/cache/stories260K.kiln -p "Once upon a time" -n 256 --temp 0 --ignore-eos --json \
    | grep -o '"timings":{[^}]*}'
done
