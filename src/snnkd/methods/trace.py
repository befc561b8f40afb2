"""Reading knowledge (logits, readout, spikes, membrane potentials) out of a network.

The :class:`Tracer` attaches forward hooks to the neuron layers of any network
built from SpikingJelly modules; it needs no change to model code and records
only the fields it is asked for, so a plain training run pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn as nn

FIELDS = ("logits", "readout", "out_spikes", "spikes", "membrane")


@dataclass
class Knowledge:
    """What one network showed on one batch.

    Shapes: ``logits [B, C]``; ``readout [T, B, C]`` (the last, linear layer per
    step); ``out_spikes [T, B, C]`` when the output layer spikes; per hidden
    layer name ``spikes[name]`` and ``membrane[name]`` as ``[T, B, ...]``, the
    membrane potential taken after charge, before fire and reset.
    """

    logits: torch.Tensor
    readout: torch.Tensor | None = None
    out_spikes: torch.Tensor | None = None
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)
    membrane: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def counts(self) -> torch.Tensor:
        """Output spike counts ``n = sum_t s_out_t``, ``[B, C]``."""
        if self.out_spikes is None:
            raise ValueError("this network has no spiking output layer")
        return self.out_spikes.sum(0)

    def rates(self) -> dict[str, torch.Tensor]:
        """Per-neuron firing rates ``r = (1/T) sum_t s_t`` of each hidden layer, ``[B, ...]``."""
        return {name: s.mean(0) for name, s in self.spikes.items()}

    def map(self, fn) -> Knowledge:
        """Apply ``fn`` to every tensor: ``fn(tensor, batch_dim)``."""

        def seq(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else fn(t, 1)

        return Knowledge(
            logits=fn(self.logits, 0),
            readout=seq(self.readout),
            out_spikes=seq(self.out_spikes),
            spikes={k: fn(v, 1) for k, v in self.spikes.items()},
            membrane={k: fn(v, 1) for k, v in self.membrane.items()},
        )

    def select(self, index: torch.Tensor) -> Knowledge:
        """The samples at ``index`` (batch dimension 0 for logits, 1 for sequences)."""
        return self.map(lambda t, dim: t.index_select(dim, index.to(t.device)))

    def to(self, device: torch.device | str) -> Knowledge:
        return self.map(lambda t, dim: t.to(device))

    def clone(self) -> Knowledge:
        """A plain copy (turns tensors made under ``inference_mode`` into normal ones)."""
        return self.map(lambda t, dim: t.clone())

    @staticmethod
    def cat(parts: list[Knowledge]) -> Knowledge:
        """Concatenate knowledge of consecutive batches along the batch dimension."""
        first = parts[0]

        def seq(get) -> torch.Tensor | None:
            return None if get(first) is None else torch.cat([get(p) for p in parts], 1)

        return Knowledge(
            logits=torch.cat([p.logits for p in parts]),
            readout=seq(lambda p: p.readout),
            out_spikes=seq(lambda p: p.out_spikes),
            spikes={k: torch.cat([p.spikes[k] for p in parts], 1) for k in first.spikes},
            membrane={k: torch.cat([p.membrane[k] for p in parts], 1) for k in first.membrane},
        )


def hidden_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Hidden neuron layers by name: spiking neurons, or ReLUs in an ANN twin.

    The spiking output layer (``out_neuron``) is not hidden and is left out.
    """
    from spikingjelly.activation_based.neuron import BaseNode

    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, BaseNode | nn.ReLU) and not name.startswith("out_neuron")
    }


def membrane_before_fire(node: nn.Module, x_seq: torch.Tensor) -> torch.Tensor:
    """``H_t``, the membrane potential after charge and before fire/reset, ``[T, B, ...]``.

    Recomputed from the input ``X_t`` and the stored post-reset potentials ``V_t``
    (``store_v_seq``): for a LIF neuron with decayed input
    ``H_t = V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau``; without it
    ``H_t = V_{t-1} - (V_{t-1} - V_reset) / tau + X_t``. A node that defines
    ``membrane_before_fire(x_seq)`` itself (a quantized neuron, say) is asked directly.
    """
    own = getattr(node, "membrane_before_fire", None)
    if callable(own):
        return own(x_seq)
    v_seq = node.v_seq
    v_reset = node.v_reset if node.v_reset is not None else 0.0
    v_prev = torch.cat([torch.full_like(v_seq[:1], v_reset), v_seq[:-1]])
    tau = getattr(node, "tau", None)
    if tau is None:  # integrate-and-fire
        return v_prev + x_seq
    if node.decay_input:
        return v_prev + (x_seq - (v_prev - v_reset)) / tau
    return v_prev - (v_prev - v_reset) / tau + x_seq


class Tracer:
    """Runs a network and returns the :class:`Knowledge` fields asked for.

    ``needs`` is a subset of :data:`FIELDS`; ``layers`` restricts hidden-layer
    recording to those names (default: every hidden layer).
    """

    def __init__(self, model: nn.Module, needs: Iterable[str], layers: Iterable[str] | None = None) -> None:
        self.model = model
        self.needs = set(needs)
        unknown = self.needs - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown knowledge fields: {sorted(unknown)}")
        hidden = hidden_layers(model)
        self.layers = list(hidden) if layers is None else [n for n in layers]
        missing = [n for n in self.layers if n not in hidden]
        if missing:
            raise ValueError(f"no hidden neuron layer named {missing}; layers: {list(hidden)}")
        self._hidden = {n: hidden[n] for n in self.layers}
        if "out_spikes" in self.needs and not getattr(model, "spiking_output", False):
            raise ValueError("out_spikes asked for, but the network has no spiking output layer")

    def __call__(self, x_seq: torch.Tensor) -> Knowledge:
        spikes: dict[str, torch.Tensor] = {}
        membrane: dict[str, torch.Tensor] = {}
        readout: list[torch.Tensor] = []
        handles = []
        want_spikes, want_membrane = "spikes" in self.needs, "membrane" in self.needs
        if want_spikes or want_membrane:
            for name, node in self._hidden.items():
                if want_membrane and hasattr(node, "store_v_seq"):
                    node.store_v_seq = True

                def hook(mod, inputs, output, name=name):
                    if want_spikes:
                        spikes[name] = output
                    if want_membrane:
                        membrane[name] = (
                            membrane_before_fire(mod, inputs[0])
                            if hasattr(mod, "v_seq")
                            else inputs[0]  # ANN twin: the pre-activation
                        )

                handles.append(node.register_forward_hook(hook))
        spiking_out = getattr(self.model, "spiking_output", False)
        if "readout" in self.needs and spiking_out:
            handles.append(self.model.head.register_forward_hook(lambda m, i, o: readout.append(o)))
        try:
            out = self.model(x_seq)
        finally:
            for h in handles:
                h.remove()
            if want_membrane:
                for node in self._hidden.values():
                    if hasattr(node, "store_v_seq"):
                        node.store_v_seq = False
        logits = self.model.logits(out) if hasattr(self.model, "logits") else out.mean(0)
        return Knowledge(
            logits=logits,
            readout=(readout[0] if spiking_out else out) if "readout" in self.needs else None,
            out_spikes=out if spiking_out else None,
            spikes=spikes,
            membrane=membrane,
        )
