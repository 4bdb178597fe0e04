"""Fully connected net of any depth:
{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax."""

import math
from typing import Any

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.models.scratch._base import ScratchNet, Shape
from scratchdl.scratch.layers import Affine, BatchNorm, Dropout, LayerNorm, ReLU, softmax_loss


class FullyConnectedNet(ScratchNet):
    """x (N, D) (or flattening to D) -> scores (N, num_classes).

    params: W{i}, b{i} for layers i = 1..L; gamma{i}, beta{i} for each hidden layer when
    normalization is "batchnorm" or "layernorm". With batch norm the hidden layers have no
    b{i} (batch norm subtracts any bias; beta{i} takes its place) and buffers
    running_mean{i}, running_var{i}. dropout is the drop probability (0 = no dropout).
    """

    def __init__(
        self,
        hidden_dims: list[int] | tuple[int, ...] = (100, 100),
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float = 0.0,
        normalization: str | None = None,
        reg: float = 0.0,
        l2_half: bool = False,
        weight_scale: float | None = 1e-2,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(num_classes, reg, dtype, device, seed, l2_half)
        if normalization not in (None, "batchnorm", "layernorm"):
            raise UserError(
                f"expected normalization None, 'batchnorm' or 'layernorm', got {normalization!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"expected a dropout probability in [0, 1), got {dropout}")
        self.input_dim = input_dim
        self.normalization = normalization
        self.dropout = dropout
        self.num_layers = len(hidden_dims) + 1
        dims = [input_dim, *hidden_dims, num_classes]
        for i in range(1, self.num_layers + 1):
            fan_in, fan_out = dims[i - 1], dims[i]
            self.params[f"W{i}"] = self.weight((fan_in, fan_out), fan_in, weight_scale)
            if normalization != "batchnorm" or i == self.num_layers:
                self.params[f"b{i}"] = self.zeros(fan_out)  # batch norm would cancel a bias
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = self.ones(fan_out)
                self.params[f"beta{i}"] = self.zeros(fan_out)
            if normalization == "batchnorm" and i < self.num_layers:
                self.buffers[f"running_mean{i}"] = self.zeros(fan_out)
                self.buffers[f"running_var{i}"] = self.ones(fan_out)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Scores (N, C) when y is None, else (softmax loss + L2 penalty, grads)."""
        x, y = self.check_inputs(x, y, (self.input_dim,), flatten=True)
        p, caches = self.params, []
        out = x
        for i in range(1, self.num_layers):
            out, affine_cache = Affine.forward(out, p[f"W{i}"], p.get(f"b{i}"))
            norm_cache = None
            if self.normalization == "batchnorm":
                out, norm_cache = BatchNorm.forward(
                    out, p[f"gamma{i}"], p[f"beta{i}"], self.buffers[f"running_mean{i}"],
                    self.buffers[f"running_var{i}"], self.training,
                )  # fmt: skip
            elif self.normalization == "layernorm":
                out, norm_cache = LayerNorm.forward(out, p[f"gamma{i}"], p[f"beta{i}"])
            out, relu_cache = ReLU.forward(out)
            out, drop_cache = Dropout.forward(out, self.dropout, self.training, self.generator)
            caches.append((affine_cache, norm_cache, relu_cache, drop_cache))
        last = self.num_layers
        scores, last_cache = Affine.forward(out, p[f"W{last}"], p[f"b{last}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, Tensor] = {}
        dout, grads[f"W{last}"], grads[f"b{last}"] = Affine.backward(dscores, last_cache)
        for i in range(self.num_layers - 1, 0, -1):
            affine_cache, norm_cache, relu_cache, drop_cache = caches[i - 1]
            dout = Dropout.backward(dout, drop_cache)
            dout = ReLU.backward(dout, relu_cache)
            if self.normalization == "batchnorm":
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = BatchNorm.backward(dout, norm_cache)
            elif self.normalization == "layernorm":
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = LayerNorm.backward(dout, norm_cache)
            dout, grads[f"W{i}"], db = Affine.backward(dout, affine_cache)
            if db is not None:
                grads[f"b{i}"] = db
        loss = self.add_l2(loss, grads, [f"W{i}" for i in range(1, self.num_layers + 1)])
        return loss, grads


FCNET_OPTIONS: dict[str, Any] = {
    "hidden_dims": [256, 128],
    "normalization": "none",  # none, batchnorm or layernorm
    "dropout": 0.0,
    "weight_scale": 0.0,
    "reg": 0.0,
    "l2_half": False,  # true: the course's 0.5*reg*sum(W^2); false: reg*sum(W^2)
}


@register_model("fcnet", "scratch-net", options=FCNET_OPTIONS)
def fcnet(*, input_shape: Shape, num_classes: int, seed: int, device: str = "cpu", **options: Any):
    """Any depth of affine - [batch/layer norm] - ReLU - [dropout], hand-written."""
    options["weight_scale"] = options["weight_scale"] or None
    norm = options.pop("normalization")
    return FullyConnectedNet(
        input_dim=math.prod(input_shape),
        num_classes=num_classes,
        seed=seed,
        device=device,
        normalization=None if norm == "none" else norm,
        **options,
    )
