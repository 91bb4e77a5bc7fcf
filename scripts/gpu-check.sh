#!/usr/bin/env bash
# GPU checks for a machine with CUDA (nvcc on PATH): build with the `cuda`
# feature, run the callback/control-vector equivalence and inert-hook tests
# with every block offloaded (ModelParams::default() offloads all), and the
# steering-speed benchmark. The hook then reads and writes non-host tensors
# through ggml_backend_tensor_get/set.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPERTSTEER_FEATURES=cuda bash scripts/setup.sh
cargo test --release --features cuda --test hook_equivalence --test control_vector_files --test generation
./target/release/expertsteer bench steer --threads 4 --rounds 5
