"""Parallel sentences for machine translation: the Bible (English KJV -> Spanish RV1909, offline)
and Tatoeba eng-fra (the book's data, online only), tokenised, filtered, split, made into arrays.

    data = load_translation("bible-en-es", max_tokens=20)
    data.train.src  # int64 [N, num_steps], <eos> appended, <pad> after; data.train.src_len [N]

Rules, so that numbers are comparable and honest:
- Alignment. Both Bible modules use the KJV verse numbering, but the Spanish text moves a few
  verses across chapter ends (e.g. KJV Jonah 1:17 is its 2:1), leaving one side empty there.
  Every chapter with an empty verse on either side is dropped, and so is the chapter after it
  in the same book (where the moved text lands).
- Length filter. A pair is kept when both sides have at most `max_tokens` tokens after
  preprocessing (word and punctuation tokens), so that no sequence is ever truncated.
- Split. Whole groups go to one split: Bible chapters, or Tatoeba source sentences. Groups are
  shuffled by `split_seed`. Val and test then lose every pair whose tokenised source sentence
  also occurs in train (the Bible repeats formulas such as "and the lord spake unto moses ,
  saying ,"), so test sources are never seen in training.
- Vocabularies come from the training split only; rarer than `min_freq` -> <unk>.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import unicodedata
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from scratchdl.data.cache import atomic_write_bytes, data_home
from scratchdl.data.debian import debian_root
from scratchdl.data.registry import DatasetSpec, ImageArrays, register_dataset
from scratchdl.errors import UserError
from scratchdl.text.corpora.sword import ZTextModule
from scratchdl.text.tokens.bpe import BPE
from scratchdl.text.tokens.vocab import Vocab

RESERVED = ("<pad>", "<bos>", "<eos>")

# language -> (Debian package, SWORD module); both modules use the KJV versification.
BIBLE_MODULES = {
    "en": ("sword-text-kjv", "engKJV2006eb"),
    "es": ("sword-text-sparv", "spaRV1909eb"),
}

# The book's copy of Tatoeba eng-fra (d2l DATA_HUB 'fra-eng'); the book publishes a SHA-1.
TATOEBA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip"
TATOEBA_SHA1 = "94646ad1522d915e7b0f9296181140edcf86a4f5"

CORPORA = ("bible-en-es", "tatoeba-eng-fra")


@dataclass(frozen=True)
class TranslationPair:
    """One aligned pair. group: what must stay in one split (Bible chapter, e.g. "John.3")."""

    ref: str
    src: str
    tgt: str
    group: str


# ----------------------------------------------------------------------------- Bible


def bible_module_dir(lang: str, fetch: bool = True) -> Path:
    """Folder of the SWORD module for `lang` ("en" or "es"): system copy, cache, or .deb."""
    if lang not in BIBLE_MODULES:
        raise UserError(f"no Bible module for language {lang!r} (have: {', '.join(BIBLE_MODULES)})")
    package, module = BIBLE_MODULES[lang]
    rel = f"usr/share/sword/modules/texts/ztext/{module}"
    files = [f"{rel}/{t}.{ext}" for t in ("ot", "nt") for ext in ("bzs", "bzv", "bzz")]
    return debian_root(package, files, fetch=fetch) / rel


@cache
def _bible_verses(lang: str, fetch: bool) -> tuple:
    return tuple(ZTextModule(bible_module_dir(lang, fetch)).verses())


def load_bible_pairs(src: str = "en", tgt: str = "es", fetch: bool = True) -> list[TranslationPair]:
    """Aligned verse pairs (see the module doc for the chapters dropped), canonical order."""
    src_verses, tgt_verses = _bible_verses(src, fetch), _bible_verses(tgt, fetch)
    broken = {
        (a.book, a.chapter)
        for a, b in zip(src_verses, tgt_verses, strict=True)
        if not a.text or not b.text
    }
    dropped = broken | {(book, chapter + 1) for book, chapter in broken}
    return [
        TranslationPair(a.ref, a.text, b.text, f"{a.book}.{a.chapter}")
        for a, b in zip(src_verses, tgt_verses, strict=True)
        if (a.book, a.chapter) not in dropped
    ]


# ----------------------------------------------------------------------------- Tatoeba


def parse_tatoeba(text: str) -> list[TranslationPair]:
    """Pairs from the tab-separated `fra.txt` format: `english TAB french [TAB attribution]`.

    Blank lines are skipped; a line without a tab is an error naming its line number.
    """
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise UserError(
                f"Tatoeba line {number}: expected 'english<TAB>french[<TAB>attribution]', "
                f"got {line[:60]!r}"
            )
        eng, fra = fields[0].strip(), fields[1].strip()
        pairs.append(TranslationPair(f"line{number}", eng, fra, eng))
    return pairs


def tatoeba_path() -> Path:
    return data_home() / "tatoeba" / "fra-eng.zip"


def load_tatoeba_pairs(fetch: bool = True) -> list[TranslationPair]:
    """Tatoeba eng-fra as the book ships it: cached zip, else download it (online users only)."""
    path = tatoeba_path()
    if not path.is_file():
        offline = os.environ.get("SCRATCHDL_OFFLINE", "").strip().lower() in ("1", "true", "yes")
        if not fetch or offline:
            raise UserError(
                f"Tatoeba eng-fra is not cached at {path}; it is online only: run with network "
                f"access once, or put {TATOEBA_URL} there (SHA-1 {TATOEBA_SHA1})"
            )
        try:
            with urllib.request.urlopen(TATOEBA_URL, timeout=60) as response:
                data = response.read()
        except OSError as e:
            raise UserError(f"could not download {TATOEBA_URL} ({e}); check the network") from None
        if hashlib.sha1(data).hexdigest() != TATOEBA_SHA1:
            raise UserError(f"{TATOEBA_URL} does not match its pinned SHA-1; not using it")
        atomic_write_bytes(path, data)
    try:
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
            text = zf.read("fra-eng/fra.txt").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is corrupt ({e}); delete it and run again") from None
    return parse_tatoeba(text)


# ----------------------------------------------------------------------------- preprocessing

# A word (letters/digits, with inner apostrophes as in "don't", "qu'il") or one punctuation mark.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def preprocess(text: str) -> str:
    """Lower-case, Unicode NFC, typographic apostrophes and spaces made plain, and every
    punctuation mark set off by spaces: "Go, now!" -> "go , now !"."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    return " ".join(_TOKEN.findall(text.lower()))


def tokenize_sentence(text: str) -> list[str]:
    """Tokens of `preprocess(text)`: words and punctuation marks."""
    return _TOKEN.findall(preprocess(text))


def split_groups(
    groups: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> list[str]:
    """ "train"/"val"/"test" for each item; items of one group share a split.

    The distinct groups (sorted, so input order does not matter) are shuffled with `seed`;
    the first `test_fraction` of them are test, the next `val_fraction` val, the rest train.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise UserError(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise UserError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}"
        )
    distinct = sorted(set(groups))
    random.Random(seed).shuffle(distinct)
    n_test = round(len(distinct) * test_fraction)
    n_val = round(len(distinct) * val_fraction)
    where = {g: "test" for g in distinct[:n_test]}
    where.update({g: "val" for g in distinct[n_test : n_test + n_val]})
    return [where.get(g, "train") for g in groups]


def truncate_pad(ids: Sequence[int], num_steps: int, pad: int) -> tuple[list[int], int]:
    """(`ids` cut or padded with `pad` to exactly num_steps, number of real tokens kept)."""
    if num_steps < 1:
        raise UserError(f"truncate_pad: num_steps must be >= 1, got {num_steps}")
    ids = list(ids)[:num_steps]
    return ids + [pad] * (num_steps - len(ids)), len(ids)


def build_arrays(
    token_lists: Sequence[Sequence[str]], vocab: Vocab, num_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """ids int64 [N, num_steps] (tokens, <eos>, then <pad>) and valid lengths int64 [N].

    A sequence longer than num_steps - 1 is truncated and loses its <eos>; load_translation
    picks num_steps = max_tokens + 1 so that this never happens there.
    """
    rows, lengths = [], []
    for tokens in token_lists:
        row, length = truncate_pad([*vocab[list(tokens)], vocab.eos], num_steps, vocab.pad)
        rows.append(row)
        lengths.append(length)
    if not rows:
        return torch.zeros(0, num_steps, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    return torch.tensor(rows, dtype=torch.int64), torch.tensor(lengths, dtype=torch.int64)


# ----------------------------------------------------------------------------- datasets


@dataclass
class TranslationSplit:
    """One split: refs, word token lists (for BLEU), the model's units (the words, or their
    BPE subwords) and arrays of the units from build_arrays."""

    refs: list[str]
    src_tokens: list[list[str]]
    tgt_tokens: list[list[str]]
    src_units: list[list[str]]
    tgt_units: list[list[str]]
    src: torch.Tensor  # int64 [N, num_steps]
    src_len: torch.Tensor  # int64 [N]
    tgt: torch.Tensor  # int64 [N, num_steps]
    tgt_len: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.refs)


@dataclass
class TranslationData:
    src_vocab: Vocab
    tgt_vocab: Vocab
    train: TranslationSplit
    val: TranslationSplit
    test: TranslationSplit
    num_steps: int
    stats: dict[str, int]  # pair counts at each stage, for the run's record
    src_bpe: BPE | None = None  # tokenizer="bpe": learned on the training side only
    tgt_bpe: BPE | None = None

    def words(self, units: list[str]) -> list[str]:
        """Target units (model output) back to words: BPE decoding, or the words as they are."""
        return self.tgt_bpe.decode(units) if self.tgt_bpe is not None else list(units)


def load_pairs(corpus: str, fetch: bool = True) -> list[TranslationPair]:
    if corpus == "bible-en-es":
        return load_bible_pairs("en", "es", fetch)
    if corpus == "tatoeba-eng-fra":
        return load_tatoeba_pairs(fetch)
    raise UserError(f"unknown translation corpus {corpus!r} (known: {', '.join(CORPORA)})")


def load_translation(
    corpus: str = "bible-en-es",
    max_tokens: int = 20,
    min_freq: int = 2,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    split_seed: int = 0,
    train_limit: int = 0,
    fetch: bool = True,
    pairs: Sequence[TranslationPair] | None = None,
    tokenizer: str = "word",
    bpe_vocab: int = 8000,
) -> TranslationData:
    """Pairs of `corpus` (or the given `pairs`) filtered, split and encoded (see module doc).

    tokenizer "word": the units are the words and punctuation marks; pairs longer than
    max_tokens are dropped before the split (the split shuffles the groups that remain).
    tokenizer "bpe": the groups of all pairs are split first; one BPE per language (at most
    bpe_vocab symbols) is learned on that language's whole training side; then pairs with
    more than max_tokens BPE units on either side are dropped from every split.
    train_limit > 0 then keeps only the first that many training pairs (for quick tests).
    """
    if max_tokens < 1:
        raise UserError(f"max_tokens must be >= 1, got {max_tokens}")
    if tokenizer not in ("word", "bpe"):
        raise UserError(f"data.tokenizer must be 'word' or 'bpe', got {tokenizer!r}")
    pairs = list(pairs) if pairs is not None else load_pairs(corpus, fetch)
    tokenized = [(p, tokenize_sentence(p.src), tokenize_sentence(p.tgt)) for p in pairs]
    stats = {"pairs": len(pairs)}
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    src_bpe = tgt_bpe = None
    if tokenizer == "word":
        kept = [t for t in tokenized if 0 < len(t[1]) <= max_tokens and 0 < len(t[2]) <= max_tokens]
        items = [(p, s, t, s, t) for p, s, t in kept]
    else:
        items = [(p, s, t, s, t) for p, s, t in tokenized if s and t]
    where = split_groups([item[0].group for item in items], val_fraction, test_fraction, split_seed)
    for item, split in zip(items, where, strict=True):
        parts[split].append(item)
    stats["short_pairs"] = len(items)
    if tokenizer == "bpe":
        src_bpe = BPE.learn([w for item in parts["train"] for w in item[1]], bpe_vocab)
        tgt_bpe = BPE.learn([w for item in parts["train"] for w in item[2]], bpe_vocab)
        for name, part in parts.items():
            units = [(p, s, t, src_bpe.encode(s), tgt_bpe.encode(t)) for p, s, t, _, _ in part]
            parts[name] = [u for u in units if len(u[3]) <= max_tokens and len(u[4]) <= max_tokens]
        stats["short_pairs"] = sum(len(part) for part in parts.values())
    if train_limit > 0:
        parts["train"] = parts["train"][:train_limit]
    seen = {tuple(item[1]) for item in parts["train"]}
    for split in ("val", "test"):
        kept = [t for t in parts[split] if tuple(t[1]) not in seen]
        stats[f"{split}_seen_dropped"] = len(parts[split]) - len(kept)
        parts[split] = kept
    if not parts["train"]:
        raise UserError(f"{corpus}: no training pairs with at most {max_tokens} tokens per side")
    src_vocab = Vocab([item[3] for item in parts["train"]], min_freq, RESERVED)
    tgt_vocab = Vocab([item[4] for item in parts["train"]], min_freq, RESERVED)
    num_steps = max_tokens + 1  # room for <eos>

    def encode(items: list) -> TranslationSplit:
        refs, src_tokens, tgt_tokens, src_units, tgt_units = (
            [item[k] for item in items] for k in range(5)
        )
        src, src_len = build_arrays(src_units, src_vocab, num_steps)
        tgt, tgt_len = build_arrays(tgt_units, tgt_vocab, num_steps)
        refs = [p.ref for p in refs]
        return TranslationSplit(
            refs, src_tokens, tgt_tokens, src_units, tgt_units, src, src_len, tgt, tgt_len
        )

    splits = {name: encode(items) for name, items in parts.items()}
    stats.update({f"{name}_pairs": len(s) for name, s in splits.items()})
    return TranslationData(
        src_vocab, tgt_vocab, **splits, num_steps=num_steps, stats=stats,
        src_bpe=src_bpe, tgt_bpe=tgt_bpe,
    )


class BibleEnEs(DatasetSpec):
    """The two SWORD modules in `scratchdl data list/fetch` (pairs: load_translation)."""

    name = "bible-en-es"
    description = "KJV English / Reina-Valera 1909 Spanish verse pairs, Debian sword-text-*"

    @property
    def sources(self) -> list[str]:
        return [
            f"/ then {data_home() / 'deb' / pkg} (apt-get install {pkg} or apt-get download)"
            for pkg, _ in BIBLE_MODULES.values()
        ]

    def _dirs(self, fetch: bool) -> list[Path]:
        return [bible_module_dir(lang, fetch=fetch) for lang in BIBLE_MODULES]

    def is_present(self) -> bool:
        try:
            self._dirs(fetch=False)
        except UserError:
            return False
        return True

    def size_bytes(self) -> int | None:
        if not self.is_present():
            return None
        return sum(f.stat().st_size for d in self._dirs(False) for f in d.iterdir())

    def fetch(self) -> str:
        return f"{self.name}: SWORD modules in {', '.join(map(str, self._dirs(fetch=True)))}"

    def load_arrays(self) -> ImageArrays:
        raise UserError(
            f"{self.name} is text: use scratchdl.text.corpora.translation.load_translation"
        )


register_dataset(BibleEnEs())
