#!/usr/bin/env bash
# Which target layers to steer through a map: K = 4 of the map's candidate
# layers spread evenly (fit's default), or the 4 where the target's own CAA,
# one layer at a time, moves the concept's likelihoods most (`eval
# steerability`, the target-side rule). Both sets get the target's own CAA
# and the expert's mapped mean difference; 50 open prompts, 40 greedy
# tokens, c = 0.2, 0.4, scored by score_behaviour.py.
#
#   CONCEPT=sentiment SCORER=vader OUT=runs/layer-rule bash docs/eval/map/layer-rule.sh
#
# Writes $OUT/$CONCEPT/{steerability.md,behaviour.jsonl,table-*.md}.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${ES:-./target/release/expertsteer}
EXPERT=${EXPERT:-qwen2.5-coder-0.5b-instruct} TARGET=${TARGET:-smollm2-135m-instruct}
MAP=${MAP:-$HOME/.cache/expertsteer/maps/q05-smol-skip4.50000.esmap}
CONCEPT=${CONCEPT:-sentiment} SCORER=${SCORER:-vader}
D=${OUT:-runs/layer-rule}/$CONCEPT
T="--threads ${THREADS:-1}"
mkdir -p "$D"
data=data/concepts/$CONCEPT.jsonl
layers_of() { $B show "$1" | awk '/^ *[0-9]+ +[0-9]+ /{print $1} /^\| [0-9]+ \|/{print $2}' | sort -n | uniq | paste -sd,; }
ALL=$(layers_of "$MAP")
echo "candidate target layers: $ALL" >&2
[ -f "$D/caa-all.steer" ] || $B fit --method caa --target $TARGET --data $data --target-layers "$ALL" --out "$D/caa-all.steer" $T >/dev/null
[ -f "$D/steerability.md" ] || $B eval steerability --model $TARGET --steer "$D/caa-all.steer" --data $data \
  --strength 0.4 $T > "$D/steerability.md"
PICK=$(sed -n 's/.*--target-layers //p' "$D/steerability.md")
[ -f "$D/es-spread.steer" ] || $B fit --expert $EXPERT --target $TARGET --data $data --map "$MAP" \
  --expert-direction mean-diff --out "$D/es-spread.steer" $T >/dev/null
SPREAD=$(layers_of "$D/es-spread.steer")
echo "spread: $SPREAD; most steerable: $PICK" >&2
[ -f "$D/es-steer.steer" ] || $B fit --expert $EXPERT --target $TARGET --data $data --map "$MAP" \
  --expert-direction mean-diff --target-layers "$PICK" --out "$D/es-steer.steer" $T >/dev/null
[ -f "$D/caa-spread.steer" ] || $B fit --method caa --target $TARGET --data $data --target-layers "$SPREAD" --out "$D/caa-spread.steer" $T >/dev/null
[ -f "$D/caa-steer.steer" ] || $B fit --method caa --target $TARGET --data $data --target-layers "$PICK" --out "$D/caa-steer.steer" $T >/dev/null
$B eval behaviour --model $TARGET $T --prompts data/concepts/open_prompts.jsonl --limit 50 --strengths 0.2,0.4 \
  --steer caa-spread="$D/caa-spread.steer" --steer es-spread="$D/es-spread.steer" \
  --steer caa-steer="$D/caa-steer.steer" --steer es-steer="$D/es-steer.steer" --out "$D/behaviour.jsonl" >&2
for ref in caa-spread caa-steer; do
  python3 scripts/score_behaviour.py "$D/behaviour.jsonl" --scorer "$SCORER" --reference $ref --markdown "$D/table-$ref.md" >/dev/null
done
cat "$D/table-caa-spread.md"
