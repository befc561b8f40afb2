import torch
from handbuilt import T, handbuilt_input, handbuilt_net

from snnkd.data.registry import Split
from snnkd.evaluation import metrics as M


def _split(x_rows: torch.Tensor) -> Split:
    return Split(x_rows, torch.zeros(len(x_rows), dtype=torch.int64))


def direct(x):
    return x.unsqueeze(0).repeat(T, *([1] * x.dim()))


def test_spikes_per_sample_and_firing_rate_of_a_handbuilt_network():
    net = handbuilt_net()
    x = torch.tensor([[2.0, 0.75, 0.0]]).repeat(5, 1)
    r = M.evaluate(net, _split(x), direct, batch_size=2, device=torch.device("cpu"))
    assert r["spikes_per_sample"] == 6.0  # 4 + 2 + 0 spikes over T = 4
    assert r["firing_rate"] == 6.0 / (T * 3)
    assert r["firing_rate_per_layer"] == {"features.lif": 0.5}
    assert r["neurons"] == 3


def test_synops_follow_spikes():
    net = handbuilt_net()
    busy = M.operations(net, handbuilt_input(4))
    # the head receives 6 spikes per sample; each meets one non-zero weight (NeuroBench's Effective_ACs)
    assert busy["synops"] == 6
    # the first layer sees analog input: T * 3 * 3 multiply-accumulates per sample
    assert busy["macs"] == T * 3 * 3
    assert busy["energy_pj"] == 4.6 * busy["macs"] + 0.9 * busy["synops"]
    assert busy["energy_model"]["e_ac_pj"] == 0.9
    quiet_x = torch.tensor([[0.75, 0.0, 0.0]]).repeat(4, 1).unsqueeze(0).repeat(T, 1, 1)
    quiet = M.operations(net, quiet_x)
    assert quiet["synops"] == 2 < busy["synops"]
    assert quiet["energy_pj"] < busy["energy_pj"]


def test_model_size_counts_parameters_times_bits():
    net = handbuilt_net()
    assert M.model_size(net) == {"params": 15, "weight_bits": 32, "model_size_bits": 15 * 32}
