#!/usr/bin/env bash
# One expert/target pair on one task: build the fit split, fit every method
# (ExpertSteer three ways and the self-steering baselines on the same
# layers), then evaluate them all on the validation and test splits.
# Resumable: finished steering files and logged answers are reused.
#
# Usage: scripts/evaluate.sh EXPERT TARGET TASK OUTDIR [FIT_QUESTIONS] [EVAL_QUESTIONS] [STRENGTHS]
#   TASK: mmlu:computer_science | mmlu:math | bigbench:logical_deduction/three_objects ...
# ABLATIONS=1 adds three ExpertSteer variants around the default (lowest-MI
# pairs): K = 2 and K = 8 layers, and the Adam-trained auto-encoder; re-run
# on a finished folder it fits and scores only those.
set -euo pipefail
cd "$(dirname "$0")/.."
E=$1 T=$2 TASK=$3 OUT=$4 FITN=${5:-120} EVALN=${6:-60} STRENGTHS=${7:-0.1,0.25,0.5}
# EXPERTSTEER_BIN: a frozen copy of the binary lets a long run go on while
# the tree is rebuilt.
BIN=${EXPERTSTEER_BIN:-./target/release/expertsteer}
mkdir -p "$OUT"
src=${TASK%%:*} rest=${TASK#*:}
if [ "$src" = mmlu ]; then sel=(--subjects "${rest//+/,}"); else sel=(--tasks "${rest//+/,}"); fi
[ -f "$OUT/fit.jsonl" ] || $BIN data build --source "$src" "${sel[@]}" --split fit --limit "$FITN" --out "$OUT/fit.jsonl"
common=(--target "$T" --data "$OUT/fit.jsonl" --threads 1)  # K = 4 layers unless given
fit() { local out=$1; shift; [ -f "$OUT/$out.steer" ] || $BIN fit "${common[@]}" "$@" --out "$OUT/$out.steer"; }
fit es-closed --expert "$E" --align closed-form --pair-by highest
fit es-lowest --expert "$E" --align closed-form --pair-by lowest
fit es-paired --expert "$E" --align paired --pair-by highest
fit es-paired-lowest --expert "$E" --align paired --pair-by lowest
methods=(es-closed es-lowest es-paired es-paired-lowest caa pca-diff self-rfm)
if [ "${ABLATIONS:-0}" = 1 ]; then
  fit es-lowest-k2 --expert "$E" --align closed-form --pair-by lowest --layers 2
  fit es-lowest-k8 --expert "$E" --align closed-form --pair-by lowest --layers 8
  fit es-ae-lowest --expert "$E" --align ae --pair-by lowest
  methods+=(es-lowest-k2 es-lowest-k8 es-ae-lowest)
fi
layers=$($BIN show "$OUT/es-closed.steer" --layers-only)
fit caa --method caa --target-layers "$layers"
fit pca-diff --method pca-diff --target-layers "$layers"
fit self-rfm --method self-rfm --target-layers "$layers"
steers=()
for m in "${methods[@]}"; do steers+=(--steer "$m=$OUT/$m.steer"); done
$BIN eval mcq --target "$T" --expert "$E" --task "$TASK" "${steers[@]}" \
  --strengths "$STRENGTHS" --limit "$EVALN" --threads 1 --out "$OUT/eval"
