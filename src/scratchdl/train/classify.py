"""The "classify" task: a registered model trained with the Trainer on an image dataset."""

from __future__ import annotations

from typing import Any

from scratchdl.data import TensorLoader, load_splits
from scratchdl.models.resize import build_for_data
from scratchdl.train import distributed as dist
from scratchdl.train.augment import build_augment
from scratchdl.train.device import resolve_device
from scratchdl.train.optim import build_optimizer, build_scheduler
from scratchdl.train.run import RunContext
from scratchdl.train.seeding import data_order_seed, seed_everything
from scratchdl.train.tasks import register_task
from scratchdl.train.trainer import Trainer, TrainerConfig


@register_task("classify")
def classify(ctx: RunContext) -> dict[str, Any]:
    cfg, data_cfg, train_cfg = ctx.cfg, ctx.cfg["data"], ctx.cfg["train"]
    seed = train_cfg["seed"]
    seed_everything(seed)
    device = resolve_device(train_cfg["device"])
    splits = load_splits(
        data_cfg["dataset"],
        val_size=data_cfg["val_size"],
        seed=seed,
        normalize=data_cfg["normalize"],
    )
    info = splits.info
    model = build_for_data(
        cfg["model"],
        in_channels=info.in_channels,
        num_classes=info.num_classes,
        native_size=info.image_size,
        image_size=data_cfg["image_size"],
    )
    shard = {"rank": dist.rank(), "world_size": dist.world_size()}
    train_loader = TensorLoader(
        splits.train.x,
        splits.train.y,
        data_cfg["batch_size"],
        shuffle=True,
        seed=data_order_seed(seed),
        **shard,
    )
    eval_bs = data_cfg["eval_batch_size"]
    val_loader = TensorLoader(splits.val.x, splits.val.y, eval_bs)  # whole split on each rank
    test_loader = TensorLoader(splits.test.x, splits.test.y, eval_bs)
    optimizer = build_optimizer(model.to(device), cfg["optimizer"])
    scheduler = build_scheduler(optimizer, cfg["schedule"], len(train_loader), train_cfg["epochs"])
    trainer = Trainer(
        model,
        optimizer,
        scheduler,
        train_loader,
        {"val": val_loader},
        TrainerConfig(
            epochs=train_cfg["epochs"],
            grad_clip=train_cfg["grad_clip"],
            amp=train_cfg["amp"],
            metrics=train_cfg["metrics"],
            show_progress=not ctx.quiet,
            channels_last=train_cfg["channels_last"],
        ),
        device=device,
        checkpoint_path=ctx.checkpoint_path,
        extra_state={"run_id": ctx.run_id},
        augment=build_augment(cfg["augment"], info),
    )
    if ctx.resuming and ctx.checkpoint_path.exists():
        trainer.resume_from(ctx.checkpoint_path)
        ctx.replace_history(trainer.history)
    trainer.fit(on_epoch_end=ctx.log_epoch)
    final = dict(trainer.history[-1]) if trainer.history else {}
    final.update(trainer.evaluate(test_loader, "test"))
    final["examples_per_s"] = trainer.examples_per_s or final.get("examples_per_s", 0.0)
    final["parameters"] = sum(p.numel() for p in model.parameters())
    return final
