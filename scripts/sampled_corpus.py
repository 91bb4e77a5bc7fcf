#!/usr/bin/env python3
"""A generic corpus of everyday prose sampled from a model, for the map
experiment "does a corpus that varies along everyday topics carry them?".

Starts llama-server on 127.0.0.1 with MODEL, asks it N times for one of a
few genre requests (a paragraph, a story, a letter, a diary entry, ...; no
topic is named) at temperature 1, one seed per text, and writes the
answers as JSON Lines {"text": ...}. Resumes: texts already in OUT are
kept and their seeds skipped.

Usage: scripts/sampled_corpus.py LLAMA_SERVER MODEL.gguf OUT.jsonl [--texts 320]
Bounded: --texts requests, each with a 120 s timeout; the whole run stops
after --max-seconds; the server is stopped at the end, on error too.
"""
import argparse
import json
import os
import threading
import time
import urllib.request

from llama_server import servers

GENRES = [
    "Write a paragraph.",
    "Write a short story.",
    "Write a short article.",
    "Write a letter to a friend.",
    "Write a diary entry.",
    "Write a blog post.",
    "Describe an ordinary day.",
    "Explain something you find interesting.",
]


def ask(port, seed, tokens):
    body = json.dumps({
        "messages": [{"role": "user", "content": GENRES[seed % len(GENRES)]}],
        "max_tokens": tokens, "temperature": 1.0, "top_p": 0.95, "seed": seed,
    }).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)["choices"][0]["message"]["content"].strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("llama_server")
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--texts", type=int, default=320)
    ap.add_argument("--tokens", type=int, default=240, help="most tokens per text")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--port", type=int, default=9140)
    ap.add_argument("--max-seconds", type=float, default=3600)
    a = ap.parse_args()
    have = set()
    if os.path.exists(a.out):
        with open(a.out) as f:
            have = {json.loads(line)["seed"] for line in f}
    todo = [s for s in range(a.texts) if s not in have]
    lock = threading.Lock()
    errors = []
    deadline = time.time() + a.max_seconds
    args = ["-t", str(a.threads), "-np", str(a.slots), "-c", str(a.slots * (a.tokens + 64))]
    with servers(a.llama_server, a.model, [(a.port, args)]), open(a.out, "a") as f:
        def worker(k):
            try:
                for seed in todo[k::a.slots]:
                    if time.time() > deadline or errors:
                        return
                    text = ask(a.port, seed, a.tokens)
                    with lock:
                        f.write(json.dumps({"seed": seed, "genre": GENRES[seed % len(GENRES)], "text": text}) + "\n")
                        f.flush()
                        have.add(seed)
                        print(f"{len(have)}/{a.texts} texts", flush=True)
            except Exception as e:  # surfaced after the join, the server stopped
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.slots)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise SystemExit(f"{len(have)} texts in {a.out}; a request failed: {errors[0]!r} (run again to resume)")
    print(f"{len(have)} texts in {a.out}")

if __name__ == "__main__":
    main()
