"""The "gan" task: a generative model of kind "generative" with `generate`, `discriminate` and
`gen_loss` (DCGAN, models/generative/dcgan.py) trained by alternating updates on the engine's
manual-optimization path.

Each batch: one discriminator step on real images and detached fakes, then one generator step
through the (just updated) discriminator, each by engine.backward + engine.step_optimizer.
Two optimizers, "disc" and "gen", both built from the recipe's [optimizer] table (DCGAN uses
one Adam setting for both), both scheduled, checkpointed and resumed by the engine.
Everything else (data, evaluation, Frechet distance, figures, `scratchdl sample`) is the
generative task's; the data are grey images (data.binarize = "none").
"""

from __future__ import annotations

from typing import Any

from scratchdl.errors import UserError
from scratchdl.models.generative.dcgan import discriminator_loss, generator_loss
from scratchdl.tasks import register_task
from scratchdl.tasks.generative.generative import DATA, Generative
from scratchdl.train.optim import build_optimizer


@register_task("gan")
class GAN(Generative):
    manual_optimization = True
    defaults = {
        **Generative.defaults,
        "data": {**DATA, "dataset": "fashion-mnist", "binarize": "none"},
        "target": {"metric": "test_fd"},
    }

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        from scratchdl.models import build_model

        if not hasattr(build_model(cfg["model"]["name"], num_classes=10), "discriminate"):
            raise UserError(
                f"model.name {cfg['model']['name']!r}: the gan task trains a generator against "
                "a discriminator (model dcgan); use task generative for other models"
            )
        if cfg["data"]["binarize"] != "none":
            raise UserError('data.binarize: a GAN learns grey images; set data.binarize="none"')
        super().check_config(cfg)

    def configure_optimizers(self) -> dict[str, Any]:
        m = self.module("model")
        return {
            "disc": build_optimizer(list(m.discriminator.parameters()), self.cfg["optimizer"]),
            "gen": build_optimizer(list(m.generator.parameters()), self.cfg["optimizer"]),
        }

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, _ = batch
        m, engine = self.module("model"), self.engine
        fake = m.generate(m.noise(len(x)))
        # discriminator: real -> 1, fake -> 0 (fakes detached: G is not trained here). Its
        # gradients left over from the previous generator step are cleared first.
        engine.optimizers["disc"].zero_grad(set_to_none=True)
        real_logits = m.discriminate(2 * x - 1)
        d_loss = discriminator_loss(real_logits, m.discriminate(fake.detach()))
        engine.backward(d_loss)
        engine.step_optimizer("disc")
        # generator: through the updated discriminator, by the model's generator loss
        fake_logits = m.discriminate(fake)
        g_loss = generator_loss(fake_logits, m.gen_loss)
        engine.backward(g_loss)
        engine.step_optimizer("gen")
        return {
            "loss": (d_loss + g_loss).detach(),
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": real_logits.detach().sigmoid().mean(),
            "d_fake": fake_logits.detach().sigmoid().mean(),
        }
