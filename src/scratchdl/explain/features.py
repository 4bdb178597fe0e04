"""Feature views: first-layer filters, a layer's feature maps, penultimate features and a 2-D
map of them (t-SNE or PCA, scikit-learn) to see which classes the network keeps apart.
"""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain.gradcam import find_layer


def first_layer_filters(model: nn.Module) -> torch.Tensor:
    """The first nn.Conv2d's weights [out, in, k, k] (a copy)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.weight.detach().clone()
    raise UserError("this model has no nn.Conv2d layer: no filters to show")


def _capture(model: nn.Module, layer: nn.Module, x: torch.Tensor, pre: bool) -> torch.Tensor:
    store: list[torch.Tensor] = []
    if pre:
        handle = layer.register_forward_pre_hook(lambda _m, inp: store.append(inp[0].detach()))
    else:
        handle = layer.register_forward_hook(lambda _m, _i, out: store.append(out.detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return store[0]


def feature_maps(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of submodule `layer` (named as in named_modules()) for the batch x."""
    return _capture(model, find_layer(model, layer), x, pre=False)


def penultimate(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The input of the model's last nn.Linear (the features the classifier reads) [N, D]."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError("this model has no nn.Linear layer: no penultimate features")
    parts = [
        _capture(model, linears[-1], x[i : i + batch_size], pre=True).flatten(1)
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts)


def embed_2d(features: torch.Tensor, method: str = "tsne", seed: int = 0) -> torch.Tensor:
    """[N, D] -> [N, 2] by t-SNE (perplexity min(30, (N - 1) / 3)) or PCA."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("tsne", "pca"):
        raise UserError(f"method: expected 'tsne' or 'pca', got {method!r}")
    data = features.detach().double().cpu().numpy()
    if len(data) < 3:
        raise UserError(f"embed_2d needs at least 3 points, got {len(data)}")
    if method == "pca":
        out = PCA(n_components=2, random_state=seed).fit_transform(data)
    else:
        perplexity = min(30.0, (len(data) - 1) / 3)
        out = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(data)
    return torch.from_numpy(out)
