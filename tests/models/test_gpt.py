"""The GPT (scratchdl.models.text.gpt): its block equals torch's pre-norm TransformerEncoderLayer
with copied weights under a causal mask; it is causal; the KV cache gives the logits and
tokens of full recomputation; beam 1 is greedy; bad generation settings fail in one line;
held-out window scoring scores every token once (uniform model: perplexity = V exactly)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models.text.gpt import GPT
from scratchdl.tasks.text.gpt_lm import _window_plan, window_scores
from scratchdl.text.decoding import generate, recompute_step

V = 11


def tiny(positions: str = "learned", block: int = 16, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(V, n_layer=2, n_head=2, n_embd=8, block_size=block, positions=positions)
    model = model.double().eval()
    with torch.no_grad():  # large random weights: peaked, varied predictions (the tied head
        for p in model.parameters():  # of a fresh GPT mostly repeats the last token)
            p.normal_(0.0, 0.7)
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_gpt_equals_the_same_net_built_from_torch_layers(seed: int) -> None:
    # twin: nn.Embedding + positions + nn.TransformerEncoderLayer (pre-norm, GELU, causal
    # mask) x 2 + nn.LayerNorm + the embedding matrix as output layer, weights copied in
    torch.manual_seed(seed)
    model = GPT(V, n_layer=2, n_head=4, n_embd=16, block_size=12).double().eval()
    layers = [
        nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0, activation="gelu",
                                   batch_first=True, norm_first=True, dtype=torch.float64).eval()
        for _ in range(2)
    ]
    ln_f = nn.LayerNorm(16, dtype=torch.float64)
    for p in [*(p for layer in layers for p in layer.parameters()), *ln_f.parameters()]:
        nn.init.normal_(p, std=0.3)
    for block, layer in zip(model.blocks, layers, strict=True):
        block.load_from_torch(layer)
    with torch.no_grad():
        model.ln_f.weight.copy_(ln_f.weight)
        model.ln_f.bias.copy_(ln_f.bias)
    x = torch.randint(0, V, (3, 12))
    h = model.tok.weight[x] + model.pos.weight[:12]
    mask = nn.Transformer.generate_square_subsequent_mask(12, dtype=torch.float64)
    for layer in layers:
        h = layer(h, src_mask=mask, is_causal=True)
    want = ln_f(h) @ model.tok.weight.T
    torch.testing.assert_close(model(x)[0], want, rtol=1e-10, atol=1e-10)


def test_weight_tying_and_parameter_count() -> None:
    model = GPT(V, n_layer=2, n_head=2, n_embd=8, block_size=5)
    assert model.head.weight is model.tok.weight
    d = 8  # q, k, v, out projections; MLP d -> 4d -> d; two LayerNorms
    block = 4 * (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d
    want = V * d + 5 * d + 2 * block + 2 * d  # tokens (shared with the head), positions, ln_f
    assert sum(p.numel() for p in model.parameters()) == want
    rot = GPT(V, n_layer=2, n_head=2, n_embd=8, block_size=5, positions="rotary")
    assert sum(p.numel() for p in rot.parameters()) == want - 5 * d  # no position table


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_causal(positions: str) -> None:
    model = tiny(positions)
    x = torch.randint(0, V, (2, 10))
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % V  # change the future
    a, b = model(x)[0], model(y)[0]
    torch.testing.assert_close(a[:, :6], b[:, :6], rtol=0, atol=0)
    assert not torch.allclose(a[:, 6:], b[:, 6:])


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_logits_equal_full_forward(positions: str) -> None:
    model = tiny(positions)
    x = torch.randint(0, V, (3, 14))
    full = model(x)[0]
    caches = model.new_caches()
    first, _ = model(x[:, :5], caches)  # a prefix at once, then one token at a time
    steps = [first] + [model(x[:, t : t + 1], caches)[0] for t in range(5, 14)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_kv_cache_generation_equals_recomputation(positions: str) -> None:
    model = tiny(positions, block=32)
    prompt = [1, 4, 2, 7]
    with torch.no_grad():
        cached = generate(model.step, prompt, 25)
        recomputed = generate(recompute_step(lambda ids: model(ids)[0][:, -1]), prompt, 25)
    assert cached == recomputed
    assert model.generate(prompt, 25) == cached
    # sampled (same draws): varied tokens, so a cache mix-up would show
    full = recompute_step(lambda ids: model(ids)[0][:, -1])
    a, b = (
        generate(step, prompt, 25, strategy="sample", generator=torch.Generator().manual_seed(1))
        for step in (model.step, full)
    )
    assert a == b and len(set(a)) > 3


def test_beam_of_one_is_greedy() -> None:
    model = tiny()
    assert model.generate([3, 1], 12, beam_size=1) == model.generate([3, 1], 12)
    wider = model.generate([3, 1], 12, beam_size=3)
    assert len(wider) == 12


def test_sampling_settings_are_used() -> None:
    model = tiny()
    g = torch.Generator().manual_seed(0)
    top1 = model.generate([2], 12, strategy="sample", top_k=1, generator=g)
    assert top1 == model.generate([2], 12)  # top-k 1 is greedy
    draws = {
        tuple(model.generate([2], 12, strategy="sample", temperature=3.0,
                             generator=torch.Generator().manual_seed(s)))
        for s in range(4)
    }
    assert len(draws) > 1


def test_crop_slides_past_the_block() -> None:
    model = tiny("learned", block=8)
    out = model.generate([1, 2, 3], 20)  # 23 tokens through an 8-token window
    assert len(out) == 20
    # after a rebuild, the step's logits are those of a fresh pass over the last block // 2
    step = model.stepper(crop=True)
    ids = torch.randint(0, V, (9,))
    state = None
    for t in ids[:8]:
        logits, state = step(t[None], state)
    logits, state = step(ids[8:9], state)
    with torch.no_grad():
        want = model(ids[-4:][None])[0][:, -1]
    torch.testing.assert_close(logits, want, rtol=1e-10, atol=1e-10)
    assert state[1].shape[2] == 4  # the cache holds the 4 rebuilt positions


def test_bad_generation_input() -> None:
    model = tiny("learned", block=8)
    with pytest.raises(UserError, match="beam_size must be an integer >= 1"):
        model.generate([1], 3, beam_size=0)
    for p in (0.0, 1.2, -0.5):
        with pytest.raises(UserError, match=r"top_p must be in \(0, 1\]"):
            model.generate([1], 3, strategy="sample", top_p=p)
    for k in (0, -2):
        with pytest.raises(UserError, match="top_k must be an integer >= 1"):
            model.generate([1], 3, strategy="sample", top_k=k)
    with pytest.raises(UserError, match="prompt .* longer than the learned position table"):
        model.generate(list(range(9)), 1, crop=False)
    with pytest.raises(UserError, match="continuation .* longer than the learned position"):
        model.generate([1, 2], 7, crop=False)
    assert len(model.generate([1, 2], 6, crop=False)) == 6  # exactly fills the table
    assert len(tiny("rotary", block=8).generate(list(range(9)), 4, crop=False)) == 4
    with pytest.raises(UserError, match="LearnedPositions has a table of 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_bad_model_options() -> None:
    with pytest.raises(UserError, match="n_head must divide"):
        build_model("gpt", vocab_size=V, n_embd=10, n_head=4)
    with pytest.raises(UserError, match="positions must be one of"):
        build_model("gpt", vocab_size=V, positions="sinusoid")
    with pytest.raises(UserError, match="even head size"):
        build_model("gpt", vocab_size=V, n_embd=6, n_head=2, positions="rotary")


def test_attention_maps_rows_sum_to_one_and_are_causal() -> None:
    model = tiny()
    maps = model.attention_maps(torch.randint(0, V, (7,)))
    assert maps.shape == (2, 7, 7)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 7, dtype=torch.float64))
    assert (maps.triu(1) == 0).all()


@pytest.mark.parametrize(("n", "block", "stride"), [(2, 4, 2), (10, 4, 2), (11, 4, 3), (50, 8, 8),
                                                    (50, 8, 1), (5, 16, 8)])
def test_window_plan_scores_every_target_once(n: int, block: int, stride: int) -> None:
    plan = _window_plan(n, block, stride)
    scored = [j for _, end, first in plan for j in range(first, end)]
    assert scored == list(range(n))
    for k, (start, end, first) in enumerate(plan):
        assert end - start <= block and start <= first
        if k:  # after the first window every scored target has >= block - stride context
            assert first - start >= min(block, end) - stride


def test_window_scores_match_hand_computations() -> None:
    model = tiny(block=8)
    ids = torch.randint(0, V, (30,))
    # one window covering everything: the plain mean cross-entropy of one forward pass
    short = ids[:9]
    logits = model(short[None, :-1])[0][0]
    nll = torch.nn.functional.cross_entropy(logits, short[1:]).item()
    got = window_scores(model, short, block=8, stride=4, rows=3)
    assert got["loss"] == pytest.approx(nll, rel=1e-9)
    # sliding windows equal the per-target loss from each target's own window
    plan = _window_plan(29, 8, 3)
    total = 0.0
    for start, end, first in plan:
        lg = model(ids[None, start:end])[0][0]
        total += torch.nn.functional.cross_entropy(
            lg[first - start :], ids[first + 1 : end + 1], reduction="sum"
        ).item()
    got = window_scores(model, ids, block=8, stride=3, rows=2)
    assert got["loss"] == pytest.approx(total / 29, rel=1e-9)
    # a model that knows nothing (all-zero logits): perplexity is exactly V
    with torch.no_grad():
        model.tok.weight.zero_()
    assert window_scores(model, ids, 8, 4)["perplexity"] == pytest.approx(V, rel=1e-12)
    assert math.isclose(window_scores(model, ids, 8, 4)["accuracy"],
                        float((ids[1:] == 0).double().mean()))  # argmax of ties: token 0


def test_attention_heatmaps_draw_one_panel_per_head(tmp_path) -> None:
    import matplotlib.pyplot as plt

    from scratchdl.plots.attention import attention_heatmaps

    model = tiny()
    maps = model.attention_maps(torch.tensor([1, 2, 3, 4, 5]))
    kept = []
    orig = plt.close
    plt.close = lambda fig=None: kept.append(fig)  # keep the figure to inspect it
    try:
        paths = attention_heatmaps(maps, list("ab cd"), tmp_path / "att", title="t")
    finally:
        plt.close = orig
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    panels = [ax for ax in kept[0].axes if ax.get_title().startswith("head")]
    assert [ax.get_title() for ax in panels] == ["head 1", "head 2"]
    assert panels[0].images[0].get_array().shape == (5, 5)
    with pytest.raises(UserError, match=r"expected weights \[H, 4, 4\]"):
        attention_heatmaps(maps, list("abcd"), tmp_path / "bad")
