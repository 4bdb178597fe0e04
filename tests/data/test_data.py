"""Data layer: cache primitives, registry, digits, Fashion-MNIST (real system copy), splits.

Every test runs with SCRATCHDL_DATA in a tmp dir and SCRATCHDL_OFFLINE=1: nothing touches the
user's cache or the network (the download and apt paths are exercised with file:// URLs and a
fake apt-get that hands over a locally built .deb).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

import scratchdl.data as data
from scratchdl.data import cache, registry
from scratchdl.data.fashion_mnist import (
    CLASSES,
    FILES,
    FashionMNIST,
    parse_idx,
    read_verified_idx_gz,
)
from scratchdl.data.splits import channel_stats, raw_arrays, stratified_split
from scratchdl.errors import UserError

SYSTEM = Path("/usr/share/datasets/fashion-mnist")
HAVE_FMNIST = all((SYSTEM / f"{n}.gz").is_file() for n in FILES)
needs_fmnist = pytest.mark.skipif(
    not HAVE_FMNIST, reason="no system Fashion-MNIST: apt-get install dataset-fashion-mnist"
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path / "data_home"))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    monkeypatch.delenv("SCRATCHDL_FMNIST_SYSTEM_DIR", raising=False)
    data.clear_array_cache()
    yield
    data.clear_array_cache()


def offline_spec(system_dir: Path, cache_dir: Path, **kw) -> FashionMNIST:
    kw = {"allow_apt": False, "allow_download": False, **kw}
    return FashionMNIST(system_dir=system_dir, cache_dir=cache_dir, **kw)


@contextmanager
def one_notice(capsys: pytest.CaptureFixture, pattern: str) -> Iterator[None]:
    """The block prints exactly one line on stderr, matching `pattern` (no source path)."""
    capsys.readouterr()
    yield
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]), lines
    assert lines[0].startswith("scratchdl: ") and ".py:" not in lines[0]


@needs_fmnist
def test_truncated_cache_is_one_line_in_the_cli(tmp_path, built):
    """A truncated cache: one stderr line (no warning with a source path), moved aside, rebuilt."""
    home = tmp_path / "home"
    (home / "fashion-mnist").mkdir(parents=True)
    good = built[0].cache_file
    bad = home / "fashion-mnist" / good.name
    bad.write_bytes(good.read_bytes()[:1000])
    shutil.copy(f"{good}.sha256", f"{bad}.sha256")
    env = {**os.environ, "SCRATCHDL_DATA": str(home), "SCRATCHDL_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "scratchdl", "data", "fetch", "fashion-mnist"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{bad} is corrupt" in lines[0] and "moved aside" in lines[0]
    assert "Warning" not in lines[0] and ".py:" not in lines[0]
    assert bad.with_name(bad.name + ".corrupt").exists()  # kept for inspection, as README says
    assert cache.sha256_file(bad) == cache.sha256_file(good)  # rebuilt from the system copy


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A FashionMNIST whose cache was built from the real system copy, and its arrays."""
    if not HAVE_FMNIST:
        pytest.skip("no system Fashion-MNIST: apt-get install dataset-fashion-mnist")
    spec = offline_spec(SYSTEM, tmp_path_factory.mktemp("fm") / "cache")
    return spec, spec.load_arrays()


def gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def system_with(tmp_path: Path, name: str, content: bytes) -> Path:
    """A system dir: real files as symlinks, except `name`, which gets `content`."""
    d = tmp_path / "system"
    d.mkdir(parents=True)
    for n in FILES:
        if n == name:
            (d / f"{n}.gz").write_bytes(content)
        else:
            (d / f"{n}.gz").symlink_to(SYSTEM / f"{n}.gz")
    return d


LABELS = "t10k-labels-idx1-ubyte"  # small, and checked first


def real_raw(name: str) -> bytes:
    return gzip.decompress((SYSTEM / f"{name}.gz").read_bytes())


# ---- cache primitives -------------------------------------------------------------------------


def test_data_home_env_and_default(monkeypatch, tmp_path):
    assert cache.data_home() == tmp_path / "data_home"
    monkeypatch.delenv("SCRATCHDL_DATA")
    assert cache.data_home() == Path.home() / ".cache" / "scratchdl"


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "f.bin"
    cache.atomic_write_bytes(p, b"old")
    cache.atomic_write_bytes(p, b"new content")
    assert p.read_bytes() == b"new content"
    assert os.listdir(p.parent) == ["f.bin"]
    assert cache.sha256_file(p) == hashlib.sha256(b"new content").hexdigest()


def test_npz_is_deterministic_and_readable(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": np.array([1.5, -2.0])}
    assert cache.npz_bytes(arrays) == cache.npz_bytes(arrays)
    digest = cache.atomic_savez(tmp_path / "x.npz", arrays)
    assert digest == cache.sha256_file(tmp_path / "x.npz")
    with np.load(tmp_path / "x.npz") as z:
        assert set(z.files) == {"a", "b"}
        np.testing.assert_array_equal(z["a"], arrays["a"])
        np.testing.assert_array_equal(z["b"], arrays["b"])


def test_verified_npz_roundtrip_and_quarantine(tmp_path, capsys):
    p = tmp_path / "e.npz"
    assert cache.load_verified_npz(p) is None
    cache.save_verified_npz(p, {"a": np.arange(5)})
    np.testing.assert_array_equal(cache.load_verified_npz(p)["a"], np.arange(5))
    # truncated: hash mismatch -> moved aside, never read again
    p.write_bytes(p.read_bytes()[:-10])
    with one_notice(capsys, "corrupt"):
        assert cache.load_verified_npz(p) is None
    assert not p.exists() and (tmp_path / "e.npz.corrupt").exists()
    assert not (tmp_path / "e.npz.sha256").exists()
    assert cache.load_verified_npz(p) is None
    # matching hash but not an npz: a parse failure is quarantined too
    cache.atomic_write_bytes(p, b"not a zip")
    cache.atomic_write_bytes(tmp_path / "e.npz.sha256", cache.sha256_bytes(b"not a zip").encode())
    with one_notice(capsys, "cannot be parsed"):
        assert cache.load_verified_npz(p) is None
    assert not p.exists()
    # data without its hash file is unverified: quarantined
    cache.atomic_savez(p, {"a": np.arange(3)})
    with one_notice(capsys, "stored nothing"):
        assert cache.load_verified_npz(p) is None


# ---- registry ---------------------------------------------------------------------------------


def test_import_registers_both_and_list_datasets():
    rows = {r["name"]: r for r in data.list_datasets()}
    assert {"digits", "fashion-mnist"} <= set(rows)
    for r in rows.values():
        assert set(r) == {"name", "description", "sources", "present", "size_bytes"}
        assert isinstance(r["present"], bool) and r["sources"] and r["description"]
    assert rows["digits"]["present"] is True
    assert rows["fashion-mnist"]["sources"][0].startswith("cache ")


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(UserError, match="did you mean fashion-mnist"):
        data.get_dataset("fashion_mnist")
    with pytest.raises(UserError, match="known datasets: .*digits"):
        data.get_dataset("zzzz")


def test_register_custom_dataset():
    class Tiny(registry.DatasetSpec):
        name = "tiny-test"

        def is_present(self):
            return True

        def load_arrays(self):
            x = np.zeros((4, 2, 3, 5), np.uint8)
            return registry.ImageArrays(
                x, np.array([0, 1, 0, 1]), x[:2], np.array([1, 0]), ["a", "b"]
            )

    try:
        data.register_dataset(Tiny())
        s = data.load_splits("tiny-test", val_size=0)
        assert s.train.x.shape == (4, 2, 3, 5) and s.info.in_channels == 2
        assert s.info.image_size == (3, 5)
    finally:
        registry._REGISTRY.pop("tiny-test", None)


def test_image_arrays_rejects_bad_arrays():
    x = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="labels outside"):
        registry.ImageArrays(x, np.array([0, 2]), x, np.array([0, 1]), ["a", "b"])
    with pytest.raises(ValueError, match="uint8"):
        registry.ImageArrays(
            x.astype(np.float32), np.array([0, 1]), x, np.array([0, 1]), ["a", "b"]
        )


# ---- digits -----------------------------------------------------------------------------------


def test_digits_arrays():
    from sklearn.datasets import load_digits

    a = data.get_dataset("digits").load_arrays()
    assert a.train_x.shape == (1437, 8, 8) and a.test_x.shape == (360, 8, 8)
    assert a.train_x.dtype == np.uint8 and a.train_y.dtype == np.int64
    assert a.classes == [str(d) for d in range(10)]
    # value*16 clipped: 16 -> 255, every other level a multiple of 16
    assert set(np.unique(a.train_x)) <= set(range(0, 256, 16)) | {255}
    assert a.train_x.max() == 255
    # same images as sklearn's, as a multiset; a stratified split keeps class shares (+-1)
    ref = load_digits()
    got = np.concatenate([a.train_x, a.test_x]).reshape(1797, -1).astype(np.int64)
    want = np.clip(ref.images * 16, 0, 255).astype(np.int64).reshape(1797, -1)
    for g, w in zip(
        np.unique(got, axis=0, return_counts=True),
        np.unique(want, axis=0, return_counts=True),
        strict=True,
    ):
        np.testing.assert_array_equal(g, w)
    counts = np.bincount(ref.target, minlength=10)
    assert np.all(np.abs(np.bincount(a.test_y, minlength=10) - 0.2 * counts) <= 1)
    b = data.get_dataset("digits").load_arrays()  # fixed seed: the same split every time
    np.testing.assert_array_equal(a.test_y, b.test_y)
    np.testing.assert_array_equal(a.train_x, b.train_x)


def test_digits_without_sklearn_says_pip_install(monkeypatch):
    for mod in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    spec = data.get_dataset("digits")
    assert spec.is_present() is False
    with pytest.raises(UserError, match="pip install scikit-learn"):
        spec.load_arrays()
    with pytest.raises(UserError, match="pip install scikit-learn"):
        spec.fetch()


# ---- idx parsing ------------------------------------------------------------------------------


def test_parse_idx_reads_header_dims():
    arr = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    blob = b"\x00\x00\x08\x03" + np.array([2, 3, 5], ">u4").tobytes() + arr.tobytes()
    np.testing.assert_array_equal(parse_idx(blob), arr)
    one_d = b"\x00\x00\x08\x01" + np.array([4], ">u4").tobytes() + bytes([1, 2, 3, 4])
    np.testing.assert_array_equal(parse_idx(one_d), [1, 2, 3, 4])


@pytest.mark.parametrize(
    "blob, match",
    [
        (b"\x00\x00", "shorter than the 4-byte magic"),
        (b"\x00\x00\x0d\x01" + bytes(8), "magic number 0x00000d01"),  # float idx: not ours
        (b"\x00\x00\x08\x03" + bytes(4), "too short for a 3-dim header"),
        (b"\x00\x00\x08\x01" + np.array([5], ">u4").tobytes() + bytes(4), "header says dims"),
    ],
)
def test_parse_idx_rejects_bad_headers(blob, match):
    with pytest.raises(ValueError, match=match):
        parse_idx(blob)


# ---- Fashion-MNIST from the real system copy ---------------------------------------------------


@needs_fmnist
def test_fashion_mnist_from_system_copy(built):
    spec, a = built
    assert a.train_x.shape == (60000, 28, 28) and a.test_x.shape == (10000, 28, 28)
    assert a.train_x.dtype == np.uint8 and a.train_y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(a.train_y), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(a.test_y), [1000] * 10)
    assert a.classes == CLASSES and a.train_y[0] == 9 and a.test_y[0] == 9  # ankle boots
    # twin: the plain fixed-offset reading of DATA.md gives the same arrays
    naive = np.frombuffer(real_raw("train-images-idx3-ubyte"), np.uint8, offset=16)
    np.testing.assert_array_equal(a.train_x.reshape(-1), naive)
    naive = np.frombuffer(real_raw("t10k-labels-idx1-ubyte"), np.uint8, offset=8)
    np.testing.assert_array_equal(a.test_y, naive)
    assert spec.cache_file.is_file() and spec.is_present()
    assert spec.size_bytes() == spec.cache_file.stat().st_size


@needs_fmnist
def test_pinned_hashes_match_system_files():
    for name, (sha, size, shape) in FILES.items():
        raw = real_raw(name)
        assert len(raw) == size and hashlib.sha256(raw).hexdigest() == sha
        assert read_verified_idx_gz(SYSTEM / f"{name}.gz", name, "fix").shape == shape


@needs_fmnist
def test_second_load_comes_from_cache_and_matches(built):
    spec, a = built
    b, where = spec._load()
    assert where.startswith("cache ")
    np.testing.assert_array_equal(a.train_x, b.train_x)
    np.testing.assert_array_equal(a.test_y, b.test_y)
    assert b.train_y.dtype == np.int64
    assert "ready" in spec.fetch()


def test_missing_source_names_the_fetch_command(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = offline_spec(empty, tmp_path / "cache")
    assert spec.is_present() is False and spec.size_bytes() is None
    with pytest.raises(
        UserError,
        match=r"run `scratchdl data fetch fashion-mnist` \(or as root "
        r"`apt-get install dataset-fashion-mnist`\)",
    ):
        spec.load_arrays()
    with pytest.raises(
        UserError, match="apt-get download: disabled.*apt-get install dataset-fashion-mnist"
    ):
        spec.fetch()


def test_missing_source_through_env_and_load_splits(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHDL_FMNIST_SYSTEM_DIR", str(tmp_path / "nowhere"))
    row = {r["name"]: r for r in data.list_datasets()}["fashion-mnist"]
    assert row["present"] is False and str(tmp_path / "nowhere") in row["sources"][1]
    with pytest.raises(UserError, match="scratchdl data fetch fashion-mnist"):
        data.load_splits("fashion-mnist")
    with pytest.raises(UserError, match="disabled"):  # SCRATCHDL_OFFLINE=1 blocks apt and urllib
        data.get_dataset("fashion-mnist").fetch()


@needs_fmnist
@pytest.mark.parametrize(
    "make_bad, match",
    [
        (
            lambda raw: gz(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:]),
            "SHA-256 of the decompressed",
        ),
        (lambda raw: gz(raw)[: len(gz(raw)) // 2], "not a complete gzip file"),
        (lambda raw: b"plain text, not gzip", "not a complete gzip file"),
        (lambda raw: gz(b"\x00\x00\x08\x02" + raw[4:]), "bad idx header: header says dims"),
        (lambda raw: gz(b"\x00\x00\x0b\x01" + raw[4:]), "bad idx header: magic number 0x00000b01"),
        (lambda raw: gz(raw[:4] + (9999).to_bytes(4, "big") + raw[8 : 9999 + 8]), "shape"),
    ],
)
def test_corrupt_system_file_is_a_clear_error(tmp_path, make_bad, match):
    system = system_with(tmp_path, LABELS, make_bad(real_raw(LABELS)))
    spec = offline_spec(system, tmp_path / "cache")
    with pytest.raises(UserError, match=match) as err:
        spec.load_arrays()
    msg = str(err.value)
    assert f"{system / LABELS}.gz is corrupt" in msg and "apt-get install --reinstall" in msg
    assert "\n" not in msg
    assert not spec.cache_file.exists()  # nothing half-built was cached
    assert (system / f"{LABELS}.gz").exists()  # a system file is not ours to move


@needs_fmnist
def test_corrupt_owned_copy_is_quarantined_and_never_used_again(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = offline_spec(empty, tmp_path / "cache")
    bad = system_with(tmp_path, LABELS, gz(b"\x00" * 10008))
    shutil.copytree(bad, spec.raw_dir, symlinks=True)
    with pytest.raises(UserError, match="bad idx.*moved aside"):
        spec.load_arrays()
    assert capsys.readouterr().err == ""  # the error is the one line
    assert (spec.raw_dir / f"{LABELS}.gz.corrupt").exists()
    assert not spec.is_present()
    with pytest.raises(UserError, match="is not available"):
        spec.load_arrays()


@needs_fmnist
def test_corrupt_source_falls_back_to_next_good_one(tmp_path, built, capsys):
    bad = system_with(tmp_path, LABELS, b"garbage")
    spec = offline_spec(bad, tmp_path / "cache")
    shutil.copytree(system_with(tmp_path / "good", "", b""), spec.deb_dir, symlinks=True)
    with one_notice(capsys, "skipped bad data: .*garbage|skipped bad data: .*corrupt"):
        a, where = spec._load()
    assert where == str(spec.deb_dir)
    np.testing.assert_array_equal(a.test_y, built[1].test_y)


@needs_fmnist
def test_corrupt_cache_is_moved_aside_then_rebuilt(tmp_path, built, capsys):
    good, a = built
    spec = offline_spec(SYSTEM, tmp_path / "cache")
    spec.cache_dir.mkdir()
    shutil.copy(good.cache_file, spec.cache_file)
    shutil.copy(f"{good.cache_file}.sha256", f"{spec.cache_file}.sha256")
    with open(spec.cache_file, "r+b") as f:  # flip one pixel byte in the middle
        f.seek(20_000_000)
        byte = f.read(1)
        f.seek(20_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with one_notice(capsys, r"skipped bad data: .*fashion-mnist.npz is corrupt .*moved aside"):
        b, where = spec._load()
    assert where == str(SYSTEM)  # rebuilt from the system copy, not from the bad cache
    np.testing.assert_array_equal(b.train_x, a.train_x)
    assert cache.sha256_file(spec.cache_file) == cache.sha256_file(good.cache_file)


@needs_fmnist
def test_corrupt_cache_without_source_is_never_used(tmp_path, built):
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = offline_spec(empty, tmp_path / "cache")
    spec.cache_dir.mkdir()
    spec.cache_file.write_bytes(built[0].cache_file.read_bytes()[:1000])
    shutil.copy(f"{built[0].cache_file}.sha256", f"{spec.cache_file}.sha256")
    with pytest.raises(UserError, match="fetch.*fashion-mnist.npz is corrupt"):
        spec.load_arrays()
    assert not spec.cache_file.exists()
    assert (spec.cache_dir / "fashion-mnist.npz.corrupt").exists()
    with pytest.raises(UserError, match="is not available"):
        spec.load_arrays()


def test_cache_with_right_hash_but_wrong_arrays_is_quarantined(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = offline_spec(empty, tmp_path / "cache")
    cache.save_verified_npz(spec.cache_file, {"train_x": np.zeros((3, 28, 28), np.uint8)})
    with pytest.raises(UserError, match="unexpected contents"):
        spec.load_arrays()
    assert not spec.cache_file.exists()


# ---- fetch paths, offline -----------------------------------------------------------------------


@needs_fmnist
def test_fetch_by_download_from_a_file_url(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = offline_spec(empty, tmp_path / "cache", allow_download=True, url=SYSTEM.as_uri())
    msg = spec.fetch()
    assert "download" in msg and "ready" in msg
    assert sorted(p.name for p in spec.raw_dir.iterdir()) == sorted(f"{n}.gz" for n in FILES)
    assert spec.cache_file.is_file()
    assert np.bincount(spec.load_arrays().test_y).tolist() == [1000] * 10


@needs_fmnist
def test_fetch_download_rejects_a_damaged_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    mirror = system_with(tmp_path, LABELS, gz(b"\x00\x00\x08\x01" + bytes(4)))
    spec = offline_spec(empty, tmp_path / "cache", allow_download=True, url=mirror.as_uri())
    with pytest.raises(UserError, match="could not fetch.*download is damaged"):
        spec.fetch()
    assert not (spec.raw_dir / f"{LABELS}.gz").exists()


@needs_fmnist
def test_fetch_with_apt_get_download_and_dpkg_x(tmp_path, monkeypatch):
    # A real .deb with the package's layout (symlinks to the real files keep it small), handed
    # over by a fake `apt-get` on PATH, so `dpkg -x` and the move into the cache really run.
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not installed")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: test <t@example.org>\nDescription: test\n"
    )
    shutil.copytree(
        system_with(tmp_path, "", b""), pkg / "usr/share/datasets/fashion-mnist", symlinks=True
    )
    deb = tmp_path / "dataset-fashion-mnist_1.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "-Znone", "--root-owner-group", "--build", str(pkg), str(deb)],
        check=True,
        capture_output=True,
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text(f'#!/bin/sh\n[ "$1 $2" = "download dataset-fashion-mnist" ] && cp {deb} .\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = offline_spec(empty, tmp_path / "cache", allow_apt=True)
    msg = spec.fetch()
    assert "apt-get download" in msg and str(spec.deb_dir) in msg
    assert all((spec.deb_dir / f"{n}.gz").exists() for n in FILES)
    assert [p.name for p in spec.cache_dir.iterdir() if p.name.startswith(".deb-")] == []


# ---- splits -------------------------------------------------------------------------------------


def test_stratified_split_is_disjoint_exact_and_seeded():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    train, val = stratified_split(y, 20, seed=3)
    assert len(val) == 20 and len(train) == 80
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    np.testing.assert_array_equal(np.bincount(y[val], minlength=4), [10, 6, 3, 1])
    again_train, again_val = stratified_split(y, 20, seed=3)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, stratified_split(y, 20, seed=4)[1])
    assert stratified_split(y, 0, seed=0)[1].size == 0
    # uneven quotas still sum exactly
    assert len(stratified_split(y, 7, seed=0)[1]) == 7


def test_load_splits_digits_shapes_and_disjoint():
    s = data.load_splits("digits", val_size=0.1, seed=1)
    raw = raw_arrays("digits")
    assert s.train.x.shape == (1293, 1, 8, 8) and s.val.x.shape == (144, 1, 8, 8)
    assert s.test.x.shape == (360, 1, 8, 8) and len(s.val) == 144
    for split in (s.train, s.val, s.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert 0 <= split.x.min() and split.x.max() <= 1
    train_idx, val_idx = stratified_split(raw.train_y, 144, seed=1)
    assert np.intersect1d(train_idx, val_idx).size == 0
    torch.testing.assert_close(
        s.val.x[:, 0], torch.from_numpy(raw.train_x[val_idx] / 255.0).float(), rtol=0, atol=0
    )
    torch.testing.assert_close(s.train.y, torch.from_numpy(raw.train_y[train_idx]))
    assert s.info.num_classes == 10 and s.info.image_size == (8, 8) and s.info.in_channels == 1
    assert s.info.mean == [0.0] and s.info.std == [1.0]
    other = data.load_splits("digits", val_size=0.1, seed=2)
    assert not torch.equal(other.val.y, s.val.y) or not torch.equal(other.val.x, s.val.x)
    same = data.load_splits("digits", val_size=0.1, seed=1)
    assert torch.equal(same.val.x, s.val.x)


def test_val_size_zero_int_and_bad_values():
    s = data.load_splits("digits", val_size=0)
    assert s.val.x.shape == (0, 1, 8, 8) and s.val.y.shape == (0,) and len(s.train) == 1437
    assert len(data.load_splits("digits", val_size=100).val) == 100
    for bad in (-1, 1437, 1.0, -0.1, "0.1", True, None):
        with pytest.raises(UserError, match="val_size"):
            data.load_splits("digits", val_size=bad)


def test_normalize_uses_train_stats_only():
    plain = data.load_splits("digits", val_size=0.2, seed=0)
    norm = data.load_splits("digits", val_size=0.2, seed=0, normalize=True)
    raw = raw_arrays("digits")
    train_idx, _ = stratified_split(raw.train_y, len(plain.val), seed=0)
    x = torch.from_numpy(raw.train_x[train_idx]).double() / 255  # exact, unlike float32 x
    mean, std = x.mean().item(), x.std(correction=0).item()
    assert norm.info.mean == pytest.approx([mean], abs=1e-12)
    assert norm.info.std == pytest.approx([std], abs=1e-12)
    torch.testing.assert_close(
        norm.train.x.mean().double(), torch.tensor(0.0, dtype=torch.float64), atol=1e-5, rtol=0
    )
    assert norm.train.x.double().std(correction=0).item() == pytest.approx(1.0, abs=1e-5)
    for p, n in ((plain.val, norm.val), (plain.test, norm.test)):  # same numbers for every split
        torch.testing.assert_close(n.x, (p.x - mean) / std, atol=1e-6, rtol=0)
    full = raw_arrays("digits").train_x / 255.0  # stats over train+val would differ
    assert abs(full.mean() - mean) > 1e-6


def test_channel_stats_matches_torch():
    x = np.random.default_rng(0).integers(0, 256, (7, 3, 5, 4), dtype=np.uint8)
    mean, std = channel_stats(x)
    t = torch.from_numpy(x).double() / 255
    f64 = torch.float64
    torch.testing.assert_close(
        torch.tensor(mean, dtype=f64), t.mean(dim=(0, 2, 3)), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(
        torch.tensor(std, dtype=f64), t.std(dim=(0, 2, 3), correction=0), atol=1e-12, rtol=0
    )


def test_raw_arrays_cached_in_process_and_read_only():
    a = raw_arrays("digits")
    assert raw_arrays("digits") is a
    with pytest.raises(ValueError):
        a.train_x[0, 0, 0] = 1


@needs_fmnist
def test_load_splits_fashion_mnist_stratified_val():
    s = data.load_splits("fashion-mnist", val_size=6000, seed=0, normalize=True)
    assert s.train.x.shape == (54000, 1, 28, 28) and s.test.x.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(s.val.y.numpy()), [600] * 10)
    assert s.info.classes == CLASSES and s.info.image_size == (28, 28)
    assert s.info.mean[0] == pytest.approx(0.286, abs=2e-3)  # the well-known Fashion-MNIST stats
    assert s.info.std[0] == pytest.approx(0.353, abs=2e-3)
