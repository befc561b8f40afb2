"""``snnkd export --format nir``: the file reads back with ``nir.read`` and predicts the same.

The graph is re-imported with SpikingJelly's NIR exchange (``import_from_nir``)
and run on test samples next to the checkpoint's own network; a quantized
student's nodes carry its integer weights and scales.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_config, train_run

from snnkd.cli import main

nir = pytest.importorskip("nir", reason="the [nir] extra (pip install 'snnkd[nir]')")


def _samples(cfg, n=64):
    from snnkd.data import load_splits
    from snnkd.data.encoders import ENCODERS

    data = load_splits(cfg.dataset, cfg.data_dir)
    x = data.batch(data.test.x[:n], False)
    return ENCODERS.get(cfg.encoder)(x, cfg.steps, torch.Generator().manual_seed(0))


def _export(run_dir, capsys):
    out = run_dir / "student.nir"
    assert main(["export", str(run_dir / "checkpoint.pt"), "--format", "nir", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    return nir.read(out)


def test_exported_student_reads_back_and_predicts_the_same_in_spikingjelly(tmp_path, capsys):
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    from snnkd.export import DT

    cfg = small_config()  # the digits student: conv-BN-LIF-maxpool x 2, linear head
    run, _ = train_run(cfg, tmp_path)
    graph = _export(tmp_path, capsys)
    assert {"conv1", "lif1", "pool1", "conv2", "lif2", "pool2", "head"} <= set(graph.nodes)
    assert isinstance(graph.nodes["lif1"], nir.LIF) and graph.metadata["readout"] == "mean"
    assert int(graph.metadata["T"]) == cfg.steps

    x = _samples(cfg)
    model = run.model.cpu().eval()
    imported = import_from_nir(graph, dt=DT, step_mode="m")
    with torch.no_grad():
        functional.reset_net(model)
        ours = model(x)
        functional.reset_net(imported)
        theirs, _ = imported(x)
    assert torch.equal(ours.sum(0).argmax(1), theirs.sum(0).argmax(1))
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_quantized_student_exports_integer_weights_and_scales(tmp_path, capsys):
    cfg = small_config(method="quant", quant__weight_bits=4, quant__membrane_bits=8)
    train_run(cfg, tmp_path)
    graph = _export(tmp_path, capsys)
    conv = graph.nodes["conv1"]
    q, scale = conv.metadata["weight_int"], conv.metadata["weight_scale"]
    assert q.dtype == np.int8 and q.min() >= -8 and q.max() <= 7 and int(conv.metadata["weight_bits"]) == 4
    assert scale.shape == (q.shape[0],) and np.all(scale > 0)
    np.testing.assert_allclose(conv.weight, q * scale.reshape(-1, 1, 1, 1), rtol=1e-6)
    assert int(graph.nodes["lif1"].metadata["membrane_bits"]) == 8


def test_unknown_format_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "x.pt"), "--format", "onnx", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "snnkd: error: --format: 'onnx' is not valid; valid choices: nir"
    assert not (tmp_path / "x").exists()
