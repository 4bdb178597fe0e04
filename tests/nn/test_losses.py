"""label_smoothed_cross_entropy vs F.cross_entropy(label_smoothing=...) and by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.nn.losses import label_smoothed_cross_entropy


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch_with_padding(eps: float, reduction: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 7, 5, requires_grad=True)  # [N, C, T]
    target = torch.randint(0, 7, (4, 5))
    target[0, 3:] = 0
    target[2, 1:] = 0
    ours = label_smoothed_cross_entropy(logits, target, eps, ignore_index=0, reduction=reduction)
    twin = F.cross_entropy(logits, target, label_smoothing=eps, ignore_index=0,
                           reduction=reduction)
    torch.testing.assert_close(ours, twin, atol=1e-6, rtol=1e-5)
    g1, = torch.autograd.grad(ours.sum(), logits)
    g2, = torch.autograd.grad(twin.sum(), logits)
    torch.testing.assert_close(g1, g2, atol=1e-6, rtol=1e-5)


def test_by_hand() -> None:
    logits = torch.zeros(1, 4)  # uniform: every -log p = log 4
    loss = label_smoothed_cross_entropy(logits, torch.tensor([2]), 0.1)
    assert loss.item() == pytest.approx(math.log(4))
    logits = torch.tensor([[2.0, 0.0]])
    lp = torch.log_softmax(logits, 1)[0]
    loss = label_smoothed_cross_entropy(logits, torch.tensor([0]), 0.2)
    assert loss.item() == pytest.approx(-(0.8 * lp[0] + 0.2 * lp.mean()).item(), rel=1e-6)


def test_all_ignored_is_nan_like_torch_and_errors() -> None:
    loss = label_smoothed_cross_entropy(torch.randn(2, 3), torch.tensor([-100, -100]), 0.1)
    assert torch.isnan(loss)
    with pytest.raises(UserError, match="do not match"):
        label_smoothed_cross_entropy(torch.randn(2, 3), torch.tensor([1, 2, 0]), 0.1)
    with pytest.raises(UserError, match="smoothing"):
        label_smoothed_cross_entropy(torch.randn(2, 3), torch.tensor([1, 2]), 1.5)
