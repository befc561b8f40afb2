"""``snnkd export CHECKPOINT --format nir --out FILE``: a trained network as a NIR graph.

NIR (Neuromorphic Intermediate Representation, Pedersen et al., Nature
Communications 2024) is what SpikingJelly, snnTorch, Norse, Lava and
NeuroBench exchange. The network is first rewritten as one flat SpikingJelly
``Sequential`` of layers NIR can express, then converted with SpikingJelly's
own exchange (``spikingjelly.activation_based.nir_exchange.export_to_nir``):

- a batch norm after a conv or linear layer is folded into it (inference
  statistics): ``w' = w gamma / sqrt(var + eps)``, ``b' = (b - mu) gamma / sqrt(var + eps) + beta``;
- a 2-D max-pool over spikes becomes an average pool and an IF neuron with
  threshold ``0.5 / k^2`` and reset to 0: for binary inputs
  ``max(s) = H(mean(s) - 0.5/k^2)`` and the neuron's potential is 0 after every
  step, so the two are equal at every step;
- the readout: the graph outputs the head's per-step values (or output
  spikes); the prediction is ``argmax_c sum_t o_t`` (``metadata["readout"]``).

A quantized student's layers carry their integer weights and the scale in the
node's metadata (``weight_int``, ``weight_scale``, ``weight_bits``); the
node's float weight is ``weight_int * weight_scale`` exactly.

Needs the ``[nir]`` extra (``nir``, ``nirtorch``).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from snnkd.errors import ConfigError, SnnkdError

FORMATS = ("nir",)
DT = 1e-4  # the NIR time step SpikingJelly, snnTorch and Norse assume by default


class ExportError(SnnkdError):
    """The network has a layer the format cannot express."""

    exit_code = 2


def _require_nir() -> None:
    import importlib.util

    missing = [m for m in ("nir", "nirtorch") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"--format nir: needs {' and '.join(missing)}; install the extra: pip install 'snnkd[nir]'"
        )


def _fold(linear: nn.Module, bn: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``bn(linear(x))`` as one layer (inference statistics)."""
    w = linear.weight.detach()
    b = linear.bias.detach() if linear.bias is not None else torch.zeros(w.shape[0])
    if bn is None:
        return w.clone(), b.clone()
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (w.dim() - 1)
    return w * scale.reshape(shape), (b - bn.running_mean) * scale + bn.bias.detach()


def _quantized(m: nn.Module) -> tuple[nn.Module, torch.Tensor, torch.Tensor, dict[str, Any]]:
    """A :class:`~snnkd.quant.QuantLayer` as (its layer, ``q * s``, folded bias, integer metadata)."""
    q, scale, bias = m.integer_weights()
    w = q.float() * scale.view(-1, *([1] * (q.dim() - 1)))
    b = bias if bias is not None else torch.zeros(q.shape[0])
    meta = {"weight_int": q.cpu().numpy(), "weight_scale": scale.cpu().numpy(), "weight_bits": int(m.bits)}
    return m.layer, w, b, meta


def flat_network(model: nn.Module) -> tuple[nn.Sequential, dict[str, dict[str, Any]]]:
    """The model as a flat SpikingJelly ``Sequential`` NIR can express, and per-layer integer weights."""
    from spikingjelly.activation_based import layer, neuron

    from snnkd.quant import QuantLayer, QuantLIFNode, lif_settings

    modules = list(model.features.named_children()) + [("head", model.head)]
    if getattr(model, "out_neuron", None) is not None:
        modules.append(("out", model.out_neuron))
    out: list[tuple[str, nn.Module]] = []
    ints: dict[str, dict[str, Any]] = {}
    i = 0
    while i < len(modules):
        name, m = modules[i]
        nxt = modules[i + 1][1] if i + 1 < len(modules) else None
        bn = nxt if isinstance(nxt, nn.BatchNorm1d | nn.BatchNorm2d) else None
        if isinstance(m, QuantLayer):
            m, w, b, ints[name] = _quantized(m)
            bn = None
        elif isinstance(m, nn.Conv2d | nn.Conv1d | nn.Linear):
            w, b = _fold(m, bn)
        if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Linear):
            if isinstance(m, nn.Linear):
                new = layer.Linear(m.in_features, m.out_features, bias=True)
            else:
                cls = layer.Conv2d if isinstance(m, nn.Conv2d) else layer.Conv1d
                geometry = (m.kernel_size, m.stride, m.padding, m.dilation)
                new = cls(m.in_channels, m.out_channels, *geometry, bias=True)
            new.weight.data, new.bias.data = w.detach().float().clone(), b.detach().float().clone()
            out.append((name, new))
            i += 2 if bn is not None else 1
            continue
        if isinstance(m, nn.MaxPool2d):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            out.append((f"{name}_sum", layer.AvgPool2d(m.kernel_size, m.stride, m.padding)))
            out.append((name, neuron.IFNode(v_threshold=0.5 / (k * k), v_reset=0.0)))
        elif isinstance(m, QuantLIFNode):  # NIR has no membrane quantization: a LIF, its bits as metadata
            out.append((name, neuron.LIFNode(**lif_settings(m))))
            ints[name] = {"membrane_bits": int(m.membrane_bits)}
        elif isinstance(m, neuron.LIFNode | neuron.IFNode | nn.Flatten | nn.AvgPool2d):
            out.append((name, m))
        elif isinstance(m, nn.Identity | nn.Dropout):
            pass
        else:
            raise ExportError(
                f"--format nir: layer '{name}' ({type(m).__name__}) has no NIR equivalent; supported: "
                "Conv1d, Conv2d, Linear (each with an optional BatchNorm), LIF, IF, MaxPool2d, AvgPool2d, "
                "Flatten"
            )
        i += 1
    net = nn.Sequential(OrderedDict(out))
    from spikingjelly.activation_based import functional

    functional.set_step_mode(net, "m")
    return net.eval(), ints


def to_nir(model: nn.Module, example: torch.Tensor, meta: dict[str, Any]) -> Any:
    """The NIR graph of ``model`` for inputs shaped like ``example`` ``[T, B, ...]``."""
    _require_nir()
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net, ints = flat_network(model.cpu().eval())
    try:
        with torch.no_grad():
            graph = export_to_nir(net, example.cpu(), dt=DT)
    except NotImplementedError as err:
        raise ExportError(f"--format nir: {err}") from None
    for name, q in ints.items():
        graph.nodes[name].metadata.update(q)
    graph.metadata.update(meta)
    return graph


def export_checkpoint(
    path: str | Path, fmt: str, out: str | Path, plugin_dirs: list[str] | tuple = ()
) -> Path:
    """Write the checkpoint's network to ``out`` in format ``fmt``, atomically.

    ``out`` is checked first (:func:`snnkd.outdir.check_out_file`); the method is found among the
    built-ins, entry points and ``plugin_dirs``, never in folders the checkpoint names.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: '{fmt}' is not valid; valid choices: {', '.join(FORMATS)}")
    from snnkd.outdir import check_out_file

    out = check_out_file(out, "--out")
    _require_nir()
    import nir

    from snnkd import checkpoint
    from snnkd.config import validate
    from snnkd.data import DATASETS
    from snnkd.train import rebuild_from_state

    state = checkpoint.load(path)
    cfg = validate(state["config"])
    model = rebuild_from_state(state, plugin_dirs, path)
    shape = DATASETS.get(cfg.dataset).info.input_shape
    example = torch.zeros(cfg.steps, 1, *shape)
    meta = {
        "readout": "spike counts" if model.spiking_output else "mean",  # prediction: argmax_c sum_t o_t
        "T": int(cfg.steps),
        "encoder": cfg.encoder,
        "dataset": cfg.dataset,
        "method": cfg.method,
        "dt": DT,
    }
    graph = to_nir(model, example, meta)
    checkpoint.atomic_write(out, lambda tmp: nir.write(tmp, graph))  # nothing half-written at `out`
    return out
