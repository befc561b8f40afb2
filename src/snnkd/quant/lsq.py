"""LSQ quantization-aware training: folded layers, quantized batch norm, the quantized LIF neuron.

* **BN folding.** A convolution or linear layer followed by a batch norm becomes a
  :class:`QuantLayer` holding both (:func:`snnkd.quant.transform.fold_and_quantize`).
  The BN is folded into the weights *before* they are quantized (Jacob et al.,
  CVPR 2018)::

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
  network computes (:class:`snnkd.quant.integer.IntegerLayer`), so predictions agree bit for bit.
* **Membrane potential** to ``b_u`` bits: :class:`QuantLIFNode` quantizes the
  charged potential at every step, before fire and reset (MD-SNN, Lee et al.,
  DATE 2026), on the two's-complement grid of ``[-r, r)``::

      H_t = Q_u(V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau)
      Q_u(h) = d * round(clamp(h / d, -2^(b_u-1), 2^(b_u-1) - 1)),  d = r / 2^(b_u-1)

  (``2^b_u`` levels, zero included; straight-through inside the clamp range).

:class:`QuantLayer` also carries the ``mint`` scheme's weights (one step per
layer, :mod:`snnkd.quant.mint`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
from spikingjelly.activation_based import neuron
from torch.func import functional_call

from snnkd.models.fused_lif import FusedLIFNode, Grid, run_fused
from snnkd.quant.common import (
    check_bits,
    constant_over_time,
    expand_steps,
    membrane_step,
    mint_codes,
    over_sqrt,
    quantize_membrane,
    quantize_weight,
    update_running_stats,
    weight_codes,
    weight_qmax,
)


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
        inv = over_sqrt(gamma, var + bn.eps)
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
        if constant_over_time(x_seq):  # direct encoding: compute one step, expand over T
            return expand_steps(self(x_seq[:1]), x_seq.shape[0])
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
        a = over_sqrt(bn.weight, var + bn.eps)
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
    :func:`snnkd.methods.trace.membrane_before_fire` when ``store_v_seq`` is set.

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
        """The membrane grid of :func:`~snnkd.quant.common.quantize_membrane`."""
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
