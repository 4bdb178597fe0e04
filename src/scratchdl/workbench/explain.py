"""`scratchdl explain RUN_DIR --method M`: look inside a trained image classifier.

Every method loads the run with tasks.restore.load_trained_model and writes one figure
(PNG and PDF) to --out. Gradients are taken in pixel space [0, 1] (the run's standardisation
is undone and done again inside PixelModel), so SmoothGrad's noise, the IG baseline (a black
image) and the attack's epsilon are pixel units whatever the run's data.normalize was.
The images shown are the first n of the test split (a fixed, reproducible choice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain import (
    PixelModel,
    class_visualization,
    embed_2d,
    feature_maps,
    first_layer_filters,
    grad_cam,
    integrated_gradients,
    penultimate,
    smoothgrad,
    vanilla_gradient,
)
from scratchdl.explain.attacks import ATTACKS, attack, check_epsilon
from scratchdl.explain.gradcam import find_layer, last_conv, layer_names
from scratchdl.plots import explain as figs
from scratchdl.store import runs_root
from scratchdl.tasks._restore import load_trained_model

METHODS = (
    "saliency",
    "smoothgrad",
    "ig",
    "gradcam",
    "classviz",
    "filters",
    "features",
    "tsne",
    "pca",
    "adversarial",
)
DEFAULT_N = {"tsne": 1000, "pca": 1000, "features": 16, "filters": 64}  # else 8 images


class Loaded:
    """A run's model, its pixel view, test pixels and labels, class names."""

    def __init__(self, run_dir: Path) -> None:
        self.model, self.cfg, data = load_trained_model(run_dir)
        self.info = data.info
        self.x = data.test.x  # the model's input space
        self.y = data.test.y
        self.px = PixelModel(self.model, data.info.mean, data.info.std).eval()
        self.recipe = self.cfg.get("recipe", run_dir.name)

    def pixels(self, n: int) -> torch.Tensor:
        return self.px.to_pixels(self.x[:n])

    def predict(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.px(pixels).argmax(1)

    def captions(self, pixels: torch.Tensor, y: torch.Tensor) -> list[str]:
        names = self.info.classes
        return [
            f"true {names[int(t)]}\npred {names[int(p)]}"
            for t, p in zip(y, self.predict(pixels), strict=True)
        ]


def check_method(method: str, layer: str | None, n: int | None, eps: float) -> None:
    if method not in METHODS:
        raise UserError(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise UserError(f"--n: expected a positive int, got {n!r}")
    check_epsilon(eps, "--eps")
    if layer is not None and method not in ("gradcam", "features"):
        raise UserError(f"--layer applies to gradcam and features, not {method}")


def explain(
    run_dir: str | Path,
    method: str,
    *,
    layer: str | None = None,
    n: int | None = None,
    out: str | Path | None = None,
    eps: float = 0.1,
    attack_name: str = "pgd",
    seed: int = 0,
) -> dict[str, Any]:
    """Run `method` on a trained run; returns {"method", "paths", "values": the tensors shown}."""
    check_method(method, layer, n, eps)
    if attack_name not in ATTACKS:
        raise UserError(f"--attack: expected one of {', '.join(ATTACKS)}, got {attack_name!r}")
    run = Loaded(Path(run_dir))
    k = n or DEFAULT_N.get(method, 8)
    out_dir = Path(out) if out else runs_root() / f"explain-{time.strftime('%Y%m%d-%H%M%S')}"
    stem = out_dir / method
    torch.manual_seed(seed)  # SmoothGrad's noise: the same figure every time
    handler = HANDLERS[method]
    paths, values = handler(
        run, k=k, layer=layer, eps=eps, attack_name=attack_name, seed=seed, stem=stem
    )
    return {"method": method, "paths": [str(p) for p in paths], "values": values}


def _attribution(run: Loaded, *, k: int, method: str, stem: Path, **_: Any):
    pixels, y = run.pixels(k), run.y[:k]
    if method == "saliency":
        maps, what = vanilla_gradient(run.px, pixels, y), "|gradient|"
    elif method == "smoothgrad":
        maps, what = (
            smoothgrad(run.px, pixels, y, samples=25, stdev=0.15),
            "SmoothGrad (25 x σ 0.15)",
        )
    else:
        maps, what = integrated_gradients(run.px, pixels, y, steps=32), "integrated gradients"
    title = f"{run.recipe}: {what} of the true class's score"
    paths = figs.attribution_grid(
        pixels, maps, run.captions(pixels, y), title=title, overlay=False, path_stem=stem
    )
    return paths, maps


def _saliency(run: Loaded, **kw: Any):
    return _attribution(run, method="saliency", **kw)


def _smoothgrad(run: Loaded, **kw: Any):
    return _attribution(run, method="smoothgrad", **kw)


def _ig(run: Loaded, **kw: Any):
    return _attribution(run, method="ig", **kw)


def _gradcam(run: Loaded, *, k: int, layer: str | None, stem: Path, **_: Any):
    name = layer or last_conv(run.model)
    pixels, y = run.pixels(k), run.y[:k]
    cams = grad_cam(run.model, run.x[:k], y, name)
    title = f"{run.recipe}: Grad-CAM of the true class at layer {name!r}"
    paths = figs.attribution_grid(
        pixels, cams, run.captions(pixels, y), title=title, overlay=True, path_stem=stem
    )
    return paths, cams


def _classviz(run: Loaded, *, stem: Path, seed: int, **_: Any):
    classes = list(range(run.info.num_classes))
    shape = (run.info.in_channels, *run.x.shape[-2:])
    imgs = class_visualization(run.px, classes, shape, seed=seed)
    paths = figs.image_grid(
        imgs,
        run.info.classes,
        title=f"{run.recipe}: class visualization (gradient ascent, L2 + jitter + blur)",
        path_stem=stem,
    )
    return paths, imgs


def _filters(run: Loaded, *, k: int, stem: Path, **_: Any):
    w = first_layer_filters(run.model)[:k]
    shown = w if w.shape[1] in (1, 3) else w.mean(dim=1, keepdim=True)
    paths = figs.image_grid(
        shown,
        [f"filter {i}" for i in range(len(w))],
        title=f"{run.recipe}: first-layer filters {tuple(w.shape[1:])} (each scaled to its range)",
        path_stem=stem,
        cols=8,
        rescale=True,
    )
    return paths, w


def _features(run: Loaded, *, k: int, layer: str | None, stem: Path, **_: Any):
    convs = layer_names(run.model, nn.Conv2d)
    name = layer or (convs[0] if convs else None)
    if name is None:
        raise UserError("this model has no conv layer: name one with --layer")
    find_layer(run.model, name)
    maps = feature_maps(run.model, run.x[:1], name)
    if maps.ndim != 4:
        raise UserError(f"layer {name!r} gives {tuple(maps.shape)}: feature maps need [N, C, h, w]")
    chans = maps[0, :k].unsqueeze(1)
    label = run.info.classes[int(run.y[0])]
    paths = figs.image_grid(
        [run.pixels(1)[0], *chans],  # the maps may be smaller than the input
        ["input", *(f"channel {i}" for i in range(len(chans)))],
        title=f"{run.recipe}: feature maps of layer {name!r} for a test {label}",
        path_stem=stem,
        cols=6,
        cmap=["gray", *["viridis"] * len(chans)],
        rescale=True,
    )
    return paths, maps


def _embedding(run: Loaded, *, k: int, stem: Path, seed: int, method: str, **_: Any):
    feats = penultimate(run.model, run.x[:k])
    points = embed_2d(feats, method, seed=seed)
    paths = figs.embedding_figure(
        points,
        run.y[:k],
        run.info.classes,
        title=f"{run.recipe}: {method.upper() if method == 'pca' else 't-SNE'} of penultimate "
        f"features ({len(points)} test images)",
        path_stem=stem,
    )
    return paths, points


def _tsne(run: Loaded, **kw: Any):
    return _embedding(run, method="tsne", **kw)


def _pca(run: Loaded, **kw: Any):
    return _embedding(run, method="pca", **kw)


def _adversarial(run: Loaded, *, k: int, eps: float, attack_name: str, stem: Path, **_: Any):
    pixels, y = run.pixels(k), run.y[:k]
    adv = attack(attack_name, run.px, pixels, y, eps)
    names = run.info.classes
    clean_pred, adv_pred = run.predict(pixels), run.predict(adv)
    captions = [
        (f"{names[int(t)]}, pred {names[int(p)]}", f"adversarial: pred {names[int(q)]}")
        for t, p, q in zip(y, clean_pred, adv_pred, strict=True)
    ]
    what = "FGSM" if attack_name == "fgsm" else "PGD-20"
    paths = figs.adversarial_grid(
        pixels,
        adv,
        captions,
        title=f"{run.recipe}: {what}, L-inf ε = {eps:g} (pixels 0-1)",
        path_stem=stem,
    )
    return paths, adv


HANDLERS: dict[str, Callable[..., tuple[list[Path], torch.Tensor]]] = {
    "saliency": _saliency,
    "smoothgrad": _smoothgrad,
    "ig": _ig,
    "gradcam": _gradcam,
    "classviz": _classviz,
    "filters": _filters,
    "features": _features,
    "tsne": _tsne,
    "pca": _pca,
    "adversarial": _adversarial,
}
