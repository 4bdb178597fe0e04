"""Class visualization by gradient ascent on the input (Simonyan et al. 2014; Yosinski et al.
2015), as in the course's assignment: start from noise, repeatedly jitter the image by a
random shift, step up the gradient of score_c(x) - l2 * ||x||^2, undo the shift, clamp to
the pixel range and blur now and then. The regularizers keep the image from turning into
high-frequency adversarial noise.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from scratchdl.errors import UserError


def class_visualization(
    model: nn.Module,
    classes: list[int] | torch.Tensor,
    shape: tuple[int, int, int],
    *,
    steps: int = 200,
    lr: float = 0.1,
    l2: float = 1e-3,
    jitter: int = 2,
    blur_every: int = 10,
    blur_sigma: float = 0.5,
    seed: int = 0,
) -> torch.Tensor:
    """Images [K, C, H, W] in [0, 1] that maximise each class's score of `model`.

    `model` maps pixels in [0, 1] to scores (wrap a standardised run in PixelModel). Each step
    moves by lr * g / max|g| per image (a normalized step, so lr is in pixel units).
    """
    if steps < 1 or lr <= 0 or l2 < 0 or jitter < 0 or blur_every < 0 or blur_sigma < 0:
        raise UserError(
            "class_visualization: expected steps >= 1, lr > 0 and l2, jitter, blur_every, "
            f"blur_sigma >= 0, got {steps}, {lr}, {l2}, {jitter}, {blur_every}, {blur_sigma}"
        )
    gen = torch.Generator().manual_seed(seed)
    target = torch.as_tensor(classes).long().flatten()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    img = (0.5 + 0.1 * torch.randn(len(target), *shape, generator=gen)).clamp(0, 1).to(device)
    target = target.to(device)
    for t in range(steps):
        dx, dy = (
            torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist() if jitter else (0, 0)
        )
        moved = torch.roll(img, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
        with torch.enable_grad():
            score = model(moved).gather(1, target.view(-1, 1)).sum()
            objective = score - l2 * (moved**2).sum()
            (grad,) = torch.autograd.grad(objective, moved)
        scale = grad.flatten(1).abs().amax(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        moved = (moved.detach() + lr * grad / scale).clamp(0, 1)
        img = torch.roll(moved, shifts=(-dy, -dx), dims=(2, 3))
        if blur_every and blur_sigma > 0 and (t + 1) % blur_every == 0 and t + 1 < steps:
            size = 2 * max(1, round(3 * blur_sigma)) + 1
            img = TF.gaussian_blur(img, [size, size], [blur_sigma, blur_sigma])
    return img.detach()
