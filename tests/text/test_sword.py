"""SWORD zText reader: index layout, markup stripping, corrupt files, and the real modules."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.text.corpora.sword import ZTextModule, entry_layout, kjv_books, strip_osis


def write_module(folder: Path, texts: dict[str, dict[int, str]], per_block: int = 2) -> Path:
    """A zText module whose entry i of testament t holds texts[t][i] (others empty).

    Texts are packed `per_block` to a zlib block, so several blocks and offsets are used.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for testament in ("ot", "nt"):
        entries = texts.get(testament, {})
        count = len(entry_layout(testament))
        index = [(0, 0, 0)] * count
        blocks, current, in_current, bzz = [], b"", 0, b""
        for i in sorted(entries):
            data = entries[i].encode("utf-8")
            index[i] = (len(blocks), len(current), len(data))
            current, in_current = current + data, in_current + 1
            if in_current == per_block:
                blocks.append(current)
                current, in_current = b"", 0
        if current:
            blocks.append(current)
        bzs = b""
        for block in blocks:
            packed = zlib.compress(block)
            bzs += struct.pack("<III", len(bzz), len(packed), len(block))
            bzz += packed
        (folder / f"{testament}.bzs").write_bytes(bzs)
        (folder / f"{testament}.bzv").write_bytes(b"".join(struct.pack("<IIH", *e) for e in index))
        (folder / f"{testament}.bzz").write_bytes(bzz)
    return folder


def index_of(ref: str) -> tuple[str, int]:
    book, chapter, verse = ref.split(".")
    for testament in ("ot", "nt"):
        layout = entry_layout(testament)
        if (book, int(chapter), int(verse)) in layout:
            return testament, layout.index((book, int(chapter), int(verse)))
    raise KeyError(ref)


def test_kjv_versification_has_the_known_counts() -> None:
    books = dict(kjv_books())
    assert len(books) == 66
    assert sum(len(c) for c in books.values()) == 1189
    assert sum(sum(c) for c in books.values()) == 31102
    assert books["Ps"][118] == 176 and books["Ps"][116] == 2 and len(books["Ps"]) == 150
    assert books["Gen"][0] == 31 and books["John"][2] == 36 and books["Rev"][-1] == 21
    # OT: 2 leading entries + 39 book headings + 929 chapter headings + 23145 verses
    assert len(entry_layout("ot")) == 2 + 39 + 929 + 23145
    assert len(entry_layout("nt")) == 2 + 27 + 260 + 7957
    assert entry_layout("ot")[4] == ("Gen", 1, 1)
    assert entry_layout("ot")[:4] == [None] * 4  # empty, testament, book, chapter heading
    with pytest.raises(UserError, match="testament"):
        entry_layout("apocrypha")


def test_strip_osis_drops_notes_keeps_words() -> None:
    markup = (
        '<div type="x-milestone" subType="x-preverse" sID="pv1"/>In the <w lemma="strong:H7225">'
        'beginning</w> God<note placement="foot"><reference type="annotateRef">1.1 </reference>'
        "a note: <w>never</w> shown</note> created<lb/>the &amp; "
        '<transChange type="added">earth</transChange>. \u00b6 <divineName>Lord</divineName>'
    )
    assert strip_osis(markup) == "In the beginning God created the & earth. Lord"
    assert strip_osis("") == ""
    assert strip_osis('<chapter n="1" osisID="Gen.1" sID="Gen.1"/> ') == ""


def test_reader_maps_entries_to_verses(tmp_path: Path) -> None:
    ot_gen, i_gen = index_of("Gen.1.1")
    nt, i_john = index_of("John.3.16")
    _, i_ps = index_of("Ps.117.2")
    texts = {
        "ot": {
            1: '<milestone type="x-importer"/>',  # testament heading: not a verse
            i_gen: "In the <w>beginning</w>.",
            i_ps: "Praise ye the LORD.",
        },
        "nt": {i_john: "For God so loved the world,<note>n</note>"},
    }
    verses = ZTextModule(write_module(tmp_path / "mod", texts)).verses()
    assert len(verses) == 31102
    by_ref = {v.ref: v.text for v in verses}
    assert by_ref["Gen.1.1"] == "In the beginning."
    assert by_ref["Ps.117.2"] == "Praise ye the LORD."
    assert by_ref["John.3.16"] == "For God so loved the world,"
    assert by_ref["Gen.1.2"] == ""
    assert sum(1 for v in verses if v.text) == 3
    assert verses[0].ref == "Gen.1.1" and verses[-1].ref == "Rev.22.21"


def test_reader_rejects_corrupt_modules(tmp_path: Path) -> None:
    _, i_gen = index_of("Gen.1.1")
    folder = write_module(tmp_path / "mod", {"ot": {i_gen: "text"}})
    with pytest.raises(UserError, match="missing"):
        ZTextModule(tmp_path)
    module = ZTextModule(folder)
    good = (folder / "ot.bzv").read_bytes()

    (folder / "ot.bzv").write_bytes(good[:-3])
    with pytest.raises(UserError, match="multiple of 10"):
        module.raw_entries("ot")
    (folder / "ot.bzv").write_bytes(good[:-10])  # one entry short
    with pytest.raises(UserError, match="KJV versification"):
        module.verses()
    (folder / "ot.bzv").write_bytes(good)
    (folder / "ot.bzz").write_bytes(b"not zlib at all")
    with pytest.raises(UserError, match="corrupt"):
        module.raw_entries("ot")
    (folder / "ot.bzs").write_bytes(b"")
    with pytest.raises(UserError, match="missing block"):
        module.raw_entries("ot")


# ----------------------------------------------------------------------------- real modules


def real_module(lang: str) -> ZTextModule:
    from scratchdl.text.corpora.translation import bible_module_dir

    try:
        return ZTextModule(bible_module_dir(lang, fetch=False))
    except UserError as e:
        pytest.skip(f"Bible module not here ({e}); get it with `apt-get download`, see DATA.md")


@pytest.mark.parametrize(
    ("lang", "expect"),
    [
        (
            "en",
            {
                "Gen.1.1": "In the beginning God created the heaven and the earth.",
                "John.3.16": "For God so loved the world, that he gave his only begotten Son, "
                "that whosoever believeth in him should not perish, but have everlasting life.",
                "John.11.35": "Jesus wept.",
            },
        ),
        (
            "es",
            {
                "Gen.1.1": "EN el principio crió Dios los cielos y la tierra.",
                "John.3.16": "Porque de tal manera amó Dios al mundo, que ha dado á su Hijo "
                "unigénito, para que todo aquel que en él cree, no se pierda, mas tenga vida "
                "eterna.",
                "John.11.35": "Y lloró Jesús.",
            },
        ),
    ],
)
def test_real_modules_hold_known_verses(lang: str, expect: dict[str, str]) -> None:
    verses = real_module(lang).verses()
    assert len(verses) == 31102
    by_ref = {v.ref: v.text for v in verses}
    for ref, text in expect.items():
        assert by_ref[ref] == text
    assert not any("<" in v.text or ">" in v.text for v in verses)  # no markup left
