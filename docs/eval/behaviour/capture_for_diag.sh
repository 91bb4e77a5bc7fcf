#!/usr/bin/env bash
# Captures for paired_diag.py: the 200 sentiment texts (positive, negative,
# in file order) and the 400 generic texts `fit --align paired` uses by
# default (the first 400 MMLU questions of the generic subjects, in file
# order, as "Question: ..."), every layer, for the target and both experts.
# With the same texts and packing as fit, these are cache hits after a fit.
# Usage: capture_for_diag.sh DIR   (run from the repository root)
set -euo pipefail
DIR=$1; BIN=${EXPERTSTEER_BIN:-./target/release/expertsteer}
mkdir -p "$DIR"
python3 - "$DIR" <<'PY'
import json, os, sys
d = sys.argv[1]
subs = {"high school geography", "world religions", "sociology", "prehistory",
        "marketing", "high school us history", "philosophy", "public relations"}
cache = os.environ.get("EXPERTSTEER_CACHE", os.path.expanduser("~/.cache/expertsteer"))
qs = []
for line in open(os.path.join(cache, "data", "mmlu.jsonl"), encoding="utf-8"):
    r = json.loads(line)
    if r.get("correct_answer") in ("A", "B", "C", "D") and r.get("topic") in subs:
        qs.append("Question: " + r["question"].strip())
with open(os.path.join(d, "generic.jsonl"), "w", encoding="utf-8") as f:
    for q in qs[:400]:
        f.write(json.dumps({"text": q}, ensure_ascii=False) + "\n")
with open(os.path.join(d, "sent.jsonl"), "w", encoding="utf-8") as f:
    for line in open("data/concepts/sentiment.jsonl", encoding="utf-8"):
        r = json.loads(line)
        for k in ("positive", "negative"):
            f.write(json.dumps({"text": r[k]}, ensure_ascii=False) + "\n")
PY
for m in smollm2-135m-instruct:smol qwen2.5-coder-0.5b-instruct:qwen05 gemma3-270m:gemma; do
  for t in sent generic; do
    $BIN capture --model "${m%%:*}" --threads 1 --prompts "$DIR/$t.jsonl" --layers all --out "$DIR/${m#*:}-$t.npy"
  done
done
