#!/usr/bin/env python3
"""llama-server against itself: one KV stream per slot (its default with
`-np 4`) against one unified KV buffer (`-kvu`, the layout expertsteer's
server uses). Both run on 127.0.0.1 with the same model, 4 slots and
threads; each round sends every server 4 concurrent greedy requests (which
fill the slots' caches), then the same 4 one after another, 64 tokens each,
with a 1 s pause before each load. Prints tokens/s per round and medians.

Usage: scripts/peer_kv_layout.py LLAMA_SERVER MODEL.gguf [--rounds 5] [--threads 2]
Bounded: every request times out after 120 s, the run after --rounds; both
servers are stopped at the end, on error too.
"""
import argparse
import json
import statistics
import threading
import time
import urllib.request

from llama_server import servers

PROMPTS = [
    "Explain what a hash table is.",
    "How do I reverse a list in Python?",
    "What causes the seasons on Earth?",
    "Give me three tips for writing clean code.",
]
LAYOUTS = [("per-slot streams", []), ("unified (-kvu)", ["-kvu"])]


def request(port, prompt, tokens):
    body = json.dumps({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": tokens, "temperature": 0, "ignore_eos": True,
    }).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["usage"]["completion_tokens"]


def load(port, serial, tokens):
    done = [0] * len(PROMPTS)
    start = time.time()
    if serial:
        for i, p in enumerate(PROMPTS):
            done[i] = request(port, p, tokens)
    else:
        def one(i, p):
            done[i] = request(port, p, tokens)
        threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(PROMPTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if sum(done) != tokens * len(PROMPTS):
        raise SystemExit(f"short answers: {done}")
    return sum(done) / (time.time() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("llama_server")
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--port", type=int, default=9100)
    a = ap.parse_args()
    common = ["-np", "4", "-c", "8192", "-t", str(a.threads), "-tb", str(a.threads)]
    with servers(a.llama_server, a.model,
                 [(a.port + k, common + extra) for k, (_, extra) in enumerate(LAYOUTS)]):
        rates = {name: {"concurrent": [], "serial": []} for name, _ in LAYOUTS}
        for r in range(a.rounds):
            for k, (name, _) in enumerate(LAYOUTS):
                for kind in ("concurrent", "serial"):
                    time.sleep(1)
                    rates[name][kind].append(load(a.port + k, kind == "serial", a.tokens))
            print(f"round {r + 1}/{a.rounds} done", flush=True)
        print("\n| KV layout | concurrent tok/s (median; rounds) | one after another tok/s (median; rounds) |")
        print("|---|---|---|")
        for name, _ in LAYOUTS:
            cells = []
            for kind in ("concurrent", "serial"):
                v = rates[name][kind]
                cells.append(f"{statistics.median(v):.1f} ({', '.join(f'{x:.0f}' for x in v)})")
            print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
