"""The movie-review polarity set: parsing, the hash split, the real file's counts, errors.

The real-data tests read the verified cache that `scratchdl data fetch movie-reviews` (make
data) writes; they skip, saying so, where it is absent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scratchdl.data import get_dataset
from scratchdl.data.cache import data_home
from scratchdl.errors import UserError
from scratchdl.text.corpora import movie_reviews as mr

REAL = data_home() / "movie-reviews" / mr.SNIPPETS_FILE  # resolved before the fixture moves it


def test_parse_snippets_reads_id_score_text_and_rejects_bad_lines():
    text = "1\t2.5\tA fine film.\r\n2\t-0.2\tDull ''thing''\r\n\r\n3\t0\tMeh\r\n"
    assert mr.parse_snippets(text) == [
        (1, 2.5, "A fine film."), (2, -0.2, "Dull ''thing''"), (3, 0.0, "Meh")
    ]  # fmt: skip
    with pytest.raises(UserError, match=r"line 2: expected `id<TAB>score<TAB>text`, got 2"):
        mr.parse_snippets("1\t1\tok\n2\tno tab here\n")


def test_split_is_stratified_disjoint_and_follows_the_hash_rule():
    by_class = {0: list(range(0, 100)), 1: list(range(100, 150))}
    part = mr.split_ids(by_class, seed=0, val_fraction=0.1, test_fraction=0.2)
    assert sorted(part) == list(range(150))
    for ids, n_test, n_val in ((by_class[0], 20, 10), (by_class[1], 10, 5)):
        assert sum(part[i] == "test" for i in ids) == n_test
        assert sum(part[i] == "val" for i in ids) == n_val
        # by hand: the n_test ids with the smallest hash are test
        order = sorted(
            ids, key=lambda i: hashlib.sha256(f"movie-reviews:0:{i}".encode()).hexdigest()
        )
        assert {i for i in ids if part[i] == "test"} == set(order[:n_test])
    other = mr.split_ids(by_class, seed=1, val_fraction=0.1, test_fraction=0.2)
    assert other != part


def test_missing_data_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")
    assert not get_dataset("movie-reviews").is_present()
    with pytest.raises(
        UserError, match="scratchdl data fetch movie-reviews.*vaderSentiment==3.3.2"
    ):
        mr.load_movie_reviews()


def test_a_wrong_sdist_or_a_bad_fraction_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    (tmp_path / "movie-reviews").mkdir()
    (tmp_path / "movie-reviews" / mr.VADER_SDIST).write_bytes(b"not a tarball")
    with pytest.raises(UserError, match="not the vaderSentiment 3.3.2 sdist; delete it"):
        mr.load_movie_reviews()
    with pytest.raises(UserError, match="test_fraction must be in"):
        mr.load_movie_reviews(test_fraction=1.5)


def _real(monkeypatch, tmp_path) -> None:
    if not REAL.is_file():
        pytest.skip("movie-reviews not fetched: run `scratchdl data fetch movie-reviews`")
    # a copy, so that this test's corruption of it never touches the user's cache
    home = tmp_path / "movie-reviews"
    home.mkdir()
    (home / mr.SNIPPETS_FILE).write_bytes(REAL.read_bytes())
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    monkeypatch.setenv("SCRATCHDL_OFFLINE", "1")


def test_real_counts_and_split(monkeypatch, tmp_path):
    _real(monkeypatch, tmp_path)
    data = mr.load_movie_reviews()
    sizes = {s: len(getattr(data, s)) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == 10_568  # 10,605 snippets less the 37 scored exactly 0
    pos = sum(sum(getattr(data, s).labels) for s in sizes)
    assert pos == 5_242
    # per class: round(0.1 * 5242) = 524 and round(0.1 * 5326) = 533 in val and in test
    assert sizes == {"train": 10_568 - 2 * 1_057, "val": 1_057, "test": 1_057}
    assert sum(data.test.labels) == 524
    seen = [set(getattr(data, s).ids) for s in sizes]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert data.classes == ("negative", "positive")
    # snippet 3 ("Effective but too tepid biopic", score -0.6) is negative
    everything = {
        i: (t, y)
        for sp in (data.train, data.val, data.test)
        for i, t, y in zip(sp.ids, sp.texts, sp.labels, strict=True)
    }
    assert everything[3] == ("Effective but too tepid biopic", 0)
    assert all(t.strip() for t, _ in everything.values())


def test_a_corrupt_cache_is_quarantined(monkeypatch, tmp_path, capsys):
    _real(monkeypatch, tmp_path)
    path = Path(tmp_path / "movie-reviews" / mr.SNIPPETS_FILE)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="not in .*put vaderSentiment-3.3.2.tar.gz"):
        mr.load_movie_reviews()
    assert path.with_name(path.name + ".corrupt").is_file()
