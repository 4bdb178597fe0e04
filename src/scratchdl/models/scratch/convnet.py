"""Conv net: {conv - [spatial batch norm] - relu - 2x2 max pool} x B - {affine - relu} x A
- affine - softmax, with im2col convolutions ("same" padding, stride 1)."""

from typing import Any

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.models.scratch._base import ScratchNet, Shape
from scratchdl.scratch.layers import Affine, Conv, MaxPool, ReLU, SpatialBatchNorm, softmax_loss


class ConvNet(ScratchNet):
    """x (N, C, H, W) -> scores (N, num_classes).

    Layers are numbered 1..L through the conv blocks then the affine layers: params W{i},
    b{i}; with batch norm the conv layers have gamma{i}, beta{i} instead of a bias (which
    batch norm would cancel), and buffers running_mean{i}, running_var{i}. Each pool halves
    H and W (floor).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        conv_channels: list[int] | tuple[int, ...] = (16, 32),
        kernel_size: int = 3,
        hidden_dims: list[int] | tuple[int, ...] = (100,),
        num_classes: int = 10,
        batchnorm: bool = True,
        reg: float = 0.0,
        l2_half: bool = False,
        weight_scale: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(num_classes, reg, dtype, device, seed, l2_half)
        if kernel_size % 2 == 0:
            raise UserError(f"expected an odd kernel_size for 'same' padding, got {kernel_size}")
        channels, height, width = input_shape
        if height >> len(conv_channels) < 1 or width >> len(conv_channels) < 1:
            raise UserError(
                f"input {input_shape} is too small for {len(conv_channels)} 2x2 poolings"
            )
        self.input_shape = tuple(input_shape)
        self.batchnorm = batchnorm
        self.kernel_size = kernel_size
        self.num_conv = len(conv_channels)
        self.num_layers = self.num_conv + len(hidden_dims) + 1
        i = 0
        for out_channels in conv_channels:
            i += 1
            fan_in = channels * kernel_size * kernel_size
            shape = (out_channels, channels, kernel_size, kernel_size)
            self.params[f"W{i}"] = self.weight(shape, fan_in, weight_scale)
            if not batchnorm:
                self.params[f"b{i}"] = self.zeros(out_channels)
            else:  # no conv bias: batch norm would subtract it right away
                self.params[f"gamma{i}"] = self.ones(out_channels)
                self.params[f"beta{i}"] = self.zeros(out_channels)
                self.buffers[f"running_mean{i}"] = self.zeros(out_channels)
                self.buffers[f"running_var{i}"] = self.ones(out_channels)
            channels, height, width = out_channels, height // 2, width // 2
        dims = [channels * height * width, *hidden_dims, num_classes]
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            i += 1
            self.params[f"W{i}"] = self.weight((fan_in, fan_out), fan_in, weight_scale)
            self.params[f"b{i}"] = self.zeros(fan_out)

    def loss(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Scores (N, C) when y is None, else (softmax loss + L2 penalty, grads)."""
        x, y = self.check_inputs(x, y, self.input_shape, flatten=False)
        p, caches = self.params, []
        out = x
        for i in range(1, self.num_conv + 1):
            out, conv_cache = Conv.forward(
                out, p[f"W{i}"], p.get(f"b{i}"), padding=self.kernel_size // 2
            )
            bn_cache = None
            if self.batchnorm:
                out, bn_cache = SpatialBatchNorm.forward(
                    out, p[f"gamma{i}"], p[f"beta{i}"], self.buffers[f"running_mean{i}"],
                    self.buffers[f"running_var{i}"], self.training,
                )  # fmt: skip
            out, relu_cache = ReLU.forward(out)
            out, pool_cache = MaxPool.forward(out, 2)
            caches.append((conv_cache, bn_cache, relu_cache, pool_cache))
        pooled_shape = out.shape
        for i in range(self.num_conv + 1, self.num_layers):
            out, affine_cache = Affine.forward(out, p[f"W{i}"], p[f"b{i}"])
            out, relu_cache = ReLU.forward(out)
            caches.append((affine_cache, relu_cache))
        last = self.num_layers
        scores, last_cache = Affine.forward(out, p[f"W{last}"], p[f"b{last}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, Tensor] = {}
        dout, grads[f"W{last}"], grads[f"b{last}"] = Affine.backward(dscores, last_cache)
        for i in range(self.num_layers - 1, self.num_conv, -1):
            affine_cache, relu_cache = caches[i - 1]
            dout = ReLU.backward(dout, relu_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = Affine.backward(dout, affine_cache)
        dout = dout.reshape(pooled_shape)  # the first affine layer flattened the maps
        for i in range(self.num_conv, 0, -1):
            conv_cache, bn_cache, relu_cache, pool_cache = caches[i - 1]
            dout = MaxPool.backward(dout, pool_cache)
            dout = ReLU.backward(dout, relu_cache)
            if self.batchnorm:
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = SpatialBatchNorm.backward(
                    dout, bn_cache
                )
            dout, grads[f"W{i}"], conv_db = Conv.backward(dout, conv_cache)
            if conv_db is not None:
                grads[f"b{i}"] = conv_db
        loss = self.add_l2(loss, grads, [f"W{i}" for i in range(1, self.num_layers + 1)])
        return loss, grads



CONVNET_OPTIONS: dict[str, Any] = {
    "conv_channels": [16, 32],
    "kernel_size": 3,
    "hidden_dims": [128],
    "batchnorm": True,
    "weight_scale": 0.0,
    "reg": 0.0,
    "l2_half": False,  # true: the course's 0.5*reg*sum(W^2); false: reg*sum(W^2)
}


@register_model("convnet", "scratch-net", options=CONVNET_OPTIONS)
def convnet(
    *, input_shape: Shape, num_classes: int, seed: int, device: str = "cpu", **options: Any
):
    """(im2col conv - spatial batch norm - ReLU - 2x2 max pool) x N - affine x M, by hand."""
    options["weight_scale"] = options["weight_scale"] or None
    return ConvNet(
        input_shape=tuple(input_shape), num_classes=num_classes, seed=seed, device=device, **options
    )
