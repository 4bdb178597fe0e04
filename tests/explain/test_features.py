"""Feature views and class visualization: hand-checked against the model's own layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain import (
    class_visualization,
    embed_2d,
    feature_maps,
    first_layer_filters,
    penultimate,
)
from scratchdl.models import build_model


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("lenet", in_channels=1, num_classes=10, image_size=(28, 28)).eval()


def test_filters_maps_and_penultimate_are_the_layers_own(lenet) -> None:
    x = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(first_layer_filters(lenet), lenet[0].weight.detach())
    with torch.no_grad():
        torch.testing.assert_close(feature_maps(lenet, x, "1"), lenet[:2](x))
        torch.testing.assert_close(penultimate(lenet, x, batch_size=2), lenet[:-1](x))
    with pytest.raises(UserError, match=r"layer 'fc' does not exist"):
        feature_maps(lenet, x, "fc")


@pytest.mark.slow  # t-SNE: about 5 s
def test_embed_2d_pca_is_the_top_two_principal_axes() -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.randn(40, 5, generator=g, dtype=torch.float64) * torch.tensor(
        [5.0, 3.0, 0.1, 0.1, 0.1], dtype=torch.float64
    )
    out = embed_2d(f, "pca")
    centred = f - f.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    hand = centred @ v[:2].T
    torch.testing.assert_close(out.abs(), hand.abs(), rtol=1e-9, atol=1e-9)  # axis signs free
    tsne = embed_2d(f, "tsne")
    assert tsne.shape == (40, 2) and torch.isfinite(tsne).all()
    with pytest.raises(UserError, match=r"expected 'tsne' or 'pca'"):
        embed_2d(f, "umap")


def test_class_visualization_raises_the_class_score(lenet) -> None:
    plain = {"l2": 0.0, "jitter": 0, "blur_every": 0}  # pure ascent: the score must rise
    start = class_visualization(lenet, [3, 7], (1, 28, 28), steps=1, lr=1e-9, **plain)
    imgs = class_visualization(lenet, [3, 7], (1, 28, 28), steps=30, lr=0.05, **plain)
    again = class_visualization(lenet, [3, 7], (1, 28, 28), steps=30, lr=0.05, **plain)
    assert imgs.shape == (2, 1, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1
    assert torch.equal(imgs, again)  # seeded
    with torch.no_grad():
        before = lenet(start)[[0, 1], [3, 7]]
        after = lenet(imgs)[[0, 1], [3, 7]]
    assert (after > before + 0.03).all()  # 0.074 -> 0.115 with these weights
    # the L2 penalty pulls pixels towards 0: a strong one gives a darker image
    dark = class_visualization(lenet, [3, 7], (1, 28, 28), steps=30, lr=0.05, l2=1.0)
    assert dark.mean() < imgs.mean() - 0.1
    with pytest.raises(UserError, match=r"expected steps >= 1, lr > 0"):
        class_visualization(lenet, [0], (1, 28, 28), lr=0)
