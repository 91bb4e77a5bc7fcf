"""expertsteer's Python package against the real llama-cpp-python (0.3.36)
and the real SmolLM2-135M-Instruct: attach on both paths gives the CLI's
greedy text, detach restores the unsteered text, per-sequence steering in one
low-level batch matches separate runs, bad input raises, and fit works.

Run by cli/tests/python.rs (cargo test), which sets:
  EXPERTSTEER_LIB, EXPERTSTEER_BIN  the freshly built library and binary
  ES_TEST_MODEL, ES_TEST_OTHER_MODEL  SmolLM2 and Gemma 3 270M GGUFs
  ES_TEST_SCRATCH                   a scratch folder
"""

import ctypes
import json
import math
import os
import pathlib
import subprocess
import sys
import unittest

import numpy as np

import expertsteer
import llama_cpp

MODEL = os.environ["ES_TEST_MODEL"]
OTHER = os.environ["ES_TEST_OTHER_MODEL"]
SCRATCH = pathlib.Path(os.environ["ES_TEST_SCRATCH"])
BIN = os.environ["EXPERTSTEER_BIN"]
ROOT = pathlib.Path(__file__).resolve().parents[2]
PROMPT = "The best way to spend a weekend is"
N = 24
STRENGTH = 0.4


def contrast_subset(n, path):
    """The first n pairs of the shipped sentiment contrast set."""
    lines = (ROOT / "data/concepts/sentiment.jsonl").read_text().splitlines()[:n]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args):
    """Greedy text from `expertsteer generate` on the same model and prompt."""
    out = subprocess.run(
        [BIN, "generate", "-m", MODEL, "-p", PROMPT, "-n", str(N), "--threads", "1", *args],
        capture_output=True, text=True, timeout=300,
    )
    if out.returncode != 0:
        raise AssertionError(f"expertsteer generate {args} failed: {out.stderr}")
    return out.stdout.rstrip("\n")


def new_llama():
    # flash_attn=True: the CLI's context uses flash attention (llama.cpp's
    # auto setting on CPU); llama-cpp-python's default turns it off.
    return llama_cpp.Llama(
        MODEL, n_ctx=512, n_threads=1, n_threads_batch=1, flash_attn=True, verbose=False
    )


def complete(llm):
    r = llm(PROMPT, max_tokens=N, temperature=0.0, repeat_penalty=1.0)
    return r["choices"][0]["text"]


class Shared:
    steer = None
    other = None
    progress = []


def setUpModule():
    data = contrast_subset(24, SCRATCH / "sentiment24.jsonl")
    Shared.steer = expertsteer.fit(
        data, SCRATCH / "caa.steer", target=MODEL, method="caa", threads=1,
        progress=lambda stage, done, total: Shared.progress.append((stage, done, total)),
    )
    Shared.other = expertsteer.fit(
        data, SCRATCH / "gemma.steer", target=OTHER, method="caa", threads=1, layers=2
    )


class FitAndFile(unittest.TestCase):
    def test_fit_reports_progress(self):
        stages = {s for s, _, _ in Shared.progress}
        self.assertIn("capture target", stages)
        done = [(d, t) for s, d, t in Shared.progress if s == "capture target"]
        self.assertEqual(done[-1][0], done[-1][1], done)

    def test_file_contents(self):
        f = Shared.steer
        self.assertEqual(f.method, "caa")
        self.assertEqual((f.n_layer, f.n_embd), (30, 576))
        self.assertIsNone(f.expert)
        self.assertEqual(len(f.layers), 4)
        self.assertEqual(f.directions.shape, (4, 576))
        np.testing.assert_allclose(np.linalg.norm(f.directions, axis=1), 1.0, rtol=1e-4)
        self.assertTrue(all(0.5 <= a <= 1.0 for a in f.auc), f.auc)
        v = f.vectors(0.2)
        k = f.layers[1]
        np.testing.assert_allclose(np.linalg.norm(v[k]), 0.2 * f.mean_norms[1], rtol=1e-4)
        cv = f.control_vector(0.2)
        self.assertEqual(cv.data.shape, (29 * 576,))
        self.assertEqual((cv.il_start, cv.il_end), (min(f.layers), max(f.layers)))
        np.testing.assert_allclose(cv.data[(k - 1) * 576 : k * 576], v[k], rtol=1e-5, atol=1e-6)
        self.assertIn("caa", repr(f))

    def test_fit_error_carries_the_message(self):
        with self.assertRaises(expertsteer.FitError) as e:
            expertsteer.fit(SCRATCH / "sentiment24.jsonl", SCRATCH / "x.steer", target=MODEL, no_such_flag=3)
        self.assertIn("no-such-flag", str(e.exception))


class Attach(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = new_llama()
        cls.plain = complete(cls.llm)

    @classmethod
    def tearDownClass(cls):
        cls.llm.close()

    def tearDown(self):
        expertsteer.detach(self.llm)

    def test_unsteered_equals_cli(self):
        self.assertEqual(self.plain, cli())

    def test_hook_equals_cli_and_detach_restores(self):
        expertsteer.attach(self.llm, Shared.steer, strength=STRENGTH, path="hook")
        steered = complete(self.llm)
        self.assertNotEqual(steered, self.plain, "the vector did not steer at all")
        self.assertEqual(
            steered,
            cli("--steer", Shared.steer.path, "--strength", str(STRENGTH), "--path", "callback"),
        )
        expertsteer.detach(self.llm)
        self.assertEqual(complete(self.llm), self.plain)

    def test_cvec_equals_cli_and_detach_restores(self):
        expertsteer.attach(self.llm, Shared.steer.path, strength=STRENGTH, path="cvec")
        steered = complete(self.llm)
        self.assertNotEqual(steered, self.plain)
        self.assertEqual(
            steered, cli("--steer", Shared.steer.path, "--strength", str(STRENGTH), "--path", "cvec")
        )
        expertsteer.detach(self.llm)
        self.assertEqual(complete(self.llm), self.plain)

    def test_generated_positions_equal_cli(self):
        expertsteer.attach(self.llm, Shared.steer, strength=STRENGTH, positions="generated")
        steered = complete(self.llm)
        self.assertEqual(
            steered,
            cli("--steer", Shared.steer.path, "--strength", str(STRENGTH), "--generated-only"),
        )
        # A second call with the same prompt re-reads it unsteered too.
        self.assertEqual(complete(self.llm), steered)
        all_positions = cli("--steer", Shared.steer.path, "--strength", str(STRENGTH), "--path", "callback")
        self.assertNotEqual(steered, all_positions, "generated-only steered the prompt as well")

    def test_attach_again_replaces(self):
        expertsteer.attach(self.llm, Shared.steer, strength=-STRENGTH)
        expertsteer.attach(self.llm, Shared.steer, strength=STRENGTH)
        self.assertEqual(
            complete(self.llm),
            cli("--steer", Shared.steer.path, "--strength", str(STRENGTH), "--path", "callback"),
        )

    def test_bad_input_raises_and_the_model_still_works(self):
        with self.assertRaises(expertsteer.ModelMismatchError):
            expertsteer.attach(self.llm, Shared.other)
        for bad in (math.nan, math.inf, -math.inf, "strong"):
            with self.assertRaises(expertsteer.InvalidValueError):
                expertsteer.attach(self.llm, Shared.steer, strength=bad)
            with self.assertRaises(expertsteer.InvalidValueError):
                Shared.steer.control_vector(bad)
        with self.assertRaises(expertsteer.InvalidValueError):
            expertsteer.attach(self.llm, Shared.steer, positions="prompt")
        with self.assertRaises(expertsteer.InvalidValueError):
            expertsteer.attach(self.llm, Shared.steer, path="cvec", positions="generated")
        with self.assertRaises(expertsteer.InvalidValueError):
            expertsteer.attach(self.llm, Shared.steer, path="lora")
        # Strength 1e30 overflows f32 arithmetic: refused, not NaN logits.
        with self.assertRaises(expertsteer.InvalidValueError):
            expertsteer.attach(self.llm, Shared.steer, strength=1e30)
        self.assertIsNone(expertsteer.attachment(self.llm))
        self.assertEqual(complete(self.llm), self.plain)

    def test_bad_files_raise(self):
        data = pathlib.Path(Shared.steer.path).read_bytes()
        cut = SCRATCH / "truncated.steer"
        cut.write_bytes(data[: len(data) // 2])
        with self.assertRaises(expertsteer.FormatError):
            expertsteer.SteerFile(cut)
        flipped = SCRATCH / "flipped.steer"
        flipped.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
        with self.assertRaises(expertsteer.FormatError):
            expertsteer.attach(self.llm, flipped)
        with self.assertRaises(expertsteer.SteerFileIOError):
            expertsteer.SteerFile(SCRATCH / "missing.steer")
        f = expertsteer.SteerFile(Shared.steer.path)
        f.close()
        with self.assertRaises(expertsteer.ClosedError):
            f.control_vector()

    def test_closed_llama_raises(self):
        llm = new_llama()
        llm.close()
        with self.assertRaises(expertsteer.ClosedError):
            expertsteer.attach(llm, Shared.steer)

    def test_close_while_attached_frees_cleanly(self):
        llm = new_llama()
        a = expertsteer.attach(llm, Shared.steer, strength=STRENGTH)
        llm.close()
        self.assertIsNone(a.hook)
        expertsteer.detach(llm)  # nothing left to do, and no crash


def log_probs(ctx, rows, n_vocab):
    out = []
    for r in rows:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, r), shape=(n_vocab,)).astype(np.float64)
        m = logits.max()
        out.append(logits - m - math.log(np.exp(logits - m).sum()))
    return out


class PerSequence(unittest.TestCase):
    """Two sequences in one llama-cpp-python batch, one steered: each matches
    its own run alone (teacher-forced log-probabilities of one token string)."""

    @classmethod
    def setUpClass(cls):
        cls.llm = new_llama()
        text = PROMPT + " to go for a long walk in the park with friends and then have dinner together."
        cls.tokens = cls.llm.tokenize(text.encode())
        model = cls.llm.model
        cls.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))

    @classmethod
    def tearDownClass(cls):
        cls.llm.close()

    def run_batch(self, steering):
        """steering: per sequence, a strength or None. Returns per sequence the
        log-probability of each next token."""
        model = self.llm.model
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 512, 512, 512
        params.n_seq_max = len(steering)
        params.n_threads = params.n_threads_batch = 1
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        hook = expertsteer.Hook(model)
        hook.install(params)
        ctx = llama_cpp.llama_init_from_model(model, params)
        try:
            for s, c in enumerate(steering):
                if c is not None:
                    hook.set(Shared.steer, c, seq_id=s)
            n = len(self.tokens)
            batch = llama_cpp.llama_batch_init(n * len(steering), 0, len(steering))
            try:
                k = 0
                for s in range(len(steering)):
                    for i, t in enumerate(self.tokens):
                        batch.token[k], batch.pos[k], batch.n_seq_id[k] = t, i, 1
                        batch.seq_id[k][0], batch.logits[k] = s, 1
                        k += 1
                batch.n_tokens = k
                hook.begin_batch(batch)
                self.assertEqual(llama_cpp.llama_decode(ctx, batch), 0)
                hook.check()
                out = []
                for s in range(len(steering)):
                    lp = log_probs(ctx, range(s * n, (s + 1) * n - 1), self.n_vocab)
                    out.append(np.array([row[self.tokens[i + 1]] for i, row in enumerate(lp)]))
                return out
            finally:
                llama_cpp.llama_batch_free(batch)
        finally:
            llama_cpp.llama_free(ctx)
            hook.close()

    def test_one_batch_matches_separate_runs(self):
        mixed = self.run_batch([STRENGTH, None])
        steered_alone = self.run_batch([STRENGTH])[0]
        plain_alone = self.run_batch([None])[0]
        # README "Batching is not bit-exact": up to ~0.2 nats over 24 tokens.
        tol = 0.2
        d_steered = np.abs(mixed[0] - steered_alone).sum()
        d_plain = np.abs(mixed[1] - plain_alone).sum()
        effect = np.abs(steered_alone - plain_alone).sum()
        print(f"\nper-sequence: |batched - alone| steered {d_steered:.4f}, unsteered {d_plain:.4f} nats; "
              f"steering moves {effect:.2f} nats over {len(plain_alone)} tokens", file=sys.stderr)
        self.assertLessEqual(d_steered, tol)
        self.assertLessEqual(d_plain, tol)
        self.assertGreater(effect, 1.0, "the steered sequence hardly moved: the test proves nothing")


class HostLookup(unittest.TestCase):
    def test_failed_process_lookup_is_not_cached(self):
        """llama-cpp-python's library is RTLD_LOCAL: the process-wide lookup
        fails with ES_ERR_HOST, and succeeds once the library is global."""
        script = f"""
import ctypes, json, llama_cpp
from expertsteer import _native
lib = _native.lib()
llama_cpp.llama_backend_init()
model = llama_cpp.llama_model_load_from_file({MODEL!r}.encode(), llama_cpp.llama_model_default_params())
out = ctypes.c_void_p()
first = lib.es_hook_new_host(None, model, ctypes.byref(out))
msg = lib.es_last_error().decode()
ctypes.CDLL(llama_cpp.llama_cpp._lib._name, mode=ctypes.RTLD_GLOBAL)
second = lib.es_hook_new_host(None, model, ctypes.byref(out))
lib.es_hook_free(out)
print(json.dumps([first, msg, second]))
"""
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        first, msg, second = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(first, -6)
        self.assertIn("ggml_backend_buffer_is_host", msg)
        self.assertEqual(second, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
