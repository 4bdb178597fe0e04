"""VQ-VAE and GAN pieces against hand computations: nearest codes, straight-through gradient,
commitment and codebook losses, EMA update, dead-code restart, perplexity; the two generator
losses and their gradients when D is confident."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.models.generative.dcgan import DCGAN, discriminator_loss, generator_loss
from scratchdl.models.generative.vqvae import (
    VQVAE,
    CodePrior,
    VectorQuantizer,
    nearest_codes,
    perplexity,
)


def test_nearest_codes_equal_cdist_argmin():
    g = torch.Generator().manual_seed(0)
    z, cb = torch.randn(200, 8, generator=g), torch.randn(32, 8, generator=g)
    assert torch.equal(nearest_codes(z, cb), torch.cdist(z, cb).argmin(1))


def test_perplexity_by_hand():
    assert perplexity(torch.tensor([5.0, 5.0, 5.0, 5.0])).item() == pytest.approx(4.0)
    assert perplexity(torch.tensor([7.0, 0.0, 0.0])).item() == pytest.approx(1.0)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert perplexity(p * 8).item() == pytest.approx(math.exp(-(p * p.log()).sum().item()))


def test_straight_through_passes_the_decoder_gradient_unchanged():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, dim=4, restart_below=0.0).eval()
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    q, stats = vq(z)
    upstream = torch.randn_like(q)
    (g,) = torch.autograd.grad((q * upstream).sum(), z)
    assert torch.equal(g, upstream)  # d q / d z is the identity
    # the forward value is the nearest code, not z
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 4)
    want = vq.codebook.detach()[torch.cdist(flat, vq.codebook.detach()).argmin(1)]
    assert torch.allclose(q.detach().permute(0, 2, 3, 1).reshape(-1, 4), want)
    # vq = ||sg[z] - e||^2 + beta ||z - sg[e]||^2, each a mean over elements
    mse = F.mse_loss(flat, want).item()
    assert stats["vq"].item() == pytest.approx(mse * 1.25, rel=1e-5)
    assert stats["commit"].item() == pytest.approx(mse, rel=1e-5)


def test_commitment_moves_encoder_codebook_loss_moves_codes():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, dim=2, beta=0.25, restart_below=0.0).eval()
    z = torch.randn(1, 2, 2, 2, requires_grad=True)
    _, stats = vq(z)
    gz, ge = torch.autograd.grad(stats["vq"], [z, vq.codebook])
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 2)
    idx = nearest_codes(flat, vq.codebook.detach())
    diff = flat - vq.codebook.detach()[idx]  # z - e for each vector
    m = diff.numel()
    assert torch.allclose(gz.permute(0, 2, 3, 1).reshape(-1, 2), 0.25 * 2 * diff / m, atol=1e-7)
    want = torch.zeros(8, 2).index_add_(0, idx, -2 * diff / m)
    assert torch.allclose(ge, want, atol=1e-7)


def test_ema_update_by_hand():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=4, dim=2, ema=True, decay=0.9, restart_below=0.0).train()
    assert not any(True for _ in vq.parameters())  # the codebook is learned without gradients
    cb0, sum0 = vq.codebook.clone(), vq.ema_sum.clone()
    z = torch.randn(1, 2, 3, 3)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    idx = nearest_codes(flat, cb0)
    vq(z)
    n = torch.bincount(idx, minlength=4).float()
    count = 0.1 * n
    s = 0.9 * sum0 + 0.1 * torch.zeros(4, 2).index_add_(0, idx, flat)
    smoothed = (count + 1e-5) / (count.sum() + 4e-5) * count.sum()
    assert torch.allclose(vq.ema_count, count) and torch.allclose(vq.ema_sum, s)
    assert torch.allclose(vq.codebook, s / smoothed[:, None])
    used = n > 0
    assert torch.allclose(vq.codebook[used], s[used] / count[used, None], rtol=1e-3)


def test_dead_codes_restart_on_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, dim=2, decay=0.5, restart_below=0.3).train()
    with torch.no_grad():
        vq.codebook[1:] = 100.0  # only code 0 is ever nearest to small inputs
        vq.usage.fill_(1.0)  # as if every code had been in use
    z = 0.1 * torch.randn(1, 2, 2, 2)
    vq(z)  # usage of codes 1..7 falls 1 -> 0.5: still alive
    assert (vq.codebook[1:] == 100).all()
    vq(z)  # 0.25 < 0.3: restarted on vectors of this batch
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    for row in vq.codebook[1:]:
        assert (row == flat).all(1).any()
    assert torch.allclose(vq.usage[1:], torch.full((7,), 0.6))


def test_first_training_batch_moves_unused_codes_onto_the_data():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, dim=2).train()
    z = 5 + torch.randn(1, 2, 4, 4)  # far from the tiny initial codebook
    vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    on_data = [(row == flat).all(1).any().item() for row in vq.codebook]
    assert sum(on_data) >= 7  # all but the one code the batch chose


def test_vqvae_shapes_and_usage_stats():
    torch.manual_seed(0)
    m = VQVAE(num_codes=32, dim=8, hidden=16)
    out = m.loss(torch.rand(4, 1, 28, 28))
    assert out["loss"].item() == pytest.approx((out["recon_mse"] + out["vq"]).item())
    assert 1 <= out["perplexity"].item() <= 32 and 0 < out["usage"].item() <= 1
    assert m.reconstruct(torch.rand(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    s = m.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 28, 28) and 0 <= s.min() and s.max() <= 1


def test_code_prior_sees_only_earlier_positions():
    """By gradient: the logits at raster position i depend on the inputs at positions < i."""
    torch.manual_seed(0)
    prior = CodePrior(num_codes=6, channels=32, layers=2)
    h = w = 4
    x = torch.randn(1, 32, h, w, requires_grad=True)
    y = prior.net(x)
    for i in range(h * w):
        (g,) = torch.autograd.grad(y[0, :, i // w, i % w].sum(), x, retain_graph=True)
        seen = (g[0].abs().sum(0) != 0).flatten()
        assert not seen[i:].any(), i  # never its own or a later position
        assert seen[:i].any() or i == 0, i  # and it does look back


def test_code_prior_nll_is_the_categorical_log_likelihood():
    torch.manual_seed(0)
    prior = CodePrior(num_codes=5, channels=8, layers=1)
    codes = torch.randint(0, 5, (3, 7, 7))
    logits = prior(codes)
    by_hand = -torch.distributions.Categorical(logits=logits.permute(0, 2, 3, 1)).log_prob(codes)
    assert torch.allclose(prior.nll(codes), by_hand.flatten(1).sum(1), atol=1e-5)


def test_code_prior_samples_follow_its_distribution():
    """On a 1x1 grid mask A hides everything: p(c) is one fixed softmax; 20,000 draws match it."""
    torch.manual_seed(0)
    prior = CodePrior(num_codes=4, channels=8, layers=1)
    with torch.no_grad():
        prior.net[-1].bias.copy_(torch.tensor([1.0, 0.0, -1.0, 0.5]))
    p = F.softmax(prior(torch.zeros(1, 1, 1, dtype=torch.long))[0, :, 0, 0], 0)
    draws = prior.sample(20_000, (1, 1), torch.Generator().manual_seed(1)).flatten()
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    assert torch.allclose(freq, p, atol=0.015)
    a = prior.sample(3, (7, 7), torch.Generator().manual_seed(2))
    assert a.shape == (3, 7, 7) and torch.equal(
        a, prior.sample(3, (7, 7), torch.Generator().manual_seed(2))
    )


def test_vqvae_prior_leaves_the_autoencoder_training_unchanged():
    """The prior learns from detached codes and its initialization leaves the global RNG alone
    (dead-code restarts draw from it): encoder, decoder and codebook after 3 Adam steps are
    bit-identical with and without it, and the prior's own weights did move."""
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    models = {}
    for prior in ("none", "pixelcnn"):
        torch.manual_seed(0)
        m = VQVAE(
            num_codes=16, dim=4, hidden=8, ema=True, prior=prior, prior_channels=8, prior_layers=1
        ).train()
        start = {k: v.clone() for k, v in m.state_dict().items()}
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            out = m.loss(x)
            out["loss"].backward()
            opt.step()
        models[prior] = (m, start, out)
    plain, with_prior = models["none"][0], models["pixelcnn"][0]
    for k, v in plain.state_dict().items():
        assert torch.equal(v, with_prior.state_dict()[k]), k
    assert not plain.has_prior and with_prior.has_prior
    m, start, out = models["pixelcnn"]
    assert not torch.equal(m.prior.embed.weight, start["prior.embed.weight"])
    assert out["prior_nll"].item() > 0
    assert out["loss"].item() == pytest.approx(
        (out["recon_mse"] + out["vq"] + out["prior_nll"]).item(), rel=1e-6
    )
    s = with_prior.eval().sample(2, None, torch.Generator().manual_seed(0))
    assert s.shape == (2, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    with pytest.raises(UserError, match="model.prior must be one of none, pixelcnn"):
        VQVAE(prior="gaussian")


def test_generator_losses_and_their_gradients_when_d_is_confident():
    logits = torch.tensor([-12.0, -6.0, 0.0, 3.0], requires_grad=True)
    d = torch.sigmoid(logits.detach())
    mm = generator_loss(logits, "minimax")
    ns = generator_loss(logits, "non-saturating")
    assert mm.item() == pytest.approx(torch.log1p(-d).mean().item(), rel=1e-6)
    assert ns.item() == pytest.approx(-torch.log(d).mean().item(), rel=1e-6)
    (g_mm,) = torch.autograd.grad(mm, logits)
    (g_ns,) = torch.autograd.grad(ns, logits)
    assert torch.allclose(g_mm, -d / 4) and torch.allclose(g_ns, -(1 - d) / 4)
    # D(G(z)) -> 0 (logit -12): the minimax gradient vanishes, the non-saturating one does not
    assert abs(g_mm[0]) < 1e-5 * abs(g_ns[0]) and g_ns[0] == pytest.approx(-0.25, rel=1e-5)
    # where D is fooled (logit 3) the roles swap
    assert abs(g_mm[3]) > 10 * abs(g_ns[3])
    with pytest.raises(ValueError, match="generator loss"):
        generator_loss(logits, "wasserstein")


def test_discriminator_loss_is_binary_cross_entropy():
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(16, generator=g), torch.randn(16, generator=g)
    want = F.binary_cross_entropy_with_logits(r, torch.ones(16)) + (
        F.binary_cross_entropy_with_logits(f, torch.zeros(16))
    )
    assert discriminator_loss(r, f).item() == pytest.approx(want.item(), rel=1e-6)


def test_dcgan_shapes():
    torch.manual_seed(0)
    m = DCGAN(latent_dim=8, width=8)
    x = m.sample(4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert m.discriminate(2 * x - 1).shape == (4,)
    out = m.loss(torch.rand(4, 1, 28, 28))
    assert out["loss"].item() == pytest.approx((out["d_loss"] + out["g_loss"]).item())
