"""Replay outputs and gradients recorded from PyTorch (tests/golden/core.npz) -- no PyTorch needed.

Regenerate with ``python tests/golden/make_golden.py`` (needs torch).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from numcnn import functional

GOLDEN = np.load(Path(__file__).resolve().parents[1] / "golden" / "core.npz", allow_pickle=False)
CASES = sorted({key.split("/")[0] for key in GOLDEN.files if "/" in key})


def test_golden_file_is_complete():
    assert len(CASES) >= 28
    assert str(GOLDEN["torch_version"]).startswith("2.")


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch(name):
    case = {key.split("/", 1)[1]: GOLDEN[key] for key in GOLDEN.files if key.startswith(name + "/")}
    op = str(case["op"])
    options = json.loads(str(case["options"]))
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    forward = getattr(functional, f"{op}_forward")
    backward = getattr(functional, f"{op}_backward")
    if "weight" in case:
        out, cache = forward(case["x"], case["weight"], case.get("bias"), **options)
        dx, dw, db = backward(case["dout"], cache)
        np.testing.assert_allclose(dw, case["dw"], rtol=1e-10, atol=1e-12)
        if "db" in case:
            np.testing.assert_allclose(db, case["db"], rtol=1e-10, atol=1e-12)
        else:
            assert db is None
    else:
        out, cache = forward(case["x"], **options)
        dx = backward(case["dout"], cache)
    # assert_allclose treats NaN == NaN, so NaN propagation is checked too
    np.testing.assert_allclose(out, case["out"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, case["dx"], rtol=1e-10, atol=1e-12)
