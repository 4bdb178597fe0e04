"""The "generative" task: any model of kind "generative" (scratchdl.models.generative) trained
on an image dataset by its own `loss(x, y)`, judged by likelihood, samples and a classifier.

Data: [data].binarize is "dynamic" (each training batch redrawn as Bernoulli(pixel)), "fixed"
(drawn once with data.binarize_seed) or "none" (grey values); val and test images are
binarized once with binarize_seed unless "none" (see scratchdl.data.binarize).
test() reports test_loss (and its parts), the importance-weighted test NLL
test_nll_k{K} in nats for each K in eval.iwae_k (latent-variable models on binarized data,
on the first eval.iwae_examples test images), the Frechet distance of samples to test images
on our classifier's features (test_fd) and, for conditional models, test_class_accuracy
(see tasks/generative_eval.py), and writes the figures (tasks/generative_figures.py).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.data import TensorLoader, load_splits
from scratchdl.data.binarize import MODES, binarize, fixed_binarization
from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.models import build_model, get_entry
from scratchdl.tasks import register_task
from scratchdl.train.task import Task

DATA = {
    "dataset": "mnist",
    "val_size": 5000,
    "batch_size": 100,
    "eval_batch_size": 1000,
    "binarize": "dynamic",  # dynamic, fixed or none (see scratchdl.data.binarize)
    "binarize_seed": 0,  # the fixed draw of val/test (and of train when "fixed")
}
EVAL = {
    "iwae_k": [1, 50, 5000],  # importance samples per test image for test_nll_k{K}
    "iwae_examples": 2000,  # the first N test images the IWAE bounds use (0 = all 10000)
    "iwae_chunk": 100,  # samples decoded at once per image (memory: chunk x batch images)
    "classifier": "auto",  # auto, none or a classifier's run dir (tasks/generative_eval.py)
    "fd_samples": 5000,  # generated and test images compared by the Frechet distance
    "seed": 0,  # the noise of samples, figures and IWAE bounds
}
NEEDS_CLASSIFIER = ("test_fd", "test_class_accuracy")
GENERATIVE_TASKS = ("generative", "gan", "diffusion")  # tasks built on Generative below


def build_generator(cfg: dict[str, Any], num_classes: int) -> nn.Module:
    """The run's model from its [model] table (name + options)."""
    options = {k: v for k, v in cfg["model"].items() if k != "name"}
    return build_model(cfg["model"]["name"], num_classes=num_classes, **options)


@register_task("generative")
class Generative(Task):
    defaults = {"data": DATA, "eval": EVAL, "target": {"metric": "test_loss"}}
    model_kinds = ("generative",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        data, ev, model = cfg["data"], cfg["eval"], cfg["model"]
        if data["binarize"] not in MODES:
            raise UserError(
                f"data.binarize: expected one of {', '.join(MODES)}, got {data['binarize']!r}"
            )
        ks = ev["iwae_k"]
        if not isinstance(ks, list) or not all(isinstance(k, int) and k >= 1 for k in ks):
            raise UserError(f"eval.iwae_k: expected a list of ints >= 1, got {ks!r}")
        for key in ("iwae_examples", "fd_samples"):
            if not isinstance(ev[key], int) or ev[key] < 0:
                raise UserError(f"eval.{key}: expected an int >= 0, got {ev[key]!r}")
        if not isinstance(ev["iwae_chunk"], int) or ev["iwae_chunk"] < 1:
            raise UserError(f"eval.iwae_chunk: expected an int >= 1, got {ev['iwae_chunk']!r}")
        if model.get("arch", "mlp") not in ("mlp", "conv"):
            raise UserError(f"model.arch: expected mlp or conv, got {model['arch']!r}")
        if not isinstance(model.get("latent_dim", 1), int) or model.get("latent_dim", 1) < 1:
            raise UserError(f"model.latent_dim: expected an int >= 1, got {model['latent_dim']!r}")
        metric = cfg["target"]["metric"]
        if metric.startswith("test_nll_k") and metric[len("test_nll_k") :] not in map(str, ks):
            raise UserError(f"target.metric {metric}: eval.iwae_k {ks} has no such k; add it")
        if metric.startswith("test_nll") and (
            data["binarize"] == "none" or get_entry(model["name"]).name == "autoencoder"
        ):
            raise UserError(
                f"target.metric {metric}: a likelihood needs a latent-variable model "
                "(vae, cvae) on binarized data (data.binarize dynamic or fixed)"
            )
        if metric.startswith(NEEDS_CLASSIFIER):
            from scratchdl.tasks.generative._eval import CLASSIFIER_RECIPES, find_classifier

            if find_classifier(ev["classifier"], data["dataset"]) is None:
                raise UserError(
                    f"target.metric {metric} needs a trained classifier of {data['dataset']}: "
                    f"run `scratchdl run {CLASSIFIER_RECIPES.get(data['dataset'], 'lenet-mnist')}` "
                    'first (found by eval.classifier = "auto") '
                    "or set eval.classifier=RUN_DIR"
                )

    def setup(self) -> None:
        cfg, data = self.cfg, self.cfg["data"]
        seed = cfg["train"]["seed"]
        self.splits = load_splits(data["dataset"], val_size=data["val_size"], seed=seed)
        self.num_classes = self.splits.info.num_classes
        self.model = build_generator(cfg, self.num_classes)
        mode, bseed = data["binarize"], data["binarize_seed"]
        train_x = self.splits.train.x
        if mode == "fixed":
            train_x = fixed_binarization(train_x, bseed)
        self.eval_x = {
            s: getattr(self.splits, s).x
            if mode == "none"
            else fixed_binarization(getattr(self.splits, s).x, bseed + 1 + i)
            for i, s in enumerate(("val", "test"))
        }
        self.loader = TensorLoader(
            train_x,
            self.splits.train.y,
            data["batch_size"],
            shuffle=True,
            seed=data_order_seed(seed),
        )

    @classmethod
    def restore_generator(cls, run_dir: Path, cfg: dict[str, Any]) -> nn.Module:
        """The trained model of a generative run, in eval mode on CPU (for `scratchdl sample`)."""
        from scratchdl.tasks._restore import load_weights
        from scratchdl.train.checkpoint import load_checkpoint

        state = load_checkpoint(run_dir / "checkpoint.pt")["modules"]["model"]
        from scratchdl.data.splits import raw_arrays

        model = build_generator(cfg, num_classes=len(raw_arrays(cfg["data"]["dataset"]).classes))
        # the decoder's first layer takes the code (+ a one-hot label): its width is the latent size
        want, w = getattr(model, "latent_dim", None), state.get("dec.0.weight")
        if want is not None and w is not None:
            got = w.shape[1] - (model.num_classes if model.conditional else 0)
            if got != want:
                raise UserError(
                    f"{run_dir}/checkpoint.pt has latent size {got} but its config.toml says "
                    f"model.latent_dim = {want}: the two files do not belong to one run"
                )
        load_weights(model, state, run_dir / "checkpoint.pt")
        return model.eval()

    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def train_batches(self, epoch: int):
        self.loader.set_epoch(epoch)
        return iter(self.loader)

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        if self.cfg["data"]["binarize"] == "dynamic":
            x = binarize(x)
        return self.model.loss(x, y)

    def _split_loss(self, split: str) -> dict[str, float]:
        x, y = self.eval_x[split], getattr(self.splits, split).y
        model, bs, sums = self.module("model"), self.cfg["data"]["eval_batch_size"], {}
        for i in range(0, len(x), bs):
            xb, yb = x[i : i + bs].to(self.device), y[i : i + bs].to(self.device)
            for k, v in model.loss(xb, yb).items():
                sums[k] = sums.get(k, 0.0) + v.item() * len(xb)
        return {k: v / len(x) for k, v in sums.items()}

    @contextlib.contextmanager
    def _eval_rng(self) -> Iterator[None]:
        """Evaluation draws noise (the ELBO's z, samples) from a forked, seeded global RNG:
        the numbers are reproducible, and training's RNG stream (which the checkpoint
        carries for exact resume) is left exactly where training put it."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.cfg["eval"]["seed"])
            yield

    def evaluate(self, split: str) -> dict[str, float]:
        if not len(self.eval_x[split]):
            return {}
        with self._eval_rng():
            return self._split_loss(split)

    def iwae(self, k: int, generator: torch.Generator) -> float:
        """Mean -log p(x) bound with k importance samples over eval.iwae_examples test images."""
        from scratchdl.models.generative.vae import iwae_nll

        ev = self.cfg["eval"]
        n = ev["iwae_examples"] or len(self.eval_x["test"])
        x, y = self.eval_x["test"][:n], self.splits.test.y[:n]
        chunk = min(k, ev["iwae_chunk"])
        bs = max(1, min(len(x), 50_000 // chunk))  # at most ~50k decoded images at once
        total = 0.0
        for i in range(0, len(x), bs):
            xb, yb = x[i : i + bs].to(self.device), y[i : i + bs].to(self.device)
            yb = yb if self.module("model").conditional else None
            total += iwae_nll(self.module("model"), xb, yb, k, chunk, generator).sum().item()
        return total / len(x)

    def test(self) -> dict[str, float]:
        with self._eval_rng():
            return self._test()

    def _test(self) -> dict[str, float]:
        from scratchdl.tasks.generative._figures import write_figures

        out = {f"test_{k}": v for k, v in self.evaluate("test").items()}
        ev, model = self.cfg["eval"], self.module("model")
        gen = torch.Generator(device=self.device).manual_seed(ev["seed"])
        if hasattr(model, "log_importance_weights") and self.cfg["data"]["binarize"] != "none":
            for k in ev["iwae_k"]:
                out[f"test_nll_k{k}"] = self.iwae(k, gen)
        out.update(self._classifier_scores(gen))
        history = self.engine.history if self.engine is not None else []
        write_figures(self, history, gen)
        return {k: v for k, v in out.items() if not (isinstance(v, float) and math.isnan(v))}

    def _classifier_scores(self, gen: torch.Generator) -> dict[str, float]:
        from scratchdl.tasks.generative._eval import (
            FeatureClassifier,
            draw_for_scoring,
            find_classifier,
            sample_scores,
        )

        ev, data = self.cfg["eval"], self.cfg["data"]
        run_dir = find_classifier(ev["classifier"], data["dataset"])
        n = min(ev["fd_samples"], len(self.splits.test))
        if run_dir is None or n < 2:
            return {}
        clf = FeatureClassifier(run_dir, data["dataset"], self.device)
        fake, labels = draw_for_scoring(self.module("model"), n, self.num_classes, gen)
        scores = sample_scores(clf, self.splits.test.x[:n], fake, labels)
        # the floor: real training images against the same test images, same n
        floor = sample_scores(clf, self.splits.test.x[:n], self.splits.train.x[:n], None)["fd"]
        out = {"test_fd": scores["fd"], "test_fd_real_train": floor}
        if "class_accuracy" in scores:
            out["test_class_accuracy"] = scores["class_accuracy"]
        return out


def load_generator(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(trained model in eval mode on CPU, resolved config) of a generative run; a one-line
    UserError for a run of any other task or files that do not fit together."""
    from scratchdl.train.rundir import load_run_config

    run_dir = Path(run_dir)
    cfg, _ = load_run_config(run_dir)
    if cfg.get("task") not in GENERATIVE_TASKS:
        raise UserError(
            f"{run_dir} is a {cfg.get('task', 'classify')!r} run, not a generative one: "
            "`scratchdl sample` needs a run of a generative recipe (vae-mnist, cvae-mnist, ...)"
        )
    return Generative.restore_generator(run_dir, cfg), cfg


@torch.no_grad()
def draw_samples(model: nn.Module, n: int, label: int | None = None, seed: int = 0) -> torch.Tensor:
    """n new images [n, C, H, W] in [0, 1]; `label` asks a conditional model for one class
    (default: classes in turn); an unconditional model refuses a label."""
    if n < 1:
        raise UserError(f"--n: expected a number of samples >= 1, got {n}")
    if not getattr(model, "has_prior", True):
        raise UserError(
            "this VQ-VAE has no learned prior over its codes, so its samples would be texture; "
            "train one with --set model.prior=pixelcnn, or sample a vae, dcgan, pixelcnn or "
            "ddpm run"
        )
    labels = None
    if label is not None:
        if not model.conditional:
            raise UserError(f"--label {label}: this model is not class-conditional; drop --label")
        if not 0 <= label < model.num_classes:
            raise UserError(f"--label {label}: expected a class in 0..{model.num_classes - 1}")
        labels = torch.full((n,), label, dtype=torch.long)
    return model.sample(n, labels, torch.Generator().manual_seed(seed))
