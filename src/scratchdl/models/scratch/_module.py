"""The module that lets the training engine move, switch mode and checkpoint a hand-written
model (no autograd) like any nn.Module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn


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
