#!/usr/bin/env bash
# Installs the Debian packages kiln needs that are missing, and only those.
set -euo pipefail

packages=(
  g++ cmake make pkg-config ca-certificates curl
  libfmt-dev libcli11-dev doctest-dev libxbyak-dev libdnnl-dev nlohmann-json3-dev libpcre2-dev
  python3 python3-jinja2
  g++-aarch64-linux-gnu qemu-user
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
