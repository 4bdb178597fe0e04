"""Transformer blocks vs torch layers with copied weights; stacks decode with a KV cache."""

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.nn.positions import RotaryEmbedding
from scratchdl.nn.transformer import (
    AddNorm,
    PositionwiseFFN,
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
    TransformerEncoderBlock,
)

TOL = {"atol": 1e-5, "rtol": 1e-5}
D, H, F_ = 16, 4, 24


def randomize(module: nn.Module) -> None:
    """Non-trivial norms and biases, so a swapped or dropped parameter shows."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "bias" in name:
                p.normal_()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_block_matches_torch(norm_first: bool, activation: str, batch_first: bool) -> None:
    torch.manual_seed(0)
    twin = nn.TransformerEncoderLayer(D, H, F_, dropout=0.0, activation=activation,
                                      norm_first=norm_first, batch_first=batch_first,
                                      layer_norm_eps=1e-12).eval()
    randomize(twin)
    ours = TransformerEncoderBlock(D, H, F_, activation=activation, norm_first=norm_first,
                                   batch_first=batch_first, layer_norm_eps=1e-12).eval()
    ours.load_from_torch(twin)
    x = torch.randn(3, 6, D) if batch_first else torch.randn(6, 3, D)
    kpm = torch.arange(6) >= torch.tensor([6, 2, 4])[:, None]
    causal = nn.Transformer.generate_square_subsequent_mask(6)
    torch.testing.assert_close(ours(x, src_key_padding_mask=kpm),
                               twin(x, src_key_padding_mask=kpm), **TOL)
    torch.testing.assert_close(ours(x, is_causal=True), twin(x, src_mask=causal), **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_block_matches_torch(norm_first: bool, activation: str) -> None:
    torch.manual_seed(1)
    twin = nn.TransformerDecoderLayer(D, H, F_, dropout=0.0, activation=activation,
                                      norm_first=norm_first, batch_first=True).eval()
    randomize(twin)
    ours = TransformerDecoderBlock(D, H, F_, activation=activation,
                                   norm_first=norm_first).eval().load_from_torch(twin)
    tgt, mem = torch.randn(2, 5, D), torch.randn(2, 7, D)
    mkpm = torch.arange(7) >= torch.tensor([7, 3])[:, None]
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    out = ours(tgt, mem, memory_key_padding_mask=mkpm)
    torch.testing.assert_close(out, twin(tgt, mem, tgt_mask=causal,
                                         memory_key_padding_mask=mkpm), **TOL)
    w = ours.cross_attention_weights
    assert w.shape == (2, H, 5, 7)
    assert torch.all(w[1, :, :, 3:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, H, 5), **TOL)


def test_addnorm_and_ffn_by_hand() -> None:
    torch.manual_seed(2)
    x, y = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    post, pre = AddNorm(4).eval(), AddNorm(4, norm_first=True).eval()
    torch.testing.assert_close(post(x, lambda _: y),
                               nn.functional.layer_norm(x + y, (4,)), **TOL)
    torch.testing.assert_close(pre(x, lambda z: 2 * z),
                               x + 2 * nn.functional.layer_norm(x, (4,)), **TOL)
    ffn = PositionwiseFFN(4, 8, activation="gelu")
    torch.testing.assert_close(ffn(x), ffn.linear2(nn.functional.gelu(ffn.linear1(x))))
    with pytest.raises(UserError, match="activation must be one of"):
        PositionwiseFFN(4, 8, activation="swish")


@pytest.mark.parametrize("rotary", [False, True])
def test_decoder_only_stack_kv_cache_equals_recomputation(rotary: bool) -> None:
    torch.manual_seed(3)
    rope = RotaryEmbedding(D // H, max_len=64) if rotary else None
    gpt = TransformerEncoder(2, D, H, F_, activation="gelu", norm_first=True, rotary=rope).eval()
    x = torch.randn(2, 8, D)
    cache = gpt.new_cache()
    for t in range(8):
        step = gpt(x[:, t:t + 1], is_causal=True, cache=cache)
        full = gpt(x[:, :t + 1], is_causal=True)  # recompute the whole prefix
        torch.testing.assert_close(step[:, 0], full[:, -1], **TOL)


def test_encoder_decoder_stack_kv_cache_equals_recomputation() -> None:
    torch.manual_seed(4)
    dec = TransformerDecoder(2, D, H, F_).eval()
    assert dec.norm is None
    tgt, mem = torch.randn(2, 6, D), torch.randn(2, 4, D)
    mkpm = torch.tensor([[False] * 4, [False, False, True, True]])
    cache = dec.new_cache()
    for t in range(6):
        step = dec(tgt[:, t:t + 1], mem, memory_key_padding_mask=mkpm, cache=cache)
        full = dec(tgt[:, :t + 1], mem, memory_key_padding_mask=mkpm)
        torch.testing.assert_close(step[:, 0], full[:, -1], **TOL)
    assert cache[0].self_attn.length == 6 and cache[0].cross_attn.length == 4


def test_encoder_stack_matches_torch_stack() -> None:
    torch.manual_seed(5)
    layer = nn.TransformerEncoderLayer(D, H, F_, dropout=0.0, batch_first=True)
    twin = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False).eval()
    randomize(twin)
    ours = TransformerEncoder(3, D, H, F_).eval()
    for a, b in zip(ours.layers, twin.layers, strict=True):
        a.load_from_torch(b)
    x = torch.randn(2, 5, D)
    torch.testing.assert_close(ours(x), twin(x), **TOL)
