"""``numcnn predict``: .npy and .png inputs, sizes, bad values and files, the --invert hint."""

from __future__ import annotations

import numpy as np
import pytest

from numcnn.cli import main

from tests.cli import _in_a_temporary_directory, assert_user_error, data  # noqa: F401 (fixtures)



def test_predict_npy_and_png(trained, tmp_path, data, capsys):
    with np.load(data) as f:
        x = f["x"]
    np.save(tmp_path / "one.npy", x[0])
    np.save(tmp_path / "many.npy", x[:4])
    assert main(["predict", str(trained), str(tmp_path / "one.npy")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("class ")
    probs = [float(part.split(": ")[1]) for part in out[1].split("  ") if part.strip()]
    assert len(probs) == 3 and abs(sum(probs) - 1) < 1e-3
    assert main(["predict", str(trained), str(tmp_path / "many.npy"), "--top", "1"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")][3].startswith("[3] class")
    plt = pytest.importorskip("matplotlib.pyplot")
    # The same image as a 12x12 grey PNG: resized to 6x6 and read back it gives the same class.
    big = np.kron(x[0].astype(np.float64) / 255.0, np.ones((2, 2)))
    plt.imsave(tmp_path / "img.png", big, cmap="gray", vmin=0, vmax=1)
    assert main(["predict", str(trained), str(tmp_path / "img.png")]) == 0
    png_class = capsys.readouterr().out.splitlines()[0]
    assert main(["predict", str(trained), str(tmp_path / "one.npy")]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[1] == png_class.split()[1]


def test_predict_refuses_arrays_of_another_size_unless_resize(trained, tmp_path, data, capsys):
    with np.load(data) as f:
        x = f["x"][0]
    np.save(tmp_path / "big.npy", np.kron(x, np.ones((2, 2))))
    code = main(["predict", str(trained), str(tmp_path / "big.npy")])
    assert_user_error(code, capsys.readouterr().err, "12x12", "1x6x6", "(N, 1, 6, 6)", "--resize")
    assert main(["predict", str(trained), str(tmp_path / "big.npy"), "--resize"]) == 0
    assert capsys.readouterr().out.startswith("class ")


@pytest.mark.parametrize("array, fragment", [
    (np.full((6, 6), np.nan), "NaN"),
    (np.full((6, 6), np.inf), "infinite"),
    (np.zeros((0, 6, 6)), "no images"),
])
def test_predict_refuses_nan_and_empty_input(trained, tmp_path, capsys, array, fragment):
    np.save(tmp_path / "x.npy", array)
    assert_user_error(main(["predict", str(trained), str(tmp_path / "x.npy")]), capsys.readouterr().err, fragment)


def test_predict_warns_about_values_out_of_the_training_range(trained, tmp_path, data, capsys):
    with np.load(data) as f:
        x = f["x"][0].astype(np.float64)  # trained on bytes 0..255
    for name, values, fragment in [("unit", x / 255.0, "look scaled to 0..1"), ("huge", x * 100, "far outside")]:
        np.save(tmp_path / f"{name}.npy", values)
        assert main(["predict", str(trained), str(tmp_path / f"{name}.npy")]) == 0
        captured = capsys.readouterr()
        assert "warning" in captured.err and fragment in captured.err and captured.out.startswith("class ")
    np.save(tmp_path / "same.npy", x)
    assert main(["predict", str(trained), str(tmp_path / "same.npy")]) == 0
    assert capsys.readouterr().err == ""


def test_predict_hints_at_invert_for_a_dark_on_light_png(tmp_path, capsys):
    plt = pytest.importorskip("matplotlib.pyplot")
    from numcnn.data import read_digits

    run = tmp_path / "digits"
    assert main(["train", "--epochs", "1", "--out", str(run), "-q"]) == 0
    digit = read_digits()[0][0, 0] / 16.0
    plt.imsave(tmp_path / "ink.png", 1.0 - digit, cmap="gray", vmin=0, vmax=1)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "ink.png")]) == 0
    assert "--invert" in capsys.readouterr().err
    assert main(["predict", str(run), str(tmp_path / "ink.png"), "--invert"]) == 0
    assert capsys.readouterr().err == ""


def test_predict_bad_file(trained, tmp_path, capsys):
    (tmp_path / "bad.npy").write_bytes(b"nope")
    assert_user_error(main(["predict", str(trained), str(tmp_path / "bad.npy")]), capsys.readouterr().err, "bad.npy")
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(1).bytes(3000))
    for cmd in (["predict", str(tmp_path / "random.npz"), str(tmp_path / "bad.npy")], ["evaluate", str(tmp_path / "random.npz")]):
        code = main(cmd)
        err = capsys.readouterr().err
        assert_user_error(code, err, "not a readable numcnn checkpoint", "never loads")
        assert "allow_pickle" not in err and "pickle.load" not in err
    np.save(tmp_path / "wrong.npy", np.zeros((2, 2, 6, 6)))
    assert_user_error(main(["predict", str(trained), str(tmp_path / "wrong.npy")]), capsys.readouterr().err, "channels")
