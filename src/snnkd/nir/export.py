"""``snnkd export CHECKPOINT --format nir --out FILE``: a trained network as a NIR graph.

NIR (Neuromorphic Intermediate Representation, Pedersen et al., Nature
Communications 2024) is the graph format SpikingJelly, snnTorch, Norse, Lava
and NeuroBench exchange. The graph is written with ``nir``'s own node types,
in the conventions the importers of SpikingJelly 2, snnTorch 1.0 and Norse 1.1
read (their ``import_from_nir`` / ``from_nir``; all of them integrate NIR's
equations with forward Euler at a step ``dt``, here :data:`DT`):

- **LIF.** SpikingJelly's LIF neuron (decay input, hard reset to ``V_r``)::

      H_t = V_{t-1} + (X_t - (V_{t-1} - V_r)) / tau,  S_t = [H_t >= V_th],  V_t = H_t (1 - S_t) + V_r S_t

  is NIR's ``LIF`` (``tau_N v' = (v_leak - v) + r I``, ``z = [v > v_threshold]``,
  ``v <- v_reset`` after a spike), whose Euler step is
  ``v_t = v_{t-1} + (dt / tau_N) (v_leak - v_{t-1} + r I_t)``, with::

      tau_N = tau * dt,  r = 1,  v_leak = v_reset = V_r,  v_threshold = V_th

  (``r = tau`` for a neuron without decayed input, ``H_t = V_{t-1} - (V_{t-1} - V_r) / tau + X_t``).
  snnTorch reads it as ``Leaky(beta = 1 - 1/tau)`` with its potential and
  threshold scaled by ``tau`` (``r dt / tau_N = 1 / tau``), reset to zero;
  Norse as ``LIFBoxCell``. The comparisons ``>=`` (SpikingJelly) and ``>``
  (NIR, snnTorch, Norse) differ only when ``H_t = V_th`` exactly, which a float
  membrane meets with probability 0. A soft reset (``V_t = H_t - V_th S_t``)
  has no NIR equivalent and is refused.
- **Quantized membrane** (:class:`~snnkd.quant.QuantLIFNode`: ``H_t`` on the grid
  ``d Z``, ``d = r_u / 2^(b_u - 1)``, clamped to ``[-r_u, r_u - d]``): the node's
  metadata carries ``membrane_bits``, ``membrane_range``, ``membrane_step`` and
  ``spike_condition``; its ``v_threshold`` is written as ``(ceil(V_th / d) - 1/2) d``,
  for which ``H >= V_th`` and ``H > v_threshold`` agree on every grid value
  (the trained ``V_th`` is kept as ``v_threshold_trained``). NIR itself has no
  membrane quantization: an importer applies it from the metadata
  (:func:`snnkd.nir.simulators.run_spikingjelly` does).
- **Max-pool over spikes** (every pool of the built-in networks follows a
  neuron): ``max_j s_j = [sum_j s_j >= 1]`` is a ``SumPool2d`` (``kernel_size``,
  ``stride``, ``padding`` as arrays) and a LIF node with ``tau_N = 2 dt``,
  ``r = 1``, ``v_leak = v_reset = 0``, ``v_threshold = 1/4``: its potential is 0
  at every step's start (it fired and reset, or its input was 0), so
  ``H_t = n_t / 2`` with ``n_t`` the integer spike count in the window, and it
  fires exactly when ``n_t >= 1`` under ``>`` and ``>=`` alike (SpikingJelly's
  importer needs ``tau_N / dt > 1``, so not the memoryless ``tau_N = dt``).
- **Average pool**: NIR's ``AvgPool2d`` with array arguments (no importer of
  the three maps NIR's ``Scale``, so it is not a ``SumPool2d`` and a scale).
- **Flatten**: ``start_dim = -len(shape)``, ``end_dim = -1`` (negative dims, so
  SpikingJelly, which shifts non-negative dims past its batch, and snnTorch and
  Norse, which do not, read the same); **affine**: ``Affine`` with a bias,
  ``Conv1d``/``Conv2d`` with a bias; a batch norm is folded into its layer
  (inference statistics): ``w' = w gamma / sqrt(var + eps)``,
  ``b' = (b - mu) gamma / sqrt(var + eps) + beta``.
- **Readout**: the graph outputs the head's per-step values (or output
  spikes); the prediction is ``argmax_c sum_t o_t`` (``metadata["readout"]``).

A quantized student's layers carry their integer weights and scales in the
node's metadata (``weight_int``, ``weight_scale``, ``weight_bits``); the node's
float weight is ``weight_int * weight_scale`` exactly. Which framework reads a
graph, and the first limit it hits otherwise: :func:`snnkd.nir.simulators.limits`.

Needs the ``[nir]`` extra (``nir``, ``nirtorch``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from snnkd.errors import ConfigError, SnnkdError

FORMATS = ("nir",)
DT = 1e-4  # the NIR time step SpikingJelly, snnTorch and Norse assume by default
SPIKE_CONDITION = "v >= v_threshold"  # SpikingJelly's; NIR's LIF reads v > v_threshold
POOL_TAU = 2.0  # the max-pool neuron's tau / dt (see the module docstring)
POOL_THRESHOLD = 0.25


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


def _array(value: Any, dims: int) -> np.ndarray:
    """A layer's ``kernel_size``/``stride``/``padding`` (int or tuple) as an int array of ``dims``."""
    values = (value,) * dims if isinstance(value, int) else tuple(value)
    return np.array(values, dtype=np.int64)


def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def lif_node(neuron: nn.Module, shape: tuple[int, ...], name: str) -> Any:
    """NIR ``LIF`` of a SpikingJelly LIF neuron over ``shape`` (mapping in the module docstring)."""
    import nir

    from snnkd.quant import MintLIFNode, QuantLIFNode

    if neuron.v_reset is None:
        raise ExportError(
            f"--format nir: neuron '{name}' resets softly (V - V_th after a spike); NIR's LIF resets "
            "to v_reset: train with neuron.reset hard to export"
        )
    if isinstance(neuron, MintLIFNode):
        raise ExportError(
            f"--format nir: neuron '{name}' quantizes its membrane as MINT does (after leak and reset, on "
            "its weight layer's step); NIR has no such neuron: export an lsq-quantized student"
        )
    tau, v_r, v_th = float(neuron.tau), float(neuron.v_reset), float(neuron.v_threshold)
    meta: dict[str, Any] = {"spike_condition": SPIKE_CONDITION}
    if isinstance(neuron, QuantLIFNode):
        from snnkd.quant import membrane_step

        d = membrane_step(neuron.membrane_bits, neuron.membrane_range)
        meta.update(
            membrane_bits=int(neuron.membrane_bits),
            membrane_range=float(neuron.membrane_range),
            membrane_step=d,
            membrane_quantized="H_t = d round(clamp(H_t / d, -2^(b-1), 2^(b-1) - 1)) before firing",
            v_threshold_trained=v_th,
        )
        v_th = (math.ceil(v_th / d) - 0.5) * d
    node = nir.LIF(
        tau=_full(shape, tau * DT),
        r=_full(shape, 1.0 if neuron.decay_input else tau),
        v_leak=_full(shape, v_r),
        v_threshold=_full(shape, v_th),
        v_reset=_full(shape, v_r),
    )
    node.metadata.update(meta)
    return node


def _max_pool(m: nn.Module, shape: tuple[int, ...], name: str, after: nn.Module | None) -> list:
    """``SumPool2d`` and the max-pool neuron: ``max`` of binary spikes (module docstring)."""
    import nir
    from spikingjelly.activation_based.neuron import BaseNode

    if not isinstance(after, BaseNode):
        raise ExportError(
            f"--format nir: max-pool '{name}' does not follow a spiking neuron; NIR has no max-pool and "
            "a sum-pool equals it on spikes only"
        )
    pool = nir.SumPool2d(
        kernel_size=_array(m.kernel_size, 2), stride=_array(m.stride, 2), padding=_array(m.padding, 2)
    )
    neuron = nir.LIF(
        tau=_full(shape, POOL_TAU * DT),
        r=_full(shape, 1.0),
        v_leak=_full(shape, 0.0),
        v_threshold=_full(shape, POOL_THRESHOLD),
        v_reset=_full(shape, 0.0),
    )
    neuron.metadata["max_pool"] = "spikes iff the window holds one (sum-pool, tau 2 dt, threshold 1/4)"
    return [(f"{name}_sum", pool), (name, neuron)]


def _connection(m: nn.Module, w: torch.Tensor, b: torch.Tensor, shape: tuple[int, ...]) -> Any:
    import nir

    w, b = w.detach().float().cpu().numpy(), b.detach().float().cpu().numpy()
    if isinstance(m, nn.Linear):
        return nir.Affine(weight=w, bias=b)
    if m.groups != 1:
        raise ExportError("--format nir: grouped convolutions are not read by SpikingJelly's NIR import")
    dims = w.ndim - 2
    cls = nir.Conv2d if dims == 2 else nir.Conv1d
    return cls(
        input_shape=tuple(shape[1:]) if dims == 2 else shape[1],
        weight=w,
        stride=_array(m.stride, dims),
        padding=_array(m.padding, dims),
        dilation=_array(m.dilation, dims),
        groups=1,
        bias=b,
    )


def _out_shape(m: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-sample output shape of multi-step layer ``m`` for a per-sample input ``shape``."""
    with torch.no_grad():
        return tuple(m(torch.zeros(1, 1, *shape)).shape[2:])


SUPPORTED = (
    "Conv1d, Conv2d, Linear (each with an optional BatchNorm), LIF (hard reset), MaxPool2d, AvgPool2d, "
    "Flatten"
)


def nir_nodes(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[list[tuple[str, Any]], tuple]:
    """The model's layers as named NIR nodes in data-flow order, and the output shape."""
    import nir
    from spikingjelly.activation_based import neuron as sj_neuron

    from snnkd.quant import QuantLayer

    modules = list(model.features.named_children()) + [("head", model.head)]
    if getattr(model, "out_neuron", None) is not None:
        modules.append(("out", model.out_neuron))
    nodes: list[tuple[str, Any]] = []
    shape, previous, i = tuple(input_shape), None, 0
    while i < len(modules):
        name, m = modules[i]
        nxt = modules[i + 1][1] if i + 1 < len(modules) else None
        bn = nxt if isinstance(nxt, nn.BatchNorm1d | nn.BatchNorm2d) else None
        out = _out_shape(m, shape)
        meta: dict[str, Any] = {}
        if isinstance(m, QuantLayer):
            layer, w, b, meta = _quantized(m)
            nodes.append((name, _connection(layer, w, b, shape)))
        elif isinstance(m, nn.Conv2d | nn.Conv1d | nn.Linear):
            w, b = _fold(m, bn)
            nodes.append((name, _connection(m, w, b, shape)))
            i += 1 if bn is not None else 0
        elif isinstance(m, sj_neuron.LIFNode):
            nodes.append((name, lif_node(m, out, name)))
        elif isinstance(m, nn.MaxPool2d):
            nodes += _max_pool(m, out, name, previous)
        elif isinstance(m, nn.AvgPool2d):
            args = (m.kernel_size, m.stride, m.padding)
            nodes.append((name, nir.AvgPool2d(*(_array(a, 2) for a in args))))
        elif isinstance(m, nn.Flatten):
            node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=-len(shape), end_dim=-1)
            nodes.append((name, node))
        elif isinstance(m, nn.MaxPool1d):
            raise ExportError(f"--format nir: max-pool '{name}' is 1-D; NIR has no 1-D pooling node")
        elif not isinstance(m, nn.Identity | nn.Dropout):
            raise ExportError(
                f"--format nir: layer '{name}' ({type(m).__name__}) has no NIR equivalent; supported: "
                f"{SUPPORTED}"
            )
        if meta:
            nodes[-1][1].metadata.update(meta)
        previous, shape = m, out
        i += 1
    return nodes, shape


def to_nir(model: nn.Module, input_shape: tuple[int, ...], meta: dict[str, Any]) -> Any:
    """The NIR graph of ``model`` for per-step inputs of ``input_shape`` (no batch, no time)."""
    _require_nir()
    import nir

    nodes, out_shape = nir_nodes(model.cpu().eval(), tuple(input_shape))
    names = ["input", *(n for n, _ in nodes), "output"]
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array(input_shape)}),
            **dict(nodes),
            "output": nir.Output(output_type={"output": np.array(out_shape)}),
        },
        edges=list(zip(names[:-1], names[1:], strict=True)),
    )
    graph.metadata.update(meta)
    return graph


def export_checkpoint(
    path: str | Path, fmt: str, out: str | Path, plugin_dirs: list[str] | tuple = ()
) -> Path:
    """Write the checkpoint's network to ``out`` in format ``fmt``, atomically.

    ``out`` is checked first (:func:`snnkd.cli.outdir.check_out_file`); the method is found among the
    built-ins, entry points and ``plugin_dirs``, never in folders the checkpoint names.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: '{fmt}' is not valid; valid choices: {', '.join(FORMATS)}")
    from snnkd.cli.outdir import check_out_file

    out = check_out_file(out, "--out")
    _require_nir()
    import nir

    from snnkd.core.atomic import atomic_write
    from snnkd.core.config import validate
    from snnkd.data import DATASETS
    from snnkd.trainer import checkpoint
    from snnkd.trainer.run import rebuild_from_state

    state = checkpoint.load(path)
    cfg = validate(state["config"])
    model = rebuild_from_state(state, plugin_dirs, path)
    meta = {
        "readout": "spike counts" if model.spiking_output else "mean",  # prediction: argmax_c sum_t o_t
        "T": int(cfg.steps),
        "encoder": cfg.encoder,
        "dataset": cfg.dataset,
        "method": cfg.method,
        "dt": DT,
        "spike_condition": SPIKE_CONDITION,
    }
    graph = to_nir(model, DATASETS.get(cfg.dataset).info.input_shape, meta)
    atomic_write(out, lambda tmp: nir.write(tmp, graph))  # nothing half-written at `out`
    return out
