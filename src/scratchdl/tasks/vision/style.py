"""The "style" task: neural style transfer with the synthesized image as the only parameter.

The module is the image itself (SynthesizedImage, initialised to the content image); the
frozen EfficientNet-Lite0 features (scratchdl.tasks.vision._style) are not a module of the run, so
they are neither trained nor checkpointed. Every engine step is one optimizer step on the
image: Adam through engine.backward/step_optimizer, or L-BFGS, whose step(closure) evaluates
the loss as often as its line search needs (manual optimization; the engine stays the loop).

Phases: "main" at style.style_weight, then one phase per factor in style.grid (style weight
= factor * style_weight), each restarting from the content image; test() of a phase saves
its image, summary() draws content | style | result for every weight and the loss curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.data.style_images import CONTENT_IMAGES, content_image
from scratchdl.errors import UserError
from scratchdl.tasks import register_task
from scratchdl.tasks.vision import _style as st
from scratchdl.train.task import Task

DATA: dict[str, Any] = {
    "content": "astronaut",  # a skimage photo (astronaut, chelsea, coffee) or a PNG/JPEG path
    "dataset": "starry-night",  # the style image: the registered one, or a PNG/JPEG path
    "size": 256,  # longer side of the synthesized image, pixels
}
STYLE: dict[str, Any] = {
    "optimizer": "adam",  # adam ([optimizer].lr) or lbfgs (style.lbfgs_lr, strong Wolfe)
    "lbfgs_lr": 1.0,
    "steps_per_epoch": 50,
    "content_weight": 1.0,
    "style_weight": 1e4,
    "tv_weight": 1.0,
    "grid": [0.0001, 0.001, 0.01],  # factors of style_weight, one extra phase each; [] = none
    "grid_epochs": 6,
}


class SynthesizedImage(nn.Module):
    """The image being optimized: [1, 3, H, W] in [0, 1]; forward returns it."""

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(init.clone())

    def forward(self) -> torch.Tensor:
        return self.weight


def _read(source: str, size: int, what: str) -> torch.Tensor:
    if source in CONTENT_IMAGES:
        return st.to_tensor(content_image(source), size, source)
    if source == "starry-night":
        from scratchdl.data import get_dataset

        return st.to_tensor(get_dataset(source).image(), size, source)
    if not Path(source).suffix:
        raise UserError(f"data.{what}: expected {', '.join(CONTENT_IMAGES)}, starry-night or "
                        f"the path of a PNG/JPEG file, got {source!r}")
    return st.load_image(source, size)


@register_task("style")
class StyleTransfer(Task):
    defaults = {"data": DATA, "style": STYLE,
                "target": {"metric": "test_style_loss"}}
    module_names = ("image",)
    model_kinds = ()
    manual_optimization = True

    @classmethod
    def model_options(cls, name: str) -> dict[str, Any]:
        """No model to choose: the parameter is the image ([model].name only labels runs)."""
        return {}

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        s, d = cfg["style"], cfg["data"]
        if s["optimizer"] not in ("adam", "lbfgs"):
            raise UserError(f"style.optimizer: expected adam or lbfgs, got {s['optimizer']!r}")
        for key in ("content_weight", "style_weight", "tv_weight"):
            if not isinstance(s[key], (int, float)) or s[key] < 0:
                raise UserError(f"style.{key}: expected a number >= 0, got {s[key]!r}")
        if not isinstance(s["steps_per_epoch"], int) or s["steps_per_epoch"] < 1:
            raise UserError(f"style.steps_per_epoch: expected an int >= 1, got "
                            f"{s['steps_per_epoch']!r}")
        if any(not isinstance(f, (int, float)) or f <= 0 for f in s["grid"]):
            raise UserError(f"style.grid: expected style-weight factors > 0, got {s['grid']}")
        _read(d["content"], d["size"], "content")  # unreadable or bad images fail now
        _read(d["dataset"], d["size"], "dataset")

    def setup(self) -> None:
        d = self.cfg["data"]
        self.content = _read(d["content"], d["size"], "content").to(self.device)
        self.style = _read(d["dataset"], d["size"], "dataset").to(self.device)
        layers = sorted(set(st.STYLE_LAYERS) | set(st.CONTENT_LAYERS))
        self.features = st.StyleFeatures(layers).to(self.device)
        self._at = {layer: i for i, layer in enumerate(layers)}
        with torch.no_grad():
            content = self.features(self.content)
            style = self.features(self.style)
        self.content_y = [content[self._at[i]] for i in st.CONTENT_LAYERS]
        self.style_gram = [st.gram(style[self._at[i]]) for i in st.STYLE_LAYERS]
        self.image = SynthesizedImage(self.content)
        self.curves: dict[str, list[list[float]]] = {}
        self.weights: dict[str, float] = {}

    def phases(self) -> list[tuple[str, int]]:
        s = self.cfg["style"]
        grid = [(f"x{f:g}", int(s["grid_epochs"])) for f in s["grid"]]
        return [("main", int(self.cfg["train"]["epochs"])), *grid]

    def setup_phase(self, phase: str) -> None:
        """Every phase starts again from the content image at its own style weight."""
        s = self.cfg["style"]
        factor = 1.0 if phase == "main" else float(phase[1:])
        self.phase, self.style_weight = phase, factor * float(s["style_weight"])
        self.weights[phase] = self.style_weight
        self.image = SynthesizedImage(self.content)
        self.curves.setdefault(phase, [])

    def configure_optimizers(self) -> dict[str, Any]:
        s, params = self.cfg["style"], list(self.module("image").parameters())
        if s["optimizer"] == "lbfgs":
            return {"main": torch.optim.LBFGS(params, lr=float(s["lbfgs_lr"]), max_iter=1,
                                              line_search_fn="strong_wolfe")}
        return super().configure_optimizers()

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three weighted losses of image x and their sum as "loss"."""
        s = self.cfg["style"]
        found = self.features(x)
        content = sum(st.content_loss(found[self._at[i]], y)
                      for i, y in zip(st.CONTENT_LAYERS, self.content_y, strict=True))
        style = sum(st.style_loss(found[self._at[i]], g)
                    for i, g in zip(st.STYLE_LAYERS, self.style_gram, strict=True))
        out = {"content_loss": s["content_weight"] * content,
               "style_loss": self.style_weight * style,
               "tv_loss": s["tv_weight"] * st.tv_loss(x)}
        out["loss"] = out["content_loss"] + out["style_loss"] + out["tv_loss"]
        return out

    # -- training ------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return int(self.cfg["style"]["steps_per_epoch"])

    def train_batches(self, epoch: int):  # noqa: ANN201 (no data: one dummy batch per step)
        return (torch.zeros(1) for _ in range(self.steps_per_epoch()))

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        engine, image = self.engine, self.module("image")
        if self.cfg["style"]["optimizer"] == "lbfgs":
            opt = engine.optimizers["main"]

            def closure() -> torch.Tensor:
                opt.zero_grad(set_to_none=True)
                loss = self.losses(image())["loss"]
                loss.backward()
                return loss

            opt.step(closure)
            with torch.no_grad():
                out = self.losses(image())
        else:
            out = self.losses(image())
            engine.backward(out["loss"])
            engine.step_optimizer("main")
        with torch.no_grad():
            image.weight.clamp_(0, 1)  # a picture: keep every pixel displayable
        out = {k: v.detach() for k, v in out.items()}
        self.curves[self.phase].append([float(out[k]) for k in
                                        ("content_loss", "style_loss", "tv_loss")])
        return out

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, split: str) -> dict[str, float]:
        return {k: float(v) for k, v in self.losses(self.module("image")()).items()}

    def test(self) -> dict[str, float]:
        """The phase's losses; rank 0 saves its image (stylized.png for the main phase)."""
        if self.rank == 0:
            name = "stylized" if self.phase == "main" else f"stylized_{self.phase}"
            st.save_image(self.module("image")(), self.run.run_dir / f"{name}.png")
        return {f"test_{k}": v for k, v in self.evaluate("test").items()}

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if self.rank == 0:
            from scratchdl.plots.style import loss_curves, weight_grid

            loss_curves(self.curves.get("main", []), self.run.run_dir / "style_losses")
            shown = [(self.weights.get(p, 0.0), self.run.run_dir / f"stylized_{p}.png")
                     for p, _ in self.phases()[1:]]
            shown = [(w, p) for w, p in shown if p.is_file()]
            if shown:  # the main result last: the grid reads from faint to full style
                main = self.run.run_dir / "stylized.png"
                if main.is_file():
                    shown.append((self.weights.get("main", self.style_weight), main))
                weight_grid(self.content, self.style, shown, self.run.run_dir / "style_grid")
        return dict(results["main"])

    def state_dict(self) -> dict[str, Any]:
        return {"curves": self.curves, "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curves = {k: [list(r) for r in v] for k, v in state["curves"].items()}
        self.weights = dict(state["weights"])
