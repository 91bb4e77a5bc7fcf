"""Steer a llama-cpp-python model with expertsteer, and compare answers.

    python3 examples/python/steer_llama_cpp.py [MODEL.gguf] [FILE.steer] [STRENGTH]

Without a steering file it fits one first: the target's own sentiment
direction (CAA) from the 100 contrast pairs shipped in data/concepts/, about
a minute on two cores. Then, for each prompt, it prints the unsteered answer
and the answers steered toward and away from the concept.
"""

import os
import pathlib
import sys

from llama_cpp import Llama

import expertsteer

ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get("EXPERTSTEER_CACHE", pathlib.Path.home() / ".cache/expertsteer"))
PROMPTS = ["My weekend was", "The new restaurant downtown", "Writing about my job:"]


def progress(stage, done, total):
    print(f"\r  {stage}: {done}/{total}   ", end="" if done < total else "\n", file=sys.stderr, flush=True)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else str(CACHE / "models/smollm2-135m-instruct.gguf")
    strength = float(sys.argv[3]) if len(sys.argv) > 3 else 0.4
    if len(sys.argv) > 2:
        steer = expertsteer.SteerFile(sys.argv[2])
    else:
        out = CACHE / "examples/sentiment-caa.steer"
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            steer = expertsteer.SteerFile(out)
        else:
            print(f"fitting {out} (the target's own sentiment direction)", file=sys.stderr)
            steer = expertsteer.fit(
                ROOT / "data/concepts/sentiment.jsonl", out, target=model, method="caa", progress=progress
            )
    print(steer)

    # flash_attn=True: the same attention kernels as the expertsteer CLI.
    llm = Llama(model, n_ctx=1024, flash_attn=True, verbose=False)

    def answer(prompt):
        r = llm(prompt, max_tokens=40, temperature=0.0, repeat_penalty=1.0)
        return r["choices"][0]["text"].strip().replace("\n", " ")

    for prompt in PROMPTS:
        print(f"\n## {prompt}")
        expertsteer.detach(llm)
        print(f"  unsteered      : {answer(prompt)}")
        expertsteer.attach(llm, steer, strength=strength)
        print(f"  steered +{strength:<6}: {answer(prompt)}")
        expertsteer.attach(llm, steer, strength=-strength)
        print(f"  steered -{strength:<6}: {answer(prompt)}")
    expertsteer.detach(llm)
    llm.close()


if __name__ == "__main__":
    main()
