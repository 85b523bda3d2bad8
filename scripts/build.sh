#!/usr/bin/env bash
# Configure and build into ./build (or $BUILD_DIR). Extra arguments go to the build tool.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
if command -v ccache >/dev/null; then
  # Share objects between build directories and cache files that use precompiled headers.
  export CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$build" -- "$@"
