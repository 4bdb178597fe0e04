"""Image corruptions (identity at 0, monotone in severity, seeded) and `robust` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torchvision.transforms.v2 import functional as TF

from scratchdl.data import load_splits
from scratchdl.errors import UserError
from scratchdl.plots.radar import pretty, radar_figure
from scratchdl.tasks._restore import load_trained_model
from scratchdl.workbench import corruptions as C
from scratchdl.workbench.corruptions import CORRUPTIONS, corrupt
from scratchdl.workbench.robust import robust
from tests.conftest import TINY_RECIPE, run_cli

NAMES = list(CORRUPTIONS)


def digits_batch(n: int = 256, size: int = 8) -> torch.Tensor:
    """Real handwritten digits as float [n, 1, size, size] in [0, 1] (bilinear upsampling)."""
    images = torch.tensor(load_digits().images[:n], dtype=torch.float32).unsqueeze(1) / 16
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp(0, 1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", NAMES)
def test_severity_zero_is_the_exact_identity(name: str) -> None:
    x = digits_batch(32)
    out = corrupt(x, name, 0, gen())
    assert torch.equal(out, x)
    assert out is not x  # a copy: the caller may change it in place


@pytest.mark.parametrize("size", [8, 28])
@pytest.mark.parametrize("name", NAMES)
def test_pixel_change_grows_with_severity(name: str, size: int) -> None:
    x = digits_batch(256, size)
    change = [(corrupt(x, name, s, gen(1)) - x).abs().mean().item() for s in range(6)]
    assert change[0] == 0.0
    assert all(b > a for a, b in zip(change, change[1:], strict=False)), change


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (3, 3, 10, 14), (5, 1, 28, 28)])
@pytest.mark.parametrize("name", NAMES)
def test_range_shape_dtype(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    x = torch.rand(shape, generator=gen(2), dtype=dtype)
    for severity in range(6):
        out = corrupt(x, name, severity, gen(3))
        assert out.shape == x.shape and out.dtype == dtype
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_corruption(name: str) -> None:
    x = digits_batch(64)
    a, b = corrupt(x, name, 3, gen(7)), corrupt(x, name, 3, gen(7))
    assert torch.equal(a, b)
    if name in ("gaussian_noise", "occlusion", "rotation"):  # the random ones
        assert not torch.equal(a, corrupt(x, name, 3, gen(8)))


def test_blur_matches_torchvision_away_from_the_border() -> None:
    # torchvision pads by reflection and we replicate, so only pixels >= r from the edge agree
    x = torch.rand(4, 3, 30, 26, generator=gen(4), dtype=torch.float64)
    for severity in range(1, 6):
        sigma = C.BLUR_SIGMA[severity - 1]
        r = (len(C.gaussian_kernel1d(sigma)) - 1) // 2
        ours = C.gaussian_blur(x, severity)
        twin = TF.gaussian_blur(x, kernel_size=[2 * r + 1] * 2, sigma=[sigma, sigma])
        torch.testing.assert_close(ours[..., r:-r, r:-r], twin[..., r:-r, r:-r], rtol=0, atol=1e-12)


def test_contrast_matches_torchvision_on_grayscale() -> None:
    # for one channel, adjust_contrast blends toward the image mean, as ours does
    x = digits_batch(16)
    for severity in range(1, 6):
        twin = TF.adjust_contrast(x, C.CONTRAST_KEEP[severity - 1])
        torch.testing.assert_close(C.contrast(x, severity), twin, rtol=0, atol=1e-6)


def test_occlusion_zeros_one_square_inside_the_image() -> None:
    x = torch.ones(50, 1, 16, 12)
    for severity in range(1, 6):
        side = int(severity * 12 / 8 + 0.5)
        holes = C.occlusion(x, severity, gen(5)) == 0
        assert (holes.sum(dim=(1, 2, 3)) == side * side).all()
        rows, cols = holes.any(dim=3), holes.any(dim=2)  # the hole is one contiguous square
        assert (rows.sum(dim=(1, 2)) == side).all() and (cols.sum(dim=(1, 2)) == side).all()


def test_noise_has_the_stated_std() -> None:
    x = torch.full((20, 1, 32, 32), 0.5)
    diff = C.gaussian_noise(x, 1, gen(6)) - x  # std 0.08: clipping at 0 and 1 is negligible
    assert abs(diff.std().item() - C.NOISE_STD[0]) < 0.002
    assert abs(diff.mean().item()) < 0.002


def test_rotation_signs_are_random_per_image() -> None:
    x = digits_batch(64)
    out = C.rotation(x, 2, gen(9))
    left = TF.rotate(x, C.ROTATION_DEG[1], interpolation=TF.InterpolationMode.BILINEAR, fill=0.0)
    is_left = (out == left.clamp(0, 1)).flatten(1).all(dim=1)
    assert 10 < is_left.sum() < 54  # both directions occur


@pytest.mark.parametrize(
    ("name", "severity", "match"),
    [
        ("fog", 1, "unknown corruption 'fog'.*gaussian_noise, gaussian_blur"),
        ("contrast", 6, "severity"),
        ("contrast", -1, "severity"),
        ("contrast", 2.0, "severity"),
        ("contrast", True, "severity"),
    ],
)
def test_bad_name_or_severity(name: str, severity: object, match: str) -> None:
    with pytest.raises(UserError, match=match):
        corrupt(digits_batch(2), name, severity)  # type: ignore[arg-type]


def test_bad_batch() -> None:
    with pytest.raises(UserError, match=r"\[N, C, H, W\]"):
        C.contrast(torch.rand(8, 8), 1)
    with pytest.raises(UserError, match=r"\[N, C, H, W\]"):
        C.gaussian_noise(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 1)


# ---- end to end: two tiny trained runs (one standardised), corrupted and compared ----


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, float]]:
    """(run dir, its reported test accuracy): a narrow raw-pixel and a wide normalised MLP."""
    root = tmp_path_factory.mktemp("robust")
    recipe = root / "tiny-digits.toml"
    recipe.write_text(TINY_RECIPE)
    env = {"SCRATCHDL_RUNS": str(root / "store")}
    runs = []
    for name, extra in [
        ("narrow", []),
        ("wide", ["--set", "model.hidden=[64]", "--set", "data.normalize=true"]),
    ]:
        args = ["run", str(recipe), "--out", str(root / name), "--epochs", "2", "--json", *extra]
        proc = run_cli(*args, env=env, check=True)
        runs.append((root / name, json.loads(proc.stdout.strip().splitlines()[-1])["value"]))
    return runs


@pytest.mark.slow
def test_robust_end_to_end(two_runs: list[tuple[Path, float]], tmp_path: Path) -> None:
    names = ["gaussian_blur", "occlusion"]
    result = robust([d for d, _ in two_runs], corruptions=names, severities=[3, 1], out=tmp_path)
    rows = result["rows"]
    assert [r["label"] for r in rows] == ["narrow", "wide"]  # same recipe: told apart by folder
    for row, (_, reported) in zip(rows, two_runs, strict=True):
        assert row["clean_accuracy"] == pytest.approx(reported, abs=1e-12)
        assert set(row["accuracy"]) == set(names)
        for name in names:
            accs = row["accuracy"][name]
            assert set(accs) == {"1", "3"}
            assert all(0.0 <= a <= 1.0 for a in accs.values())
            assert row["corruption_accuracy"][name] == pytest.approx((accs["1"] + accs["3"]) / 2)
        assert row["accuracy"]["gaussian_blur"]["3"] < row["clean_accuracy"]  # blur 1.0 px hurts
        expected = sum(row["corruption_accuracy"].values()) / 2
        assert row["mean_corruption_accuracy"] == pytest.approx(expected)

    saved = json.loads((tmp_path / "robust.json").read_text())
    assert saved["severities"] == [1, 3] and saved["corruptions"] == names
    assert saved["rows"][1]["accuracy"] == rows[1]["accuracy"]
    table = (tmp_path / "robust.md").read_text()
    assert table == result["table"]
    assert "| run | clean | Gaussian blur | Occlusion | mean corr. |" in table
    assert f"{rows[0]['clean_accuracy']:.4f}" in table and "| s1 | s3 |" in table
    for stem in ("radar", "severity"):
        for suffix in (".png", ".pdf"):
            path = tmp_path / f"{stem}{suffix}"
            assert str(path) in result["charts"] and path.stat().st_size > 1000

    # same seed -> same corrupted images -> same numbers; radar has one spoke per corruption
    again = robust([two_runs[0][0]], corruptions=names, severities=[1, 3], out=tmp_path / "b")
    assert again["rows"][0]["accuracy"] == rows[0]["accuracy"]
    names3 = [*names, "contrast"]
    series = {r["label"]: [r["corruption_accuracy"][n] for n in names] + [0.5] for r in rows}
    fig = radar_figure(names3, series, title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [pretty(n) for n in names3]
    polygons = [line for line in ax.get_lines() if line.get_label() in series]
    assert len(polygons) == 2
    for line in polygons:  # closed polygon through the row's values
        assert list(line.get_ydata()) == [*series[line.get_label()], series[line.get_label()][0]]
    # two corruptions: no polygon can be drawn, so the "radar" is grouped bars from 0
    two = {label: values[:2] for label, values in series.items()}
    bars = radar_figure(names, two, title="t").axes[0]
    assert bars.name != "polar" and bars.get_ylim()[0] == 0.0
    assert sorted(p.get_height() for p in bars.patches) == sorted(
        v for vs in two.values() for v in vs
    )


@pytest.mark.slow
def test_robust_corrupts_in_pixel_space(two_runs: list[tuple[Path, float]], tmp_path: Path) -> None:
    # the wide run standardises its inputs: robust must undo that, corrupt, and redo it
    run_dir = two_runs[1][0]
    model, cfg, splits = load_trained_model(run_dir)
    assert cfg["data"]["normalize"] and splits.info.std != [1.0]
    pixels = load_splits("digits", val_size=cfg["data"]["val_size"], seed=cfg["train"]["seed"]).test
    m = torch.tensor(splits.info.mean).view(1, -1, 1, 1)
    s = torch.tensor(splits.info.std).view(1, -1, 1, 1)
    with torch.no_grad():
        pred = model((C.contrast(pixels.x, 5) - m) / s).argmax(1)
    by_hand = (pred == pixels.y).double().mean().item()
    result = robust([run_dir], corruptions=["contrast"], severities=[5], out=tmp_path)
    got = result["rows"][0]["accuracy"]["contrast"]["5"]
    assert got == pytest.approx(by_hand, abs=1.01 / len(pixels))  # at most one rounding flip


def test_radar_has_one_axis_per_corruption() -> None:
    for k in (3, 5):
        names = NAMES[:k]
        fig = radar_figure(names, {"a": [0.5] * k, "b": [0.7] * k}, title="t", clean={"a": 0.9})
        assert len(fig.axes[0].get_xticklabels()) == k


@pytest.mark.slow
def test_robust_bad_input(two_runs: list[tuple[Path, float]], tmp_path: Path) -> None:
    run_dir = two_runs[0][0]
    with pytest.raises(UserError, match="unknown corruption 'snow'"):
        robust([run_dir], corruptions=["snow"], out=tmp_path)
    with pytest.raises(UserError, match="severities"):
        robust([run_dir], severities=[0, 6], out=tmp_path)
    with pytest.raises(UserError, match="at least one RUN_DIR"):
        robust([], out=tmp_path)
    no_checkpoint = tmp_path / "copy"
    shutil.copytree(run_dir, no_checkpoint)
    (no_checkpoint / "checkpoint.pt").unlink()
    with pytest.raises(UserError, match="checkpoint"):
        robust([no_checkpoint], out=tmp_path / "o")
    with pytest.raises(UserError, match="not a scratchdl run directory"):
        robust([tmp_path / "nothing"], out=tmp_path / "o")


def test_table_and_figures_say_what_each_severity_means() -> None:
    from scratchdl.plots.radar import severity_figure
    from scratchdl.workbench.robust import format_table, radar_note

    names, sevs = ["gaussian_noise", "gaussian_blur", "rotation", "occlusion", "contrast"], [1, 3]
    row = {
        "label": "a",
        "dataset": "digits",
        "clean_accuracy": 0.9,
        "accuracy": {n: {"1": 0.8, "3": 0.7} for n in names},
        "corruption_accuracy": {n: 0.75 for n in names},
        "mean_corruption_accuracy": 0.75,
    }
    table = format_table([row], names, sevs, seed=0)
    assert "severity 0 is the clean image" in table
    assert "| corruption | parameter (unit) | s1 | s3 |" in table
    noise = next(line for line in table.splitlines() if line.startswith("| Gaussian noise | std"))
    assert "pixel-intensity units" in noise and noise.endswith(
        f"| {C.NOISE_STD[0]:g} | {C.NOISE_STD[2]:g} |"
    )
    blur = next(line for line in table.splitlines() if line.startswith("| Gaussian blur | σ"))
    assert "in pixels" in blur and blur.endswith("| 0.5 | 1 |")
    rot = next(line for line in table.splitlines() if line.startswith("| Rotation | rotation"))
    assert "degrees" in rot and rot.endswith(f"| {C.ROTATION_DEG[0]:g} | {C.ROTATION_DEG[2]:g} |")
    occ = next(line for line in table.splitlines() if line.startswith("| Occlusion | side"))
    assert occ.endswith("| 1/8 | 3/8 |")
    con = next(line for line in table.splitlines() if line.startswith("| Contrast | contrast"))
    assert con.endswith(f"| {C.CONTRAST_KEEP[0]:g} | {C.CONTRAST_KEEP[2]:g} |")
    assert radar_note("gaussian_blur", sevs) == "blur σ (pixels): 0.5-1"

    curves = {n: {"a": [0.9, 0.8, 0.7]} for n in names}
    levels = {n: C.SEVERITY_LEVELS[n][1:] for n in names}
    fig = severity_figure(curves, [0, *sevs], title="t", levels=levels)
    by_title = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    blur_ax = by_title["Gaussian blur"]
    assert blur_ax.get_xlabel() == "severity / blur σ (pixels)"
    assert [t.get_text() for t in blur_ax.get_xticklabels()] == ["0\n0", "1\n0.5", "3\n1"]
    rot_ax = by_title["Rotation"]
    assert "degrees" in rot_ax.get_xlabel()
    assert [t.get_text() for t in rot_ax.get_xticklabels()][-1] == f"3\n{C.ROTATION_DEG[2]:g}"
    assert [t.get_text() for t in by_title["Contrast"].get_xticklabels()][0] == "0\n1"
    plt.close(fig)
