"""Activity and operation counts with NeuroBench 2.3's names and definitions, in one pass.

NeuroBench (Yik et al., "The neurobench framework for benchmarking neuromorphic
computing algorithms and systems", Nature Communications 2025; package
``neurobench==2.3.0``) defines, per sample of the evaluated split:

- ``ClassificationAccuracy`` = correct / samples;
- ``ActivationSparsity`` = 1 - nnz(a) / numel(a) over every activation layer's
  output ``a`` (spiking neurons, ReLU, sigmoid), all steps and samples;
  ``ActivationSparsityByLayer`` the same per layer;
- ``SynapticOperations``: for every connection layer (Linear, Conv1d/2d/3d) the
  products of a non-zero input with a non-zero weight,
  ``sum_out (1[W != 0] * 1[x != 0])``, bias excluded; they are ``Effective_ACs``
  when the layer's input is binary (every value in {-1, 0, 1}, i.e. spikes) and
  ``Effective_MACs`` otherwise; ``Dense`` counts the same with all-ones weights and
  inputs (padding taps excluded);
- ``MembraneUpdates``: per neuron layer and batch, ``numel(V_0)`` for the first
  step plus ``sum_{t>=1} nnz(V_t - V_{t-1})`` (neurons whose post-reset membrane
  potential changed), divided by the samples;
- ``Footprint`` = bytes of parameters and buffers; a quantized layer's at its bit widths
  (:func:`footprint`: the deployed integer network, not the float training weights);
- ``ConnectionSparsity`` = zero weights / weights of the connection layers,
  rounded to 4 decimals as NeuroBench does (a quantized layer's integer codes).

Besides these, the same pass gives this suite's own figures (``shared/METHODS.md``):
spikes per sample ``sum_l sum_t ||s_{l,t}||_1``; ``synops`` = ``Effective_ACs``;
and ``macs``, the multiply-accumulates of the network as it runs at inference with
batch norm folded into the preceding layer: ``numel(y) * fan_in`` of every
connection layer fed a non-binary input (the direct-encoded first layer, at each
of the T steps; batch norm costs nothing once folded). Energy is
``E_MAC * macs + E_AC * synops``.

Hooks only keep references during the forward pass; counting happens in
:meth:`Counter.flush`, after the caller has timed the forward pass.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

CONNECTIONS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def activation_types() -> tuple[type[nn.Module], ...]:
    """Modules NeuroBench counts as activations: its ReLU and sigmoid, plus SpikingJelly's neurons."""
    from spikingjelly.activation_based.neuron import BaseNode

    return (BaseNode, nn.ReLU, nn.Sigmoid)


def connection_op(module: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``module``'s linear operation on ``x`` with weight ``w`` and no bias (multi-step inputs flattened)."""
    if isinstance(module, nn.Linear):
        return F.linear(x, w)
    if x.dim() == w.dim() + 1:  # SpikingJelly multi-step [T, B, C, ...]
        x = x.flatten(0, 1)
    return module._conv_forward(x, w, None)


def is_binary(x: torch.Tensor) -> bool:
    """NeuroBench's test for spikes: every value is -1, 0 or 1."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


class Counter:
    """Hooks that count activity and operations of ``model`` over the batches it runs.

    Use as a context manager; after each forward pass call :meth:`flush` with the
    batch's size and number of correct predictions; :meth:`result` gives the
    per-sample figures.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        acts = activation_types()
        self.neurons = {n: m for n, m in model.named_modules() if isinstance(m, acts)}
        self.connections = {n: m for n, m in model.named_modules() if isinstance(m, CONNECTIONS)}
        self._seen: list[tuple[str, str, Any]] = []
        self._handles: list[Any] = []
        self._stored: dict[str, bool] = {}
        self._dense: dict[tuple, int] = {}
        self.samples = 0
        self.correct = 0
        self.nonzero: dict[str, int] = defaultdict(int)
        self.numel: dict[str, int] = defaultdict(int)
        self.spikes: dict[str, float] = defaultdict(float)
        self.size: dict[str, int] = {}
        self.steps = 1
        self.membrane_updates = 0
        self.ops = {"Effective_MACs": 0, "Effective_ACs": 0, "Dense": 0, "macs": 0}

    def __enter__(self) -> Counter:
        for name, node in self.neurons.items():
            if hasattr(node, "store_v_seq"):
                self._stored[name] = node.store_v_seq
                node.store_v_seq = True
            self._handles.append(node.register_forward_hook(self._neuron_hook(name)))
        for name, layer in self.connections.items():
            self._handles.append(layer.register_forward_hook(self._connection_hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for name, was in self._stored.items():
            self.neurons[name].store_v_seq = was
        self._seen.clear()

    def _neuron_hook(self, name: str):
        def hook(mod, inputs, output):
            self._seen.append(("neuron", name, (output, getattr(mod, "v_seq", None))))

        return hook

    def _connection_hook(self, name: str):
        def hook(mod, inputs, output):
            # the weight in use now (a quantized layer swaps in its integer codes for the call)
            self._seen.append(("connection", name, (mod, inputs[0], mod.weight, output)))

        return hook

    @torch.no_grad()
    def flush(self, batch: int, correct: int = 0) -> None:
        """Count what the hooks saw during the last forward pass of ``batch`` samples."""
        for kind, name, payload in self._seen:
            if kind == "neuron":
                self._count_neuron(name, *payload)
            else:
                self._count_connection(*payload)
        self._seen.clear()
        self.samples += batch
        self.correct += correct

    def _count_neuron(self, name: str, out: torch.Tensor, v_seq: torch.Tensor | None) -> None:
        self.nonzero[name] += int(torch.count_nonzero(out))
        self.numel[name] += out.numel()
        spiking = v_seq is not None
        if spiking:  # multi-step [T, B, ...]
            self.spikes[name] += float(out.sum())
            self.steps = out.shape[0]
            self.size[name] = out[0, 0].numel()
            self.membrane_updates += v_seq[0].numel() + int(torch.count_nonzero(v_seq[1:] - v_seq[:-1]))

    def _count_connection(self, mod: nn.Module, x: torch.Tensor, w: torch.Tensor, out: torch.Tensor) -> None:
        # 0/1 operands in float32 (exact per output, at most fan-in), summed in float64 (exact totals)
        xb, wb = (x != 0).float(), (w != 0).float()
        with torch.autocast(x.device.type, enabled=False):
            effective = int(connection_op(mod, xb, wb).sum(dtype=torch.float64))
            key = (id(mod), tuple(x.shape), tuple(w.shape))  # Dense depends on shapes only
            if key not in self._dense:
                ones = connection_op(mod, torch.ones_like(xb), torch.ones_like(wb))
                self._dense[key] = int(ones.sum(dtype=torch.float64))
        self.ops["Dense"] += self._dense[key]
        if is_binary(x):
            self.ops["Effective_ACs"] += effective
        else:
            self.ops["Effective_MACs"] += effective
            self.ops["macs"] += out.numel() * w[0].numel()

    def result(self) -> dict[str, Any]:
        """Per-sample figures: the suite's own names and the ``neurobench`` block."""
        n = max(1, self.samples)
        total_nz, total_el = sum(self.nonzero.values()), sum(self.numel.values())
        out: dict[str, Any] = {
            "accuracy": self.correct / n,
            "synops": self.ops["Effective_ACs"] / n,
            "macs": self.ops["macs"] / n,
            "ops_samples": self.samples,
        }
        if self.spikes:
            spikes = {k: v / n for k, v in self.spikes.items()}
            neurons = sum(self.size.values())
            out.update(
                spikes_per_sample=sum(spikes.values()),
                firing_rate=sum(spikes.values()) / (self.steps * neurons),
                neurons=neurons,
                firing_rate_per_layer={k: spikes[k] / (self.steps * self.size[k]) for k in spikes},
            )
        out["neurobench"] = {
            "ClassificationAccuracy": self.correct / n,
            "ActivationSparsity": (total_el - total_nz) / total_el if total_el else 0.0,
            "ActivationSparsityByLayer": {
                k: (self.numel[k] - self.nonzero[k]) / self.numel[k] if self.numel[k] else 0.0
                for k in self.numel
            },
            "SynapticOperations": {k: self.ops[k] / n for k in SYNOPS},
            "MembraneUpdates": self.membrane_updates / n,
            **static_metrics(self.model),
        }
        return out


def footprint(model: nn.Module) -> int:
    """NeuroBench ``Footprint``: bytes of every parameter and buffer, as the network is deployed.

    A quantized layer (:class:`~snnkd.quant.QuantLayer`, or its exported
    :class:`~snnkd.quant.IntegerLayer`) counts what the integer network stores,
    ``ceil(N_w b / 8) + 4 S + 4 C_out`` bytes: its ``N_w`` weight codes at ``b``
    bits, ``S`` 32-bit steps (one per output channel, one per layer with
    ``mint``) and its 32-bit folded bias (when it has one), the sizes of
    :func:`snnkd.quant.model_size_bits`; not the float weights, batch-norm
    statistics and flags it keeps for training (which NeuroBench itself would
    count). Every other parameter and buffer counts ``numel * element_size``.
    """
    from snnkd.quant import IntegerLayer, QuantLayer

    total, inside = 0, set()
    for m in model.modules():
        if isinstance(m, QuantLayer | IntegerLayer):
            total += deployed_layer_bytes(m)
            inside.update(id(t) for t in [*m.parameters(), *m.buffers()])
    tensors = [t for t in [*model.parameters(), *model.buffers()] if id(t) not in inside]
    return total + sum(t.numel() * t.element_size() for t in tensors)


def deployed_layer_bytes(m: nn.Module) -> int:
    """Bytes of a quantized layer as deployed: codes at its bit width, 32-bit steps and folded bias."""
    from snnkd.quant import QuantLayer

    if isinstance(m, QuantLayer):
        codes, steps = m.weight.numel(), m.log_step.numel()
        bias = m.out_channels if m.bias is not None or m.bn is not None else 0
    else:  # IntegerLayer: a mint layer's per-channel scales are one step repeated
        codes, steps = m.weight_int.numel(), 1 if m.scheme == "mint" else m.scale.numel()
        bias = 0 if m.bias is None else m.bias.numel()
    return -(-codes * m.bits // 8) + 4 * (steps + bias)


def deployed_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight of every connection layer as it is deployed.

    A quantized layer (``integer_weights()``, or an exported ``weight_int`` buffer)
    contributes its integer codes, not the float weights it keeps for training.
    """
    inside: set[int] = set()
    out: list[torch.Tensor] = []
    for m in model.modules():
        if id(m) in inside:
            continue
        if callable(getattr(m, "integer_weights", None)):
            out.append(m.integer_weights()[0])
        elif isinstance(getattr(m, "weight_int", None), torch.Tensor):
            out.append(m.weight_int)
        else:
            w = getattr(m, "weight", None)
            if isinstance(m, CONNECTIONS) and isinstance(w, torch.Tensor):
                out.append(w)
            continue
        inside.update(id(sub) for sub in m.modules())
    return out


def connection_sparsity(model: nn.Module) -> float:
    """NeuroBench ``ConnectionSparsity``: zero weights / weights of Linear and Conv layers (4 decimals).

    Quantized layers count their integer codes (:func:`deployed_weights`); NeuroBench
    itself would read the float weights they keep for training.
    """
    weights = deployed_weights(model)
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return round(zeros / total, 4) if total else 0.0


def static_metrics(model: nn.Module) -> dict[str, Any]:
    """NeuroBench's static metrics ``Footprint`` (bytes) and ``ConnectionSparsity``."""
    return {"Footprint": footprint(model), "ConnectionSparsity": connection_sparsity(model)}


NAMES = (
    "ClassificationAccuracy", "ActivationSparsity", "ActivationSparsityByLayer", "SynapticOperations",
    "MembraneUpdates", "Footprint", "ConnectionSparsity",
)  # fmt: skip
SYNOPS = ("Effective_MACs", "Effective_ACs", "Dense")


def _rank(names: tuple[str, ...]):
    return lambda k: names.index(k) if k in names else len(names)


def flat(block: dict[str, Any]) -> dict[str, Any]:
    """A ``neurobench`` block as flat columns (``SynapticOperations/Effective_ACs``, ...) in order."""
    out: dict[str, Any] = {}
    for key in sorted(block, key=_rank(NAMES)):
        value = block[key]
        if isinstance(value, dict):  # SynapticOperations in NeuroBench's order; layers as they come
            out.update({f"{key}/{k}": value[k] for k in sorted(value, key=_rank(SYNOPS))})
        else:
            out[key] = value
    return out
