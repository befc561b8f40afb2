"""A hand-built network whose spikes and membrane potentials are known in closed form."""

from collections import OrderedDict

import torch
from spikingjelly.activation_based import layer, neuron, surrogate

from snnkd.models import SpikingNet

# The input layer doubles its input (weights 2 * I; non-binary weights, so that
# SpikingJelly's op_counter does not take them for spikes). With LIF tau = 2, threshold 1 and hard reset to 0,
# H_t = V_{t-1} + (X - V_{t-1}) / 2 gives, over T = 4 steps of constant input:
#   X = 4   -> H = 2, 2, 2, 2              -> spikes 1, 1, 1, 1   (4 spikes)
#   X = 1.5 -> H = 0.75, 1.125, 0.75, 1.125 -> spikes 0, 1, 0, 1 (2 spikes)
#   X = 0   -> H = 0, 0, 0, 0              -> no spike
INPUT = torch.tensor([[2.0, 0.75, 0.0]])
SPIKES = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
MEMBRANE = torch.tensor([[2.0, 0.75, 0.0], [2.0, 1.125, 0.0], [2.0, 0.75, 0.0], [2.0, 1.125, 0.0]])
T = 4
CLASSES = 2


def handbuilt_net() -> SpikingNet:
    fc = layer.Linear(3, 3, bias=False)
    head = layer.Linear(3, CLASSES, bias=False)
    with torch.no_grad():
        fc.weight.copy_(2 * torch.eye(3))
        head.weight.copy_(torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.5]]))
    lif = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, surrogate_function=surrogate.ATan())
    features = torch.nn.Sequential(OrderedDict(fc=fc, lif=lif))
    return SpikingNet(features, head, None, spec={})


def handbuilt_input(batch: int = 1) -> torch.Tensor:
    return INPUT.repeat(batch, 1).unsqueeze(0).repeat(T, 1, 1)
