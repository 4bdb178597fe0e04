"""Generative models: KL, likelihood and IWAE pieces against torch.distributions, the IWAE
bound against a numerically integrated log p(x), binarization, image grids."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from scratchdl.data.binarize import binarize, fixed_binarization
from scratchdl.models import build_model
from scratchdl.models.generative.vae import bernoulli_log_prob, gaussian_kl, iwae_nll
from scratchdl.plots.grids import tile


def test_gaussian_kl_equals_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = (
        torch.randn(7, 5, generator=g, dtype=torch.float64),
        3 * torch.randn(7, 5, generator=g, dtype=torch.float64),
    )
    want = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mu, logvar), want, rtol=1e-12, atol=1e-12)
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).abs().max() == 0  # q = prior


def test_bernoulli_log_prob_equals_torch_distributions():
    logits = 4 * torch.randn(3, 1, 28, 28, dtype=torch.float64)
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64).bernoulli()
    want = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_prob(logits, x), want)


@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_importance_weights_equal_a_torch_distributions_twin(name):
    torch.manual_seed(1)
    m = build_model(name, num_classes=10, latent_dim=3, hidden=16).double()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64).bernoulli()
    y = torch.tensor([0, 3, 9, 1]) if m.conditional else None
    w = m.log_importance_weights(x, y, 7, chunk=3, generator=torch.Generator().manual_seed(5))
    # twin: same noise (same generator calls), every density from torch.distributions
    g = torch.Generator().manual_seed(5)
    mu, logvar = m.encode(x, y)
    q = Normal(mu, (0.5 * logvar).exp())
    ref = []
    for c in (3, 3, 1):
        z = mu + q.scale * torch.randn(c, 4, 3, generator=g, dtype=torch.float64)
        logits = m.decode(z.flatten(0, 1), None if y is None else y.repeat(c)).view(c, 4, -1)
        log_px = Bernoulli(logits=logits).log_prob(x.view(1, 4, -1)).sum(-1)
        ref.append(log_px + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1))
    torch.testing.assert_close(w, torch.cat(ref).T)
    assert w.shape == (4, 7)


@pytest.mark.slow
def test_iwae_bound_tightens_to_the_integrated_likelihood():
    """1-D latent: log p(x) by quadrature on a fine grid; the k = 5000 bound is within a
    tenth of a nat, k = 1 (the ELBO) is looser, and every bound is above -log p(x) on average."""
    torch.manual_seed(0)
    m = build_model("vae", num_classes=10, latent_dim=1, hidden=8).double().eval()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64).bernoulli()
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    with torch.no_grad():
        logits = m.decode(z[:, None])
        log_px_z = torch.stack([bernoulli_log_prob(logits, xi.expand_as(logits)) for xi in x], 1)
        log_joint = log_px_z + Normal(0.0, 1.0).log_prob(z)[:, None]  # [Z, 3]
        exact = -(torch.logsumexp(log_joint, 0) + math.log(z[1] - z[0]))
        g = torch.Generator().manual_seed(0)
        # each column of the weights is one k = 1 bound: their mean is the expected ELBO
        k1 = -m.log_importance_weights(x, None, 500, chunk=500, generator=g).mean(1)
        k5000 = iwae_nll(m, x, None, 5000, chunk=700, generator=g)
    assert (k5000 - exact).abs().max() < 0.1, (k5000, exact)
    assert (k1 - exact).min() > -0.05 and (k1 > k5000).all()


def test_reparameterized_loss_matches_its_parts_and_backpropagates():
    torch.manual_seed(0)
    m = build_model("vae", num_classes=10, latent_dim=4, hidden=32, arch="conv")
    x = torch.rand(5, 1, 28, 28).bernoulli()
    out = m.loss(x)
    torch.testing.assert_close(out["loss"], out["recon"] + out["kl"])
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_autoencoder_tracks_code_statistics_and_samples():
    torch.manual_seed(0)
    m = build_model("autoencoder", num_classes=10, latent_dim=3, momentum=1.0)
    x = torch.rand(6, 1, 28, 28)
    m.loss(x)
    z = m.embed(x)
    torch.testing.assert_close(m.z_mean, z.mean(0).detach())
    torch.testing.assert_close(m.z_var, z.var(0, unbiased=False).detach())
    s = m.sample(4, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4, 1, 28, 28) and 0 <= s.min() and s.max() <= 1


def test_cvae_samples_follow_the_labels_and_need_them():
    m = build_model("cvae", num_classes=10, latent_dim=2, hidden=8)
    with pytest.raises(ValueError, match="needs labels"):
        m.encode(torch.zeros(1, 1, 28, 28))
    # a decoder that reads only the one-hot label (input columns 2.. after the 2-d code):
    # every pixel of a class-c sample is sigmoid(tanh(tanh(c))), whatever z was drawn
    with torch.no_grad():
        for p in m.dec.parameters():
            p.zero_()
        m.dec[0].weight[0, 2:] = torch.arange(10.0)
        m.dec[2].weight[0, 0] = 1.0
        m.dec[4].weight[:, 0] = 1.0
    labels = torch.tensor([0, 5, 9, 5])
    s = m.sample(4, labels, torch.Generator().manual_seed(0))
    want = torch.sigmoid(torch.tanh(torch.tanh(labels.float()))).view(4, 1, 1, 1)
    torch.testing.assert_close(s, want.expand(4, 1, 28, 28))
    default = m.sample(12)  # no labels: classes 0, 1, ..., 9, 0, 1 in turn
    torch.testing.assert_close(
        default[11, 0, 0, 0], torch.sigmoid(torch.tanh(torch.tanh(torch.tensor(1.0))))
    )


def test_binarization_fixed_is_seeded_dynamic_is_unbiased():
    x = torch.rand(200, 1, 28, 28)
    a, b = fixed_binarization(x, 3), fixed_binarization(x, 3)
    assert torch.equal(a, b) and not torch.equal(a, fixed_binarization(x, 4))
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    mean = torch.stack([binarize(x[:10]) for _ in range(400)]).mean(0)
    assert (mean - x[:10]).abs().mean() < 0.03  # E[b] = x
    assert torch.equal(binarize(torch.tensor([0.0, 1.0])), torch.tensor([0.0, 1.0]))


def test_tile_equals_torchvision_make_grid():
    make_grid = pytest.importorskip("torchvision.utils").make_grid
    imgs = torch.rand(19, 1, 5, 7)
    want = make_grid(imgs, nrow=8, padding=2, pad_value=1.0)[:1]
    torch.testing.assert_close(tile(imgs, 8), want)
