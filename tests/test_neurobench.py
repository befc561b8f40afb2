"""NeuroBench-compatible metrics: hand-computed counts, MACs with BN folded, and NeuroBench 2.3 itself."""

from __future__ import annotations

import pytest
import torch
from conftest import small_config, train_run
from handbuilt import CLASSES, T, handbuilt_input, handbuilt_net
from spikingjelly.activation_based import functional

from snnkd.data.registry import Split
from snnkd.evaluation import metrics as M
from snnkd.evaluation import run_files
from snnkd.evaluation.neurobench_metrics import flat


def direct(x):
    return x.unsqueeze(0).expand(T, *x.shape)


def test_handbuilt_network_gives_the_counts_worked_out_by_hand():
    net = handbuilt_net()
    x = torch.tensor([[2.0, 0.75, 0.0]]).repeat(5, 1)
    r = M.evaluate(net, Split(x, torch.zeros(5, dtype=torch.int64)), direct, 2, torch.device("cpu"))
    nb = r["neurobench"]
    # class 0 reads 0.5 * 4/4 spikes, class 1 reads 0.5 * 2/4: every sample is class 0
    assert nb["ClassificationAccuracy"] == r["accuracy"] == 1.0
    assert r["spikes_per_sample"] == 6.0
    assert nb["ActivationSparsity"] == 1 - 6 / (T * 3)
    assert nb["ActivationSparsityByLayer"] == {"features.lif": 0.5}
    ops = nb["SynapticOperations"]
    # first layer 2*I on input (2, 0.75, 0): two non-zero inputs meet one non-zero weight each, per step
    assert ops["Effective_MACs"] == 2 * T
    # head: neuron 0 spikes 4 times into 1 non-zero weight, neuron 1 twice into 1 non-zero weight
    assert ops["Effective_ACs"] == r["synops"] == 4 + 2
    assert ops["Dense"] == T * 3 * 3 + T * 3 * CLASSES
    assert r["macs"] == T * 3 * 3  # dense multiply-accumulates of the analog first layer
    # post-reset membrane V_t: neuron 0 stays 0, neuron 1 goes .75, 0, .75, 0, neuron 2 stays 0;
    # every neuron counts at t = 0, then only changes: 3 + 3
    assert nb["MembraneUpdates"] == 6
    assert nb["Footprint"] == 15 * 4  # 15 float32 weights, no buffers
    assert nb["ConnectionSparsity"] == round(9 / 15, 4)  # 6 of 9 and 3 of 6 weights are zero
    assert r["energy_pj"] == 4.6 * r["macs"] + 0.9 * r["synops"]
    assert flat(nb)["SynapticOperations/Dense"] == ops["Dense"]


def test_digits_student_counts_36864_macs_per_sample_with_batch_norm_folded():
    from snnkd.trainer.run import prepare

    run = prepare(small_config())
    x_seq = run.data.batch(run.data.test.x[:8], False).unsqueeze(0).expand(4, -1, -1, -1, -1)
    ops = M.operations(run.model, x_seq)
    # conv1: 16 channels x 8 x 8 positions x 3 x 3 x 1 input channel, at each of T = 4 steps; both
    # batch norms are folded into their convolutions and cost nothing
    assert ops["macs"] == 16 * 8 * 8 * 9 * 4 == 36_864


@pytest.fixture(scope="module")
def trained_student(tmp_path_factory):
    run, metrics = train_run(small_config(), tmp_path_factory.mktemp("student"))
    return run, metrics


def test_every_run_has_the_neurobench_block_from_the_same_samples(trained_student):
    run, m = trained_student
    nb = m["neurobench"]
    assert m["ops_samples"] == len(run.data.test)
    assert nb["ClassificationAccuracy"] == m["test_accuracy"]
    assert nb["SynapticOperations"]["Effective_ACs"] == m["synops"]
    assert m["macs"] == 36_864
    numbers, _ = run_files.split(m)  # what metrics.json holds
    assert numbers["neurobench"] == nb
    layers = m["firing_rate_per_layer"]
    assert set(nb["ActivationSparsityByLayer"]) == set(layers)
    for name, rate in layers.items():
        assert nb["ActivationSparsityByLayer"][name] == pytest.approx(1 - rate)


def _neurobench_run(run):
    """NeuroBench 2.3 itself on ``run``'s student and test split."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.abstract.workload_metric import AccumulatedMetric
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import (
        ActivationSparsity,
        ClassificationAccuracy,
        MembraneUpdates,
        SynapticOperations,
    )
    from neurobench.metrics.workload import ActivationSparsityByLayer as _BrokenByLayer
    from neurobench.models import TorchModel
    from spikingjelly.activation_based.neuron import BaseNode

    from snnkd.evaluation.evaluate import _eval_encoder

    class ActivationSparsityByLayer(_BrokenByLayer):
        """NeuroBench 2.3's metric forgets its base ``__init__`` (no ``requires_hooks``)."""

        def __init__(self):
            AccumulatedMetric.__init__(self, requires_hooks=True)
            super().__init__()

    class SpikingJellyModel(TorchModel):
        """Encodes a batch ``[B, ...]`` to ``[T, B, ...]`` and predicts classes.

        NeuroBench's ``MembraneUpdates`` reads the snnTorch-only ``mem`` attribute
        before and after every single-step call; a SpikingJelly multi-step neuron
        runs all T steps in one call, so its post-reset potentials ``v_seq``
        (``store_v_seq``) are handed to the hook as the pre-step (``V_{t-1}``) and
        post-step (``V_t``) lists snnTorch would have filled.
        """

        def __init__(self, net, encode):
            super().__init__(net)
            self.encode = encode
            self.add_activation_module(BaseNode)
            for m in net.modules():
                if isinstance(m, BaseNode):
                    m.store_v_seq = True

        def __call__(self, batch):
            with torch.no_grad():
                logits = self.net.logits(self.net(self.encode(batch).contiguous()))
            for hook in self.activation_hooks:
                v_seq = getattr(hook.layer, "v_seq", None)
                if v_seq is not None:
                    hook.pre_fire_mem_potential.extend([torch.zeros_like(v_seq[0]), *v_seq[:-1]])
                    hook.post_fire_mem_potential.extend(list(v_seq))
            functional.reset_net(self.net)
            return logits.argmax(1)

    split = run.data.test
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(split.x, split.y), batch_size=run.cfg.train.eval_batch_size
    )
    model = SpikingJellyModel(run.model, _eval_encoder(run))
    static = [Footprint, ConnectionSparsity]
    workload = [
        ClassificationAccuracy,
        ActivationSparsity,
        ActivationSparsityByLayer,
        SynapticOperations,
        MembraneUpdates,
    ]
    return Benchmark(model, loader, [], [], [static, workload]).run(quiet=True)


def test_neurobench_itself_gives_the_same_block(request):
    pytest.importorskip("neurobench", minversion="2.3")  # the [neurobench] extra
    run, m = request.getfixturevalue("trained_student")
    ours = m["neurobench"]
    theirs = _neurobench_run(run)
    by_layer = {k.rsplit(".", 1)[-1]: v for k, v in ours["ActivationSparsityByLayer"].items()}
    assert theirs["ActivationSparsityByLayer"] == by_layer
    assert theirs["SynapticOperations"] == ours["SynapticOperations"]
    for key in ("Footprint", "ConnectionSparsity", "MembraneUpdates"):
        assert theirs[key] == ours[key], key
    # NeuroBench averages float32 per-batch means, weighted by batch size
    for key in ("ClassificationAccuracy", "ActivationSparsity"):
        assert theirs[key] == pytest.approx(ours[key], rel=1e-6), key
    assert ours["MembraneUpdates"] > 0 and ours["SynapticOperations"]["Effective_ACs"] > 0


def test_quantized_layers_count_their_integer_codes():
    from snnkd.evaluation.neurobench_metrics import static_metrics
    from snnkd.quant import export_integer, fold_and_quantize

    net = handbuilt_net()
    fold_and_quantize(net, 4, 16, 4.0)
    net.eval()
    x = torch.tensor([[2.0, 0.75, 0.0]]).repeat(2, 1).unsqueeze(0).repeat(T, 1, 1)
    ops = M.operations(net, x)  # the first call also sets the quantization steps
    exported = export_integer(net)
    assert M.operations(exported, x) == ops
    assert ops["macs"] == T * 3 * 3
    # the zero weights stay zero codes: 6 of 9 in the first layer, 3 of 6 in the head
    assert static_metrics(net)["ConnectionSparsity"] == static_metrics(exported)["ConnectionSparsity"] == 0.6


def test_footprint_of_a_quantized_network_counts_its_deployed_integer_bytes():
    """fc (3x3) and head (2x3) at 4 bits, no bias: ceil(9*4/8) + ceil(6*4/8) code bytes plus one
    4-byte step per output channel (3 + 2) = 5 + 3 + 20 = 28 B, not the 60 B of its float weights."""
    from snnkd.evaluation.neurobench_metrics import static_metrics
    from snnkd.quant import export_integer, fold_and_quantize

    net = handbuilt_net()
    assert static_metrics(net)["Footprint"] == 15 * 4
    fold_and_quantize(net, 4, 16, 4.0)
    net.eval()
    M.operations(net, handbuilt_input())  # sets the quantization steps
    assert static_metrics(net)["Footprint"] == 28
    assert static_metrics(export_integer(net))["Footprint"] == 28


def test_footprint_counts_a_folded_bias_and_odd_bit_widths():
    """A 5x7 linear layer with its batch norm folded in, at 3 bits: ceil(35*3/8) = 14 code bytes,
    5 steps and 5 folded biases of 4 bytes: 54 B."""
    from spikingjelly.activation_based import layer

    from snnkd.evaluation.neurobench_metrics import footprint
    from snnkd.quant import QuantLayer, export_integer

    q = QuantLayer(layer.Linear(7, 5, bias=False), torch.nn.BatchNorm1d(5), 3).eval()
    q(torch.randn(1, 2, 7))
    assert footprint(q) == 14 + 4 * 5 + 4 * 5
    assert footprint(torch.nn.Sequential(export_integer(torch.nn.Sequential(q)))) == 54
