"""What attaching expertsteer costs llama-cpp-python: tokens/s of prompt
processing and of greedy generation, unsteered vs steered through the hook
and through the control vector, on one Llama, interleaved rounds.

    python3 scripts/bench_python_attach.py --steer FILE.steer [--model GGUF]
        [--rounds 5] [--tokens 64] [--threads 1]

Prints one line per round (each round starts with another condition) and
the median ratios steered / unsteered.
"""

import argparse
import os
import pathlib
import statistics
import time

from llama_cpp import Llama

import expertsteer

CACHE = pathlib.Path(os.environ.get("EXPERTSTEER_CACHE", pathlib.Path.home() / ".cache/expertsteer"))
PROMPT = (
    "Here is a long account of a weekend spent in the mountains, with every detail of the trail, "
    "the weather, the food, the people met along the way and the small mishaps that made it memorable. "
) * 4


def run(llm, n_tokens):
    """(prompt tokens/s, generated tokens/s) of one greedy generation of
    exactly n_tokens after a fresh prompt."""
    tokens = llm.tokenize(PROMPT.encode())
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    t1 = time.perf_counter()
    # The whole prompt is cached now: generate() samples at once, then
    # evaluates one token per step.
    gen = llm.generate(tokens, temp=0.0, repeat_penalty=1.0)
    produced = 0
    for _ in gen:
        produced += 1
        if produced == n_tokens:
            break
    t2 = time.perf_counter()
    return len(tokens) / (t1 - t0), n_tokens / (t2 - t1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(CACHE / "models/smollm2-135m-instruct.gguf"))
    ap.add_argument("--steer", required=True)
    ap.add_argument("--strength", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    steer = expertsteer.SteerFile(a.steer)
    llm = Llama(a.model, n_ctx=1024, n_threads=a.threads, n_threads_batch=a.threads, flash_attn=True, verbose=False)
    conditions = {
        "unsteered": lambda: expertsteer.detach(llm),
        "hook": lambda: expertsteer.attach(llm, steer, a.strength, path="hook"),
        "cvec": lambda: expertsteer.attach(llm, steer, a.strength, path="cvec"),
    }
    results = {k: [] for k in conditions}
    attach_s = []
    run(llm, 8)  # warm-up
    names = list(conditions)
    for r in range(a.rounds):
        # Each round starts with another condition, so none always runs first.
        for name in names[r % len(names):] + names[: r % len(names)]:
            setup = conditions[name]
            t = time.perf_counter()
            setup()
            if name == "hook":
                attach_s.append(time.perf_counter() - t)
            pp, tg = run(llm, a.tokens)
            results[name].append((pp, tg))
            print(f"round {r + 1} {name:9}: prompt {pp:7.1f} tok/s, generation {tg:6.1f} tok/s", flush=True)
    expertsteer.detach(llm)

    def med(name, i):
        return statistics.median(x[i] for x in results[name])

    print(f"\n{a.rounds} interleaved rounds, {a.threads} thread(s), {a.tokens} generated tokens, "
          f"strength {a.strength}, llama-cpp-python")
    print("| path | prompt tok/s | generation tok/s | prompt ratio | generation ratio |")
    print("|---|---|---|---|---|")
    for name in conditions:
        print(f"| {name} | {med(name, 0):.1f} | {med(name, 1):.1f} | "
              f"{med(name, 0) / med('unsteered', 0):.3f} | {med(name, 1) / med('unsteered', 1):.3f} |")
    print(f"attach with the hook (context rebuild): median {1000 * statistics.median(attach_s):.1f} ms")
    llm.close()


if __name__ == "__main__":
    main()
