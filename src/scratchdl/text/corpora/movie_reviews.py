"""Sentence polarity: the 10,605 movie-review snippets of Hutto & Gilbert's VADER ground truth.

    data = load_movie_reviews()          # fixed stratified split, the same on every machine
    data.train.texts[0], data.train.labels[0]   # str, 0 (negative) or 1 (positive)

Source: the sentences are Pang and Lee's sentence-polarity movie-review snippets (the data of
Kim 2014's "MR" column), each re-rated by 20 people on -4..+4 for VADER (ICWSM 2014). They are
NOT the book's IMDb reviews (no registry holds those). They ship only inside the sdist of PyPI
vaderSentiment==3.3.2: additional_resources/hutto_ICWSM_2014.tar.gz ->
hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt (lines `id<TAB>mean score<TAB>text`).

Labels: 1 if the mean human score is > 0, 0 if < 0; the 37 snippets scored exactly 0 are
dropped (10,568 remain: 5,242 positive, 5,326 negative).

Split (val_fraction = test_fraction = 0.1 by default): within each class, snippets are ordered
by SHA-256 of "movie-reviews:<seed>:<id>", and the first round(n * test_fraction) go to test,
the next round(n * val_fraction) to val, the rest to train; each split is then in id order. A
hash, not a random generator, so the split never depends on a library version.

The snippet file is cached (SHA-256 pinned) in data_home()/movie-reviews/; sources are tried in
order: that cache, the sdist put by hand into the same folder, `pip download` (online).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scratchdl.data.cache import atomic_write_bytes, data_home, quarantine, sha256_bytes
from scratchdl.data.registry import DatasetSpec, register_dataset
from scratchdl.errors import UserError
from scratchdl.text.corpora.base import _offline

VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
SNIPPETS_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SNIPPETS_FILE = "movieReviewSnippets_GroundTruth.txt"
SNIPPETS_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
VADER_PIP = "python -m pip download --no-deps --no-binary :all: vaderSentiment==3.3.2"
CLASSES = ("negative", "positive")


@dataclass(frozen=True)
class TextSplit:
    """One split: texts[i] has label labels[i] (index into CLASSES) and snippet id ids[i]."""

    texts: list[str]
    labels: list[int]
    ids: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class TextClassificationData:
    """train/val/test splits of a text-classification set and its class names."""

    train: TextSplit
    val: TextSplit
    test: TextSplit
    classes: tuple[str, ...]


def movie_reviews_dir() -> Path:
    return data_home() / "movie-reviews"


def parse_snippets(text: str) -> list[tuple[int, float, str]]:
    """(id, mean score, sentence) of every line `id<TAB>score<TAB>sentence`."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise UserError(
                f"{SNIPPETS_FILE} line {n}: expected `id<TAB>score<TAB>text`, got "
                f"{len(parts)} fields; delete {movie_reviews_dir()} and fetch again"
            )
        rows.append((int(parts[0]), float(parts[1]), parts[2].strip()))
    return rows


def split_ids(
    ids_by_class: dict[int, list[int]], seed: int, val_fraction: float, test_fraction: float
) -> dict[int, str]:
    """id -> "train" | "val" | "test", stratified by class (the rule in the module doc)."""
    out: dict[int, str] = {}
    for ids in ids_by_class.values():
        order = sorted(
            ids, key=lambda i: hashlib.sha256(f"movie-reviews:{seed}:{i}".encode()).hexdigest()
        )
        n_test = round(len(order) * test_fraction)
        n_val = round(len(order) * val_fraction)
        for k, i in enumerate(order):
            out[i] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    return out


def _extract_snippets(sdist_bytes: bytes) -> bytes:
    """The ground-truth file from the sdist's inner tarball, read by name (nothing written)."""
    with tarfile.open(fileobj=io.BytesIO(sdist_bytes), mode="r:gz") as outer:
        inner = outer.extractfile(VADER_INNER)
        if inner is None:
            raise UserError(f"{VADER_SDIST} holds no {VADER_INNER}; delete it")
        with tarfile.open(fileobj=io.BytesIO(inner.read()), mode="r:gz") as tar:
            member = tar.extractfile(SNIPPETS_MEMBER)
            if member is None:
                raise UserError(f"{VADER_INNER} holds no {SNIPPETS_MEMBER}")
            return member.read()


def _pip_download(dest: Path) -> Path:
    req = dest / "requirements.txt"
    req.write_text(f"vaderSentiment==3.3.2 --hash=sha256:{VADER_SDIST_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--require-hashes", "--disable-pip-version-check", "--quiet",
           "-r", str(req), "-d", str(dest)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(f"pip did not run: {e}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(f"pip download exited {proc.returncode}: {lines[-1] if lines else ''}")
    if not (dest / VADER_SDIST).is_file():
        raise OSError(f"pip download did not produce {VADER_SDIST}")
    return dest / VADER_SDIST


def _from_sdist(sdist: Path) -> bytes:
    data = sdist.read_bytes()
    if sha256_bytes(data) != VADER_SDIST_SHA256:
        raise UserError(
            f"{sdist} has SHA-256 {sha256_bytes(data)}, not the pinned {VADER_SDIST_SHA256}: "
            "it is not the vaderSentiment 3.3.2 sdist; delete it"
        )
    return _extract_snippets(data)


class MovieReviews(DatasetSpec):
    name = "movie-reviews"
    description = (
        "10,568 movie-review sentences, binary polarity (Pang & Lee snippets, VADER ratings), "
        "PyPI vaderSentiment==3.3.2 sdist"
    )

    @property
    def cache_file(self) -> Path:
        return movie_reviews_dir() / SNIPPETS_FILE

    @property
    def sources(self) -> list[str]:
        return [
            str(self.cache_file),
            f"{movie_reviews_dir() / VADER_SDIST} (put there by hand)",
            f"`{VADER_PIP}` (online)",
        ]

    def is_present(self) -> bool:
        return self.cache_file.is_file() or (movie_reviews_dir() / VADER_SDIST).is_file()

    def size_bytes(self) -> int | None:
        return self.cache_file.stat().st_size if self.cache_file.is_file() else None

    def load_text(self, fetch: bool = True) -> str:
        """The verified snippet file as str (cache, else the sdist, else pip download)."""
        path = self.cache_file
        if path.is_file():
            data = path.read_bytes()
            if sha256_bytes(data) == SNIPPETS_SHA256:
                return data.decode("utf-8")
            quarantine(path, f"SHA-256 is not the pinned {SNIPPETS_SHA256[:12]}...")
        home = movie_reviews_dir()
        dropped = home / VADER_SDIST
        if dropped.is_file():
            data = _from_sdist(dropped)
        elif not fetch or _offline():
            raise UserError(
                f"movie-reviews is not in {home}: run `scratchdl data fetch movie-reviews` "
                f"online (it runs `{VADER_PIP}`), or put {VADER_SDIST} into {home}"
            )
        else:
            home.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=home, prefix=".download-") as tmp:
                try:
                    data = _from_sdist(_pip_download(Path(tmp)))
                except OSError as e:
                    raise UserError(
                        f"could not download movie-reviews ({e}); run `{VADER_PIP}` yourself "
                        f"and put {VADER_SDIST} into {home}"
                    ) from None
        if sha256_bytes(data) != SNIPPETS_SHA256:
            raise UserError(
                f"{SNIPPETS_FILE} from the sdist has SHA-256 {sha256_bytes(data)}, not the "
                f"pinned {SNIPPETS_SHA256}; report this to scratchdl"
            )
        atomic_write_bytes(path, data)
        return data.decode("utf-8")

    def fetch(self) -> str:
        self.load_text(fetch=True)
        return f"{self.name}: verified snippets in {self.cache_file}"

    def load_arrays(self):
        raise UserError(
            "movie-reviews is a text set, not an image set: use scratchdl.text.load_movie_reviews()"
        )


MOVIE_REVIEWS = register_dataset(MovieReviews())


def load_movie_reviews(
    seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1, fetch: bool = True
) -> TextClassificationData:
    """The binary movie-review set, split as the module doc says (seed 0: the recipes' split).

    Shared by the GloVe/BiLSTM/TextCNN recipes and BERT fine-tuning, so their numbers compare.
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(f, int | float) or not 0 <= f < 1:
            raise UserError(f"load_movie_reviews: {name} must be in [0, 1), got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise UserError("load_movie_reviews: val_fraction + test_fraction must be < 1")
    rows = [r for r in parse_snippets(MOVIE_REVIEWS.load_text(fetch)) if r[1] != 0]
    label = {i: int(score > 0) for i, score, _ in rows}
    by_class: dict[int, list[int]] = {0: [], 1: []}
    for i, y in label.items():
        by_class[y].append(i)
    part = split_ids(by_class, seed, val_fraction, test_fraction)
    splits: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in ("train", "val", "test")}
    for i, _, text in sorted(rows):
        texts, labels, ids = splits[part[i]]
        texts.append(text)
        labels.append(label[i])
        ids.append(i)
    return TextClassificationData(**{s: TextSplit(*v) for s, v in splits.items()}, classes=CLASSES)
