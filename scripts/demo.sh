#!/usr/bin/env bash
# The main job from a fresh Debian machine: dependencies, build, then train the Llama-style model
# in tensor parallel on 2 processes and check it against a single-process run of the same seed.
# Extra arguments go to train_llama (e.g. --model tiny --steps 20 --no-sequence-parallel); TP=4 sets
# the tensor-parallel degree (the number of processes, default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" dtensor-run train_llama
build=${BUILD_DIR:-$root/build}
"$build/tools/dtensor-run" --nproc-per-node "${TP:-2}" "$build/examples/train_llama" "$@"
