"""Bundles the checkout's built C ABI (libexpertsteer_c.so) and the
``expertsteer`` binary into the package, so ``pip install ./python`` after
``bash scripts/setup.sh`` gives a self-contained install. Nothing is
compiled here: build the checkout first."""

import os
import pathlib
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent.parent
NATIVE = ("libexpertsteer_c.so", "expertsteer")


class BuildWithNative(build_py):
    def run(self):
        super().run()
        release = pathlib.Path(os.environ.get("EXPERTSTEER_RELEASE_DIR", ROOT / "target" / "release"))
        dest = pathlib.Path(self.build_lib) / "expertsteer" / "_bin"
        dest.mkdir(parents=True, exist_ok=True)
        for name in NATIVE:
            src = release / name
            if not src.exists():
                raise SystemExit(
                    f"{src} is missing: build the checkout first "
                    "(`bash scripts/setup.sh`, or `cargo build --release --workspace`)"
                )
            shutil.copy2(src, dest / name)


class NativeDistribution(Distribution):
    """The wheel holds a Linux shared library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithNative}, distclass=NativeDistribution)
