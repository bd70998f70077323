"""``numcnn summary``: the layer table's shapes, parameters and FLOPs, of a model or a run."""

from __future__ import annotations

from numcnn.cli import main
from numcnn.commands.summary import layer_table
from numcnn.models import build_model, model_spec

from tests.cli import _in_a_temporary_directory, data  # noqa: F401 (fixtures)



def test_summary_lenet5_hand_count(capsys):
    rows = layer_table(build_model(model_spec("lenet5", (1, 28, 28), 10)), (1, 28, 28))
    shapes = [r.output_shape for r in rows]
    assert shapes == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
        (400,), (120,), (120,), (84,), (84,), (10,),
    ]
    params = [r.params for r in rows]
    # conv1 6*(1*5*5)+6, conv2 16*(6*5*5)+16, fc 400*120+120, 120*84+84, 84*10+10
    assert params == [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]
    assert sum(params) == 61706
    # 2 FLOPs per multiply-add: conv1 28*28*6 outputs * 25 MACs, conv2 10*10*16 * 150, fc 400*120 ...
    assert rows[0].flops == 2 * 28 * 28 * 6 * 25 and rows[3].flops == 2 * 10 * 10 * 16 * 150
    assert rows[7].flops == 2 * 400 * 120 and rows[2].flops == 6 * 14 * 14 * 4
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "61,706" in out and "16x5x5" in out and "Conv2d(1->6, 5x5, pad 2)" in out


def test_summary_of_a_run_and_of_other_models(trained, capsys):
    assert main(["summary", str(trained)]) == 0
    assert "three_layer on 1x6x6" in capsys.readouterr().out
    assert main(["summary", "--model", "vgg_small", "--input-shape", "3,32,32"]) == 0
    assert "BatchNorm2d(32)" in capsys.readouterr().out


def test_summary_handles_adaptive_pools_and_transposed_conv():
    from numcnn import nn
    from numcnn.commands.summary import layer_table

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d((2, 2)), nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 2),
    )
    rows = layer_table(model, (3, 8, 8))
    assert [r.output_shape for r in rows] == [(8, 8, 8), (8, 2, 2), (4, 4, 4), (4, 1, 1), (4,), (2,)]
    # transposed conv: each of the 8*2*2 inputs does 4*2*2 multiply-adds
    assert rows[2].flops == 2 * (8 * 2 * 2) * (4 * 2 * 2)
    assert rows[1].kind.startswith("AdaptiveAvgPool2d")
