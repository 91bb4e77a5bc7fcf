#!/usr/bin/env python3
"""Drives the `expertsteer serve` page in a real headless Chromium.

    drive_page.py URL SCREENSHOT.png [--prompt P] [--strength S]
                  [--max-tokens N] [--positions all|generated] [--timeout SECS]

Loads URL, waits for the steering select to fill, types the prompt, sets the
strength (and max tokens, positions), clicks Run and waits until both columns
(#plain, #steered) are `done`. Prints {"plain": ..., "steered": ..., "secs": ...}
as JSON on stdout and saves a full-page screenshot. Any failure (no steering
files, a column in `error`, a JavaScript error on the page, the timeout) exits
1 with the reason on stderr; the screenshot is still saved when the page got
that far, to show what went wrong.

Uses Debian's /usr/bin/chromium (scripts/setup.sh installs it and the pinned
playwright package); Playwright's own browser download is not used.
"""

import argparse
import json
import sys
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Failure(Exception):
    pass


def columns(page):
    """State, status line, text and error of both columns."""
    return page.evaluate(
        """() => Object.fromEntries(["plain", "steered"].map((c) => [c, {
            state: document.getElementById(c).dataset.state,
            status: document.getElementById(c + "-status").textContent,
            text: document.getElementById(c + "-text").textContent,
            error: document.getElementById(c + "-error").textContent,
        }]))"""
    )


def drive(page, a, js_errors):
    deadline = time.monotonic() + a.timeout
    left_ms = lambda: max(1, int((deadline - time.monotonic()) * 1000))

    page.goto(a.url, wait_until="load", timeout=left_ms())
    page.wait_for_function(
        "document.body.dataset.steering !== 'loading'", timeout=left_ms()
    )
    steering = page.evaluate("document.body.dataset.steering")
    if steering != "ready":
        notice = page.text_content("#notice")
        raise Failure(f"steering list is {steering!r}: {notice}")

    page.fill("#prompt", a.prompt)
    if a.strength is not None:
        # Typing into the number box is what a person does; it moves the slider.
        page.fill("#strength-num", repr(a.strength))
    page.fill("#max-tokens", str(a.max_tokens))
    page.select_option("#positions", a.positions)
    page.click("#run")

    try:
        page.wait_for_function(
            """() => ["plain", "steered"].every((c) =>
                   !["idle", "running"].includes(document.getElementById(c).dataset.state))""",
            timeout=left_ms(),
        )
    except Exception as e:
        if "Timeout" not in type(e).__name__:
            raise
        raise Failure(f"columns not finished after {a.timeout} s: {columns(page)}")
    cols = columns(page)
    bad = {c: v for c, v in cols.items() if v["state"] != "done"}
    if bad:
        raise Failure(f"columns did not finish cleanly: {bad}")
    if js_errors:
        raise Failure(f"JavaScript errors on the page: {js_errors}")
    return {c: v["text"] for c, v in cols.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("screenshot")
    p.add_argument("--prompt", default="Write one sentence about the sea.")
    p.add_argument("--strength", type=float, default=None,
                   help="default: the steering file's default strength")
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--positions", choices=["all", "generated"], default="all")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds, all in")
    a = p.parse_args()

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("drive_page: the playwright package is missing (scripts/setup.sh installs it)")

    t0 = time.monotonic()
    js_errors = []
    with tempfile.TemporaryDirectory(prefix="drive-page-") as profile, sync_playwright() as pw:
        try:
            ctx = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=ARGS,
                viewport={"width": 1280, "height": 800},
            )
        except Exception as e:
            sys.exit(f"drive_page: could not start {CHROMIUM}: {e}")
        page = ctx.new_page()
        page.on("pageerror", lambda e: js_errors.append(str(e)))
        try:
            texts = drive(page, a, js_errors)
        except Exception as e:
            try:
                page.screenshot(path=a.screenshot, full_page=True)
            except Exception:
                pass
            ctx.close()
            msg = str(e) if isinstance(e, Failure) else f"{type(e).__name__}: {e}"
            sys.exit(f"drive_page: {msg}")
        page.screenshot(path=a.screenshot, full_page=True)
        ctx.close()
    texts["secs"] = round(time.monotonic() - t0, 2)
    print(json.dumps(texts))


if __name__ == "__main__":
    main()
