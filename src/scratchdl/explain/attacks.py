"""Adversarial examples from scratch: FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018).

Both take a model that maps inputs x to class scores; the loss is the summed cross-entropy
of the true labels (or of `target` with targeted=True). Use them on PixelModel(model, mean,
std) so that epsilon, step size and bounds are in pixel units [0, 1].

Twins (tests/explain/test_attacks.py): captum.robust FGSM and PGD built with
loss_func=CrossEntropyLoss(reduction="none") give the same tensors. As captum, a gradient
entry with |g| <= 1e-6 counts as zero (that pixel does not move), and the L2 variant steps
by the gradient's sign and projects onto the L2 ball (`l2_step="sign"`); the default L2 step
is Madry's normalized gradient, alpha * g / ||g||_2 (`l2_step="grad"`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.explain._common import check_images

ZERO_THRESH = 1e-6
NORMS = ("Linf", "L2")


def check_epsilon(eps: float, name: str = "epsilon") -> None:
    """A finite epsilon >= 0 (in the attack's units), else a one-line UserError."""
    if (
        isinstance(eps, bool)
        or not isinstance(eps, (int, float))
        or not eps >= 0
        or eps == float("inf")
    ):
        raise UserError(f"{name}: expected a finite number >= 0 (pixel units, 0..1), got {eps!r}")


def loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d sum_i CE(model(x)_i, y_i) / dx (the per-example gradients, unscaled by the batch)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _bound(x: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
    return x if bounds is None else x.clamp(bounds[0], bounds[1])


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    targeted: bool = False,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """x + epsilon * sign(grad of the loss) (minus, towards y, when targeted), clamped to bounds."""
    check_images(x)
    check_epsilon(epsilon)
    grad = loss_gradient(model, x, y)
    sign = -1.0 if targeted else 1.0
    step = torch.where(grad.abs() > ZERO_THRESH, sign * epsilon * grad.sign(), 0.0)
    return _bound(x.detach() + step, bounds).detach()


def _project(x0: torch.Tensor, x: torch.Tensor, radius: float, norm: str) -> torch.Tensor:
    """The point of the ball of `radius` around x0 (per example) closest to x."""
    diff = x - x0
    if norm == "Linf":
        return x0 + diff.clamp(-radius, radius)
    size = diff.flatten(1).norm(dim=1).view(-1, *([1] * (x.ndim - 1)))
    scale = torch.where(size > radius, radius / (size + 1e-7), 1.0)  # torch.renorm's rule
    return x0 + diff * scale


def random_start(
    x: torch.Tensor, radius: float, norm: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniform point of the ball: per-coordinate for Linf; for L2 a random direction at
    radius * u^(1/d) (uniform in volume). The draws follow captum's order."""
    if norm == "Linf":
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + (noise * radius * 2 - radius)
    u = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    unit = u.flatten(1) / u.flatten(1).norm(dim=1, keepdim=True).clamp_min(1e-12)
    d = x[0].numel()
    r = torch.rand(len(x), generator=generator) ** (1.0 / d) * radius
    return x + (r.to(x.dtype).to(x.device).view(-1, 1) * unit).view(x.shape)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "Linf",
    rand_start: bool = False,
    targeted: bool = False,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    l2_step: str = "grad",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`steps` gradient steps of `step_size` (default 2.5 * epsilon / steps, Madry's), each
    followed by projection onto the epsilon-ball around x and clamping to bounds."""
    check_images(x)
    check_epsilon(epsilon)
    if norm not in NORMS:
        raise UserError(f"norm: expected one of {', '.join(NORMS)}, got {norm!r}")
    if l2_step not in ("grad", "sign"):
        raise UserError(f"l2_step: expected 'grad' or 'sign', got {l2_step!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UserError(f"steps: expected an int >= 1, got {steps!r}")
    alpha = 2.5 * epsilon / steps if step_size is None else step_size
    check_epsilon(alpha, "step_size")
    x0 = x.detach()
    adv = _bound(random_start(x0, epsilon, norm, generator), bounds) if rand_start else x0
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        grad = loss_gradient(model, adv, y)
        if norm == "L2" and l2_step == "grad":
            size = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.ndim - 1)))
            adv = adv + sign * alpha * grad / size
        else:
            adv = adv + torch.where(grad.abs() > ZERO_THRESH, sign * alpha * grad.sign(), 0.0)
        adv = _bound(_project(x0, adv, epsilon, norm), bounds).detach()
    return adv


ATTACKS = ("fgsm", "pgd")


def attack(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    *,
    steps: int = 20,
    norm: str = "Linf",
) -> torch.Tensor:
    """The adversarial batch of attack `name` ("fgsm" or PGD-`steps` with Madry's step size
    2.5 * epsilon / steps and no random start, so that the result is deterministic)."""
    if name not in ATTACKS:
        raise UserError(f"attack: expected one of {', '.join(ATTACKS)}, got {name!r}")
    if epsilon == 0:
        return x.detach()
    if name == "fgsm":
        return fgsm(model, x, y, epsilon)
    return pgd(model, x, y, epsilon, steps=steps, norm=norm)


def adversarial_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    name: str,
    epsilon: float,
    *,
    steps: int = 20,
    batch_size: int = 500,
    device: torch.device | None = None,
) -> float:
    """Fraction of x (pixels) still classified as y after attack(name, epsilon) on each batch."""
    check_epsilon(epsilon)
    device = device or torch.device("cpu")
    correct = 0
    for i in range(0, len(y), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        adv = attack(name, model, xb, yb, epsilon, steps=steps)
        with torch.no_grad():
            correct += int((model(adv).argmax(1) == yb).sum())
    return correct / max(len(y), 1)
