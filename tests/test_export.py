"""``snnkd export --format nir``: the file reads back with ``nir.read`` and predicts the same.

The graph is re-imported with SpikingJelly's NIR exchange (``import_from_nir``),
snnTorch's and Norse's importers (the ``[nir-peers]`` extra) and run on the 360
digits test samples next to the checkpoint's own network: the same predictions
and the same spikes per layer. A quantized student's nodes carry its integer
weights and scales, its membrane grid and threshold convention.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_config, train_run

from snnkd.cli.main import main

nir = pytest.importorskip("nir", reason="the [nir] extra (pip install 'snnkd[nir]')")


def _samples(cfg, n=None):
    from snnkd.data import load_splits
    from snnkd.data.encoders import ENCODERS

    data = load_splits(cfg.dataset, cfg.data_dir)
    x = data.batch(data.test.x[:n], False)  # every test sample by default
    return ENCODERS.get(cfg.encoder)(x, cfg.steps, torch.Generator().manual_seed(0)).contiguous()


def _export(run_dir, capsys):
    out = run_dir / "student.nir"
    assert main(["export", str(run_dir / "checkpoint.pt"), "--format", "nir", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    return nir.read(out)


def _reference(model, x):
    """The checkpoint's own per-step outputs and spikes per neuron layer and per max-pool."""
    from spikingjelly.activation_based import functional

    from snnkd.models import spiking_layers

    spikes, handles = {}, []
    layers = {**{n.rsplit(".", 1)[-1]: m for n, m in spiking_layers(model).items()}}
    layers |= {n: m for n, m in model.features.named_children() if isinstance(m, torch.nn.MaxPool2d)}

    def hook(name):
        return lambda mod, inputs, out: spikes.__setitem__(name, float(out.sum()))

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    with torch.no_grad():
        functional.reset_net(model)
        out = model(x)
        functional.reset_net(model)
    for h in handles:
        h.remove()
    return out, spikes


def _check_framework(framework, graph, model, x, exact=True):
    from snnkd.nir import simulators as nir_run

    ours, our_spikes = _reference(model, x)
    theirs, their_spikes = nir_run.RUNNERS[framework](graph, x)
    assert x.shape[1] == 360
    assert torch.equal(ours.sum(0).argmax(1), theirs.sum(0).argmax(1)), framework
    assert their_spikes == our_spikes, framework  # every LIF layer and every max-pool, all 360 samples
    assert torch.allclose(ours, theirs, atol=1e-5), framework


@pytest.fixture(scope="module")
def float_student(tmp_path_factory):
    out = tmp_path_factory.mktemp("float_student")
    run, _ = train_run(small_config(), out)  # the digits student: conv-BN-LIF-maxpool x 2, linear head
    return run, out


@pytest.fixture(scope="module")
def quant_student(tmp_path_factory):
    out = tmp_path_factory.mktemp("quant_student")
    run, _ = train_run(small_config(method="quant", quant__weight_bits=4, quant__membrane_bits=8), out)
    return run, out


def test_exported_student_is_built_of_nir_nodes_importers_read(float_student, capsys):
    run, out = float_student
    graph = _export(out, capsys)
    names = ["conv1", "lif1", "pool1_sum", "pool1", "conv2", "lif2", "pool2_sum", "pool2", "flatten", "head"]
    assert set(graph.nodes) == {"input", *names, "output"}
    assert sorted(map(tuple, graph.edges)) == sorted(zip(["input", *names], [*names, "output"], strict=True))
    lif, pool = graph.nodes["lif1"], graph.nodes["pool1_sum"]
    assert isinstance(lif, nir.LIF) and isinstance(pool, nir.SumPool2d)
    assert np.all(lif.r == 1) and np.allclose(lif.tau, 2.0 * 1e-4) and np.all(lif.v_leak == 0)
    assert np.all(lif.v_threshold == 1.0) and np.all(lif.v_reset == 0) and lif.tau.shape == (16, 8, 8)
    assert pool.kernel_size.tolist() == [2, 2] and pool.stride.tolist() == [2, 2]
    assert isinstance(graph.nodes["pool1"], nir.LIF) and np.all(graph.nodes["pool1"].v_threshold == 0.25)
    assert graph.nodes["flatten"].start_dim == -3 and graph.nodes["flatten"].end_dim == -1
    assert isinstance(graph.nodes["head"], nir.Affine) and graph.metadata["readout"] == "mean"
    assert int(graph.metadata["T"]) == run.cfg.steps
    assert graph.metadata["spike_condition"] == "v >= v_threshold"


@pytest.mark.parametrize("framework", ["spikingjelly", "snntorch", "norse"])
def test_float_student_predicts_the_same_in_every_framework(float_student, capsys, framework):
    if framework != "spikingjelly":
        pytest.importorskip(framework, reason="the [nir-peers] extra (pip install 'snnkd[nir-peers]')")
    run, out = float_student
    graph = _export(out, capsys)
    _check_framework(framework, graph, run.model.cpu().eval(), _samples(run.cfg))


def test_handbuilt_network_spikes_as_computed_in_every_framework():
    """fc (2 I) -> LIF (tau 2, threshold 1, hard reset) -> head: spikes 1111, 0101, 0000 (handbuilt.py)."""
    from handbuilt import SPIKES, handbuilt_input, handbuilt_net

    from snnkd.nir import simulators as nir_run
    from snnkd.nir.export import to_nir

    graph = to_nir(handbuilt_net(), (3,), {})
    frameworks = [f for f in nir_run.FRAMEWORKS if f == "spikingjelly" or _installed(f)]
    for framework in frameworks:
        out, spikes = nir_run.RUNNERS[framework](graph, handbuilt_input(2))
        assert spikes == {"lif": 2 * float(SPIKES.sum())}, framework
        head = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.5]])
        assert torch.equal(out, (SPIKES @ head.T).unsqueeze(1).expand(-1, 2, -1)), framework


def _installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_quantized_student_exports_integer_weights_scales_and_membrane_grid(quant_student, capsys):
    _, out = quant_student
    graph = _export(out, capsys)
    conv = graph.nodes["conv1"]
    q, scale = conv.metadata["weight_int"], conv.metadata["weight_scale"]
    assert q.dtype == np.int8 and q.min() >= -8 and q.max() <= 7 and int(conv.metadata["weight_bits"]) == 4
    assert scale.shape == (q.shape[0],) and np.all(scale > 0)
    np.testing.assert_allclose(conv.weight, q * scale.reshape(-1, 1, 1, 1), rtol=1e-6)
    lif = graph.nodes["lif1"]
    assert int(lif.metadata["membrane_bits"]) == 8 and float(lif.metadata["membrane_range"]) == 2.0
    d = 2.0 / 2**7  # the membrane grid: H >= 1 on it is H > 1 - d / 2
    assert float(lif.metadata["membrane_step"]) == d and lif.metadata["spike_condition"] == "v >= v_threshold"
    assert float(lif.metadata["v_threshold_trained"]) == 1.0 and np.all(lif.v_threshold == 1.0 - d / 2)


@pytest.mark.parametrize("framework", ["spikingjelly", "snntorch"])
def test_quantized_student_predicts_identically_after_reimport(quant_student, capsys, framework):
    """SpikingJelly and snnTorch apply the membrane grid from the metadata: 100 %, the same spikes."""
    if framework != "spikingjelly":
        pytest.importorskip(framework, reason="the [nir-peers] extra (pip install 'snnkd[nir-peers]')")
    run, out = quant_student
    graph = _export(out, capsys)
    _check_framework(framework, graph, run.model.cpu().eval(), _samples(run.cfg))


def test_norse_is_named_for_a_quantized_membrane(quant_student, capsys):
    """Norse's LIF has no quantization hook: `snnkd export` says so; SpikingJelly and snnTorch apply it."""
    from snnkd.nir import simulators as nir_run

    _, out = quant_student
    found = nir_run.limits(_export(out, capsys))
    assert found["spikingjelly"] is None and found["snntorch"] is None
    assert found["norse"].startswith("node 'lif1' (LIF, ") and "runs the membrane in float" in found["norse"]


def test_framework_limits_name_the_node():
    from snnkd.nir import simulators as nir_run

    graph = nir.NIRGraph.from_list(
        nir.Conv1d(
            input_shape=8, weight=np.ones((2, 1, 3), dtype=np.float32), stride=1, padding=1,
            dilation=1, groups=1, bias=np.zeros(2, dtype=np.float32),
        )
    )  # fmt: skip
    name = next(n for n, node in graph.nodes.items() if isinstance(node, nir.Conv1d))
    found = nir_run.limits(graph)
    assert found["spikingjelly"] is None
    assert found["snntorch"] == f"node '{name}' (Conv1d): snntorch's NIR import maps no Conv1d"
    assert found["norse"] == f"node '{name}' (Conv1d): norse's NIR import maps no Conv1d"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"neuron__reset": "soft"},
            "neuron 'lif1' resets softly (V - V_th after a spike); NIR's LIF resets to v_reset: "
            "train with neuron.reset hard to export",
        ),
        ({"dataset": "mnist1d"}, "max-pool 'pool1' is 1-D; NIR has no 1-D pooling node"),
    ],
)
def test_a_layer_nir_cannot_express_is_one_line_and_exit_2(tmp_path, capsys, overrides, message):
    from snnkd.data import DATASETS
    from snnkd.models import build_model, preset_for
    from snnkd.nir.export import ExportError, to_nir

    cfg = small_config(**overrides)
    arch, kwargs = preset_for(cfg.dataset, "student")
    info = DATASETS.get(cfg.dataset).info
    model = build_model(arch, info.input_shape, info.num_classes, cfg.neuron, **kwargs)

    with pytest.raises(ExportError) as err:
        to_nir(model, info.input_shape, {})
    assert str(err.value) == f"--format nir: {message}"
    assert "\n" not in str(err.value) and ExportError.exit_code == 2


def test_unknown_format_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "x.pt"), "--format", "onnx", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "snnkd: error: --format: 'onnx' is not valid; valid choices: nir"
    assert not (tmp_path / "x").exists()
