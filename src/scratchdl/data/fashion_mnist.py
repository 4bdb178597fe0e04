"""Fashion-MNIST (60k train / 10k test, 28x28 grey, 10 classes), obtained offline when possible.

Sources, in the order load_arrays() tries them:
  1. our cache       data_home()/fashion-mnist/fashion-mnist.npz (+ .sha256 beside it)
  2. system copy     /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)
  3. extracted .deb  data_home()/fashion-mnist/deb/... (fetch(): apt-get download + dpkg -x)
  4. download        data_home()/fashion-mnist/raw (fetch(): the canonical S3 home, online)
load_arrays() never touches the network; only fetch() runs apt-get download or urllib.

Every raw file is checked by its idx header and by the SHA-256 of its decompressed content
(Debian recompressed the .gz files, so only the content hashes match upstream's).
Environment: SCRATCHDL_FMNIST_SYSTEM_DIR replaces the system path; SCRATCHDL_OFFLINE=1 stops
fetch() from running apt-get download or downloading.
"""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from scratchdl.data.cache import (
    atomic_write_bytes,
    data_home,
    load_verified_npz,
    notice,
    quarantine,
    save_verified_npz,
    sha256_bytes,
)
from scratchdl.data.registry import DatasetSpec, ImageArrays, register_dataset
from scratchdl.errors import UserError

CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

# name -> (SHA-256 of the decompressed file, its size in bytes, array shape). Labels come first
# so a damaged small file is reported before the big ones are read.
FILES: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "t10k-labels-idx1-ubyte": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        10008,
        (10000,),
    ),
    "train-labels-idx1-ubyte": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        60008,
        (60000,),
    ),
    "t10k-images-idx3-ubyte": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        7840016,
        (10000, 28, 28),
    ),
    "train-images-idx3-ubyte": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        47040016,
        (60000, 28, 28),
    ),
}
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEB_PACKAGE = "dataset-fashion-mnist"
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FETCH_HINT = (
    f"run `scratchdl data fetch fashion-mnist` (or as root `apt-get install {DEB_PACKAGE}`)"
)


class CorruptFile(UserError):
    """A raw file that exists but is not the pinned content."""

    def __init__(self, path: Path | str, problem: str, fix: str):
        super().__init__(f"Fashion-MNIST file {path} is corrupt: {problem}; {fix}")
        self.path, self.problem = path, problem


def parse_idx(data: bytes) -> np.ndarray:
    """Decode an unsigned-byte idx file: magic 0x0000_08_NDIM, NDIM big-endian uint32 dims, data.

    Returns a read-only uint8 array of the header's shape; ValueError saying what is wrong.
    """
    if len(data) < 4:
        raise ValueError(f"only {len(data)} bytes, shorter than the 4-byte magic number")
    magic = int.from_bytes(data[:4], "big")
    ndim = data[3]
    if data[:3] != b"\x00\x00\x08" or ndim == 0:
        raise ValueError(
            f"magic number 0x{magic:08x} is not an unsigned-byte idx file "
            "(expected 0x000008NN with NN >= 1 dims)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{len(data)} bytes, too short for a {ndim}-dim header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise ValueError(
            f"header says dims {dims}, i.e. {expected} bytes, but the file has {len(data)}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def read_verified_idx_gz(
    path: Path | str, name: str, fix: str, blob: bytes | None = None
) -> np.ndarray:
    """Gunzip, parse and verify one raw file against FILES[name]; CorruptFile if anything is off.

    `blob` is the file's bytes when they are already in memory (a download not yet saved).
    """
    sha, size, shape = FILES[name]
    try:
        data = gzip.decompress(Path(path).read_bytes() if blob is None else blob)
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptFile(path, f"not a complete gzip file ({e})", fix) from None
    try:
        arr = parse_idx(data)
    except ValueError as e:
        raise CorruptFile(path, f"bad idx header: {e}", fix) from None
    if arr.shape != shape:
        raise CorruptFile(path, f"holds an array of shape {arr.shape}, expected {shape}", fix)
    digest = sha256_bytes(data)
    if len(data) != size or digest != sha:
        raise CorruptFile(
            path, f"SHA-256 of the decompressed content is {digest}, expected {sha}", fix
        )
    return arr


def _run(cmd: list[str], cwd: Path) -> None:
    """Run a command; OSError carrying the last line of its stderr if it fails."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(
            f"`{' '.join(cmd)}` exited {proc.returncode}: {lines[-1] if lines else 'no output'}"
        )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class FashionMNIST(DatasetSpec):
    """Fashion-MNIST. Every argument defaults to the environment / standard location.

    system_dir: the Debian path (env SCRATCHDL_FMNIST_SYSTEM_DIR overrides the default);
    cache_dir: data_home()/fashion-mnist; url: the canonical home; allow_apt / allow_download:
    whether fetch() may run `apt-get download` / urllib (default: yes unless SCRATCHDL_OFFLINE=1).
    Paths are resolved at each call, so changing the environment takes effect at once.
    """

    _cache_problem = ""  # why the cache was moved aside in the last _load, if it was

    name = "fashion-mnist"
    description = "Zalando Fashion-MNIST: 60k/10k 28x28 grey clothing images, 10 classes"

    def __init__(
        self,
        system_dir: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        url: str = URL,
        allow_apt: bool | None = None,
        allow_download: bool | None = None,
    ):
        self._system_dir = Path(system_dir) if system_dir is not None else None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.url = url if url.endswith("/") else url + "/"
        self._allow_apt = allow_apt
        self._allow_download = allow_download

    # -- where things are ------------------------------------------------------------------
    @property
    def system_dir(self) -> Path:
        if self._system_dir is not None:
            return self._system_dir
        return Path(os.environ.get("SCRATCHDL_FMNIST_SYSTEM_DIR") or SYSTEM_DIR)

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir if self._cache_dir is not None else data_home() / self.name

    @property
    def cache_file(self) -> Path:
        return self.cache_dir / "fashion-mnist.npz"

    @property
    def deb_dir(self) -> Path:
        return self.cache_dir / "deb" / str(SYSTEM_DIR).lstrip("/")

    @property
    def raw_dir(self) -> Path:
        return self.cache_dir / "raw"

    @property
    def allow_apt(self) -> bool:
        if self._allow_apt is not None:
            return self._allow_apt
        return not _env_flag("SCRATCHDL_OFFLINE")

    @property
    def allow_download(self) -> bool:
        if self._allow_download is not None:
            return self._allow_download
        return not _env_flag("SCRATCHDL_OFFLINE")

    def _raw_sources(self) -> list[tuple[Path, bool, str]]:
        """(directory, owned by our cache?, how to fix a corrupt file there), in order."""
        refetch = f"it was moved aside; run `scratchdl data fetch {self.name}` for a fresh copy"
        return [
            (
                self.system_dir,
                False,
                f"reinstall it (as root `apt-get install --reinstall "
                f"{DEB_PACKAGE}`) or run `scratchdl data fetch {self.name}`",
            ),
            (self.deb_dir, True, refetch),
            (self.raw_dir, True, refetch),
        ]

    @staticmethod
    def _complete(directory: Path) -> bool:
        return all((directory / f"{n}.gz").is_file() for n in FILES)

    @property
    def sources(self) -> list[str]:
        return [
            f"cache {self.cache_file}",
            f"system copy {self.system_dir} (as root: apt-get install {DEB_PACKAGE})",
            f"Debian package extracted into {self.deb_dir} (fetch: apt-get download + dpkg -x)",
            f"download from {self.url} into {self.raw_dir} (fetch, online only)",
        ]

    def is_present(self) -> bool:
        return self.cache_file.is_file() or any(
            self._complete(d) for d, _, _ in self._raw_sources()
        )

    def size_bytes(self) -> int | None:
        if self.cache_file.is_file():
            return self.cache_file.stat().st_size
        for directory, _, _ in self._raw_sources():
            if self._complete(directory):
                return sum((directory / f"{n}.gz").stat().st_size for n in FILES)
        return None

    # -- loading ---------------------------------------------------------------------------
    def load_arrays(self) -> ImageArrays:
        return self._load()[0]

    def _from_cache(self) -> ImageArrays | None:
        problem: list[str] = []
        arrays = load_verified_npz(self.cache_file, problem)
        if arrays is None:
            self._cache_problem = "".join(problem)
            return None
        want = {
            "train_x": (60000, 28, 28),
            "train_y": (60000,),
            "test_x": (10000, 28, 28),
            "test_y": (10000,),
        }
        got = {k: v.shape for k, v in arrays.items() if v.dtype == np.uint8}
        if got != want or arrays["train_y"].max() > 9 or arrays["test_y"].max() > 9:
            self._cache_problem = quarantine(
                self.cache_file, f"unexpected contents {got}", announce=False
            )
            return None
        return ImageArrays(
            arrays["train_x"],
            arrays["train_y"].astype(np.int64),
            arrays["test_x"],
            arrays["test_y"].astype(np.int64),
            list(CLASSES),
        )

    def _read_dir(self, directory: Path, fix: str) -> ImageArrays:
        a = {n: read_verified_idx_gz(directory / f"{n}.gz", n, fix) for n in FILES}
        return ImageArrays(
            a["train-images-idx3-ubyte"],
            a["train-labels-idx1-ubyte"].astype(np.int64),
            a["t10k-images-idx3-ubyte"],
            a["t10k-labels-idx1-ubyte"].astype(np.int64),
            list(CLASSES),
        )

    def _load(self) -> tuple[ImageArrays, str]:
        """(arrays, where they came from). Builds the cache from the first good raw source."""
        self._cache_problem = ""
        cached = self._from_cache()
        if cached is not None:
            return cached, f"cache {self.cache_file}"
        # Every bad file is told in exactly one line: a notice if another source worked,
        # else the error itself.
        problems: list[CorruptFile] = []
        for directory, owned, fix in self._raw_sources():
            if not self._complete(directory):
                continue
            try:
                arrays = self._read_dir(directory, fix)
            except CorruptFile as e:
                problems.append(e)
                if owned:
                    quarantine(e.path, e.problem, announce=False)
                continue
            skipped = [self._cache_problem] if self._cache_problem else []
            skipped += [str(p) for p in problems]
            if skipped:
                notice(f"skipped bad data: {'; '.join(skipped)}; loaded from {directory}")
            self._write_cache(arrays)
            return arrays, str(directory)
        cache_note = f" (and {self._cache_problem})" if self._cache_problem else ""
        if problems:
            more = f" (and {len(problems) - 1} more bad source(s))" if len(problems) > 1 else ""
            raise UserError(f"{problems[0]}{more}{cache_note}")
        raise UserError(
            f"Fashion-MNIST is not available: {FETCH_HINT}; looked in "
            f"{self.cache_file}, {self.system_dir}, {self.deb_dir}, {self.raw_dir}{cache_note}"
        )

    def _write_cache(self, a: ImageArrays) -> None:
        # Labels are stored as uint8 (10 classes) to keep the file small; widened on load.
        try:
            save_verified_npz(
                self.cache_file,
                {
                    "train_x": a.train_x,
                    "train_y": a.train_y.astype(np.uint8),
                    "test_x": a.test_x,
                    "test_y": a.test_y.astype(np.uint8),
                },
            )
        except OSError as e:  # a read-only home still gets the data, just not cached
            notice(f"could not write cache {self.cache_file} ({e}); using the data uncached")

    # -- fetching --------------------------------------------------------------------------
    def fetch(self) -> str:
        problems: list[str] = []
        try:
            _, where = self._load()
            return f"Fashion-MNIST is ready in {self.cache_file} (from {where})"
        except CorruptFile as e:
            problems.append(str(e))
        except UserError:
            pass  # simply absent: go and get it
        steps = [
            ("apt-get download", self._fetch_deb, self.allow_apt),
            (f"download from {self.url}", self._fetch_url, self.allow_download),
        ]
        for label, step, allowed in steps:
            if not allowed:
                problems.append(f"{label}: disabled (SCRATCHDL_OFFLINE or argument)")
                continue
            try:
                step()
                _, where = self._load()
                return f"Fashion-MNIST is ready in {self.cache_file} (via {label}, from {where})"
            except (OSError, subprocess.SubprocessError, UserError, ValueError) as e:
                problems.append(f"{label}: {e}")
        raise UserError(
            f"could not fetch Fashion-MNIST: {' | '.join(problems)}. Fix: as root "
            f"`apt-get install {DEB_PACKAGE}`, or put the four *-ubyte.gz files from "
            f"{self.url} into {self.raw_dir}"
        )

    def _fetch_deb(self) -> None:
        """`apt-get download` the Debian package and `dpkg -x` it under the cache (no root)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".deb-") as tmp:
            tmp = Path(tmp)
            _run(["apt-get", "download", DEB_PACKAGE], cwd=tmp)
            debs = sorted(tmp.glob(f"{DEB_PACKAGE}_*.deb"))
            if not debs:
                raise OSError(f"apt-get download left no {DEB_PACKAGE}_*.deb in {tmp}")
            _run(["dpkg", "-x", str(debs[-1]), str(tmp / "root")], cwd=tmp)
            extracted = tmp / "root" / str(SYSTEM_DIR).lstrip("/")
            self.deb_dir.mkdir(parents=True, exist_ok=True)
            for n in FILES:  # same filesystem, so each move is an atomic rename
                os.replace(extracted / f"{n}.gz", self.deb_dir / f"{n}.gz")

    def _fetch_url(self) -> None:
        """Download each missing raw file, keeping it only if its content hash is right."""
        for n in FILES:
            dest = self.raw_dir / f"{n}.gz"
            if dest.is_file():
                continue
            with urllib.request.urlopen(f"{self.url}{n}.gz", timeout=60) as response:
                data = response.read()
            read_verified_idx_gz(
                f"{self.url}{n}.gz", n, "the download is damaged; retry", blob=data
            )
            atomic_write_bytes(dest, data)


register_dataset(FashionMNIST())
