#!/usr/bin/env bash
# The token-level map issue's behaviour verdict, on what a user gets by
# default: each expert's map built by `map` with its defaults (the mixed
# default corpus, 200k paired positions), `fit --map` with its defaults
# (fit's K = 4 target layers, the expert's mean difference), SmolLM2's own
# CAA at the same layers and a random direction of the mapped one's norms.
# All 150 open prompts, 40 greedy tokens. One log per concept, shared by
# the experts (the log is resumable: an expert added later, or a rerun,
# skips the rows already there), scored by Empath and by the embedding.
#
#   EXPERTS="q05 gemma" CONCEPTS="cooking music weather sports" OUT=runs/verdict \
#     bash docs/eval/map/verdict.sh
#
# EXPERTS: any of q05 (Qwen2.5-Coder-0.5B), gemma (Gemma 3 270M),
# q15 (Qwen2.5-Coder-1.5B); each needs $MAPS/NAME-smol-mixed.esmap.
# NAME:CORPUS reads through $MAPS/NAME-smol-CORPUS.esmap instead, as the
# steer es-NAME-CORPUS (e.g. gemma:prose, the map `map --prose-only` fits).
# STRENGTHS (default 0.2,0.4; sports adds 0.6: CAA's Empath shift at 0.2
# is zero), RANDOM_STRENGTH (0.4), THREADS (1), PY (python with empath and,
# for the embedding, scripts/requirements-embed.txt; default python3).
# CAA also runs one step further (0.6; sports 0.8), so that its sweep
# covers the perplexity a mapped direction reaches at the top strength
# (a fraction is only taken inside CAA's sweep; CAA_MORE overrides it).
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${ES:-./target/release/expertsteer}
MAPS=${MAPS:-$HOME/.cache/expertsteer/maps}
TARGET=smollm2-135m-instruct
PY=${PY:-python3}
T="--threads ${THREADS:-1}"
PROMPTS=data/concepts/open_prompts.jsonl
model_of() {
  case $1 in
    q05) echo qwen2.5-coder-0.5b-instruct ;;
    gemma) echo gemma3-270m ;;
    q15) echo qwen2.5-coder-1.5b-instruct ;;
    *) echo "verdict.sh: unknown expert '$1' (q05, gemma, q15)" >&2; exit 2 ;;
  esac
}
layers_of() { $B show "$1" | awk '/^\| [0-9]+ \|/{print $2}' | sort -n | uniq | paste -sd,; }
for concept in ${CONCEPTS:-cooking music weather sports}; do
  D=${OUT:-runs/verdict}/$concept
  mkdir -p "$D"
  data=data/concepts/$concept.jsonl
  strengths=${STRENGTHS:-0.2,0.4}
  [ "$concept" = sports ] && [ -z "${STRENGTHS:-}" ] && strengths=0.2,0.4,0.6
  steers=()
  for spec in ${EXPERTS:-q05 gemma q15}; do
    e=${spec%%:*} corpus=mixed
    [ "$spec" = "$e" ] || corpus=${spec#*:}
    m=$(model_of "$e")
    map=$MAPS/$e-smol-$corpus.esmap
    [ "$corpus" = mixed ] || e=$e-$corpus
    [ -f "$map" ] || { echo "verdict.sh: no map $map (see EVALUATION's reproduce block)" >&2; exit 2; }
    [ -f "$D/es-$e.steer" ] || $B fit --expert "$m" --target $TARGET --data "$data" --map "$map" \
      --expert-direction mean-diff --out "$D/es-$e.steer" $T >/dev/null
    L=$(layers_of "$D/es-$e.steer")
    if [ -f "$D/layers" ]; then
      # CAA is fitted once per concept: every expert must steer the same layers.
      [ "$(cat "$D/layers")" = "$L" ] || { echo "verdict.sh: $e steers $L, the others $(cat "$D/layers")" >&2; exit 1; }
    else
      echo "$L" >"$D/layers"
    fi
    steers+=(--steer "es-$e=$D/es-$e.steer")
  done
  L=$(cat "$D/layers")
  echo "$concept: layers $L" >&2
  [ -f "$D/caa.steer" ] || $B fit --method caa --target $TARGET --data "$data" --target-layers "$L" --out "$D/caa.steer" $T >/dev/null
  # The random direction takes the norms of the first expert file by name
  # (es-gemma in the committed run); it is made once per concept.
  first=$(ls "$D"/es-*.steer | head -1)
  [ -f "$D/random.steer" ] || $B random-steer --like "$first" --out "$D/random.steer" >/dev/null
  $B eval behaviour --model $TARGET $T --prompts $PROMPTS --strengths "$strengths" \
    --steer caa="$D/caa.steer" "${steers[@]}" --out "$D/behaviour.jsonl" >&2
  caa_more=0.6
  [ "$strengths" = 0.2,0.4,0.6 ] && caa_more=0.8
  $B eval behaviour --model $TARGET $T --prompts $PROMPTS --strengths "${CAA_MORE:-$caa_more}" \
    --steer caa="$D/caa.steer" --out "$D/behaviour.jsonl" >&2
  $B eval behaviour --model $TARGET $T --prompts $PROMPTS --strengths "${RANDOM_STRENGTH:-0.4}" \
    --steer random="$D/random.steer" --out "$D/behaviour.jsonl" >&2
  $PY scripts/score_behaviour.py "$D/behaviour.jsonl" --scorer "empath:$concept" --markdown "$D/empath.md" >/dev/null
  $PY scripts/score_behaviour.py "$D/behaviour.jsonl" --scorer "embed:$concept" --markdown "$D/embed.md" >/dev/null \
    || echo "verdict.sh: the embedding reading needs scripts/requirements-embed.txt in PY" >&2
done
