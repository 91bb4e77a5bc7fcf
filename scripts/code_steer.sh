#!/usr/bin/env bash
# Does an expert's code knowledge transfer in generation? (issue 10 part 2.)
# HumanEval pass@1 of Qwen2.5-Coder-0.5B steered with files mapped from
# Qwen2.5-Coder-1.5B (paired alignment, highest pairing), every program run
# in the sandbox. Resumable: finished files and logged results are reused.
#
# Usage: scripts/code_steer.sh OUTDIR STAGE
#   STAGE data        labelled sets (fit problems only; more-itertools code)
#   STAGE fit         steering files: es-correct, es-domain-py, caa-domain-py,
#                     es-domain-he (code vs prose from HumanEval's fit problems)
#   STAGE baseline    unsteered 0.5B on all 164, the 1.5B expert on the test split
#   STAGE validation  the grid: c = 0.1, 0.2 x positions all, generated;
#                     CAA at 0.1, 0.2 (all positions); es-domain-py at -0.2
#                     (toward prose); both ExpertSteer files at 0.5;
#                     es-domain-he at 0.1, 0.2 x positions all, generated
#   STAGE test FILE:C:POS ...   the validation picks on the test split
#                     (run here: es-correct:0.2:all es-domain-py:0.1:all,
#                     then es-domain-he at its pick)
#   STAGE all164 FILE:C:POS     a file fitted outside HumanEval, on all 164
#                     (run here: es-domain-py:0.1:all)
#   STAGE outcome     the third concept, after all164: the 0.5B's own logged
#                     completions on the fit problems, passed vs failed
#                     (he-outcome), its fit (highest; detectable at AUC 0.6
#                     prints the probe per expert layer) and validation at
#                     c = 0.1, 0.2 (all positions)
#   STAGE cosines     each ExpertSteer direction against the target's own CAA
#                     on the same texts at every layer (stdout)
#   STAGE report      the tables (stdout), with flipped problems side by side
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1 STAGE=$2; shift 2
B=${EXPERTSTEER_BIN:-./target/release/expertsteer}
T=qwen2.5-coder-0.5b-instruct E=qwen2.5-coder-1.5b-instruct
LOG=$OUT/he-qwen05.jsonl
mkdir -p "$OUT/sets" "$OUT/files"
ev() { local f=$1 split=$2 pos=$3 c=$4
  $B eval code --model $T --threads 1 --steer "$f=$OUT/files/$f.steer" --strengths="$c" \
     --positions "$pos" --split "$split" --log "$LOG"
}
fit() { local out=$1; shift
  [ -f "$OUT/files/$out.steer" ] || $B fit --target $T --threads 1 "$@" --out "$OUT/files/$out.steer"
}
case $STAGE in
data)
  $B data build --source humaneval --label correctness --out "$OUT/sets/he-correctness.jsonl"
  $B data build --source humaneval --label domain --out "$OUT/sets/he-domain.jsonl"
  $B data build --source pycode --label domain --out "$OUT/sets/pycode-domain.jsonl" ;;
fit)
  fit es-correct --data "$OUT/sets/he-correctness.jsonl" --expert $E --align paired --pair-by highest
  fit es-domain-py --data "$OUT/sets/pycode-domain.jsonl" --expert $E --align paired --pair-by highest
  fit caa-domain-py --data "$OUT/sets/pycode-domain.jsonl" --method caa
  fit es-domain-he --data "$OUT/sets/he-domain.jsonl" --expert $E --align paired --pair-by highest
  # Where is correctness detectable in the expert? (prints the probe AUC per layer)
  fit es-correct-detectable --data "$OUT/sets/he-correctness.jsonl" --expert $E --align paired \
      --pair-by detectable --min-auc 0.6 ;;
baseline)
  $B eval code --model $T --threads 1 --split all --log "$LOG"
  $B eval code --model $E --threads 1 --split test --log "$OUT/he-qwen15.jsonl" ;;
validation)
  for pos in all generated; do
    ev es-correct validation $pos 0.1,0.2
    ev es-domain-py validation $pos 0.1,0.2
  done
  ev caa-domain-py validation all 0.1,0.2
  ev es-domain-py validation all -0.2
  ev es-domain-py validation all 0.5
  ev es-correct validation all 0.5
  for pos in all generated; do ev es-domain-he validation $pos 0.1,0.2; done ;;
test|all164)
  split=test; [ "$STAGE" = all164 ] && split=all
  for pick in "$@"; do IFS=: read -r f c pos <<< "$pick"; ev "$f" $split "$pos" "$c"; done ;;
outcome)
  $B data build --source humaneval --label outcome --log "$LOG" --model $T --out "$OUT/sets/he-outcome.jsonl"
  fit es-outcome --data "$OUT/sets/he-outcome.jsonl" --expert $E --align paired --pair-by highest
  fit es-outcome-detectable --data "$OUT/sets/he-outcome.jsonl" --expert $E --align paired \
      --pair-by detectable --min-auc 0.6
  ev es-outcome validation all 0.1,0.2 ;;
cosines)
  for set in correct:he-correctness domain-py:pycode-domain domain-he:he-domain outcome:he-outcome; do
    n=${set%%:*}
    fit "caa-all-$n" --data "$OUT/sets/${set#*:}.jsonl" --method caa --target-layers 1-23
  done
  $B compare-directions "$OUT/files/es-correct.steer" --reference "$OUT/files/caa-all-correct.steer"
  $B compare-directions "$OUT/files/es-outcome.steer" --reference "$OUT/files/caa-all-outcome.steer"
  $B compare-directions "$OUT/files/es-domain-py.steer" --reference "$OUT/files/caa-all-domain-py.steer"
  # Both code directions against the target's own, and against each other.
  $B compare-directions "$OUT/files/es-domain-he.steer" --reference "$OUT/files/caa-all-domain-he.steer" \
     --reference "$OUT/files/caa-all-domain-py.steer" --reference "$OUT/files/es-domain-py.steer" ;;
report)
  for split in validation test all; do
    $B eval code --model $T --split $split --log "$LOG" --report-only --examples 2
  done
  $B eval code --model $E --split test --log "$OUT/he-qwen15.jsonl" --report-only ;;
*) echo "unknown stage $STAGE" >&2; exit 2 ;;
esac
