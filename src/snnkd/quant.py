"""Quantization-aware training of SNN students: weights, membrane potential, batch norm.

What :func:`quantize_model` does to a full-precision network (module names are
kept, so a quantized student aligns layer by layer with its FP twin):

* **BN folding.** Every convolution or linear layer followed by a batch norm
  becomes a :class:`QuantLayer` holding both (the BN's own slot becomes
  ``nn.Identity``). The BN is folded into the weights *before* they are
  quantized (Jacob et al., CVPR 2018)::

      W_f = W * gamma / sqrt(var + eps)        b_f = beta + (b - mean) * gamma / sqrt(var + eps)

  with the batch statistics while training (they also update the running
  statistics) and the running statistics in evaluation. A batch norm with no
  preceding layer (none in the built-in architectures) becomes a
  :class:`QuantBatchNorm`, whose per-channel scale ``gamma / sqrt(var + eps)``
  is quantized instead.
* **Weights** to ``b`` bits, uniform, symmetric, per output channel ``c``,
  straight-through estimator, learnable step ``s_c`` (LSQ, Esser et al.,
  ICLR 2020; parametrised as ``log s_c`` so Adam's step is relative)::

      q = round(clamp(W_f / s, -Q, Q)),  Q = 2^(b-1) - 1     (2^b - 1 levels, b >= 2)
      q = sign(W_f / s) in {-1, +1}                          (2 levels, b = 1)
      y = s * op(x, q) + b_f

  ``op(x, q)`` with integer-valued ``q`` is exactly what the exported integer
  network computes (:func:`export_integer`), so predictions agree bit for bit.
* **Membrane potential** to ``b_u`` bits: :class:`QuantLIFNode` quantizes the
  charged potential at every step, before fire and reset (MD-SNN, Lee et al.,
  DATE 2026), on the two's-complement grid of ``[-r, r)``::

      H_t = Q_u(V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau)
      Q_u(h) = d * round(clamp(h / d, -2^(b_u-1), 2^(b_u-1) - 1)),  d = r / 2^(b_u-1)

  (``2^b_u`` levels, zero included; straight-through inside the clamp range).

Kept at 32 bits: the (direct-encoded) input of the first layer, the folded
biases and the per-channel steps; they are counted in :func:`model_size_bits`.

**Scheme ``mint``** (``quant.scheme: mint``; the above is ``lsq``), after MINT
(Yin et al., "MINT: Multiplier-less INTeger Quantization for Energy Efficient
Spiking Neural Networks", ASP-DAC 2024): one learned step ``d = alpha / Q`` per
layer (not per channel), shared by the layer's weights and the membrane
potential of the neuron layer it feeds, both passed through ``tanh`` and
clamped to ``[-alpha, alpha]``, rounded symmetrically (``2^b - 1`` levels)::

    q_w = round(clamp(tanh(W_f) / d, -Q, Q))                      (mint_codes)
    H_t = U_{t-1} + X_t / tau,  S_t = Theta(H_t - V_th),  V_t = reset(H_t, S_t)
    U_t = d * round(clamp(tanh(V_t - (V_t - V_reset) / tau) / d, -Q, Q))

The membrane is quantized after leak and reset (:class:`MintLIFNode`); without
quantization these are the LIF dynamics above. Weights and membrane on one
grid are what lets MINT's hardware accumulate without a multiplier. The
step starts as LSQ's (``2 mean|tanh W_f| / sqrt(Q)``; MINT's code starts its
``alpha`` there instead) and is learned through both uses. A residual block's
neuron shares the step of the main path's last layer (MINT's ResNet does the
same), see :func:`link_mint_neurons`. ``mint`` needs ``b, b_u >= 2``.

SpikingJelly primitives used (``spikingjelly.activation_based.quantize``):
``round`` (straight-through rounding), ``clamp`` (clamp whose gradient is
masked outside the range), ``k_bit_quantize`` (the 1-bit weight case).
Hardware figures come from ``spikingjelly.activation_based.op_counter.spikesim``
(:func:`spikesim_figures`).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, neuron, quantize
from torch.func import functional_call

from snnkd.models.fused_lif import FusedLIFNode, Grid, run_fused

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_bits(bits: int, what: str = "bits") -> int:
    """A bit width in ``1..16``, else a one-line ``ConfigError``."""
    from snnkd.errors import ConfigError

    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ConfigError(f"{what}: {bits!r} is not a valid bit width; expected an integer in 1..16")
    return bits


# --- quantizers ----------------------------------------------------------------


def weight_qmax(bits: int) -> int:
    """``Q = 2^(b-1) - 1`` of the symmetric weight grid (1 for the binary case)."""
    return max(1, 2 ** (bits - 1) - 1)


def weight_codes(w_over_s: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer-valued codes of ``w / s``: ``round(clamp(v, -Q, Q))``, or ``{-1, +1}`` at 1 bit.

    Straight-through: the gradient is 1 inside ``[-Q, Q]`` and 0 outside.
    """
    if bits == 1:
        unit = quantize.clamp((w_over_s + 1.0) / 2.0, 0.0, 1.0)
        return 2.0 * quantize.k_bit_quantize(unit, 1) - 1.0
    q = weight_qmax(bits)
    return quantize.round(quantize.clamp(w_over_s, -float(q), float(q)))


def quantize_weight(w: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantized weights ``s * codes(w / s)`` (``step`` broadcast per output channel)."""
    step = step.view(-1, *([1] * (w.dim() - 1)))
    return step * weight_codes(w / step, bits)


def mint_codes(v: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """MINT's integer codes ``round(clamp(tanh(v) / d, -Q, Q))`` (straight-through inside the clamp)."""
    return weight_codes(torch.tanh(v) / step, bits)


def membrane_step(bits: int, mem_range: float) -> float:
    """Grid spacing ``d = r / 2^(b_u - 1)`` of the membrane potential."""
    return mem_range / 2 ** (bits - 1)


def quantize_membrane(h: torch.Tensor, bits: int, mem_range: float) -> torch.Tensor:
    """``d * round(clamp(h / d, -2^(b-1), 2^(b-1) - 1))``: ``2^b`` levels in ``[-r, r)``."""
    d = membrane_step(bits, mem_range)
    lo, hi = -float(2 ** (bits - 1)), float(2 ** (bits - 1) - 1)
    return d * quantize.round(quantize.clamp(h / d, lo, hi))


# --- quantized layers ------------------------------------------------------------


@torch.no_grad()
def update_running_stats(bn: nn.Module, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
    """A batch norm's running statistics from one batch's ``mean`` and biased ``var`` over ``n`` values,
    as ``nn.BatchNorm`` does: ``r <- (1 - m) r + m x`` with ``m = momentum``, or the cumulative average
    (``m = 1 / batches seen``) when ``momentum`` is None (what precise-BN recalibration sets)."""
    bn.num_batches_tracked += 1
    m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    bn.running_mean.mul_(1 - m).add_(m * mean.detach())
    bn.running_var.mul_(1 - m).add_(m * var.detach() * n / max(n - 1, 1))


def _constant_over_time(x_seq: torch.Tensor) -> bool:
    """An ``expand``-ed ``[T, B, ...]`` view (stride 0 over time): the same input at every step."""
    return x_seq.dim() > 2 and x_seq.shape[0] > 1 and x_seq.stride(0) == 0


def _expand_steps(y: torch.Tensor, steps: int) -> torch.Tensor:
    return y.expand(steps, *y.shape[1:])


class QuantLayer(nn.Module):
    """A convolution or linear layer with its batch norm folded in, weights quantized to ``bits``.

    The original (SpikingJelly multi-step) layer is kept as ``layer`` and called
    with the integer codes in place of its weight (``torch.func.functional_call``),
    so its step-mode handling and ``op_counter``'s module-based rules still apply.
    """

    def __init__(self, base: nn.Module, bn: nn.Module | None, bits: int, scheme: str = "lsq") -> None:
        super().__init__()
        self.layer = base
        self.bn = bn
        self.bits = check_bits(bits, "quant.weight_bits")
        self.scheme = scheme
        # lsq: one step per output channel; mint: one per layer, shared with the next neurons
        self.log_step = nn.Parameter(torch.zeros(base.weight.shape[0] if scheme == "lsq" else 1))
        self.register_buffer("step_ready", torch.tensor(False))

    @property
    def weight(self) -> torch.Tensor:
        return self.layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.layer.bias

    @property
    def out_channels(self) -> int:
        return self.layer.weight.shape[0]

    def _run(self, x_seq: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The wrapped layer with weight ``w`` and no bias."""
        return functional_call(self.layer, {"weight": w, "bias": None}, (x_seq,))

    def _channel_shape(self, y: torch.Tensor) -> tuple[int, ...]:
        """Broadcast shape of a per-channel vector against the layer output ``y``."""
        if isinstance(self.layer, nn.Linear):
            return (-1,)
        spatial = self.layer.weight.dim() - 2
        return (-1, *([1] * spatial))

    def folded(self, x_seq: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W_f, b_f)``: the BN folded in (batch statistics of ``x_seq`` while training)."""
        w, b = self.weight, self.bias
        bn = self.bn
        if bn is None:
            return w, b
        if self.training and x_seq is not None:
            y = self._run(x_seq, w)
            if b is not None:
                y = y + b.view(self._channel_shape(y))
            c_dim = y.dim() - len(self._channel_shape(y))
            dims = [d for d in range(y.dim()) if d != c_dim]
            mean, var = y.mean(dims), y.var(dims, unbiased=False)
            if bn.track_running_stats:
                update_running_stats(bn, mean, var, y.numel() / y.shape[c_dim])
        else:
            mean, var = bn.running_mean, bn.running_var
        gamma = bn.weight if bn.affine else torch.ones_like(mean)
        beta = bn.bias if bn.affine else torch.zeros_like(mean)
        inv = gamma / torch.sqrt(var + bn.eps)
        w_f = w * inv.view(-1, *([1] * (w.dim() - 1)))
        b0 = b if b is not None else torch.zeros_like(mean)
        return w_f, beta + (b0 - mean) * inv

    def step(self, w_f: torch.Tensor) -> torch.Tensor:
        """Per-channel step ``s_c``; LSQ initialisation ``2 mean|W_f| / sqrt(Q)`` on first use.

        ``mint``: one step for the layer (of ``tanh(W_f)``), returned expanded per channel.
        """
        if not bool(self.step_ready):
            with torch.no_grad():
                if self.scheme == "mint":
                    mean_abs = torch.tanh(w_f.detach()).abs().mean().clamp_min(1e-8).view(1)
                else:
                    mean_abs = w_f.detach().abs().flatten(1).mean(1).clamp_min(1e-8)
                init = mean_abs if self.bits == 1 else 2 * mean_abs / math.sqrt(weight_qmax(self.bits))
                self.log_step.copy_(init.log())
                self.step_ready.fill_(True)
        return self.log_step.exp().expand(self.out_channels)

    def mint_step(self) -> torch.Tensor:
        """The layer's shared step ``d`` (``mint``), a scalar; initialised by the first forward."""
        if not bool(self.step_ready):
            raise RuntimeError("QuantLayer.mint_step: run a forward first (the step starts from the weights)")
        return self.log_step.exp()[0]

    def codes(self, w_f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        step = s.view(-1, *([1] * (w_f.dim() - 1)))
        if self.scheme == "mint":
            return mint_codes(w_f, step, self.bits)
        return weight_codes(w_f / step, self.bits)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if _constant_over_time(x_seq):  # direct encoding: compute one step, expand over T
            return _expand_steps(self(x_seq[:1]), x_seq.shape[0])
        w_f, b_f = self.folded(x_seq)
        s = self.step(w_f)
        y = self._run(x_seq, self.codes(w_f, s))
        shape = self._channel_shape(y)
        y = y * s.view(shape)
        return y if b_f is None else y + b_f.view(shape)

    def integer_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(q, s, b_f)`` in evaluation form: integer codes, per-channel steps, folded bias."""
        was = self.training
        self.eval()
        with torch.no_grad():
            w_f, b_f = self.folded()
            s = self.step(w_f)
            q = self.codes(w_f, s)
        self.train(was)
        dtype = torch.int8 if self.bits <= 8 else torch.int16
        return q.to(dtype), s.clone(), None if b_f is None else b_f.clone()

    def extra_repr(self) -> str:
        return f"weight_bits={self.bits}, bn_folded={self.bn is not None}, scheme={self.scheme}"


class IntegerLayer(nn.Module):
    """Exported layer: integer weights ``q`` (int8/int16 buffer), ``y = s * op(x, q) + b_f``.

    The float weight of the wrapped layer is removed; only ``weight_int``,
    the per-channel ``scale`` and the folded ``bias`` are stored.
    """

    def __init__(self, quant_layer: QuantLayer) -> None:
        super().__init__()
        q, s, b = quant_layer.integer_weights()
        self.layer = copy.deepcopy(quant_layer.layer)
        self.layer.weight = None
        self.layer.bias = None
        self.linear = isinstance(self.layer, nn.Linear)
        self.bits, self.scheme = quant_layer.bits, quant_layer.scheme  # for the deployed footprint
        self.register_buffer("weight_int", q)
        self.register_buffer("scale", s)
        self.register_buffer("bias", b)

    def mint_step(self) -> torch.Tensor:
        """The shared step ``d`` of a ``mint`` layer (its scale is the same for every channel)."""
        return self.scale[0]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if _constant_over_time(x_seq):
            return _expand_steps(self(x_seq[:1]), x_seq.shape[0])
        q = self.weight_int.to(x_seq.dtype)
        y = functional_call(self.layer, {"weight": q, "bias": None}, (x_seq,))
        shape = (-1,) if self.linear else (-1, *([1] * (q.dim() - 2)))
        y = y * self.scale.view(shape)
        return y if self.bias is None else y + self.bias.view(shape)


class QuantBatchNorm(nn.Module):
    """A batch norm that cannot be folded: its per-channel scale ``a = gamma / sqrt(var + eps)``
    quantized to ``bits`` (symmetric, per tensor, max-abs step), shift kept at 32 bits:
    ``y = Q(a) * (x - mean) + beta``."""

    def __init__(self, bn: nn.Module, bits: int) -> None:
        super().__init__()
        self.bn, self.bits = bn, check_bits(bits, "quant.weight_bits")

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        x = x_seq.flatten(0, 1)
        dims = [d for d in range(x.dim()) if d != 1]
        if self.training:
            mean, var = x.mean(dims), x.var(dims, unbiased=False)
            update_running_stats(bn, mean, var, x.numel() / x.shape[1])
        else:
            mean, var = bn.running_mean, bn.running_var
        a = bn.weight / torch.sqrt(var + bn.eps)
        s = a.detach().abs().max().clamp_min(1e-8) / weight_qmax(self.bits)
        a_q = quantize_weight(a, s.expand_as(a), self.bits)
        shape = (1, -1, *([1] * (x.dim() - 2)))
        y = a_q.view(shape) * (x - mean.view(shape)) + bn.bias.view(shape)
        return y.unflatten(0, x_seq.shape[:2])


def lif_settings(node: neuron.LIFNode) -> dict[str, Any]:
    """The constructor arguments that define a LIF neuron's dynamics."""
    return {
        "tau": node.tau,
        "decay_input": node.decay_input,
        "v_threshold": node.v_threshold,
        "v_reset": node.v_reset,
        "surrogate_function": node.surrogate_function,
        "detach_reset": node.detach_reset,
    }


class QuantLIFNode(neuron.LIFNode):
    """LIF neuron whose charged membrane potential is quantized to ``membrane_bits`` each step.

    ``H_t = Q_u(V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau)``, ``S_t = Theta(H_t - V_th)``,
    hard reset ``V_t = H_t (1 - S_t) + V_reset S_t`` or soft ``V_t = H_t - V_th S_t``
    (MD-SNN, Lee et al., DATE 2026: membrane potential kept in ``b_u`` bits).
    The pre-fire potentials of the last forward are kept for
    :func:`snnkd.trace.membrane_before_fire` when ``store_v_seq`` is set.

    ``fused`` (set by :meth:`from_lif` for a :class:`~snnkd.models.fused_lif.FusedLIFNode`):
    multi-step on the CPU runs :class:`~snnkd.models.fused_lif.FusedLIF` with the membrane grid,
    reproducing this per-step loop's arithmetic (its ``autograd`` flavour).
    """

    FUSABLE = True  # the per-step loop below is what the fused path reproduces

    def __init__(self, membrane_bits: int, membrane_range: float, fused: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.membrane_bits = check_bits(membrane_bits, "quant.membrane_bits")
        self.membrane_range = float(membrane_range)
        self.fused = fused and self.FUSABLE
        self.h_seq: torch.Tensor | None = None

    @classmethod
    def from_lif(cls, node: neuron.LIFNode, membrane_bits: int, membrane_range: float) -> QuantLIFNode:
        fused = isinstance(node, FusedLIFNode)
        return cls(membrane_bits, membrane_range, fused, **lif_settings(node), step_mode=node.step_mode)

    def grid(self) -> Grid:
        """The membrane grid of :func:`quantize_membrane`."""
        half = 2 ** (self.membrane_bits - 1)
        return Grid(membrane_step(self.membrane_bits, self.membrane_range), -float(half), float(half - 1))

    def _charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        v_reset = self.v_reset if self.v_reset is not None else 0.0
        if self.decay_input:
            h = v + (x - (v - v_reset)) / self.tau
        else:
            h = v - (v - v_reset) / self.tau + x
        return quantize_membrane(h, self.membrane_bits, self.membrane_range)

    def _step(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self._charge(x, v)
        spike = self.surrogate_function(h - self.v_threshold)
        s = spike.detach() if self.detach_reset else spike
        if self.v_reset is None:
            v = h - s * self.v_threshold
        else:
            v = h * (1.0 - s) + s * self.v_reset
        return spike, v, h

    def _initial_v(self, x: torch.Tensor) -> torch.Tensor:
        v = self.v
        if isinstance(v, torch.Tensor) and v.shape == x.shape:
            return v
        return torch.full_like(x, self.v_reset if self.v_reset is not None else 0.0)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        spike, v, _ = self._step(x, self._initial_v(x))
        self.v = v
        return spike

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.fused and x_seq.device.type == "cpu":
            spikes, v_seq, h_seq = run_fused(self, x_seq, "autograd", self.grid())
            self.v = v_seq[-1]
            if self.store_v_seq:
                self.v_seq, self.h_seq = v_seq, h_seq
            return spikes
        v = self._initial_v(x_seq[0])
        spikes, vs, hs = [], [], []
        for t in range(x_seq.shape[0]):
            spike, v, h = self._step(x_seq[t], v)
            spikes.append(spike)
            vs.append(v)
            hs.append(h)
        self.v = v
        if self.store_v_seq:
            self.v_seq = torch.stack(vs)
            self.h_seq = torch.stack(hs)
        return torch.stack(spikes)

    def reset(self) -> None:
        super().reset()
        self.h_seq = None

    def membrane_before_fire(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The quantized ``H_t`` of the last forward (needs ``store_v_seq``), ``[T, B, ...]``."""
        if self.h_seq is None or self.h_seq.shape[0] != x_seq.shape[0]:
            raise RuntimeError("QuantLIFNode.membrane_before_fire: run a forward with store_v_seq=True first")
        return self.h_seq

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, membrane_bits={self.membrane_bits}, range={self.membrane_range}"


class MintLIFNode(QuantLIFNode):
    """LIF neuron quantized as in MINT: the membrane after leak and reset, on its layer's grid.

    ``H_t = U_{t-1} + X_t / tau`` (``U_{t-1} + X_t`` without decayed input),
    ``S_t = Theta(H_t - V_th)``, ``V_t`` = hard or soft reset of ``H_t``, and the
    stored state ``U_t = d * mint_codes(V_t - (V_t - V_reset) / tau, d, b_u)``:
    leaked, then quantized with the step ``d`` of the weight layer that feeds
    it (linked by :func:`link_mint_neurons`). Unquantized, this is the LIF
    neuron of :class:`QuantLIFNode` with the leak moved after the reset.
    ``membrane_range`` is not used. ``H_t`` of the last forward is kept for
    :func:`snnkd.trace.membrane_before_fire`.
    """

    FUSABLE = False  # its learned step is not part of the fused neuron: the per-step loop runs

    def __init__(self, membrane_bits: int, membrane_range: float, fused: bool = False, **kwargs: Any) -> None:
        super().__init__(membrane_bits, membrane_range, fused, **kwargs)
        self._source: list[nn.Module] = []  # a list: the layer is not registered twice

    def link(self, layer: nn.Module) -> None:
        """Share the step of ``layer`` (a ``mint`` :class:`QuantLayer` or its :class:`IntegerLayer`)."""
        self._source = [layer]

    def step(self) -> torch.Tensor:
        if not self._source:
            raise RuntimeError("MintLIFNode: not linked to a weight layer (see link_mint_neurons)")
        return self._source[0].mint_step()

    def leak_and_quantize(self, v: torch.Tensor) -> torch.Tensor:
        """``U = d * round(clamp(tanh(V - (V - V_reset) / tau) / d, -Q, Q))``."""
        v_reset = self.v_reset if self.v_reset is not None else 0.0
        d = self.step()
        return d * mint_codes(v - (v - v_reset) / self.tau, d, self.membrane_bits)

    def _step(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = u + x / self.tau if self.decay_input else u + x
        spike = self.surrogate_function(h - self.v_threshold)
        s = spike.detach() if self.detach_reset else spike
        v = h - s * self.v_threshold if self.v_reset is None else h * (1.0 - s) + s * self.v_reset
        return spike, self.leak_and_quantize(v), h

    def extra_repr(self) -> str:
        return f"{neuron.LIFNode.extra_repr(self)}, membrane_bits={self.membrane_bits}, scheme=mint"


def link_mint_neurons(model: nn.Module) -> None:
    """Link every :class:`MintLIFNode` to the weight layer whose step it shares.

    That is the last ``mint`` weight layer before it in module order, layers
    inside a ``shortcut`` excluded: a residual block's neuron takes the step of
    its main path's last layer, whose output the shortcut's is added to.
    """
    last: nn.Module | None = None
    for name, m in model.named_modules():
        if isinstance(m, QuantLayer | IntegerLayer) and "shortcut" not in name.split("."):
            last = m
        elif isinstance(m, MintLIFNode):
            if last is None:
                raise ValueError(f"quant.scheme mint: neuron '{name}' has no weight layer before it")
            m.link(last)


# --- the transform ------------------------------------------------------------------


def fold_and_quantize(
    module: nn.Module, weight_bits: int, membrane_bits: int, membrane_range: float, scheme: str = "lsq"
) -> None:
    """In place: conv/linear (+ following BN) -> :class:`QuantLayer`, LIF -> :class:`QuantLIFNode`
    (:class:`MintLIFNode` with ``scheme="mint"``, linked afterwards by :func:`link_mint_neurons`).

    A BN is folded into the layer just before it among its parent's children
    (the order in which data flows through every built-in architecture).
    """
    node_cls = MintLIFNode if scheme == "mint" else QuantLIFNode
    children = list(module.named_children())
    skip: set[str] = set()
    for i, (name, child) in enumerate(children):
        if name in skip:
            continue
        if isinstance(child, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
            bn = None
            if i + 1 < len(children) and isinstance(children[i + 1][1], _BN):
                nxt_name, nxt = children[i + 1]
                if nxt.num_features == child.weight.shape[0]:
                    bn = nxt
                    skip.add(nxt_name)
                    setattr(module, nxt_name, nn.Identity())
            setattr(module, name, QuantLayer(child, bn, weight_bits, scheme))
        elif isinstance(child, _BN):
            setattr(module, name, QuantBatchNorm(child, weight_bits))
        elif isinstance(child, neuron.LIFNode) and not isinstance(child, QuantLIFNode):
            setattr(module, name, node_cls.from_lif(child, membrane_bits, membrane_range))
        elif isinstance(child, neuron.BaseNode):
            raise ValueError(
                f"quantize_model: no quantized version of neuron {type(child).__name__} ('{name}')"
            )
        else:
            fold_and_quantize(child, weight_bits, membrane_bits, membrane_range, scheme)


def quantize_model(model: nn.Module, cfg: Any) -> nn.Module:
    """The ``Method.transform`` of ``quant`` and ``md-snn``: quantize ``model`` per ``cfg.quant``.

    Sets ``model.weight_bits`` and ``model.membrane_bits``. An ANN twin has no
    membrane; its ReLUs are left as they are.
    """
    q = cfg.quant
    check_bits(q.weight_bits, "quant.weight_bits")
    check_bits(q.membrane_bits, "quant.membrane_bits")
    scheme = getattr(q, "scheme", "lsq")
    if scheme == "mint":
        from snnkd.errors import ConfigError

        for field in ("weight_bits", "membrane_bits"):
            if getattr(q, field) < 2:
                raise ConfigError(
                    f"quant.{field}: scheme 'mint' rounds symmetrically onto 2^b - 1 levels; "
                    f"expected an integer in 2..16, got {getattr(q, field)}"
                )
    fold_and_quantize(model, q.weight_bits, q.membrane_bits, q.membrane_range, scheme)
    if scheme == "mint":
        link_mint_neurons(model)
    model.weight_bits = q.weight_bits
    model.membrane_bits = q.membrane_bits
    model.membrane_range = q.membrane_range
    model.quant_scheme = scheme
    return model


def quant_layers(model: nn.Module) -> dict[str, QuantLayer]:
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantLayer)}


def is_quantized(model: nn.Module) -> bool:
    return bool(quant_layers(model))


# --- integer export ---------------------------------------------------------------


def export_integer(model: nn.Module) -> nn.Module:
    """A copy for inference in which every :class:`QuantLayer` holds integer weights only.

    ``y = s * op(x, q) + b_f`` with ``q`` stored as int8 (``b <= 8``) or int16;
    the evaluation forward of the quantized model computes the same expression,
    so the predictions agree exactly. The copy is in evaluation mode.
    """
    functional.reset_net(model)
    out = copy.deepcopy(model).eval()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, QuantLayer):
                setattr(parent, name, IntegerLayer(child))
            else:
                swap(child)

    swap(out)
    link_mint_neurons(out)  # mint neurons now read their step from the integer layers
    return out


def full_precision_copy(model: nn.Module) -> nn.Module:
    """The same trained network run at full precision: folded FP weights, FP membrane.

    Used for the full-precision side of the hardware comparison inside a quantized run.
    """
    functional.reset_net(model)
    out = copy.deepcopy(model).eval()

    def swap(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, QuantLayer):
                with torch.no_grad():
                    w_f, b_f = child.folded()
                fp = child.layer
                fp.weight = nn.Parameter(w_f.detach().clone())
                fp.bias = None if b_f is None else nn.Parameter(b_f.detach().clone())
                setattr(parent, name, fp)
            elif isinstance(child, QuantLIFNode):
                setattr(
                    parent,
                    name,
                    neuron.LIFNode(**lif_settings(child), step_mode="m"),
                )
            else:
                swap(child)

    swap(out)
    for attr in ("weight_bits", "membrane_bits"):
        if hasattr(out, attr):
            setattr(out, attr, 32)
    return out


# --- size and hardware figures ------------------------------------------------------


def model_size_bits(model: nn.Module) -> int:
    """Bits to store the network for inference.

    Quantized: ``sum_layers (N_w * b + S * 32)`` (integer weights, a 32-bit
    step per channel, ``S = C_out``, or per layer with ``mint``, ``S = 1``)
    ``+ 32 *`` every other parameter and folded bias.
    Full precision: ``32 *`` number of parameters.
    """
    layers = quant_layers(model)
    if not layers:
        return 32 * sum(p.numel() for p in model.parameters())
    inside = {id(p) for m in layers.values() for p in m.parameters()}
    bits = 0
    for m in layers.values():
        bits += m.weight.numel() * m.bits + 32 * m.log_step.numel()  # codes + steps
        if m.bias is not None or m.bn is not None:
            bits += 32 * m.out_channels  # folded bias
    bits += 32 * sum(p.numel() for p in model.parameters() if id(p) not in inside)
    return bits


def crossbar_count(model: nn.Module, x_seq: torch.Tensor, weight_bits: int, xbar: int = 64) -> int:
    """Suite-defined area proxy: crossbars needed to map every convolution.

    Weight-stationary mapping as in SpikeSim (Moitra et al., TCAD 2023) with
    one bit per cell: ``sum_l ceil(k_h k_w C_in / X) * ceil(C_out * b / X)``.
    SpikingJelly's ``spikesim`` package models energy only, so this count is
    the suite's own proxy for area, not a SpikeSim output.
    """
    total = 0
    for stage in _conv_stages(model, x_seq):
        k = math.prod(stage["kernel_size"])
        total += math.ceil(k * stage["in_channels"] / xbar) * math.ceil(
            stage["out_channels"] * weight_bits / xbar
        )
    return total


def _spikesim_report(model: nn.Module, x_seq: torch.Tensor, mode: str):
    from spikingjelly.activation_based.op_counter.spikesim import (
        SpikeSimEnergyConfig,
        estimate_spikesim_energy,
    )

    from snnkd import no_dynamo

    no_dynamo.install()  # SpikingJelly's op counters are dispatch modes: no torch._dynamo import
    model.eval()
    functional.reset_net(model)
    report = estimate_spikesim_energy(
        model, x_seq, config=SpikeSimEnergyConfig(activity_mode=mode), strict=False
    )
    functional.reset_net(model)
    return report


def _conv_stages(model: nn.Module, x_seq: torch.Tensor) -> list[dict[str, Any]]:
    return list(_spikesim_report(model, x_seq, "dense").stage_metadata.values())


def spikesim_figures(model: nn.Module, x_seq: torch.Tensor, weight_bits: int) -> dict[str, Any]:
    """SpikeSim energy per sample (dense and event-driven) from SpikingJelly 2's
    ``op_counter.spikesim``, its PE-cycle count, and the suite's crossbar-count area proxy.

    SpikingJelly's SpikeSim model covers 2-D convolution stages only, has no
    bit-width parameter and reports neither delay nor area; the PE-cycle count
    stands in for delay and :func:`crossbar_count` for area.
    """
    b = x_seq.shape[1]
    dense = _spikesim_report(model, x_seq, "dense")
    event = _spikesim_report(model, x_seq, "event")
    if not dense.stage_metadata:
        return {"spikesim_stages": 0}
    return {
        "spikesim_energy_pj": event.energy_total_pj / b,
        "spikesim_dense_energy_pj": dense.energy_total_pj / b,
        "spikesim_pe_cycles": dense.counts["dense_pe_cycle_count"] / b,
        "spikesim_stages": len(dense.stage_metadata),
        "xbar_count": crossbar_count(model, x_seq, weight_bits),
        "spikesim_model": dense.model_info.model_id,
    }


def quant_metrics(model: nn.Module, x_seq: torch.Tensor) -> dict[str, Any]:
    """Bit widths, model size in bits and hardware figures of a student (any run).

    For a quantized student the same figures of its full-precision copy
    (:func:`full_precision_copy`) are added with the prefix ``fp_``, and the
    ratio ``edap_ratio = (E * cycles * xbars)_fp / (E * cycles * xbars)_quant``.
    """
    wb = int(getattr(model, "weight_bits", 32))
    out: dict[str, Any] = {
        "weight_bits": wb,
        "membrane_bits": int(getattr(model, "membrane_bits", 32)),
        "model_size_bits": model_size_bits(model),
        **spikesim_figures(model, x_seq, wb),
    }
    if is_quantized(model):
        fp = full_precision_copy(model)
        fp_fig = spikesim_figures(fp, x_seq, 32)
        out.update({f"fp_{k}": v for k, v in fp_fig.items()})
        out["fp_model_size_bits"] = 32 * sum(p.numel() for p in fp.parameters())
        if "spikesim_energy_pj" in fp_fig and out.get("spikesim_energy_pj"):
            edap = out["spikesim_energy_pj"] * out["spikesim_pe_cycles"] * out["xbar_count"]
            fp_edap = fp_fig["spikesim_energy_pj"] * fp_fig["spikesim_pe_cycles"] * fp_fig["xbar_count"]
            out["edap_ratio"] = fp_edap / edap
    return out
