#!/usr/bin/env bash
# Cosine of mapped expert directions to the target's own CAA at the same
# layers, for each map given, next to today's paired map (400 last tokens),
# a random direction and (if given) a shuffled map. Every target layer the
# map has candidates for is fitted and compared.
#
#   EXPERT=qwen2.5-coder-0.5b-instruct TARGET=smollm2-135m-instruct \
#   MAPS="a.esmap b.esmap" SHUFFLED=s.esmap OUT=runs/map-cos \
#   bash docs/eval/map/cosines.sh
#
# Writes $OUT/<concept>/*.steer, $OUT/<concept>/compare.md (every layer)
# and prints the summary table (median |cos| over the layers).
set -euo pipefail
cd "$(dirname "$0")/../../.."
E=${ES:-./target/release/expertsteer}
EXPERT=${EXPERT:?} TARGET=${TARGET:-smollm2-135m-instruct}
OUT=${OUT:-runs/map-cos}
CONCEPTS=${CONCEPTS:-"sentiment cooking sports music code"}
T="--threads ${THREADS:-1}"
first=$(echo $MAPS | cut -d' ' -f1)
LAYERS=$($E show "$first" | awk '/^ *[0-9]+ +[0-9]+ /{print $1}' | sort -n | uniq | paste -sd,)
echo "target layers: $LAYERS" >&2
for c in $CONCEPTS; do
  d="$OUT/$c"; mkdir -p "$d"
  data="data/concepts/$c.jsonl"
  if [ "$c" = code ]; then
    data="$OUT/code-domain.jsonl"
    [ -f "$data" ] || $E data build --source pycode --label domain --out "$data" >&2
  fi
  [ -f "$d/caa.steer" ] || $E fit --method caa --target "$TARGET" --data "$data" --target-layers "$LAYERS" --out "$d/caa.steer" $T >/dev/null
  [ -f "$d/old-paired.steer" ] || $E fit --expert "$EXPERT" --target "$TARGET" --data "$data" --align paired --pair-by highest \
    --target-layers "$LAYERS" --out "$d/old-paired.steer" $T >/dev/null
  files=("$d/old-paired.steer")
  for m in $MAPS ${SHUFFLED:-}; do
    tag=$(basename "$m" .esmap)
    for dir in rfm mean-diff; do
      f="$d/$tag-$dir.steer"
      extra=()
      [ "$m" = "${SHUFFLED:-}" ] && extra=(--allow-shuffled)
      [ -f "$f" ] || $E fit --expert "$EXPERT" --target "$TARGET" --data "$data" --map "$m" --target-layers "$LAYERS" \
        --pair-by "${PAIR_BY:-r2}" --expert-direction "$dir" --out "$f" $T "${extra[@]}" >/dev/null
      files+=("$f")
    done
  done
  [ -f "$d/random.steer" ] || $E random-steer --like "$d/old-paired.steer" --out "$d/random.steer" >/dev/null
  files+=("$d/random.steer")
  $E compare-directions "${files[@]}" --reference "$d/caa.steer" >"$d/compare.md"
done
python3 docs/eval/map/summarize.py "$OUT" $CONCEPTS
