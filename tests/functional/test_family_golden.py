"""Replay the conv/pool family's outputs, indices and gradients recorded from PyTorch
(tests/golden/family.npz) -- no PyTorch needed.

Regenerate with ``python tests/golden/make_family_golden.py`` (needs torch).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from numcnn import functional

GOLDEN = np.load(Path(__file__).resolve().parents[1] / "golden" / "family.npz", allow_pickle=False)
CASES = sorted({key.split("/")[0] for key in GOLDEN.files if "/" in key})
RTOL, ATOL = 1e-10, 1e-12


def test_golden_file_covers_the_family():
    ops = {str(GOLDEN[f"{name}/op"]) for name in CASES}
    expected = {f"conv{n}d" for n in (1, 2, 3)} | {f"conv_transpose{n}d" for n in (1, 2, 3)}
    for kind in ("avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "max_pool", "max_unpool"):
        expected |= {f"{kind}{n}d" for n in (1, 2, 3)}
    assert ops == expected
    modes = {json.loads(str(GOLDEN[f"{name}/options"])).get("padding_mode") for name in CASES}
    assert {"zeros", "reflect", "replicate", "circular"} <= modes
    assert str(GOLDEN["torch_version"]).startswith("2.")


def _options(case):
    options = json.loads(str(case["options"]))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


@pytest.mark.parametrize("name", CASES)
def test_matches_pytorch(name):
    case = {key.split("/", 1)[1]: GOLDEN[key] for key in GOLDEN.files if key.startswith(name + "/")}
    op = str(case["op"])
    options = _options(case)
    forward = getattr(functional, f"{op}_forward")
    backward = getattr(functional, f"{op}_backward")
    if "weight" in case:
        out, cache = forward(case["x"], case["weight"], case.get("bias"), **options)
        dx, dw, db = backward(case["dout"], cache)
        np.testing.assert_allclose(dw, case["dw"], rtol=RTOL, atol=ATOL)
        if "db" in case:
            np.testing.assert_allclose(db, case["db"], rtol=RTOL, atol=ATOL)
        else:
            assert db is None
    elif op.startswith("max_unpool"):
        out, cache = forward(case["x"], case["indices"], **options)
        dx = backward(case["dout"], cache)
    else:
        out, cache = forward(case["x"], **options)
        if options.get("return_indices"):
            out, indices = out
            np.testing.assert_array_equal(indices, case["indices"])
            assert indices.dtype == np.int64
        dx = backward(case["dout"], cache)
    # assert_allclose treats NaN == NaN, so NaN propagation is checked too
    np.testing.assert_allclose(out, case["out"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dx, case["dx"], rtol=RTOL, atol=ATOL)
