"""Bad input to a Tensor op is a clear ValueError/TypeError/IndexError naming the shapes or the
argument, raised by the op itself, never a NumPy message from deep inside."""

import numpy as np
import pytest

import numcnn

X = numcnn.tensor(np.zeros((2, 3)), requires_grad=True)

CASES = [
    ("+ mismatch", lambda: X + np.zeros(4), ValueError, r"\+: shapes \(2, 3\) and \(4,\)"),
    ("* mismatch", lambda: np.zeros((3, 2)) * X, ValueError, r"\*: shapes \(3, 2\) and \(2, 3\)"),
    ("/ mismatch", lambda: X / numcnn.tensor(np.ones((4, 1, 2))), ValueError, r"/: shapes \(2, 3\) and \(4, 1, 2\)"),
    ("@ mismatch", lambda: X @ np.zeros((2, 2)), ValueError, r"@: shapes \(2, 3\) and \(2, 2\)"),
    ("@ scalar", lambda: X @ 2.0, ValueError, r"at least one dimension"),
    ("** tensor", lambda: X ** X, TypeError, r"real number"),
    ("reshape", lambda: X.reshape(4, 2), ValueError, r"shape \(2, 3\) into \(4, 2\)"),
    ("view", lambda: X.view(-1, 4), ValueError, r"shape \(2, 3\) into \(-1, 4\)"),
    ("permute repeats", lambda: X.permute(0, 0), ValueError, r"\(0, 0\).*permutation.*\(2, 3\)"),
    ("permute too few", lambda: X.permute(1), ValueError, r"permutation.*\(2, 3\)"),
    ("permute range", lambda: X.permute(0, 2), IndexError, r"dim 2 is out of range.*2 dimensions"),
    ("transpose range", lambda: X.transpose(0, 2), IndexError, r"dim1 2 is out of range"),
    ("flatten range", lambda: X.flatten(3), IndexError, r"start_dim 3 is out of range"),
    ("flatten order", lambda: X.flatten(1, 0), ValueError, r"start_dim 1 comes after end_dim 0"),
    ("sum range", lambda: X.sum(2), IndexError, r"dim 2 is out of range"),
    ("sum repeats", lambda: X.mean((1, -1)), ValueError, r"more than once"),
    ("sum dim type", lambda: X.sum(1.5), TypeError, r"dim must be an int"),
    ("unsqueeze range", lambda: X.unsqueeze(3), IndexError, r"dim 3 is out of range"),
    ("index range", lambda: X[5], IndexError, r"5"),
    ("cat sizes", lambda: numcnn.cat([X, numcnn.tensor(np.zeros((2, 4)))], 0), ValueError,
     r"cat along dim 0.*\[\(2, 3\), \(2, 4\)\]"),
    ("cat ndims", lambda: numcnn.cat([X, numcnn.tensor(np.zeros(3))]), ValueError, r"\[\(2, 3\), \(3,\)\]"),
    ("cat range", lambda: numcnn.cat([X, X], 2), IndexError, r"dim 2 is out of range"),
    ("cat 0-d", lambda: numcnn.cat([numcnn.tensor(1.0)]), ValueError, r"zero-dimensional"),
    ("cat empty", lambda: numcnn.cat([]), ValueError, r"at least one"),
    ("stack shapes", lambda: numcnn.stack([X, numcnn.tensor(np.zeros((3, 2)))]), ValueError,
     r"one shape.*\[\(2, 3\), \(3, 2\)\]"),
    ("stack range", lambda: numcnn.stack([X, X], 3), IndexError, r"dim 3 is out of range"),
    ("stack empty", lambda: numcnn.stack([]), ValueError, r"at least one"),
    ("item", lambda: X.item(), ValueError, r"one element.*\(2, 3\)"),
]


@pytest.mark.parametrize("build,error,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(build, error, match):
    with pytest.raises(error, match=match) as info:
        build()
    assert "numpy" not in str(info.value).lower() and "gufunc" not in str(info.value)
    assert not isinstance(info.value, np.exceptions.AxisError) if hasattr(np, "exceptions") else True
