"""llama-server on 127.0.0.1 for the scripts that drive it
(peer_kv_layout.py): start, wait for /health, and
always stop, on error too."""
import contextlib
import subprocess
import time
import urllib.request


def wait_ready(port, seconds=180):
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"llama-server on port {port} did not come up in {seconds} s")


@contextlib.contextmanager
def servers(binary, model, ports_and_args):
    """Starts one llama-server per (port, extra args) on loopback, waits
    until each answers, yields, then stops them all."""
    procs = []
    try:
        for port, extra in ports_and_args:
            cmd = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port)] + list(extra)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, _ in ports_and_args:
            wait_ready(port)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
