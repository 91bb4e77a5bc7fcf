#!/usr/bin/env bash
# Builds llama.cpp's own llama-server, the peer that `expertsteer bench peer`
# measures against, from sources that match the llama.cpp expertsteer links:
# the llama.cpp tree vendored in the llama-cpp-python 0.3.36 sdist (its
# ggml.h is byte-identical to llama-cpp-sys-2 0.1.161's; llama.h differs in
# two state-version macros; FACTS.md). Same CPU flags as our build (a
# GGML_NATIVE build dies with an illegal instruction on some of these CPUs).
# Not part of the default set-up: about 10 minutes on 2 cores, once.
#
#   bash scripts/build-llama-server.sh        # prints the binary's path
set -euo pipefail
CACHE="${EXPERTSTEER_CACHE:-$HOME/.cache/expertsteer}"
OUT="$CACHE/peers/llama-server-0.3.36"
BIN="$OUT/build/bin/llama-server"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$OUT"
if [ ! -d "$OUT/src" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    llama-cpp-python==0.3.36 -d "$tmp" >&2
  tar -xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp"
  mv "$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp" "$OUT/src"
  rm -rf "$tmp"
fi
cmake -S "$OUT/src" -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
cmake --build "$OUT/build" --target llama-server -j"$(nproc)" >&2
echo "$BIN"
