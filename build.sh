#!/usr/bin/env bash
# build.sh — compiles kernels.cu to PTX and machine code for the CUDA backend.
#
#   kernels.cu  ->  cuda/kernels.ptx           (PTX for compute_80, embedded with //go:embed)
#                   cuda/kernels.ptx.sha256    (SHA-256 of the kernels.cu it was built from)
#   kernels.ptx ->  cuda/kernels.sm_80.cubin   (machine code for A100-class cards, 8.x)
#                   cuda/kernels.sm_90.cubin   (machine code for H100/H200, 9.x)
#                   cuda/kernels.cubin.sha256  (SHA-256 of the PTX the cubins were assembled from)
#
# The backend loads the cubin of the card's major compute capability, so opening it costs
# milliseconds instead of seconds of driver JIT; on newer cards (10.x, ...) the driver
# JIT-compiles the PTX. The cubins are assembled from the committed PTX by ptxas alone (no host
# compiler involved), which is deterministic: the same PTX and ptxas give the same bytes.
# Everything is committed; `go test ./cuda/` (no build tag, no GPU) fails when kernels.cu
# changed without a rebuild. Regenerating with the same nvcc reproduces the committed files byte
# for byte (CI checks `git diff` after running this script with Debian's CUDA 11.8 nvcc).
#
# Building the Go side with the backend afterwards:
#   go build -tags cuda ./...       # needs cuda.h and libcuda.so (not a GPU)
# github.com/mumax/3/cuda/cu and package cuda look in /usr/include, /usr/local/cuda/include and
# /opt/cuda/include (libraries: /usr/lib/x86_64-linux-gnu, /usr/local/cuda/lib64/stubs,
# /opt/cuda/lib64). Elsewhere, export CGO_CFLAGS=-I<cuda>/include CGO_LDFLAGS=-L<cuda>/lib64/stubs.
set -euo pipefail
cd "$(dirname "$0")"

NVCC="${NVCC:-nvcc}"
if ! command -v "$NVCC" >/dev/null 2>&1; then
  cat >&2 <<'MSG'
build.sh: nvcc not found.
  Debian/Ubuntu: enable the contrib and non-free components, then
      sudo apt-get install nvidia-cuda-toolkit nvidia-cuda-dev      (or run .ci/install-deps.sh)
  elsewhere: install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) and put its
  bin/ on PATH, or set NVCC=/path/to/nvcc.
MSG
  exit 1
fi

echo "build.sh: $("$NVCC" --version | grep -i release)"
# nvcc 11.8's front end orders some choices by heap addresses: with address-space randomisation
# the same kernels.cu gave different (equally valid) PTX for the swizzled GEMM kernels from one run
# to the next, and the length of the working directory's path moves the heap too. So compile in
# a fixed directory (one build at a time, by a lock) with randomisation off for the compiler.
# Without setarch (util-linux) the PTX may differ from the committed one; CI has it.
tmp=/tmp/flowtune-build
exec 9>"$tmp.lock"
flock 9
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
NORAND=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
  NORAND=(setarch "$(uname -m)" -R)
else
  echo "build.sh: warning: setarch -R is unavailable, so nvcc runs with address randomisation and its PTX may differ from the committed one" >&2
fi
# Compile a copy under a fixed name so that no absolute path of this checkout leaks into the PTX.
cp kernels.cu "$tmp/kernels.cu"
(cd "$tmp" && "${NORAND[@]}" "$NVCC" -ptx -arch=compute_80 -std=c++17 -O3 -o kernels.ptx kernels.cu)
cp "$tmp/kernels.ptx" cuda/kernels.ptx
sha256sum kernels.cu | cut -d' ' -f1 > cuda/kernels.ptx.sha256
# ptxas sits beside nvcc (Debian's wrapper script hides the real directory, so ask PATH first).
PTXAS="${PTXAS:-$(command -v ptxas || echo "$(dirname "$(command -v "$NVCC")")/ptxas")}"
for sm in 80 90; do
  # -O3 is ptxas's default, spelled out so that a changed default shows up here.
  (cd "$tmp" && "${NORAND[@]}" "$PTXAS" -arch=sm_$sm -O3 -o "kernels.sm_$sm.cubin" kernels.ptx)
  cp "$tmp/kernels.sm_$sm.cubin" cuda/
done
sha256sum cuda/kernels.ptx | cut -d' ' -f1 > cuda/kernels.cubin.sha256
echo "build.sh: wrote cuda/kernels.ptx ($(wc -c < cuda/kernels.ptx) bytes, $(grep -c '^.visible .entry' cuda/kernels.ptx) kernels) for kernels.cu $(cut -c1-12 cuda/kernels.ptx.sha256)"
echo "build.sh: wrote cuda/kernels.sm_80.cubin ($(wc -c < cuda/kernels.sm_80.cubin) bytes), cuda/kernels.sm_90.cubin ($(wc -c < cuda/kernels.sm_90.cubin) bytes) with $("$PTXAS" --version | grep -i release)"
