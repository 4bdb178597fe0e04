"""Recipe configs: resolution, checked --set overrides, TOML round trip."""

from __future__ import annotations

import math
import tomllib

import pytest

from scratchdl.config import apply_overrides, dumps_toml, flatten
from scratchdl.errors import UserError
from scratchdl.recipes import describe, list_recipes, load_recipe, recipe_path


def test_first_recipes_are_discoverable() -> None:
    assert {"softmax-fmnist", "mlp-fmnist", "lenet-fmnist"} <= set(list_recipes())


@pytest.mark.parametrize("name", ["softmax-fmnist", "mlp-fmnist", "lenet-fmnist"])
def test_recipes_resolve_with_target_and_source(name: str) -> None:
    cfg = load_recipe(name)
    info = describe(cfg)
    assert info["dataset"] == "fashion-mnist"
    assert info["target"] is not None and 0 < info["target"] < 1
    assert info["source"]
    assert cfg["train"]["epochs"] == 10


def test_model_options_are_filled_in_and_settable() -> None:
    cfg = load_recipe("lenet-fmnist", ["model.activation=sigmoid", "model.pool=avg"])
    assert cfg["model"] == {
        "name": "lenet",
        "activation": "sigmoid",
        "pool": "avg",
        "init": "default",
        "compiled_pool": True,
    }


def test_set_coerces_int_to_float_and_parses_lists() -> None:
    cfg = load_recipe("mlp-fmnist", ["optimizer.lr=1", "model.hidden=[64, 32]"])
    assert cfg["optimizer"]["lr"] == 1.0 and isinstance(cfg["optimizer"]["lr"], float)
    assert cfg["model"]["hidden"] == [64, 32]


def test_switching_model_drops_options_it_does_not_have() -> None:
    cfg = load_recipe("lenet-fmnist", ["model.name=mlp", "model.hidden=[8]"])
    assert cfg["model"]["name"] == "mlp" and cfg["model"]["hidden"] == [8]
    assert "pool" not in cfg["model"]


def test_unknown_key_suggests_close_name() -> None:
    with pytest.raises(UserError, match="did you mean optimizer.lr"):
        load_recipe("mlp-fmnist", ["optimizer.lrr=0.1"])


@pytest.mark.parametrize(
    "item, match",
    [
        ("train.epochs=abc", "expected a int"),
        ("train.epochs=1.5", "expected a int"),
        ("train.channels_last=1", "expected a bool"),
        ("optimizer.lr=nan", "expected a float"),
        ("model.hidden=3", "expected a list"),
        ("noequals", "key=value"),
    ],
)
def test_wrong_type_says_what_is_allowed(item: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        load_recipe("mlp-fmnist", [item])


def test_unknown_recipe_suggests_close_names() -> None:
    with pytest.raises(UserError, match="did you mean lenet-fmnist"):
        recipe_path("lenet-fmnst")


def test_dumps_toml_round_trips_resolved_config() -> None:
    cfg = load_recipe("lenet-fmnist")
    back = tomllib.loads(dumps_toml(cfg))
    flat, flat_back = flatten(cfg), flatten(back)
    assert flat.keys() == flat_back.keys()
    for key, value in flat.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(flat_back[key])
        else:
            assert flat_back[key] == value, key


def test_overrides_do_not_mutate_input() -> None:
    cfg = {"a": {"b": 1}}
    out = apply_overrides(cfg, ["a.b=2"])
    assert cfg["a"]["b"] == 1 and out["a"]["b"] == 2


@pytest.mark.parametrize("name", list_recipes())
def test_every_bundled_recipe_resolves_and_its_model_runs(name: str) -> None:
    import torch

    from scratchdl.models._resize import build_for_data

    cfg = load_recipe(name)
    info = describe(cfg)
    assert info["source"] and info["metric"].startswith("test_")
    if cfg["task"] != "classify":
        return  # from-scratch tasks are run end to end in test_scratch_tasks.py
    model = build_for_data(
        cfg["model"],
        in_channels=1,
        num_classes=10,
        native_size=(28, 28),
        image_size=cfg["data"]["image_size"],
    )
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(
    "recipe, key",
    [
        ("lstm-austen", "augment.hflip=0.5"),
        ("lstm-austen", "data.normalize=true"),
        ("seq2seq-bible-en-es", "data.image_size=32"),
        ("ngram-austen", "train.metrics=['accuracy']"),
        ("knn-fmnist", "augment.cutout=4"),
    ],
)
def test_a_key_the_task_does_not_use_is_rejected(recipe: str, key: str) -> None:
    with pytest.raises(UserError, match=rf"--set {key.split('=')[0]}: unknown key.*allowed: "):
        load_recipe(recipe, [key])


def test_a_recipe_file_with_a_foreign_table_is_rejected(tmp_path) -> None:
    path = tmp_path / "lm.toml"
    path.write_text('task = "rnn-lm"\n[model]\nname = "lstm"\n[augment]\nhflip = 0.5\n')
    with pytest.raises(UserError, match="unknown keys augment"):
        load_recipe(str(path))
