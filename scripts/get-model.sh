#!/usr/bin/env bash
# Obtains the default model (stories260K) and converts it to models/cache/stories260K.kiln.
# Source: the mirror directory $KILN_MODELS (default ../shared/models when it exists), else the
# official Hugging Face files of karpathy/tinyllamas, checked against their sha256.
set -euo pipefail
kiln="${1:-build/bin/kiln}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/models/cache"
mkdir -p "$cache"

url="https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K"
declare -A sha=(
  [stories260K.bin]=b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696
  [tok512.bin]=037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312
)

mirror="${KILN_MODELS:-}"
if [ -z "$mirror" ] && [ -d "$root/../shared/models" ]; then mirror="$root/../shared/models"; fi

fetch() {  # name -> path of a checked copy
  local name="$1" dest="$cache/$1"
  if [ -n "$mirror" ] && [ -f "$mirror/stories260K/$name" ]; then
    dest="$mirror/stories260K/$name"
  elif [ ! -f "$dest" ]; then
    echo "get-model: downloading $url/$name" >&2
    curl -fsSL --retry 3 -o "$dest.part" "$url/$name"
    mv "$dest.part" "$dest"
  fi
  if ! echo "${sha[$name]}  $dest" | sha256sum -c --quiet - >/dev/null 2>&1; then
    echo "get-model: checksum mismatch for $dest" >&2
    [ "$dest" = "$cache/$name" ] && rm -f "$dest"
    exit 1
  fi
  echo "$dest"
}

model=$(fetch stories260K.bin)
tok=$(fetch tok512.bin)
out="$cache/stories260K.kiln"
if [ ! -f "$out" ] || [ "$model" -nt "$out" ] || [ "$kiln" -nt "$out" ]; then
  "$kiln" convert "$model" --tokenizer "$tok" -o "$out"
fi
