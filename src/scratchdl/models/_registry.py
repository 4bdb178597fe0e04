"""One registry of every model (timm style): a name maps to an entry with a kind tag.

An entry is (name, kind, builder, options, description). The builder's required keyword
arguments are the data it needs (an image classifier's `in_channels`, `num_classes`,
`image_size`; a language model's `vocab_size`; ...), its options with defaults are what a
recipe's `[model]` table may override. Image classifiers declare their options as keyword
defaults of the builder; other models may pass `options=` explicitly (their builder then
takes them as keyword arguments). `Task.model_kinds` says which kinds a task trains, so
`model_options(name, kinds)` is the one check behind every recipe's `[model]` table.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scratchdl.errors import UserError

# kind -> what it means (the `models list` legend; a new kind is one new line here)
KINDS: dict[str, str] = {
    "image-classifier": "image batch (N, C, H, W) -> class logits (N, num_classes)",
    "pretrained": "an ImageNet network fine-tuned or retrained by the transfer task",
    "language-model": "token ids (B, T) -> next-token logits (RNN: state carried; GPT: causal)",
    "cloze": "bidirectional: predicts each interior token of a window from both sides",
    "seq2seq": "encoder-decoder: source ids -> target-token logits (teacher forcing)",
    "ngram": "count-based Kneser-Ney n-gram model (no gradients)",
    "scratch-net": "hand-written layers: loss(x, y) -> (loss, grads), no autograd",
    "scratch-linear": "linear SVM/softmax with hand-written gradients",
    "scratch-knn": "k-nearest neighbours (memorises the training set)",
    "kernel-regression": "1-D attention pooling over the training points (Nadaraya-Watson)",
    "detector": "images (B, 3, H, W) -> per-image boxes; .loss(out, targets), .detect(out)",
    "word-embedding": "word2vec: centre and context embedding tables trained by SGNS",
    "text-classifier": "padded token ids (B, T) + lengths (B,) -> class logits (B, num_classes)",
    "generative": "images (N, 1, H, W) in [0, 1] -> loss dict; sample(n, labels) -> images",
    "bert": "BERT encoder: WordPiece ids + segments -> hidden states and pooled [CLS]",
    "segmenter": "images (B, 3, H, W) in [0, 1] -> per-pixel class logits (B, K, H, W)",
}
IMAGE = "image-classifier"
DATA_ARGS = ("in_channels", "num_classes", "image_size")  # what an image classifier is given


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str
    builder: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def data_args(self) -> tuple[str, ...]:
        """The builder's named arguments that are not options (what the data or task gives)."""
        return tuple(p.name for p in self._params() if p.name not in self.options)

    @property
    def required_args(self) -> tuple[str, ...]:
        """The data arguments without a default."""
        return tuple(
            p.name
            for p in self._params()
            if p.name not in self.options and p.default is inspect.Parameter.empty
        )

    def _params(self) -> list[inspect.Parameter]:
        var = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        params = inspect.signature(self.builder).parameters.values()
        return [p for p in params if p.kind not in var]


_MODELS: dict[str, ModelEntry] = {}


def _signature_options(fn: Callable[..., Any]) -> dict[str, Any]:
    params = inspect.signature(fn).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.name not in DATA_ARGS and p.default is not inspect.Parameter.empty
    }


def register_model(
    name: str,
    kind: str = IMAGE,
    *,
    options: dict[str, Any] | None = None,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register builder `fn` as model `name` of `kind`.

    Without `options`, the builder's keyword defaults are the options; with `options`, the
    builder is called as fn(**data, **options) and must accept each of them.
    """
    if kind not in KINDS:
        raise ValueError(f"model {name!r}: unknown kind {kind!r} (add it to KINDS)")

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        opts = _signature_options(fn) if options is None else dict(options)
        doc = (inspect.getdoc(fn) or "").split("\n")[0]
        _MODELS[name] = ModelEntry(name, kind, fn, opts, description or doc)
        return fn

    return wrap


def _kinds(kinds: str | Iterable[str] | None) -> set[str] | None:
    if kinds is None:
        return None
    return {kinds} if isinstance(kinds, str) else set(kinds)


def list_models(kinds: str | Iterable[str] | None = None) -> list[str]:
    """Registered names, sorted; only those of `kinds` (one kind or several) when given."""
    want = _kinds(kinds)
    return sorted(n for n, e in _MODELS.items() if want is None or e.kind in want)


def get_entry(name: str, kinds: str | Iterable[str] | None = None) -> ModelEntry:
    """The entry of `name`; a one-line UserError if unknown or not one of `kinds`."""
    known = list_models(kinds)
    if name not in _MODELS or name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        if name in _MODELS:  # registered, but not a kind this task trains
            what = ", ".join(sorted(_kinds(kinds) or ()))
            raise UserError(
                f"model {name!r} is of kind {_MODELS[name].kind}; this task trains {what} "
                f"models{hint} (known: {', '.join(known)})"
            )
        raise UserError(f"unknown model {name!r}{hint} (known: {', '.join(known)})")
    return _MODELS[name]


def model_options(name: str, kinds: str | Iterable[str] | None = None) -> dict[str, Any]:
    """The options (and defaults) of model `name` that a recipe's [model] table may set."""
    return dict(get_entry(name, kinds).options)


def model_kind(name: str) -> str:
    return get_entry(name).kind


def build_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model from its data arguments and options.

    An image classifier takes in_channels, num_classes and image_size; any other kind takes
    its builder's own data arguments (`get_entry(name).data_args`, e.g. vocab_size). Unknown
    options and missing data arguments raise a UserError listing what is expected.
    """
    entry = get_entry(name)
    data = set(entry.data_args)
    allowed = set(entry.options)
    unknown = sorted(set(kwargs) - allowed - data)
    if unknown:
        raise UserError(
            f"model {name!r} ({entry.kind}) has no option {', '.join(unknown)} "
            f"(options: {', '.join(sorted(allowed)) or 'none'}; "
            f"data arguments: {', '.join(entry.data_args) or 'none'})"
        )
    missing = [a for a in entry.required_args if a not in kwargs]
    if missing:
        raise UserError(
            f"model {name!r} is a {entry.kind} model: it needs {', '.join(missing)} "
            f"(data arguments: {', '.join(entry.data_args)})"
        )
    if entry.kind == IMAGE:
        kwargs["image_size"] = tuple(kwargs["image_size"])
    options = {**entry.options, **{k: v for k, v in kwargs.items() if k in allowed}}
    return entry.builder(**{k: v for k, v in kwargs.items() if k in data}, **options)
