#!/usr/bin/env bash
# Everything expertsteer needs on a fresh Debian/Ubuntu machine: the C/C++
# toolchain bits that llama.cpp's build and bindgen need, a release build
# (llama.cpp compiles once, ~2-10 min on 2 cores), and the default model.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
ls /usr/lib/x86_64-linux-gnu/libclang-14.so* /usr/lib/*/libclang-14.so* >/dev/null 2>&1 || need_pkgs+=(libclang1-14)
ls /usr/lib/llvm-14/lib/clang/*/include/stdbool.h >/dev/null 2>&1 || need_pkgs+=(libclang-common-14-dev)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3 python3-pip)
# The HumanEval sandbox runs programs as an unprivileged user with the
# system's /usr/bin/python3 (a python under /root is unreadable to it).
/usr/bin/python3 -c 'import resource' >/dev/null 2>&1 || need_pkgs+=(python3)
# A font for the labels of PNG plots (optional: plots are drawn without text otherwise).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_pkgs+=(fonts-dejavu-core)
# The page test (cli/tests/serve_page.rs) drives a real headless browser: Debian's
# chromium, as Playwright's own browser download is not reachable everywhere.
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# The C ABI's handle test (cli/tests/c_api.rs) runs under valgrind.
command -v valgrind >/dev/null 2>&1 || need_pkgs+=(valgrind)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi
python3 -m pip --version >/dev/null 2>&1 || { echo "setup: python3 needs pip (apt-get install python3-pip)"; exit 1; }
# Pinned Python packages for the tests: playwright drives the page test's
# Chromium (cli/tests/page/drive_page.py), openai is the client of the server tests.
# PIP_BREAK_SYSTEM_PACKAGES lets pip install into a distribution's own python3
# (PEP 668); a pyenv or venv python ignores it.
py_missing=()
for pin in playwright==1.65.2 openai==3.57.0; do
  have=$(python3 -c "import importlib.metadata as m; print(m.version('${pin%%==*}'))" 2>/dev/null || true)
  [ "$have" = "${pin#*==}" ] || py_missing+=("$pin")
done
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "setup: pip installing ${py_missing[*]}"
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --disable-pip-version-check \
    --root-user-action=ignore "${py_missing[@]}"
fi
# llama-cpp-python, the program the Python package steers (cli/tests/python.rs,
# examples/python/). Built from source once (its llama.cpp, with our build's
# CPU flags: a native build dies with an illegal instruction on some CPUs;
# no multimodal library), a few minutes; skipped when that version is there.
LCP_VERSION=0.3.36
have=$(python3 -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))" 2>/dev/null || true)
if [ "$have" != "$LCP_VERSION" ]; then
  echo "setup: building llama-cpp-python $LCP_VERSION from source (once, a few minutes)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAMA_CURL=OFF -DLLAVA_BUILD=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" PIP_BREAK_SYSTEM_PACKAGES=1 \
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    --no-binary llama-cpp-python "llama-cpp-python==$LCP_VERSION"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: a Rust toolchain (cargo) is required: https://rustup.rs"; exit 1; }

# EXPERTSTEER_FEATURES=cuda (or metal) builds llama.cpp with that back-end.
features=()
[ -n "${EXPERTSTEER_FEATURES:-}" ] && features=(--features "$EXPERTSTEER_FEATURES")
# A target/ built before llama.cpp's RPC backend was switched on (GGML_RPC in
# .cargo/config.toml) lacks libggml-rpc: cargo does not rerun llama-cpp-sys-2's
# build script for a variable it never saw, so rebuild that crate once.
if ls -d target/release/build/llama-cpp-sys-2-*/out/lib >/dev/null 2>&1 \
   && ! ls target/release/build/llama-cpp-sys-2-*/out/lib/libggml-rpc.* >/dev/null 2>&1; then
  echo "setup: rebuilding llama.cpp with its RPC backend (once)"
  cargo clean --release -p llama-cpp-sys-2
fi
echo "setup: cargo build --release --workspace ${features[*]}"
cargo build --release --workspace "${features[@]}"
# The Python package, with this build's C library and binary bundled.
echo "setup: pip install ./python"
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q --disable-pip-version-check \
  --root-user-action=ignore --no-deps --force-reinstall ./python
echo "setup: fetching the default model and the test expert (Gemma 3 270M)"
./target/release/expertsteer models fetch smollm2-135m-instruct gemma3-270m
