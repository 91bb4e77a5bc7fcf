#!/usr/bin/env bash
# GPU check on a CUDA machine that has no Rust toolchain and no network (the
# machine lent to this project has nvcc, CMake and numpy, nothing else of
# ours). The expertsteer binary is built here with `--features dynamic-link`,
# so it runs against any shared build of the same llama.cpp; llama.cpp (with
# CUDA) and llama-server are built there from the llama.cpp sources of the
# llama-cpp-python 0.3.36 sdist (scripts/build-llama-server.sh fetches them;
# its ggml.h is ours byte for byte, FACTS.md). Everything travels in .gpu/,
# split in two halves because one transfer carries at most 64 MiB.
#
#   bash scripts/gpu-check.sh stage   # here: dynamic binary, CPU references, .gpu/a and .gpu/b
#   bash scripts/gpu-check.sh build   # GPU machine, with .gpu/a: unpack, configure, start the build
#   bash scripts/gpu-check.sh run     # GPU machine, with .gpu/b: wait for the build, then the checks
#
# `run` writes gpu-check.log (and a few result files) to $OUT, or to
# ./gpu-check-out. What it checks, every block offloaded to the GPU:
#   - the hook (callback path) and the control-vector path give the same
#     greedy text as each other, and as the same build on the CPU
#     (--gpu-layers 0); hidden states read through the hook match the CPU's
#     (ggml_backend_tensor_get on a CUDA tensor);
#   - steered continuations' perplexity on GPU and CPU;
#   - `bench steer`, `bench batch` (hook and per-sequence costs) and
#     `bench peer` (our server against llama-server, same GPU, same load).
# On a machine with a Rust toolchain and CUDA, `cargo test --release --workspace
# --features cuda` is the simpler route.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
W="${GPU_WORK:-$HOME/expertsteer-gpu}"
PROMPT="Write one sentence about your weekend."

stage() {
  local cache="${EXPERTSTEER_CACHE:-$HOME/.cache/expertsteer}"
  local dyn="${DYN_TARGET:-target/dynamic}"
  local model="$cache/models/smollm2-135m-instruct.gguf"
  local steer="$cache/examples/sentiment-caa.steer"
  local src="$cache/peers/llama-server-0.3.36/src"
  local bin=target/release/expertsteer
  [ -x "$bin" ] || { echo "build first: cargo build --release --workspace" >&2; exit 1; }
  [ -f "$model" ] && [ -f "$steer" ] || { echo "run scripts/setup.sh and the demo first" >&2; exit 1; }
  [ -d "$src" ] || bash scripts/build-llama-server.sh >/dev/null
  CARGO_TARGET_DIR="$dyn" cargo build --release -p expertsteer-cli --features dynamic-link
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
  rm -rf .gpu && mkdir -p .gpu/a .gpu/b
  # Other back-ends' sources are left out: only CUDA and the CPU are built.
  tar -C "$src" -cJf .gpu/a/llama-src.tar.xz \
    --exclude='ggml/src/ggml-'{hexagon,sycl,vulkan,opencl,cann,musa,metal,openvino,webgpu,zdnn,zendnn,virtgpu,et,hip} \
    CMakeLists.txt CMakePresets.json cmake common ggml include src tools vendor licenses LICENSE \
    scripts/ui-assets.cmake
  local half=$(( $(stat -c %s "$model") / 2 ))
  head -c "$half" "$model" >.gpu/a/model.part1
  tail -c +"$((half + 1))" "$model" >.gpu/b/model.part2
  sha256sum <"$model" | cut -d' ' -f1 >.gpu/b/model.sha256
  strip -o .gpu/b/expertsteer "$dyn/release/expertsteer" && xz -9 .gpu/b/expertsteer
  cp "$steer" .gpu/b/sentiment.steer
  printf '%s\n' '{"text": "The weather was lovely and we walked along the river."}' \
    '{"text": "def add(a, b):\n    return a + b"}' \
    '{"text": "Quarterly revenue fell by four percent."}' >.gpu/b/prompts.jsonl
  # CPU references from this machine's static build.
  for p in callback cvec; do
    "$bin" generate -m "$model" --threads 1 --chat -p "$PROMPT" -n 48 \
      --steer "$steer" --path "$p" >".gpu/b/cpu-$p.txt" 2>/dev/null
  done
  "$bin" generate -m "$model" --threads 1 --chat -p "$PROMPT" -n 48 >.gpu/b/cpu-none.txt 2>/dev/null
  du -sh .gpu/a .gpu/b
}

build() {
  mkdir -p "$W/src"
  cp .gpu/a/model.part1 "$W/"
  tar -xJf .gpu/a/llama-src.tar.xz -C "$W/src"
  # The tarball leaves out app/ (a desktop app); CMake still adds it.
  [ -d "$W/src/app" ] || { mkdir -p "$W/src/app" && : >"$W/src/app/CMakeLists.txt"; }
  # One architecture (Hopper) and no flash-attention kernels keep the CUDA
  # build to minutes; both servers then run without flash attention. No
  # network there: llama-server is built without its web page.
  cmake -S "$W/src" -B "$W/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DGGML_CUDA_FA=OFF -DGGML_RPC=ON -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$W/configure.log" 2>&1 \
    || { tail -30 "$W/configure.log"; exit 1; }
  rm -f "$W/build.rc"
  setsid nohup bash -c "cmake --build '$W/build' --target llama-server -j$(nproc) >'$W/build.log' 2>&1; echo \$? >'$W/build.rc'" \
    >/dev/null 2>&1 </dev/null &
  echo "build started in $W/build (log $W/build.log)"
}

run() {
  local out="${OUT:-$PWD/gpu-check-out}"
  mkdir -p "$out"
  exec > >(tee "$out/gpu-check.log") 2>&1
  local t0=$SECONDS
  while [ ! -f "$W/build.rc" ] && [ $((SECONDS - t0)) -lt 480 ]; do sleep 5; done
  if [ "$(cat "$W/build.rc" 2>/dev/null)" != 0 ]; then
    echo "CUDA build did not finish (rc $(cat "$W/build.rc" 2>/dev/null || echo none))"
    tail -40 "$W/build.log"
    exit 1
  fi
  echo "== build: done, waited $((SECONDS - t0)) s here"
  cat "$W/model.part1" .gpu/b/model.part2 >"$W/model.gguf"
  [ "$(sha256sum <"$W/model.gguf" | cut -d' ' -f1)" = "$(cat .gpu/b/model.sha256)" ] \
    || { echo "model halves do not join to the original"; exit 1; }
  xz -dc .gpu/b/expertsteer.xz >"$W/expertsteer" && chmod +x "$W/expertsteer"
  export LD_LIBRARY_PATH="$W/build/bin"
  local E="$W/expertsteer" M="$W/model.gguf" S=.gpu/b/sentiment.steer
  nvidia-smi -L || true
  ldd "$E" | grep -E 'llama|ggml' || true
  "$E" inspect -m "$M" --gpu-layers -1 2>&1 | tail -15 || true

  echo "== greedy text: GPU (all blocks) and CPU (--gpu-layers 0), same build"
  for ngl in -1 0; do
    for p in none callback cvec; do
      local steer=()
      [ "$p" = none ] || steer=(--steer "$S" --path "$p")
      "$E" generate -m "$M" --gpu-layers "$ngl" --threads 8 --chat -p "$PROMPT" -n 48 \
        "${steer[@]}" >"$W/gen$ngl-$p.txt" 2>"$W/gen$ngl-$p.err" || { echo "generate $ngl $p failed"; tail -5 "$W/gen$ngl-$p.err"; }
      printf '%-4s %-9s %s\n' "$ngl" "$p" "$(tr '\n' ' ' <"$W/gen$ngl-$p.txt")"
    done
  done
  same() { cmp -s "$1" "$2" && echo same || echo DIFFERENT; }
  echo "GPU callback vs GPU cvec:      $(same "$W/gen-1-callback.txt" "$W/gen-1-cvec.txt")"
  echo "GPU callback vs CPU callback:  $(same "$W/gen-1-callback.txt" "$W/gen0-callback.txt")"
  echo "GPU cvec vs CPU cvec:          $(same "$W/gen-1-cvec.txt" "$W/gen0-cvec.txt")"
  echo "GPU unsteered vs CPU:          $(same "$W/gen-1-none.txt" "$W/gen0-none.txt")"
  echo "GPU steered vs unsteered:      $(same "$W/gen-1-callback.txt" "$W/gen-1-none.txt") (should differ)"
  for p in none callback cvec; do
    echo "this build's CPU vs the static CPU build elsewhere ($p): $(same "$W/gen0-$p.txt" ".gpu/b/cpu-$p.txt")"
  done

  echo "== hidden states read through the hook: GPU against CPU"
  # Separate capture caches: with one, the second run would reuse the first's states.
  for ngl in -1 0; do
    EXPERTSTEER_CACHE="$W/cache$ngl" "$E" capture -m "$M" --gpu-layers "$ngl" --threads 8 --prompts .gpu/b/prompts.jsonl \
      --layers all --out "$W/cap$ngl.npy" >/dev/null 2>"$W/cap$ngl.err" || tail -5 "$W/cap$ngl.err"
  done
  python3 - "$W/cap-1.npy" "$W/cap0.npy" <<'EOF' || echo "capture comparison failed"
import sys, numpy as np
g, c = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
print("shape", g.shape)
g2, c2 = g.reshape(-1, g.shape[-1]), c.reshape(-1, c.shape[-1])
rel = np.linalg.norm(g2 - c2, axis=1) / np.maximum(np.linalg.norm(c2, axis=1), 1e-12)
cos = (g2 * c2).sum(1) / np.maximum(np.linalg.norm(g2, axis=1) * np.linalg.norm(c2, axis=1), 1e-12)
print(f"relative L2 difference: median {np.median(rel):.2e}, max {rel.max():.2e}")
print(f"cosine: min {cos.min():.6f}")
EOF

  echo "== perplexity of steered continuations: GPU, then CPU"
  for ngl in -1 0; do
    "$E" eval fluency -m "$M" --gpu-layers "$ngl" --threads 8 --steer "$S" 2>/dev/null | tail -12 || echo "fluency $ngl failed"
  done

  echo "== bench steer (GPU)"
  "$E" bench steer --models "$M" --threads 8 --rounds 5 --gpu-layers -1 2>&1 | tail -25 || true
  echo "== bench batch (GPU)"
  "$E" bench batch --model "$M" --threads 8 --rounds 5 2>&1 | tail -15 || true
  echo "== bench peer: our server against llama-server, both on the GPU"
  "$E" bench peer -m "$M" --llama-server "$W/build/bin/llama-server" --steer "sentiment=$S" \
    --threads 8 --gpu-layers -1 --rounds 3 2>&1 | tail -40 || true
  echo "== done in $((SECONDS - t0)) s"
}

case "$mode" in
  stage) stage ;;
  build) build ;;
  run) run ;;
  *) sed -n 2,25p "$0"; exit 2 ;;
esac
