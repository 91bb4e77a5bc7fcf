#!/usr/bin/env bash
# The non-linear map ablation: ridge against a one-hidden-layer map on the
# same paired rows, held-out R² and concept cosines (mlp_ablation.py).
#
#   ROWS=~/.cache/expertsteer/rows/q05-smol-16-22 OUT=runs/mlp-ablation \
#   bash docs/eval/map/mlp-ablation.sh
#
# ROWS is a `map --dump-rows` folder, e.g. from
#   expertsteer map --expert qwen2.5-coder-0.5b-instruct --target smollm2-135m-instruct \
#     --target-layers 16,22 --window 2 --max-paired 50000 --out q05-smol-dump.esmap \
#     --dump-rows ~/.cache/expertsteer/rows/q05-smol-16-22 --threads 1
# Captures each concept's texts (last token, no chat template, as `fit`
# reads them) in both models at the dumped layers, then fits and compares.
set -euo pipefail
cd "$(dirname "$0")/../../.."
E=${ES:-./target/release/expertsteer}
ROWS=${ROWS:?} OUT=${OUT:-runs/mlp-ablation}
EXPERT=${EXPERT:-qwen2.5-coder-0.5b-instruct} TARGET=${TARGET:-smollm2-135m-instruct}
CONCEPTS=${CONCEPTS:-"sentiment cooking sports music code"}
T="--threads ${THREADS:-1}"
mkdir -p "$OUT"
read -r EL TL < <(python3 -c "
import json,sys; m=json.load(open('$ROWS/rows.json'))
print(','.join(map(str,m['expert_layers'])), ','.join(map(str,m['target_layers'])))")
specs=()
for c in $CONCEPTS; do
  d="$OUT/$c"; mkdir -p "$d"
  if [ "$c" = code ]; then
    src="$OUT/code-domain.jsonl"
    [ -f "$src" ] || $E data build --source pycode --label domain --out "$src" >&2
  else
    src="data/concepts/$c.jsonl"
  fi
  # Positive and negative texts, one JSON Lines file each.
  python3 - "$src" "$d" <<'PY'
import json, sys
src, d = sys.argv[1], sys.argv[2]
pos, neg = [], []
for line in open(src):
    r = json.loads(line)
    if "positive" in r:
        pos.append(r["positive"]); neg.append(r["negative"])
    else:
        (pos if r["label"] == 1 else neg).append(r["text"])
for name, texts in (("pos", pos), ("neg", neg)):
    with open(f"{d}/{name}.jsonl", "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
PY
  for side in pos neg; do
    [ -f "$d/expert-$side.npy" ] || $E capture -m "$EXPERT" --prompts "$d/$side.jsonl" --layers "$EL" --out "$d/expert-$side.npy" $T >&2
    [ -f "$d/target-$side.npy" ] || $E capture -m "$TARGET" --prompts "$d/$side.jsonl" --layers "$TL" --out "$d/target-$side.npy" $T >&2
  done
  specs+=("$c=$d/expert-pos.npy,$d/expert-neg.npy,$d/target-pos.npy,$d/target-neg.npy")
done
python3 docs/eval/map/mlp_ablation.py --rows "$ROWS" --expert-layers "$EL" --target-npy-layers "$TL" \
  --concepts "${specs[@]}" --out "$OUT/results.json" --markdown "$OUT/results.md" ${ABLATION_ARGS:-} | tee "$OUT/results.jsonl"
