#!/usr/bin/env bash
# One behaviour cell through a token-level map: the expert's mapped mean
# difference at fit's default target layers (K = 4 of the map's candidates,
# spread), the target's own CAA and a random direction at the same layers;
# 50 open prompts, 40 greedy tokens, c = $STRENGTHS (default 0.2, 0.4); scored by
# score_behaviour.py (fraction of CAA's shift at the same perplexity).
#
#   CONCEPT=cooking SCORER=empath:cooking OUT=runs/beh50k bash docs/eval/map/behaviour-cell.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${ES:-./target/release/expertsteer}
EXPERT=${EXPERT:-qwen2.5-coder-0.5b-instruct} TARGET=${TARGET:-smollm2-135m-instruct}
MAP=${MAP:-$HOME/.cache/expertsteer/maps/q05-smol-skip4.50000.esmap}
CONCEPT=${CONCEPT:?} SCORER=${SCORER:?}
D=${OUT:-runs/beh-cell}/$CONCEPT
T="--threads ${THREADS:-1}"
mkdir -p "$D"
data=data/concepts/$CONCEPT.jsonl
layers_of() { $B show "$1" | awk '/^\| [0-9]+ \|/{print $2}' | sort -n | uniq | paste -sd,; }
[ -f "$D/es-map.steer" ] || $B fit --expert $EXPERT --target $TARGET --data $data --map "$MAP" \
  --expert-direction mean-diff --out "$D/es-map.steer" $T >/dev/null
L=$(layers_of "$D/es-map.steer")
echo "layers: $L" >&2
[ -f "$D/caa.steer" ] || $B fit --method caa --target $TARGET --data $data --target-layers "$L" --out "$D/caa.steer" $T >/dev/null
[ -f "$D/random.steer" ] || $B random-steer --like "$D/es-map.steer" --out "$D/random.steer" >/dev/null
$B eval behaviour --model $TARGET $T --prompts data/concepts/open_prompts.jsonl --limit 50 --strengths "${STRENGTHS:-0.2,0.4}" \
  --steer caa="$D/caa.steer" --steer es-map="$D/es-map.steer" --steer random="$D/random.steer" \
  --out "$D/behaviour.jsonl" >&2
python3 scripts/score_behaviour.py "$D/behaviour.jsonl" --scorer "$SCORER" --markdown "$D/table.md"
