#!/usr/bin/env bash
# Does expertise transfer in generation? (issue 10 parts 0-1.) On one
# contrast concept: fit the target's own directions (CAA, self-RFM; the
# ceiling), a random control (the floor) and ExpertSteer from each expert
# (closed-form and paired alignment x lowest/highest/detectable pairing),
# check each mapped direction against the target's own (cosines), then
# generate from open prompts at every strength and log the texts with their
# perplexity under the unsteered target. Resumable: finished files and
# logged continuations are reused. Scoring: scripts/score_behaviour.py
# (VADER for sentiment, Empath for a topic).
#
# Usage: scripts/behaviour.sh OUTDIR [DATA] [PROMPTS] [STRENGTHS] [N_PROMPTS]
#   defaults: data/concepts/sentiment.jsonl data/concepts/open_prompts.jsonl
#             -0.1,-0.2,-0.4 50   (negative c = toward the negative label)
#   the cooking topic: DATA=data/concepts/cooking.jsonl, STRENGTHS=0.1,0.2,0.4
#   (toward cooking), LM_STRENGTHS=0.2,0.4, LM_RANDOM_STRENGTHS=0.4;
#   score with --scorer empath:cooking
# EXPERTS="qwen05:qwen2.5-coder-0.5b-instruct gemma:gemma3-270m" (NAME:MODEL ...)
# LAYER_MATCHED=1 adds CAA and a random control at each ExpertSteer
# file's layers (LM_STRENGTHS, default -0.2,-0.4; LM_RANDOM_STRENGTHS, -0.4).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1 DATA=${2:-data/concepts/sentiment.jsonl} PROMPTS=${3:-data/concepts/open_prompts.jsonl}
STRENGTHS=${4:--0.1,-0.2,-0.4} NP=${5:-50}
EXPERTS=${EXPERTS:-qwen05:qwen2.5-coder-0.5b-instruct gemma:gemma3-270m}
BIN=${EXPERTSTEER_BIN:-./target/release/expertsteer}
T=smollm2-135m-instruct
mkdir -p "$OUT"
fit() { local out=$1; shift; [ -f "$OUT/$out.steer" ] || $BIN fit --target $T --data "$DATA" --threads 1 "$@" --out "$OUT/$out.steer"; }
fit caa --method caa
fit self-rfm --method self-rfm
fit caa-all --method caa --target-layers 1-29
fit self-rfm-all --method self-rfm --target-layers 1-29
[ -f "$OUT/random.steer" ] || $BIN random-steer --like "$OUT/caa.steer" --seed 1 --out "$OUT/random.steer"
es=()
for e in $EXPERTS; do
  n=${e%%:*} m=${e#*:}
  for a in closed-form paired; do
    for p in lowest highest detectable; do
      fit "es-$n-${a%%-*}-$p" --expert "$m" --align $a --pair-by $p
      es+=("es-$n-${a%%-*}-$p")
    done
  done
done
files=(); for f in "${es[@]}" caa self-rfm; do files+=("$OUT/$f.steer"); done
$BIN compare-directions "${files[@]}" --reference "$OUT/caa-all.steer" \
  --reference "$OUT/self-rfm-all.steer" > "$OUT/cosines.md"
run() { $BIN eval behaviour --model $T --threads 1 --prompts "$PROMPTS" --limit "$NP" -n 40 \
  --strengths="$STRENGTHS" --out "$OUT/behaviour.jsonl" "$@"; }
run --steer caa="$OUT/caa.steer" --steer random="$OUT/random.steer" --steer self-rfm="$OUT/self-rfm.steer"
for f in "${es[@]}"; do
  # A pairing rule that chose the same pairs as another (same expert and
  # target layers, MI and AUC) gives the same directions: generate once,
  # under the first name.
  pairs() { $BIN show "$OUT/$1.steer" | grep '^| [0-9]'; }
  twin=""
  for g in "${es[@]}"; do
    [ "$g" = "$f" ] && break
    [ "${g%-*}" = "${f%-*}" ] && [ "$(pairs "$g")" = "$(pairs "$f")" ] && { twin=$g; break; }
  done
  if [ -n "$twin" ]; then echo "$f: same pairs as $twin, not generated again"; continue; fi
  run --steer "$f=$OUT/$f.steer"
done
if [ "${LAYER_MATCHED:-0}" = 1 ]; then
  # The ceiling and the floor at each ExpertSteer file's own layers: the
  # target's CAA there (LM_STRENGTHS) and a random direction of the same
  # norms (LM_RANDOM_STRENGTHS).
  for f in "${es[@]}"; do
    layers=$($BIN show "$OUT/$f.steer" --layers-only)
    at=at-$(echo "$layers" | tr , _)
    fit "caa-$at" --method caa --target-layers "$layers"
    [ -f "$OUT/random-$at.steer" ] || $BIN random-steer --like "$OUT/caa-$at.steer" --seed 1 --out "$OUT/random-$at.steer"
    STRENGTHS=${LM_STRENGTHS:--0.2,-0.4} run --steer "caa-$at=$OUT/caa-$at.steer"
    STRENGTHS=${LM_RANDOM_STRENGTHS:--0.4} run --steer "random-$at=$OUT/random-$at.steer"
  done
fi
