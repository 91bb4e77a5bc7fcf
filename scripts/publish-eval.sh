#!/usr/bin/env bash
# Copies the results of finished evaluate.sh runs into docs/eval/RUN/ (the
# tables, the CSV of every cell, the accuracy plots and the MI heat-maps of
# both pairing rules) and prints the pooled summary EVALUATION.md quotes.
#
# Usage: scripts/publish-eval.sh runs/RUN [runs/RUN ...]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EXPERTSTEER_BIN:-./target/release/expertsteer}
evals=()
for run in "$@"; do
  name=$(basename "$run")
  dest=docs/eval/$name
  mkdir -p "$dest"
  cp "$run"/eval/results.md "$run"/eval/results.csv "$run"/eval/accuracy-*.png "$dest"/
  cp "$run"/es-closed.mi.png "$dest"/mi-highest.png
  cp "$run"/es-lowest.mi.png "$dest"/mi-lowest.png
  evals+=("$run/eval")
done
$BIN eval summary "${evals[@]}"
