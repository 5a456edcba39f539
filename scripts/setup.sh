#!/usr/bin/env bash
# Installs the Debian packages the project needs, only when they are missing.
#   setup.sh build   a C compiler, make, zlib headers
#   setup.sh test    the above, plus Python with numpy, torch, scikit-image, scipy, pytest and pkg-config
set -euo pipefail
want=(gcc make zlib1g-dev)
if [ "${1:-build}" = test ]; then
    want+=(python3 python3-numpy python3-torch python3-skimage python3-scipy python3-pytest pkg-config)
fi
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
