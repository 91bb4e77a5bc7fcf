#!/usr/bin/env bash
# Issue 10 part 3: a generative BIG-bench task with exact-match answers.
# arithmetic/2_digit_multiplication, 3 shots, greedy; target Qwen2.5-Coder-0.5B,
# expert Qwen2.5-Coder-1.5B (it leads by 37 points on validation). Resumable.
#
# Usage: scripts/arith_steer.sh OUTDIR STAGE
#   STAGE baseline    every registry model, unsteered, first 60 validation questions
#   STAGE fit         steering files from 150 fit questions (answer vs one digit changed):
#                     es (paired, highest), es-det (paired, detectable at AUC 0.8), caa
#   STAGE validation  es at c = 0.1, 0.2 x all, generated; es-det and caa at 0.1, 0.2
#   STAGE test        the validation picks on the first 100 test questions
#   STAGE cosines     es and es-det against the target's own CAA at every layer
#   STAGE report      the tables
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1 STAGE=$2
B=${EXPERTSTEER_BIN:-./target/release/expertsteer}
T=qwen2.5-coder-0.5b-instruct E=qwen2.5-coder-1.5b-instruct
TASK=arithmetic/2_digit_multiplication LOG=$OUT/bb-qwen05.jsonl
mkdir -p "$OUT/files"
ev() { local f=$1 split=$2 pos=$3 c=$4 limit=$5
  $B eval gen --task $TASK --model $T --threads 1 --steer "$f=$OUT/files/$f.steer" --strengths="$c" \
     --positions "$pos" --split "$split" --limit "$limit" --log "$LOG"
}
fit() { local out=$1; shift
  [ -f "$OUT/files/$out.steer" ] || $B fit --target $T --threads 1 --data "$OUT/bb-2dmul.jsonl" "$@" --out "$OUT/files/$out.steer"
}
case $STAGE in
baseline)
  for m in smollm2-135m-instruct gemma3-270m $T $E; do
    $B eval gen --task $TASK --model $m --threads 1 --split validation --limit 60 --log "$OUT/baseline-$m.jsonl"
  done ;;
fit)
  $B data build --source bigbench-exact --tasks $TASK --limit 150 --out "$OUT/bb-2dmul.jsonl"
  fit es-2dmul --expert $E --align paired --pair-by highest
  fit es-2dmul-det --expert $E --align paired --pair-by detectable
  fit caa-2dmul --method caa ;;
validation)
  ev es-2dmul validation all 0.1,0.2 60
  ev es-2dmul validation generated 0.1,0.2 60
  ev caa-2dmul validation all 0.1,0.2 60
  ev es-2dmul-det validation all 0.1,0.2 60 ;;
test)
  ev es-2dmul test all 0.1 100
  ev caa-2dmul test all 0.1 100
  ev es-2dmul-det test all "${DET_C:-0.1}" 100 ;;
cosines)
  fit caa-all-2dmul --method caa --target-layers 1-23
  $B compare-directions "$OUT/files/es-2dmul.steer" "$OUT/files/es-2dmul-det.steer" \
     --reference "$OUT/files/caa-all-2dmul.steer" ;;
report)
  for f in es-2dmul caa-2dmul es-2dmul-det; do
    for pos in all generated; do
      $B eval gen --task $TASK --model $T --steer "$f=$OUT/files/$f.steer" --strengths=0.1,0.2 \
         --positions $pos --split validation --limit 60 --log "$LOG" --report-only
    done
    $B eval gen --task $TASK --model $T --steer "$f=$OUT/files/$f.steer" --strengths=0.1 \
       --split test --limit 100 --log "$LOG" --report-only
  done ;;
*) echo "unknown stage $STAGE" >&2; exit 2 ;;
esac
