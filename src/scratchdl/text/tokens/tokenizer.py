"""Text cleaning and tokenization: characters or words, with or without the book's cleaning.

clean_text("It's 5 o'clock!")            -> "it s o clock "   (the book's letters-only form)
tokenize("Mr. Darcy's _pride_", "word")  -> ["Mr", ".", "Darcy's", "_", "pride", "_"]
tokenize("ab c", "char")                 -> ["a", "b", " ", "c"]
"""

from __future__ import annotations

import re

from scratchdl.errors import UserError

CLEAN_MODES = ("letters", "none")
LEVELS = ("char", "word")

_NON_LETTERS = re.compile(r"[^A-Za-z]+")
# A word is a run of letters/digits, with inner apostrophes kept ("don't", "mak'st"); "--" (the
# Gutenberg dash) is one mark; every other visible character is a token of its own. "_" counts
# as punctuation: Gutenberg marks italics as _word_, and the underscores should not glue onto
# the word.
_WORD_OR_MARK = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|-{2,}|[^\w\s]|_")


def check_str(text: object, what: str = "text") -> str:
    """`text` itself if it is a str; UserError saying what was got otherwise."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes | bytearray):
        raise UserError(
            f"{what}: expected str, got {type(text).__name__}; decode it first "
            "(e.g. data.decode('utf-8')) or use scratchdl.text.corpora.read_text_file(path)"
        )
    raise UserError(f"{what}: expected str, got {type(text).__name__}")


def clean_text(text: str, mode: str = "letters") -> str:
    """Normalise text before tokenizing.

    mode "letters" (the book's preprocessing): every run of characters outside A-Z/a-z becomes
    one space, then everything is lower-cased, so only "a"-"z" and " " remain (28 symbols with
    <unk>). Newlines and punctuation become spaces. mode "none": `text` unchanged, case and
    punctuation kept.
    """
    text = check_str(text, "clean_text")
    if mode == "letters":
        return _NON_LETTERS.sub(" ", text).lower()
    if mode == "none":
        return text
    raise UserError(f"unknown cleaning mode {mode!r}: expected one of {', '.join(CLEAN_MODES)}")


def tokenize(text: str, level: str = "char") -> list[str]:
    """Split `text` into tokens.

    level "char": every character, spaces and newlines included (len == len(text)).
    level "word": words (letters/digits with inner apostrophes) and punctuation marks as
    separate tokens (a run of dashes "--" is one mark), case kept, whitespace dropped. On
    clean_text(..., "letters") output this is exactly text.split().
    """
    text = check_str(text, "tokenize")
    if level == "char":
        return list(text)
    if level == "word":
        return _WORD_OR_MARK.findall(text)
    raise UserError(f"unknown token level {level!r}: expected one of {', '.join(LEVELS)}")
