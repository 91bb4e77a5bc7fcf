#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 20),
# starting from seeds written fresh by examples/write_seeds.rs, and fails on
# the first crash, panic, leak, timeout or out-of-memory. CI runs it so the
# targets keep building and the seeds keep passing; FUZZING.md has the long
# runs. Needs the nightly toolchain (the sanitizer); installs cargo-fuzz
# when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-20}"
case "$secs" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS per target, default 20]" >&2; exit 2 ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
  command -v rustup >/dev/null 2>&1 || { echo "fuzz-smoke: the nightly toolchain is required (rustup toolchain install nightly)" >&2; exit 1; }
  echo "fuzz-smoke: installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

cd fuzz
# One build for all targets, so SECONDS is all fuzzing. Default cargo-fuzz
# profile: optimised, with debug assertions and overflow checks.
cargo +nightly fuzz build

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Seeds come from the project's own writers (no binary files in git).
cargo +nightly run --quiet --release --example write_seeds -- "$scratch"
failed=()
for target in $(cargo +nightly fuzz list); do
  corpus="$scratch/$target"
  echo "fuzz-smoke: $target for ${secs}s"
  if ! cargo +nightly fuzz run "$target" "$corpus" -- \
      -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 2>"$scratch/$target.log"; then
    # What went wrong (panic message, sanitizer report), then how to rerun it.
    grep -E -A3 "panicked at|==ERROR|ERROR: libFuzzer|SUMMARY:" "$scratch/$target.log" | head -n 40 >&2 || true
    tail -n 12 "$scratch/$target.log" >&2
    echo "fuzz-smoke: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
    failed+=("$target")
  else
    grep -E '^Done|stat::average_exec_per_sec' "$scratch/$target.log" || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: crashed: ${failed[*]} (reproduce: cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/FILE)" >&2
  exit 1
fi
echo "fuzz-smoke: all targets clean"
