#!/usr/bin/env bash
# The main job from a fresh Debian machine: dependencies, build, run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" dtensor-run hello_mesh
build=${BUILD_DIR:-$root/build}
"$build/tools/dtensor-run" --nproc-per-node 4 "$build/examples/hello_mesh"
