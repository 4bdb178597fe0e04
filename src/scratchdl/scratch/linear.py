"""Linear classifiers from scratch: multiclass SVM and softmax losses with hand-written gradients.

Shapes: weights W (D, C), data X (N, D), integer labels y (N,), scores X @ W (N, C).
Every loss returns (loss, dW): the mean data loss over the N examples plus the penalty.

Bias: use the bias trick, `add_bias_column(X)` appends a column of ones so the last row of W is
the bias (this is what `models.scratch.linear.LinearClassifier(bias=True)` does). As in the
course, the penalty then covers that row too.

Penalty (elastic net; `reg` = strength, `l1_ratio` in [0, 1]):
    reg * (l1_ratio * sum|W| + (1 - l1_ratio) * sum W^2)
so l1_ratio=0 is the course's L2 term `reg * sum(W * W)`, l1_ratio=1 is pure L1. The L1 gradient
uses sign(W) (subgradient 0 at W == 0). This L2 convention (no 1/2) is the one of every scratch
penalty (the hand-written nets and scratch.regularize too); `l2_half=True` halves the L2 term to
`0.5 * reg * sum W^2` (gradient reg * W: torch's weight_decay, the course's nets' convention).
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import check_tensor

# ----------------------------------------------------------------------------- checks and helpers


def _check_inputs(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float, l1_ratio: float):
    for value, label in ((W, "W"), (X, "X"), (y, "y")):
        check_tensor(value, "linear loss", label)
    if W.ndim != 2 or X.ndim != 2:
        raise UserError(
            f"expected W of shape (D, C) and X of shape (N, D), got {tuple(W.shape)} and "
            f"{tuple(X.shape)}; flatten images and use add_bias_column for the bias trick"
        )
    if X.shape[1] != W.shape[0]:
        raise UserError(
            f"X has {X.shape[1]} features but W expects D={W.shape[0]}; "
            "did you forget (or double) add_bias_column?"
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise UserError(f"expected labels of shape ({X.shape[0]},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise UserError(f"expected integer class labels, got {y.dtype}")
    if X.shape[0] == 0:
        raise UserError("expected at least one example, got N=0")
    if y.min() < 0 or y.max() >= W.shape[1]:
        raise UserError(
            f"labels must be in [0, C={W.shape[1]}), got range [{int(y.min())}, {int(y.max())}]"
        )
    if W.dtype != X.dtype or W.device != X.device:
        raise UserError(
            "W and X must share dtype and device, "
            f"got {W.dtype}/{W.device} and {X.dtype}/{X.device}"
        )
    if reg < 0:
        raise UserError(f"reg must be >= 0, got {reg}")
    if not 0.0 <= l1_ratio <= 1.0:
        raise UserError(f"l1_ratio must be in [0, 1], got {l1_ratio}")


def add_bias_column(X: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, D + 1): append a column of ones (the bias trick)."""
    if X.ndim != 2:
        raise UserError(f"expected 2-D (N, D) data, got shape {tuple(X.shape)}")
    return torch.cat([X, X.new_ones(X.shape[0], 1)], dim=1)


def penalty(
    W: torch.Tensor, reg: float, l1_ratio: float = 0.0, l2_half: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Elastic-net penalty and its gradient: (scalar, dW of W's shape). See the module docstring;
    `l2_half` puts the 1/2 in front of the L2 term."""
    l2 = 0.5 if l2_half else 1.0
    value = reg * (l1_ratio * W.abs().sum() + l2 * (1.0 - l1_ratio) * (W * W).sum())
    grad = reg * (l1_ratio * torch.sign(W) + 2.0 * l2 * (1.0 - l1_ratio) * W)
    return value, grad


# ----------------------------------------------------------------------------- multiclass SVM


def svm_loss_naive(
    W: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    reg: float = 0.0,
    l1_ratio: float = 0.0,
    l2_half: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multiclass hinge loss (delta = 1) with loops over examples and classes.

    L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + 1); returns (mean L_i + penalty, dW (D, C)).
    """
    _check_inputs(W, X, y, reg, l1_ratio)
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct + 1.0
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]  # d margin / d W_j
                dW[:, y[i]] -= X[i]  # d margin / d W_{y_i}
    reg_loss, reg_grad = penalty(W, reg, l1_ratio, l2_half)
    return loss / num_train + reg_loss, dW / num_train + reg_grad


def svm_loss_vectorized(
    W: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    reg: float = 0.0,
    l1_ratio: float = 0.0,
    l2_half: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same as svm_loss_naive, with no Python loops."""
    _check_inputs(W, X, y, reg, l1_ratio)
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    scores = X @ W
    margins = (scores - scores[rows, y][:, None] + 1.0).clamp_(min=0.0)
    margins[rows, y] = 0.0  # the correct class contributes nothing
    # Each positive margin adds X_i to column j and subtracts it from column y_i.
    coeff = (margins > 0).to(X.dtype)
    coeff[rows, y] = -coeff.sum(dim=1)
    reg_loss, reg_grad = penalty(W, reg, l1_ratio, l2_half)
    loss = margins.sum() / num_train + reg_loss
    dW = X.T @ coeff / num_train + reg_grad
    return loss, dW


# ----------------------------------------------------------------------------- softmax


def softmax_loss_naive(
    W: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    reg: float = 0.0,
    l1_ratio: float = 0.0,
    l2_half: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax cross-entropy with a loop over examples.

    L_i = -log(exp(s_{y_i}) / sum_j exp(s_j)); returns (mean L_i + penalty, dW (D, C)).
    """
    _check_inputs(W, X, y, reg, l1_ratio)
    num_train = X.shape[0]
    loss = W.new_zeros(())
    dW = torch.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - scores.max()  # shift for numerical stability; softmax is unchanged
        exp_scores = torch.exp(scores)
        probs = exp_scores / exp_scores.sum()
        loss += -torch.log(probs[y[i]])
        probs[y[i]] -= 1.0  # dL_i/ds = p - onehot(y_i)
        dW += torch.outer(X[i], probs)
    reg_loss, reg_grad = penalty(W, reg, l1_ratio, l2_half)
    return loss / num_train + reg_loss, dW / num_train + reg_grad


def softmax_loss_vectorized(
    W: torch.Tensor,
    X: torch.Tensor,
    y: torch.Tensor,
    reg: float = 0.0,
    l1_ratio: float = 0.0,
    l2_half: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same as softmax_loss_naive, with no Python loops (log-sum-exp for stability)."""
    _check_inputs(W, X, y, reg, l1_ratio)
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    scores = X @ W
    shifted = scores - scores.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    dscores = torch.exp(log_probs)
    dscores[rows, y] -= 1.0
    reg_loss, reg_grad = penalty(W, reg, l1_ratio, l2_half)
    loss = -log_probs[rows, y].sum() / num_train + reg_loss
    dW = X.T @ dscores / num_train + reg_grad
    return loss, dW








