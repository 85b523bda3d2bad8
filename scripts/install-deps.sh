#!/usr/bin/env bash
# Debian packages dtensor-cpp builds and runs on (bookworm or newer). Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache git
  libtorch-dev libgloo-dev            # ATen, autograd, torch::nn/optim, c10d (+ Gloo)
  libopenmpi-dev openmpi-bin          # the MPI backend and mpirun
  libopenblas0-openmp                 # without it libtorch's matmuls use the reference BLAS: 20-30x slower
  libgtest-dev libbenchmark-dev       # tests and benchmarks
  libcli11-dev nlohmann-json3-dev     # command lines and JSON output
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
