"""Registry entries of the hand-written models (no autograd), and the module that lets the
training engine move, switch mode and checkpoint them like any nn.Module.

twolayer, fcnet, convnet (kind "scratch-net"): scratchdl.scratch.nets, trained by the
net-scratch task; `weight_scale = 0` means Kaiming initialisation (sqrt(2 / fan_in)).
linear ("scratch-linear") and knn ("scratch-knn"): the classifiers of scratchdl.scratch.linear
and scratchdl.scratch.knn; their settings live in the [linear] and [knn] tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from scratchdl.models.registry import register_model

SCRATCH_NETS: dict[str, dict[str, Any]] = {
    "twolayer": {"hidden_dim": 256, "weight_scale": 0.0, "reg": 0.0, "l2_half": False},
    "fcnet": {
        "hidden_dims": [256, 128],
        "normalization": "none",  # none, batchnorm or layernorm
        "dropout": 0.0,
        "weight_scale": 0.0,
        "reg": 0.0,
        "l2_half": False,  # true: the course's 0.5*reg*sum(W^2); false: reg*sum(W^2)
    },
    "convnet": {
        "conv_channels": [16, 32],
        "kernel_size": 3,
        "hidden_dims": [128],
        "batchnorm": True,
        "weight_scale": 0.0,
        "reg": 0.0,
        "l2_half": False,  # true: the course's 0.5*reg*sum(W^2); false: reg*sum(W^2)
    },
}
Shape = tuple[int, int, int]


@register_model("twolayer", "scratch-net", options=SCRATCH_NETS["twolayer"])
def twolayer(
    *, input_shape: Shape, num_classes: int, seed: int, device: str = "cpu", **options: Any
):
    """Affine - ReLU - affine - softmax, every forward and backward written by hand."""
    from scratchdl.scratch.nets import TwoLayerNet

    options["weight_scale"] = options["weight_scale"] or None
    return TwoLayerNet(
        input_dim=math.prod(input_shape),
        num_classes=num_classes,
        seed=seed,
        device=device,
        **options,
    )


@register_model("fcnet", "scratch-net", options=SCRATCH_NETS["fcnet"])
def fcnet(*, input_shape: Shape, num_classes: int, seed: int, device: str = "cpu", **options: Any):
    """Any depth of affine - [batch/layer norm] - ReLU - [dropout], hand-written."""
    from scratchdl.scratch.nets import FullyConnectedNet

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


@register_model("convnet", "scratch-net", options=SCRATCH_NETS["convnet"])
def convnet(
    *, input_shape: Shape, num_classes: int, seed: int, device: str = "cpu", **options: Any
):
    """(im2col conv - spatial batch norm - ReLU - 2x2 max pool) x N - affine x M, by hand."""
    from scratchdl.scratch.nets import ConvNet

    options["weight_scale"] = options["weight_scale"] or None
    return ConvNet(
        input_shape=tuple(input_shape), num_classes=num_classes, seed=seed, device=device, **options
    )


@register_model("linear", "scratch-linear", options={})
def linear(*, loss: str):
    """Linear classifier (bias trick) with the multiclass SVM or softmax loss, by hand."""
    from scratchdl.errors import UserError
    from scratchdl.scratch.linear import LinearSVM, Softmax

    classes = {"svm": LinearSVM, "softmax": Softmax}
    if loss not in classes:
        raise UserError(f"linear.loss must be one of {', '.join(classes)}, got {loss!r}")
    return classes[loss](bias=True)


@register_model("knn", "scratch-knn", options={})
def knn():
    """k-nearest neighbours on flattened inputs (memory-bounded distance blocks)."""
    from scratchdl.scratch.knn import KNearestNeighbor

    return KNearestNeighbor()


class _Tensors(nn.Module):
    """Named tensors as (persistent) buffers: the same objects, so updates stay shared."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        super().__init__()
        for name, t in tensors.items():
            self.register_buffer(name, t)


class ScratchModule(nn.Module):
    """A hand-written model's tensors seen as an nn.Module, so the engine handles it.

    params and buffers are registered as buffers (not nn.Parameters: nothing here uses
    autograd), holding the very tensors the model and its DictOptimizer update in place.
    state_dict() holds params.*, stats.* (the net's buffers, e.g. batch-norm running
    statistics) and, as extra state, the net's private generator (dropout masks), so a
    checkpoint resumes exactly; load_state_dict copies in place. train()/eval() also switch
    the wrapped net (batch norm, dropout). Build the model on its final device: moving this
    module would replace the tensors the model holds.
    """

    def __init__(
        self,
        params: Mapping[str, Tensor],
        buffers: Mapping[str, Tensor] | None = None,
        generator: torch.Generator | None = None,
        net: Any = None,
    ) -> None:
        super().__init__()
        self.params = _Tensors(params)
        self.stats = _Tensors(buffers or {})
        self.generator = generator
        self.net = net

    @classmethod
    def of_net(cls, net: Any) -> ScratchModule:
        """Wrap a scratchdl.scratch.nets.ScratchNet (params, buffers, generator, mode)."""
        return cls(net.params, net.buffers, net.generator, net)

    def train(self, mode: bool = True) -> ScratchModule:
        super().train(mode)
        if self.net is not None:
            self.net.train(mode)
        return self

    def num_params(self) -> int:
        return sum(t.numel() for t in self.params.buffers())

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": None if self.generator is None else self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if self.generator is not None and state.get("generator") is not None:
            self.generator.set_state(state["generator"])
