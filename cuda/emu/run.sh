#!/usr/bin/env bash
# cuda/emu/run.sh — runs a command against the CPU emulator of the CUDA driver instead of a GPU.
#
#   cuda/emu/run.sh go test -tags cuda ./cuda/            # the conformance suite on the emulator
#   cuda/emu/run.sh go run -tags cuda ./cmd/kernelbench -quick
#
# It compiles driver.cpp (which includes kernels.cu as host C++) into libcuda.so.1 under
# $EMU_DIR (default /tmp/flowtune-cuda-emu-<hash of the checkout's path>) and puts that first on
# LD_LIBRARY_PATH, so a binary built with -tags cuda loads it instead of NVIDIA's driver.
# Emulated kernels are slow (every CUDA thread is a fiber): use small problems. Timings it
# prints mean nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# One build directory per checkout: two worktrees must not rebuild each other's library.
out="${EMU_DIR:-/tmp/flowtune-cuda-emu-$(printf %s "$root" | sha256sum | cut -c1-12)}"
mkdir -p "$out"
grep -oP '^\.visible \.entry \K\w+' "$root/cuda/kernels.ptx" | sed 's/.*/K(&)/' > "$out/kernels.inc"
if [ ! -f "$out/libcuda.so.1" ] || [ -n "$(find "$here" "$root/kernels.cu" "$out/kernels.inc" -newer "$out/libcuda.so.1" -print -quit)" ]; then
  g++ -std=c++17 -O2 -g -fPIC -shared -DFT_HOST_EMU -Wall -Wno-unknown-pragmas -Wno-unused-function \
    -I"$here" -I"$out" -I/usr/local/cuda/include -o "$out/libcuda.so.1" "$here/driver.cpp"
fi
export LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
