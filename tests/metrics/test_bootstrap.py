"""Paired bootstrap CI of a corpus-BLEU difference, and `scratchdl bleu-diff`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.metrics.bleu import corpus_bleu
from scratchdl.metrics.bootstrap import (
    bleu_from_stats,
    bleu_stats,
    paired_bootstrap,
    resample_indices,
)
from scratchdl.workbench.bleu_diff import bleu_diff

WORDS = "the lord said unto moses and aaron in land of egypt".split()


def corpus(seed: int, n: int = 40, noise: float = 0.3) -> tuple[list[list[str]], list[list[str]]]:
    """References and hypotheses that copy them with a fraction `noise` of words replaced."""
    rng = random.Random(seed)
    refs = [[rng.choice(WORDS) for _ in range(rng.randint(3, 12))] for _ in range(n)]
    hyps = [[w if rng.random() > noise else rng.choice(WORDS) for w in r[: rng.randint(2, len(r))]]
            for r in refs]
    return refs, hyps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bleu_from_stats_is_corpus_bleu(seed):
    refs, hyps = corpus(seed)
    assert bleu_from_stats(bleu_stats(hyps, refs).sum(0)).item() == pytest.approx(
        corpus_bleu(hyps, refs), rel=1e-12
    )
    assert bleu_from_stats(bleu_stats([["x"]], [["y"]]).sum(0)).item() == 0.0  # no match


def test_interval_matches_a_brute_force_recomputation():
    refs, hyps_a = corpus(3, noise=0.4)
    _, hyps_b = corpus(3, noise=0.2)
    samples, seed = 60, 7
    got = paired_bootstrap(hyps_a, hyps_b, refs, samples=samples, seed=seed, chunk=16)
    diffs = []
    for rows in resample_indices(len(refs), samples, seed).tolist():
        ra, rb, rr = ([xs[i] for i in rows] for xs in (hyps_a, hyps_b, refs))
        diffs.append(corpus_bleu(rb, rr) - corpus_bleu(ra, rr))
    d = torch.tensor(diffs, dtype=torch.float64)
    low, high = torch.quantile(d, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    assert got.low == pytest.approx(low, abs=1e-9) and got.high == pytest.approx(high, abs=1e-9)
    assert got.diff == pytest.approx(corpus_bleu(hyps_b, refs) - corpus_bleu(hyps_a, refs))
    assert got.p_b_not_better == pytest.approx(float((d <= 0).double().mean()))
    assert got.low <= got.diff <= got.high


def test_identical_systems_and_determinism():
    refs, hyps = corpus(4)
    same = paired_bootstrap(hyps, hyps, refs, samples=200)
    assert (same.low, same.high, same.diff, same.p_b_not_better) == (0.0, 0.0, 0.0, 1.0)
    _, other = corpus(5)
    a = paired_bootstrap(hyps, other, refs, samples=200, seed=1)
    assert a == paired_bootstrap(hyps, other, refs, samples=200, seed=1)
    assert a != paired_bootstrap(hyps, other, refs, samples=200, seed=2)
    swapped = paired_bootstrap(other, hyps, refs, samples=200, seed=1)
    assert swapped.low == pytest.approx(-a.high) and swapped.high == pytest.approx(-a.low)


def test_more_sentences_narrow_the_interval():
    refs, a = corpus(6, n=400, noise=0.4)
    _, b = corpus(6, n=400, noise=0.3)
    wide = paired_bootstrap(a[:40], b[:40], refs[:40], samples=300)
    narrow = paired_bootstrap(a, b, refs, samples=300)
    assert narrow.high - narrow.low < wide.high - wide.low
    assert narrow.low > 0  # 10 points less noise: B is better, and the CI says so


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"samples": 0}, "samples"), ({"confidence": 1.0}, "confidence")],
)
def test_bad_arguments(kwargs, match):
    refs, hyps = corpus(0, n=5)
    with pytest.raises(UserError, match=match):
        paired_bootstrap(hyps, hyps, refs, **kwargs)
    with pytest.raises(UserError, match="same non-empty test set"):
        paired_bootstrap(hyps, hyps[:3], refs)


def write_run(run_dir: Path, refs, greedy, beam, verse: str = "Gen.1.") -> Path:
    run_dir.mkdir(parents=True)
    lines = ["ref\tsource\treference\tgreedy\tbeam"]
    for i, (r, g, b) in enumerate(zip(refs, greedy, beam, strict=True)):
        lines.append(f"{verse}{i}\tsrc\t{' '.join(r)}\t{' '.join(g)}\t{' '.join(b)}")
    (run_dir / "test_translations.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir


def test_bleu_diff_of_two_run_dirs_and_the_cli(tmp_path, capsys):
    from scratchdl.cli.main import main

    refs, a = corpus(8, noise=0.5)
    _, b = corpus(8, noise=0.1)
    ra = write_run(tmp_path / "a", refs, a, a)
    rb = write_run(tmp_path / "b", refs, b, b)
    got = bleu_diff(ra, rb, samples=100)
    assert got["bleu_a"] == pytest.approx(corpus_bleu(a, refs))
    assert got["bleu_b"] == pytest.approx(corpus_bleu(b, refs)) and got["diff"] > 0
    assert main(["bleu-diff", str(ra), str(rb), "--samples", "100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["high"] == pytest.approx(got["high"])
    assert main(["bleu-diff", str(ra), str(rb), "--samples", "50"]) == 0
    assert "B - A = +" in capsys.readouterr().out
    other = write_run(tmp_path / "c", refs, a, a, verse="Exod.1.")
    assert main(["bleu-diff", str(ra), str(other)]) == 2
    assert "different test sets" in capsys.readouterr().err
    assert main(["bleu-diff", str(ra), str(tmp_path / "nope")]) == 2
    assert "test_translations.tsv not found" in capsys.readouterr().err
