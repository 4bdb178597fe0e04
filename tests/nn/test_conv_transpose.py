"""The transposed-convolution layer against nn.ConvTranspose2d / F.conv_transpose2d (outputs
and gradients), and the bilinear kernel against F.interpolate."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.nn import ConvTranspose2d, bilinear_kernel, conv_transpose2d

CASES = [  # cin, cout, k, stride, padding, output_padding, groups, dilation, (h, w)
    (3, 4, 3, 1, 0, 0, 1, 1, (5, 6)),
    (4, 6, (3, 2), (2, 3), (1, 0), (1, 2), 2, 1, (4, 5)),
    (2, 3, 4, 2, 1, 0, 1, 1, (1, 1)),  # a 1x1 input
    (6, 6, 3, 2, 1, 1, 3, 2, (3, 4)),  # grouped and dilated
    (2, 2, 1, 3, 0, 2, 1, 1, (3, 3)),  # 1x1 kernel, gaps filled by output padding only
]


@pytest.mark.parametrize("cin, cout, k, s, p, op, g, d, hw", CASES)
def test_outputs_and_gradients_equal_torch(cin, cout, k, s, p, op, g, d, hw):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(cin, cout, k, s, p, op, g, True, d).double()
    ours = ConvTranspose2d(cin, cout, k, s, p, op, g, True, d).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, cin, *hw, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    y_ref, y = ref(x), ours(x2)
    torch.testing.assert_close(y, y_ref)
    g_out = torch.randn_like(y)
    y_ref.backward(g_out)
    y.backward(g_out)
    torch.testing.assert_close(x2.grad, x.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad)


def test_functional_form_without_bias_and_batch_of_one():
    x, w = torch.randn(1, 3, 4, 4), torch.randn(3, 2, 3, 3)
    torch.testing.assert_close(conv_transpose2d(x, w, None, 2, 1, 1),
                               F.conv_transpose2d(x, w, None, 2, 1, 1), rtol=1e-5, atol=1e-5)


def test_default_initialisation_matches_torch_statistics():
    torch.manual_seed(1)
    a = nn.ConvTranspose2d(64, 32, 4)
    torch.manual_seed(1)
    b = ConvTranspose2d(64, 32, 4)
    torch.testing.assert_close(b.weight, a.weight)
    torch.testing.assert_close(b.bias, a.bias)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(UserError, match="divisible by groups"):
        ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(UserError, match="less than stride"):
        conv_transpose2d(torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3), output_padding=1)
    with pytest.raises(UserError, match="does not fit input"):
        ConvTranspose2d(2, 2, 3)(torch.randn(1, 3, 4, 4))


def _upsample(x: torch.Tensor, s: int) -> torch.Tensor:
    c = x.shape[1]
    return F.conv_transpose2d(x, bilinear_kernel(c, c, 2 * s), stride=s, padding=s // 2)


@pytest.mark.parametrize("s", [2, 4, 8])
def test_bilinear_kernel_equals_interpolate_away_from_the_borders(s):
    x = torch.rand(2, 3, 9, 7)
    ours = conv_transpose2d(x, bilinear_kernel(3, 3, 2 * s), None, s, s // 2)
    ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
    assert ours.shape == ref.shape == (2, 3, 9 * s, 7 * s)
    b = s  # the border band: half an input pixel (s/2 output pixels), rounded up to s
    torch.testing.assert_close(ours[..., b:-b, b:-b], ref[..., b:-b, b:-b])


def test_bilinear_kernel_darkens_the_border_where_interpolate_replicates():
    """Outside the image the transposed conv sees zeros, interpolate the edge pixel: on a
    constant image interpolate stays constant, the transposed conv falls off at the edge."""
    s = 4
    x = torch.ones(1, 1, 6, 6)
    ours = _upsample(x, s)
    ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
    torch.testing.assert_close(ref, torch.ones_like(ref))
    assert ours[0, 0, 0, 12].item() == pytest.approx(0.625)  # taps 1/8 + 3/8 + ... cut off
    assert (ours[0, 0, :2] < 1).all() and (ours[0, 0, :, -2:] < 1).all()
    torch.testing.assert_close(ours[..., s:-s, s:-s], ref[..., s:-s, s:-s])


def test_bilinear_kernel_keeps_channels_apart():
    w = bilinear_kernel(3, 3, 4)
    assert w[0, 1].abs().sum() == 0 and w[1, 1].sum() == pytest.approx(4.0)
