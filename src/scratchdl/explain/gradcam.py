"""Grad-CAM (Selvaraju et al. 2017): where a conv layer looked for the target class.

weights_k = mean over positions of d score / d A_k (A: the layer's output), then
cam = ReLU(sum_k weights_k A_k), upsampled bilinearly to the input size. Twin: captum's
LayerGradCam (the map before ReLU), then ReLU and the same interpolation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.explain._common import check_images, targets


def layer_names(model: nn.Module, kind: type[nn.Module] | None = None) -> list[str]:
    """Names of the model's submodules (only those of type `kind` when given)."""
    return [n for n, m in model.named_modules() if n and (kind is None or isinstance(m, kind))]


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name` (as named_modules() spells it), else a UserError listing them."""
    modules = dict(model.named_modules())
    if not name or name not in modules:
        convs = layer_names(model, nn.Conv2d)
        shown = ", ".join(convs or layer_names(model)[:40])
        raise UserError(f"layer {name!r} does not exist in this model; conv layers: {shown}")
    return modules[name]


def last_conv(model: nn.Module) -> str:
    """Name of the model's last nn.Conv2d (Grad-CAM's usual layer)."""
    convs = layer_names(model, nn.Conv2d)
    if not convs:
        raise UserError("this model has no nn.Conv2d layer: Grad-CAM needs a conv layer")
    return convs[-1]


def layer_activation_and_grad(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the layer's output A, d sum_i score_i[target_i] / dA), captured by a forward hook."""
    store: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        store["a"] = out

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            scores = model(x.detach().requires_grad_(True))
            picked = scores.gather(1, target.view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(picked, store["a"])
    finally:
        handle.remove()
    return store["a"].detach(), grad


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: int | torch.Tensor,
    layer: str,
    *,
    upsample: bool = True,
    relu: bool = True,
) -> torch.Tensor:
    """Grad-CAM maps [N, 1, H, W] (or the layer's [N, 1, h, w] with upsample=False)."""
    check_images(x)
    module = find_layer(model, layer)
    act, grad = layer_activation_and_grad(model, module, x, targets(target, len(x), x.device))
    if act.ndim != 4:
        raise UserError(f"layer {layer!r} gives {tuple(act.shape)}: Grad-CAM needs [N, C, h, w]")
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = (weights * act).sum(dim=1, keepdim=True)
    if relu:
        cam = F.relu(cam)
    if upsample:
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam
