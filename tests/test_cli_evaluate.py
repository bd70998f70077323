"""``numcnn evaluate``: the run's metrics again, and labels the model cannot have."""

from __future__ import annotations

import json

from numcnn.cli import main

from tests.cli import _in_a_temporary_directory, assert_user_error, data  # noqa: F401 (fixtures)
from tests.test_train import make_npz


def test_evaluate_matches_metrics(trained, capsys):
    assert main(["evaluate", str(trained)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"accuracy {metrics['test_accuracy']:.2%}" in out
    assert f"cross-entropy {metrics['test_loss']:.4f}," in out  # one loss, one name, in both places
    assert "confusion matrix" in out


def test_labels_out_of_range_on_evaluate(trained, tmp_path, capsys):
    bad = make_npz(tmp_path / "bad.npz", n=40, label_offset=7)
    code = main(["evaluate", str(trained), "--dataset", "npz", "--data-dir", str(bad)])
    assert_user_error(code, capsys.readouterr().err, "labels out of range")
