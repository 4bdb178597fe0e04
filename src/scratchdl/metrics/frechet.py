"""Frechet distance between two Gaussians fitted to feature sets (the formula behind FID).

  d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

S1 S2 is not symmetric, so instead of a general matrix square root (scipy's sqrtm, which
pytorch-fid uses) we use that S1 S2 is similar to the symmetric PSD matrix
A = S1^(1/2) S2 S1^(1/2): both have the same eigenvalues, so tr((S1 S2)^(1/2)) is the sum of
the square roots of A's eigenvalues, two symmetric eigendecompositions in float64.
scratchdl computes it on the features of its own trained classifier (tasks/generative_eval.py),
not on ImageNet Inception features, so the numbers are not comparable to published FID.
"""

from __future__ import annotations

import numpy as np
import torch


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [D], unbiased covariance [D, D]) of features [N, D], in float64 (as np.cov)."""
    f = torch.as_tensor(features, dtype=torch.float64)
    if f.dim() != 2 or len(f) < 2:
        raise ValueError(f"features: expected [N >= 2, D], got {tuple(f.shape)}")
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / (len(f) - 1)


def _psd_sqrt(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric PSD matrix (tiny negative eigenvalues from rounding -> 0)."""
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (arrays or tensors)."""
    mu1, mu2, s1, s2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(
            f"expected mu [D] and sigma [D, D] for both, got {tuple(mu1.shape)}, "
            f"{tuple(s1.shape)}, {tuple(mu2.shape)}, {tuple(s2.shape)}"
        )
    root1 = _psd_sqrt(s1)
    eig = torch.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_covmean = eig.clamp_min(0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + s1.trace() + s2.trace() - 2 * tr_covmean)
