"""Live oracle: the conv/pool modules load a torch state dict and give the same numbers; their
init bounds are PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numcnn import nn  # noqa: E402
from tests.torch_oracle import t  # noqa: E402


def test_family_modules_match_torch_sequential():
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        torch.nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        torch.nn.MaxPool2d(2, ceil_mode=True),
        torch.nn.Conv2d(6, 6, 3, padding="same", padding_mode="circular", groups=3),
        torch.nn.AdaptiveMaxPool2d((3, 2)),
        torch.nn.AdaptiveAvgPool2d(1),
    ).double()
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(6, 6, 3, padding="same", padding_mode="circular", groups=3),
        nn.AdaptiveMaxPool2d((3, 2)),
        nn.AdaptiveAvgPool2d(1),
    )
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 11))
    xt = t(x, True)
    ot = tmodel(xt)
    out = model(x)
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-9, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    ot.backward(t(dout))
    dx = model.backward(dout)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: nn.Conv2d(6, 8, (3, 2), groups=2), lambda: torch.nn.Conv2d(6, 8, (3, 2), groups=2)),
        (lambda: nn.Conv3d(2, 3, 2), lambda: torch.nn.Conv3d(2, 3, 2)),
        (lambda: nn.ConvTranspose2d(6, 8, 3, groups=2), lambda: torch.nn.ConvTranspose2d(6, 8, 3, groups=2)),
        (lambda: nn.ConvTranspose1d(4, 2, 5), lambda: torch.nn.ConvTranspose1d(4, 2, 5)),
    ],
)
def test_init_bounds_match_torch(ours, theirs):
    """Same parameter names, shapes and U(-b, b) bound as PyTorch's default init, with b from
    PyTorch's own fan-in computation of the weight."""
    m, tm = ours(), theirs()
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(tm.weight)
    bound = 1 / np.sqrt(fan_in)
    for (name, p), (tname, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname and p.shape == tuple(tp.shape)
        assert np.abs(p.data).max() <= bound and float(tp.detach().abs().max()) <= bound
    assert np.abs(m.weight.data).max() > 0.5 * bound
