"""Sinusoidal, learned and rotary positions vs formulas and a complex-number rotary twin."""

import math

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.nn.multihead import MultiHeadAttention
from scratchdl.nn.positions import LearnedPositions, RotaryEmbedding, SinusoidalPositions


def test_sinusoidal_table_by_hand() -> None:
    pe = SinusoidalPositions(d_model=6, max_len=10)
    x = torch.zeros(1, 4, 6)
    out = pe(x, offset=3)
    t, i = 5, 1  # row t = 5 is out[0, 2]; pair i = 1 uses columns 2 and 3
    angle = t / 10000 ** (2 * i / 6)
    assert out[0, 2, 2].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert out[0, 2, 3].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert out[0, 0, 0].item() == pytest.approx(math.sin(3.0), abs=1e-6)
    assert SinusoidalPositions(5, 4).P.shape == (4, 5)  # odd width works


def test_learned_positions_add_rows_and_train() -> None:
    pe = LearnedPositions(max_len=8, d_model=4)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(pe(x, offset=2), x + pe.weight[2:5])
    pe(x).sum().backward()
    assert pe.weight.grad[:3].abs().sum() > 0 and pe.weight.grad[3:].abs().sum() == 0


def rotary_complex(x: torch.Tensor, offset: int, base: float = 10000.0) -> torch.Tensor:
    """The twin: pairs as complex numbers times e^(i t theta_j)."""
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    t = torch.arange(offset, offset + T, dtype=torch.float64)
    rot = torch.polar(torch.ones(T, d // 2, dtype=torch.float64), t[:, None] * theta)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * rot).flatten(-2).float()


def test_rotary_matches_complex_twin() -> None:
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, max_len=64)
    x = torch.randn(2, 3, 10, 8)
    torch.testing.assert_close(rope(x, offset=7), rotary_complex(x, 7), atol=1e-5, rtol=1e-5)


def test_rotary_scores_depend_on_distance_only() -> None:
    torch.manual_seed(1)
    rope = RotaryEmbedding(8, max_len=64)
    q, k = torch.randn(8), torch.randn(8)
    s = lambda m, n: rope(q.view(1, 8), m) @ rope(k.view(1, 8), n).T  # noqa: E731
    torch.testing.assert_close(s(3, 1), s(20, 18), atol=1e-5, rtol=1e-5)


def test_too_long_sequence_is_one_line_user_error() -> None:
    for module, x in [(SinusoidalPositions(4, max_len=5), torch.zeros(1, 6, 4)),
                      (LearnedPositions(5, 4), torch.zeros(1, 6, 4)),
                      (RotaryEmbedding(4, max_len=5), torch.zeros(1, 1, 6, 4))]:
        with pytest.raises(UserError, match="table of 5 positions") as e:
            module(x)
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="table of 5"):
        SinusoidalPositions(4, max_len=5)(torch.zeros(1, 2, 4), offset=4)
    mha = MultiHeadAttention(8, 2, rotary=RotaryEmbedding(4, max_len=3))
    with pytest.raises(UserError, match="table of 3"):
        mha(torch.zeros(1, 4, 8), torch.zeros(1, 4, 8), torch.zeros(1, 4, 8))
    with pytest.raises(UserError, match="even head_dim"):
        RotaryEmbedding(5)
