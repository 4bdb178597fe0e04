"""Two-layer net: affine - relu - affine - softmax."""

import math
from typing import Any

import torch
from torch import Tensor

from scratchdl.models._registry import register_model
from scratchdl.models.scratch._base import ScratchNet, Shape
from scratchdl.scratch.layers import Affine, ReLU, softmax_loss


class TwoLayerNet(ScratchNet):
    """x (N, D) (or (N, ...) flattening to D) -> scores (N, num_classes).

    params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float | None = 1e-3,
        reg: float = 0.0,
        l2_half: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(num_classes, reg, dtype, device, seed, l2_half)
        self.input_dim = input_dim
        self.params["W1"] = self.weight((input_dim, hidden_dim), input_dim, weight_scale)
        self.params["b1"] = self.zeros(hidden_dim)
        self.params["W2"] = self.weight((hidden_dim, num_classes), hidden_dim, weight_scale)
        self.params["b2"] = self.zeros(num_classes)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Scores (N, C) when y is None, else (softmax loss + L2 penalty, grads)."""
        x, y = self.check_inputs(x, y, (self.input_dim,), flatten=True)
        p = self.params
        hidden, affine1_cache = Affine.forward(x, p["W1"], p["b1"])
        hidden, relu_cache = ReLU.forward(hidden)
        scores, affine2_cache = Affine.forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, Tensor] = {}
        dhidden, grads["W2"], grads["b2"] = Affine.backward(dscores, affine2_cache)
        dhidden = ReLU.backward(dhidden, relu_cache)
        _, grads["W1"], grads["b1"] = Affine.backward(dhidden, affine1_cache)
        loss = self.add_l2(loss, grads, ["W1", "W2"])
        return loss, grads



TWOLAYER_OPTIONS: dict[str, Any] = {
    "hidden_dim": 256,
    "weight_scale": 0.0,
    "reg": 0.0,
    "l2_half": False,
}


@register_model("twolayer", "scratch-net", options=TWOLAYER_OPTIONS)
def twolayer(
    *, input_shape: Shape, num_classes: int, seed: int, device: str = "cpu", **options: Any
):
    """Affine - ReLU - affine - softmax, every forward and backward written by hand."""
    options["weight_scale"] = options["weight_scale"] or None
    return TwoLayerNet(
        input_dim=math.prod(input_shape),
        num_classes=num_classes,
        seed=seed,
        device=device,
        **options,
    )
