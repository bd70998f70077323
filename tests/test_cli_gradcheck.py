"""``numcnn gradcheck``: passes on the layers, fails loudly on a broken one."""

from __future__ import annotations

from numcnn.cli import main
from tests.cli import _in_a_temporary_directory  # noqa: F401 (fixtures)


def test_gradcheck_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    for layer in ("Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "ReLU", "LeakyReLU", "Flatten", "Dropout", "BatchNorm1d", "BatchNorm2d", "CrossEntropyLoss"):
        assert layer in out
    assert "all 15 checks pass" in out


def test_gradcheck_fails_loudly_on_a_broken_layer(monkeypatch, capsys):
    from numcnn import functional

    # nn.ReLU's gradient is relu_backward's (the tape calls the pair), so break the pair
    original = functional.relu_backward
    monkeypatch.setattr(functional, "relu_backward", lambda dout, cache: original(dout, cache) * 1.01)
    assert main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "ReLU" in out and "FAIL" in out
