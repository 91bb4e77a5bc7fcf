#!/usr/bin/env bash
# Issue 21: knowledge through the token-level map. Expert Qwen2.5-Coder-1.5B,
# target Qwen2.5-Coder-0.5B, every ExpertSteer file fitted through the pair's
# map (`expertsteer map`, 50k paired positions), next to the old `paired`
# rows of EVALUATION.md. Same protocol: fit split -> validation picks -> test.
# Resumable: finished files and logged results are reused.
#
# Usage: scripts/knowledge_map.sh OUTDIR STAGE [PICK...]
#   code-data        the labelled sets (more-itertools code vs prose; the
#                    target's own passed vs failed programs from the logged
#                    completions) and the log seeded with EVALUATION's rows
#   code-fit         through the map: es-map-py / es-map-py-md (code vs prose,
#                    RFM / mean difference), es-map-outcome / -md; and the
#                    target's own CAA at every layer (for the cosines)
#   code-validation  each file at c = 0.1, 0.2, all positions, 32 problems
#   code-test FILE:C:POS ...   picks on the test split (29 problems)
#   code-all164 FILE:C:POS     a file fitted outside HumanEval, on all 164
#   cosines          every mapped direction against the target's own CAA
#   code-report      the tables, flipped problems side by side
#   arith-data       two-digit multiplication (1,000 questions in BIG-bench's
#                    wording; bigbench==1.0.0 is no longer served) and the
#                    right-vs-one-digit-off pairs of 150 fit questions
#   arith-fit        es-map-2dmul / -md / -det (--pair-by detectable) through the map; es-old-2dmul (the old
#                    paired map, detectable pairing); caa-2dmul; caa-all-2dmul
#   arith-baseline   target on validation (60) and test (all), expert on validation
#   arith-validation each file at c = 0.1, 0.2, all positions, 60 questions
#   arith-test FILE:C:POS ...   picks on the whole test split
#   gsm-data         GSM-Symbolic word problems (85 templates x 14, split by
#                    template) and worked-vs-bare texts of 150 fit problems
#   gsm-fit          es-map-steps / -md through the map; caa-steps; caa-all-steps
#   gsm-validation   3 bare-answer shots; no steering, the "Let's think step by
#                    step." cue, each file at c = 0.1, 0.2 (first $GSM_VAL problems, 30)
#   gsm-baseline     no steering and the cue on the whole test split
#   gsm-test FILE:C:POS ...     the picks on the whole test split
#   gsm-zeroshot [FILE:C:POS ...]  no shots at all: no steering and the cue
#                    on the test split, then each pick ($THREADS threads, default 1)
#   gsm-expert-zeroshot  the expert with no shots, no steering and the cue, on
#                    the first $GSM_PER (4) test problems of each test template
#   gsm-expert       the expert, no steering and cued, first $GSM_EXPERT (20)
#                    validation problems
# MAP (env) overrides the map file.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1 STAGE=$2; shift 2
B=${EXPERTSTEER_BIN:-./target/release/expertsteer}
T=qwen2.5-coder-0.5b-instruct E=qwen2.5-coder-1.5b-instruct
MAP=${MAP:-$HOME/.cache/expertsteer/maps/q15-q05.50000.esmap}
LOG=$OUT/he-qwen05.jsonl
mkdir -p "$OUT/sets" "$OUT/files"
ev() { local f=$1 split=$2 pos=$3 c=$4
  $B eval code --model $T --threads 1 --steer "$f=$OUT/files/$f.steer" --strengths="$c" \
     --positions "$pos" --split "$split" --log "$LOG"
}
fit() { local out=$1; shift
  [ -f "$OUT/files/$out.steer" ] || $B fit --target $T --threads 1 "$@" --out "$OUT/files/$out.steer"
}
fitmap() { local out=$1; shift; fit "$out" --expert $E --map "$MAP" "$@"; }
case $STAGE in
code-data)
  [ -f "$LOG" ] || cp docs/eval/generation/he-qwen05.jsonl "$LOG"
  $B data build --source pycode --label domain --out "$OUT/sets/pycode-domain.jsonl"
  $B data build --source humaneval --label outcome --log docs/eval/generation/he-qwen05.jsonl \
     --model $T --out "$OUT/sets/he-outcome.jsonl" ;;
code-fit)
  fitmap es-map-py --data "$OUT/sets/pycode-domain.jsonl"
  fitmap es-map-py-md --data "$OUT/sets/pycode-domain.jsonl" --expert-direction mean-diff
  fitmap es-map-outcome --data "$OUT/sets/he-outcome.jsonl"
  fitmap es-map-outcome-md --data "$OUT/sets/he-outcome.jsonl" --expert-direction mean-diff
  fit caa-all-py --data "$OUT/sets/pycode-domain.jsonl" --method caa --target-layers 1-23
  fit caa-all-outcome --data "$OUT/sets/he-outcome.jsonl" --method caa --target-layers 1-23 ;;
code-validation)
  for f in es-map-py es-map-py-md es-map-outcome es-map-outcome-md; do ev $f validation all 0.1,0.2; done ;;
code-test|code-all164)
  split=test; [ "$STAGE" = code-all164 ] && split=all
  for pick in "$@"; do IFS=: read -r f c pos <<< "$pick"; ev "$f" $split "$pos" "$c"; done ;;
cosines)
  for f in es-map-py es-map-py-md; do
    $B compare-directions "$OUT/files/$f.steer" --reference "$OUT/files/caa-all-py.steer"
  done
  for f in es-map-outcome es-map-outcome-md; do
    $B compare-directions "$OUT/files/$f.steer" --reference "$OUT/files/caa-all-outcome.steer"
  done
  for f in es-map-2dmul es-map-2dmul-md es-map-2dmul-det es-old-2dmul; do
    [ -f "$OUT/files/$f.steer" ] && $B compare-directions "$OUT/files/$f.steer" --reference "$OUT/files/caa-all-2dmul.steer"
  done
  for f in es-map-steps es-map-steps-md; do
    [ -f "$OUT/files/$f.steer" ] && $B compare-directions "$OUT/files/$f.steer" --reference "$OUT/files/caa-all-steps.steer"
  done ;;
arith-data)
  $B data build --source multiplication --out "$OUT/sets/mul.jsonl"
  $B data build --source bigbench-exact --tasks "$OUT/sets/mul.jsonl" --limit 150 --out "$OUT/sets/mul-2dmul.jsonl" ;;
arith-fit)
  fitmap es-map-2dmul --data "$OUT/sets/mul-2dmul.jsonl"
  fitmap es-map-2dmul-md --data "$OUT/sets/mul-2dmul.jsonl" --expert-direction mean-diff
  fitmap es-map-2dmul-det --data "$OUT/sets/mul-2dmul.jsonl" --pair-by detectable
  fit es-old-2dmul --data "$OUT/sets/mul-2dmul.jsonl" --expert $E --align paired --pair-by detectable
  fit caa-2dmul --data "$OUT/sets/mul-2dmul.jsonl" --method caa
  fit caa-all-2dmul --data "$OUT/sets/mul-2dmul.jsonl" --method caa --target-layers 1-23 ;;
arith-baseline)
  gen() { $B eval gen --task "$OUT/sets/mul.jsonl" --threads 1 "$@"; }
  gen --model $T --split validation --limit 60 --log "$OUT/mul-qwen05.jsonl"
  gen --model $T --split test --log "$OUT/mul-qwen05.jsonl"
  gen --model $E --split validation --limit 60 --log "$OUT/mul-qwen15.jsonl" ;;
arith-validation)
  for f in es-map-2dmul es-map-2dmul-md es-map-2dmul-det es-old-2dmul caa-2dmul; do
    $B eval gen --task "$OUT/sets/mul.jsonl" --model $T --threads 1 --steer "$f=$OUT/files/$f.steer" \
       --strengths=0.1,0.2 --split validation --limit 60 --log "$OUT/mul-qwen05.jsonl"
  done ;;
arith-test)
  for pick in "$@"; do IFS=: read -r f c pos <<< "$pick"
    $B eval gen --task "$OUT/sets/mul.jsonl" --model $T --threads 1 --steer "$f=$OUT/files/$f.steer" \
       --strengths="$c" --positions "$pos" --split test --log "$OUT/mul-qwen05.jsonl"
  done ;;
gsm-data)
  $B data build --source gsm-symbolic --out "$OUT/sets/gsm.jsonl"
  $B data build --source gsm-symbolic --label steps --limit 150 --out "$OUT/sets/gsm-steps.jsonl" ;;
gsm-fit)
  fitmap es-map-steps --data "$OUT/sets/gsm-steps.jsonl"
  fitmap es-map-steps-md --data "$OUT/sets/gsm-steps.jsonl" --expert-direction mean-diff
  fit caa-steps --data "$OUT/sets/gsm-steps.jsonl" --method caa
  fit caa-all-steps --data "$OUT/sets/gsm-steps.jsonl" --method caa --target-layers 1-23 ;;
gsm-zeroshot|gsm-expert-zeroshot)
  zs() { $B eval gen --threads "${THREADS:-1}" --shots 0 --answer number --max-tokens 256 --split test "$@"; }
  if [ "$STAGE" = gsm-zeroshot ]; then
    zs --task "$OUT/sets/gsm.jsonl" --cue "Let's think step by step." --model $T --log "$OUT/gsm-qwen05.jsonl"
    for pick in "$@"; do IFS=: read -r f c pos <<< "$pick"
      zs --task "$OUT/sets/gsm.jsonl" --model $T --steer "$f=$OUT/files/$f.steer" --strengths="$c" \
         --positions "$pos" --log "$OUT/gsm-qwen05.jsonl"
    done
  else
    # The split is drawn per template, so dropping problems inside a template
    # leaves every template in its split.
    python3 - "$OUT/sets/gsm.jsonl" "${GSM_PER:-4}" > "$OUT/sets/gsm-sub.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    k = int(row["id"].rsplit("-", 1)[1])
    if k < int(sys.argv[2]):
        print(line, end="")
PY
    zs --task "$OUT/sets/gsm-sub.jsonl" --cue "Let's think step by step." --model $E --log "$OUT/gsm-qwen15.jsonl"
  fi ;;
gsm-validation|gsm-baseline|gsm-test|gsm-expert)
  wp() { $B eval gen --task "$OUT/sets/gsm.jsonl" --threads 1 --shots 3 --answer number \
           --max-tokens 256 --cue "Let's think step by step." "$@"; }
  case $STAGE in
  gsm-validation)
    for f in es-map-steps es-map-steps-md caa-steps; do
      wp --model $T --steer "$f=$OUT/files/$f.steer" --strengths=0.1,0.2 --split validation \
         --limit "${GSM_VAL:-30}" --log "$OUT/gsm-qwen05.jsonl"
    done ;;
  gsm-baseline)
    wp --model $T --split test --log "$OUT/gsm-qwen05.jsonl" ;;
  gsm-test)
    for pick in "$@"; do IFS=: read -r f c pos <<< "$pick"
      wp --model $T --steer "$f=$OUT/files/$f.steer" --strengths="$c" --positions "$pos" \
         --split test --log "$OUT/gsm-qwen05.jsonl"
    done ;;
  gsm-expert)
    wp --model $E --split validation --limit "${GSM_EXPERT:-20}" --log "$OUT/gsm-qwen15.jsonl" ;;
  esac ;;
code-report)
  for split in validation test all; do
    $B eval code --model $T --split $split --log "$LOG" --report-only --examples 2
  done ;;
*) echo "unknown stage $STAGE" >&2; exit 2 ;;
esac
