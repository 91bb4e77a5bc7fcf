# Writes GSM-Symbolic word problems as JSON Lines on stdout, from the
# generator files of the reasoning-gym wheel (Apache-2.0), loaded by path
# so that the package's own __init__ (and its heavy dependencies) never
# runs. argv: utils.py, generators_00_49.py, generators_50_99.py,
# gsm_symbolic.py (for its list of templates that work), instances per
# template, seed.
import ast
import importlib.util
import json
import random
import sys
import types

utils_py, gen_a, gen_b, listing, per, seed = sys.argv[1:7]
per, seed = int(per), int(seed)

package = types.ModuleType("reasoning_gym")
package.__path__ = []
sys.modules["reasoning_gym"] = package


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


load("reasoning_gym.utils", utils_py)
generators = {}
for k, path in enumerate((gen_a, gen_b)):
    module = load("gsm_generators_%d" % k, path)
    for name in dir(module):
        if name.startswith("generate_") and name[len("generate_"):].isdigit():
            generators[int(name[len("generate_"):])] = getattr(module, name)

working = None
for node in ast.parse(open(listing).read()).body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "tasks_ok" for t in node.targets):
        working = ast.literal_eval(node.value)
if not working:
    sys.exit("no tasks_ok list in %s" % listing)

for template in sorted(set(working)):
    seen = set()
    tries = 0
    while len(seen) < per and tries < per * 20:
        rng = random.Random(seed * 1000003 + template * 10007 + tries)
        tries += 1
        ex = generators[template](rng, 1.0)
        if ex["question"] in seen:
            continue
        seen.add(ex["question"])
        print(json.dumps({
            "template": template,
            "index": len(seen) - 1,
            "question": ex["question"],
            "answer": str(ex["answer"]),
            "rationale": ex["metadata"]["answer_cot"],
        }))
