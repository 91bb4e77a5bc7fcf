"""Median |cos| to the target's CAA per steering file and concept, from the
compare.md tables docs/eval/map/cosines.sh writes."""
import statistics
import sys
from pathlib import Path

out, concepts = Path(sys.argv[1]), sys.argv[2:]
table = {}
for c in concepts:
    for line in (out / c / "compare.md").read_text().splitlines():
        cells = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].isdigit():
            continue
        table.setdefault(cells[0], {}).setdefault(c, []).append(abs(float(cells[4])))
print("| file | " + " | ".join(concepts) + " | median over concepts |")
print("|---|" + "---|" * (len(concepts) + 1))
for f, per in table.items():
    meds = [statistics.median(per[c]) for c in concepts if c in per]
    cells = [f"{statistics.median(per[c]):.2f} ({min(per[c]):.2f}-{max(per[c]):.2f})" if c in per else "-" for c in concepts]
    print(f"| {f} | " + " | ".join(cells) + f" | {statistics.median(meds):.2f} |")
