"""The course's linear classifiers: scores = X @ W (bias trick), trained by minibatch SGD with
the hand-written losses of scratchdl.scratch.linear (no autograd). Registered as "linear".

`LinearClassifier.train` is the course's teaching API (assignment 1's `train`/`predict`); the
`linear-scratch` recipes train the same classifier through the engine instead.
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.scratch.layers._common import check_tensor
from scratchdl.scratch.linear import add_bias_column, softmax_loss_vectorized, svm_loss_vectorized


class LinearClassifier:
    """Scores = X @ W (plus a bias row through the bias trick); trained by minibatch SGD.

    Subclasses choose the loss (`LinearSVM`, `Softmax`).
    """

    def __init__(self, bias: bool = True, dtype: torch.dtype = torch.float32) -> None:
        self.bias = bias
        self.dtype = dtype
        self.W: torch.Tensor | None = None

    def loss(
        self,
        W: torch.Tensor,
        X: torch.Tensor,
        y: torch.Tensor,
        reg: float,
        l1_ratio: float,
        l2_half: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError("use LinearSVM or Softmax")

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, type(self).__name__, "x")
        if x.ndim < 2:
            raise UserError(f"expected a batch of shape (N, ...) with N examples, got {x.shape}")
        x = x.reshape(x.shape[0], -1).to(self.dtype)
        return add_bias_column(x) if self.bias else x

    def train(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        lr: float = 1e-3,
        reg: float = 1e-5,
        l1_ratio: float = 0.0,
        num_iters: int = 100,
        epochs: int | None = None,
        batch_size: int = 200,
        seed: int = 0,
        num_classes: int | None = None,
        verbose: bool = False,
        l2_half: bool = False,
    ) -> list[float]:
        """Minibatch SGD on (N, ...) inputs and (N,) labels; returns the loss of every step.

        With `epochs`, each epoch is one shuffled pass in batches; otherwise `num_iters` steps
        each draw `batch_size` examples with replacement (the course's version). W starts as
        0.001 * randn (seeded) unless already set by an earlier call. `reg`, `l1_ratio` and
        `l2_half` define the penalty (module docstring).
        """
        if lr <= 0:
            raise UserError(f"learning rate must be positive, got {lr}")
        if batch_size < 1:
            raise UserError(f"batch_size must be a positive integer, got {batch_size}")
        X = self._features(x)
        check_tensor(y, type(self).__name__, "y")
        y = y.to(X.device)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise UserError(f"expected labels of shape ({X.shape[0]},), got {tuple(y.shape)}")
        g = torch.Generator().manual_seed(seed)
        if self.W is None:
            C = num_classes if num_classes is not None else int(y.max()) + 1
            self.W = 0.001 * torch.randn(X.shape[1], C, generator=g, dtype=self.dtype)
            self.W = self.W.to(X.device)
        elif self.W.shape[0] != X.shape[1]:
            raise UserError(f"model expects D={self.W.shape[0]} features, got {X.shape[1]}")
        n = X.shape[0]
        if epochs is not None:
            batches = (
                idx
                for _ in range(epochs)
                for idx in torch.split(torch.randperm(n, generator=g), batch_size)
            )
        else:
            batches = (torch.randint(0, n, (batch_size,), generator=g) for _ in range(num_iters))
        history = []
        for step, idx in enumerate(batches):
            idx = idx.to(X.device)
            loss, dW = self.loss(self.W, X[idx], y[idx], reg, l1_ratio, l2_half)
            self.W -= lr * dW
            history.append(loss.item())
            if verbose and step % 100 == 0:
                print(f"step {step}: loss {history[-1]:.4f}")
        return history

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (N, C) class scores."""
        if self.W is None:
            raise UserError("classifier used before train(x, y); train first")
        X = self._features(x)
        if X.shape[1] != self.W.shape[0]:
            raise UserError(f"model expects D={self.W.shape[0]} features, got {X.shape[1]}")
        return X @ self.W

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (N,) predicted labels."""
        return self.scores(x).argmax(dim=1)


class LinearSVM(LinearClassifier):
    """Multiclass SVM (hinge loss, delta = 1)."""

    def loss(self, W, X, y, reg, l1_ratio, l2_half=False):
        return svm_loss_vectorized(W, X, y, reg, l1_ratio, l2_half)


class Softmax(LinearClassifier):
    """Softmax (multinomial logistic regression) with cross-entropy loss."""

    def loss(self, W, X, y, reg, l1_ratio, l2_half=False):
        return softmax_loss_vectorized(W, X, y, reg, l1_ratio, l2_half)


@register_model("linear", "scratch-linear", options={})
def linear(*, loss: str) -> LinearClassifier:
    """Linear classifier (bias trick) with the multiclass SVM or softmax loss, by hand."""
    classes = {"svm": LinearSVM, "softmax": Softmax}
    if loss not in classes:
        raise UserError(f"linear.loss must be one of {', '.join(classes)}, got {loss!r}")
    return classes[loss](bias=True)
