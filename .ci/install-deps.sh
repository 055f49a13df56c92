#!/usr/bin/env bash
# Installs what flowtune needs on a fresh Debian machine: nvcc + cuda.h + libcuda.so from
# Debian's non-free nvidia-cuda-toolkit (CUDA 11.8), enough to compile and link the CUDA path.
# Idempotent: skips what is already there.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if command -v nvcc >/dev/null 2>&1 && [ -f /usr/include/cuda.h ]; then
  echo "install-deps: nvcc already present: $(nvcc --version | tail -n 1)"
  exit 0
fi
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ] && ! grep -q 'non-free' "$src"; then
  $SUDO sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$src"
fi
if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list && ! grep -q 'non-free' /etc/apt/sources.list; then
  $SUDO sed -i 's/^\(deb .* main\)$/\1 contrib non-free non-free-firmware/' /etc/apt/sources.list
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends nvidia-cuda-toolkit nvidia-cuda-dev libcuda1 >/dev/null
echo "install-deps: $(nvcc --version | tail -n 1)"
