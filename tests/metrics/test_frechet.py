"""Frechet distance: equal to pytorch-fid's calculate_frechet_distance on the same statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchdl.metrics.frechet import feature_stats, frechet_distance

fid_score = pytest.importorskip("pytorch_fid.fid_score")


@pytest.mark.parametrize("d,n,shift", [(2, 50, 0.0), (16, 200, 0.5), (64, 500, 2.0)])
def test_equals_pytorch_fid(d, n, shift):
    g = np.random.default_rng(d)
    a = g.normal(size=(n, d)) @ g.normal(size=(d, d))
    b = g.normal(size=(n, d)) @ g.normal(size=(d, d)) * 0.7 + shift
    (m1, s1), (m2, s2) = feature_stats(a), feature_stats(b)
    assert np.allclose(s1.numpy(), np.cov(a, rowvar=False), atol=1e-10)  # np.cov twin
    assert np.allclose(m1.numpy(), a.mean(0))
    want = fid_score.calculate_frechet_distance(m1.numpy(), s1.numpy(), m2.numpy(), s2.numpy())
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(want, rel=1e-6, abs=1e-8)


def test_hand_computed_and_edge_cases():
    # 1-D: (mu1-mu2)^2 + (s1 - s2)^2 with s = standard deviations: (1-4)^2 + (2-3)^2 = 10
    assert frechet_distance([1.0], [[4.0]], [4.0], [[9.0]]) == pytest.approx(10.0)
    # identical statistics: 0; a singular (rank-deficient) covariance still works
    x = torch.randn(100, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[:, 4] = x[:, 3]
    m, s = feature_stats(x)
    assert abs(frechet_distance(m, s, m, s)) < 1e-6  # sqrt of a ~1e-16 eigenvalue: ~1e-8
    with pytest.raises(ValueError, match=r"expected \[N >= 2, D\]"):
        feature_stats(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="expected mu"):
        frechet_distance(m, s, m[:3], s[:3, :3])
