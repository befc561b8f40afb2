"""A fused multi-step LIF neuron for CPU training: one forward over all T steps, one backward.

Dynamics (SpikingJelly's LIF; ``V_reset = 0`` in the soft-reset formulas)::

    H_t = V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau        (decay_input)
    H_t = V_{t-1} - (V_{t-1} - V_reset) / tau + X_t          (otherwise)
    H_t <- Q(H_t)                                             (optional membrane grid, below)
    S_t = Theta(H_t - V_th)
    V_t = S_t V_reset + (1 - S_t) H_t                         (hard reset)
    V_t = H_t - S_t V_th                                      (soft reset)

Backward, with the surrogate ``sigma'`` standing in for ``Theta'`` and ``S`` detached from the reset
when ``detach_reset`` (then ``dV_t/dH_t`` is ``1 - S_t`` or ``1``)::

    g_H_t = g_S_t sigma'(H_t - V_th) + (g_V_t + c_{t+1}) dV_t/dH_t (+ g of H_t where it is traced)
    g_X_t = g_H_t / tau (decay_input) or g_H_t,    c_t = g_H_t - g_H_t / tau

``c_t`` is the gradient reaching ``V_{t-1}``; ``c_T = 0``. A membrane grid ``Q`` (MD-SNN's
``d * round(clamp(h / d, lo, hi))``, :func:`snnkd.quant.quantize_membrane`) is straight-through
inside the clamp range and blocks the gradient outside it.

Why: SpikingJelly 2 runs its CPU LIF as a registered ``torch.library`` operator whose forward and
backward are Python loops over T; every call pays the operator machinery (argument checks, a
surrogate ``autograd.Function`` per step inside the forward, the dispatcher). This
:class:`torch.autograd.Function` runs the same tensor operations directly and saves only ``H`` (what
the surrogate needs).

Bit-exact with SpikingJelly on the same CPU: each formula is evaluated with the operations, in the
order, of the implementation it replaces (``flavour``):

- ``"op"``: SpikingJelly 2's CPU LIF operator (``spikingjelly._ops.lif``: its forward, and its
  hand-written backward with the ``_ops`` surrogate formulas): what :class:`FusedLIFNode` replaces;
- ``"autograd"``: a per-step autograd loop over SpikingJelly's public surrogate functions
  (``surrogate.ATan`` etc.) and its straight-through ``quantize.round``/``quantize.clamp``: what
  :class:`snnkd.quant.QuantLIFNode` computes.

Surrogates, as SpikingJelly defines them (``alpha`` from the surrogate object):

- ``ATan``: ``sigma'(x) = (alpha / 2) / (1 + (pi / 2 alpha x)^2)`` (alpha 2 by default);
- ``Sigmoid``: ``sigma'(x) = alpha s (1 - s)``, ``s = sigmoid(alpha x)`` (alpha 4);
- ``PiecewiseQuadratic`` (the suite's ``triangle``): ``max(0, alpha - alpha^2 |x|)`` (alpha 1).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from spikingjelly.activation_based import neuron, surrogate

SURROGATE_KINDS = {
    surrogate.ATan: "atan",
    surrogate.Sigmoid: "sigmoid",
    surrogate.PiecewiseQuadratic: "triangle",
}


class Grid(NamedTuple):
    """A membrane grid ``d * round(clamp(h / d, lo, hi))``."""

    step: float
    lo: float
    hi: float


class Settings(NamedTuple):
    """Everything that fixes the neuron's arithmetic (hashable: one Function for all layers)."""

    tau: float
    decay_input: bool
    threshold: float
    reset: float | None  # None: soft reset
    detach_reset: bool
    surrogate: str  # atan | sigmoid | triangle
    alpha: float
    flavour: str  # op | autograd
    grid: Grid | None = None


def surrogate_kind(fn: Any) -> tuple[str, float]:
    """``(kind, alpha)`` of a SpikingJelly surrogate object the fused neuron implements."""
    kind = SURROGATE_KINDS.get(type(fn))
    if kind is None or not getattr(fn, "spiking", True):
        raise ValueError(
            f"fused LIF: surrogate {type(fn).__name__} is not supported; "
            f"choose one of {[c.__name__ for c in SURROGATE_KINDS]}"
        )
    return kind, float(fn.alpha)


def surrogate_grad(x: torch.Tensor, kind: str, alpha: float) -> torch.Tensor:
    """``sigma'(x)`` with the operations of SpikingJelly's ``_ops`` formulas; ``x`` is overwritten.

    ``scalar / tensor`` is ``tensor.reciprocal() * scalar`` in torch, hence the reciprocals.
    """
    if kind == "sigmoid":
        s = x.mul_(alpha).sigmoid_()
        return torch.rsub(s, 1).mul_(s).mul_(alpha)
    if kind == "atan":
        z = x.mul_(math.pi / 2 * alpha)
        return z.mul(z).add_(1).reciprocal_().mul_(alpha / 2)
    return torch.rsub(x.abs_().mul_(alpha * alpha), alpha).clamp_min_(0)


def public_surrogate_backward(g: torch.Tensor, x: torch.Tensor, kind: str, alpha: float) -> torch.Tensor:
    """``g sigma'(x)`` exactly as SpikingJelly's public ``surrogate.*_backward`` computes it."""
    if kind == "sigmoid":
        sgax = (x * alpha).sigmoid_()
        return g * (1.0 - sgax) * sgax * alpha
    if kind == "atan":
        a = alpha / 2
        ax = math.pi * a * x
        return a / (1 + ax * ax) * g
    x_abs = x.abs()
    return (g * (-(alpha**2) * x_abs + alpha)).masked_fill_(x_abs > (1 / alpha), 0)


def _charge(x: torch.Tensor, v: torch.Tensor, p: Settings) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``H_t`` (on the grid when there is one) and, with a grid, the straight-through mask."""
    r = 0.0 if p.reset is None else p.reset
    h = v + (x - (v - r)) / p.tau if p.decay_input else v - (v - r) / p.tau + x
    if p.grid is None:
        return h, None
    u = h / p.grid.step
    mask = (u >= p.grid.lo) & (u <= p.grid.hi)
    return p.grid.step * torch.round(torch.clamp(u, p.grid.lo, p.grid.hi)), mask


def _reset(h: torch.Tensor, spike: torch.Tensor, p: Settings) -> torch.Tensor:
    if p.reset is None:
        return h - spike * p.threshold
    if p.flavour == "op":
        return spike * p.reset + (1 - spike) * h
    return h * (1.0 - spike) + spike * p.reset


def forward_steps(
    x_seq: torch.Tensor, v: torch.Tensor, p: Settings
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spikes, post-reset ``V``, pre-fire ``H`` (each ``[T, ...]``) and the fire (``op``) or grid mask."""
    if p.flavour == "op":
        if p.grid is not None:
            raise ValueError("fused LIF: a membrane grid needs the 'autograd' flavour")
        return _forward_op(x_seq, v, p)
    spikes, vs, hs, masks = [], [], [], []
    for x in x_seq:
        h, mask = _charge(x, v, p)
        spike = (h - p.threshold >= 0).to(x.dtype)
        v = _reset(h, spike, p)
        spikes.append(spike)
        vs.append(v)
        hs.append(h)
        masks.append(mask)
    return torch.stack(spikes), torch.stack(vs), torch.stack(hs), torch.stack(masks) if p.grid else None


#: elements of one time step's slice of the batch in :func:`forward_inference` (a few hundred KB: in cache)
INFERENCE_SLICE = 2**16


def forward_inference(x_seq: torch.Tensor, v: torch.Tensor, p: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, ...]`` and the last ``V`` of :func:`forward_steps`, computed slice by slice of the batch.

    Without autograd nothing but the spikes and the last potential is kept, so the batch can be cut
    into slices small enough to stay in the CPU's cache while the T steps run over them: every op is
    elementwise, so each element is computed exactly as in one pass over the whole batch (bit for
    bit), at about twice the speed on the mnist-5k student's first layer at the evaluation batch.
    """
    spikes = torch.empty_like(x_seq)
    v_last = torch.empty_like(x_seq[0])
    step = max(1, INFERENCE_SLICE // max(1, x_seq[0, 0].numel()))
    for b in range(0, x_seq.shape[1], step):
        s, v_seq, _, _ = forward_steps(x_seq[:, b : b + step], v[b : b + step], p)
        spikes[:, b : b + step] = s
        v_last[b : b + step] = v_seq[-1]
    return spikes, v_last


def _exact_reciprocal(tau: float) -> float | None:
    """``1 / tau`` when it is a power of two: then ``x * (1 / tau)`` is ``x / tau`` bit for bit."""
    m, _ = math.frexp(tau)
    return 1.0 / tau if m == 0.5 else None


def _div_tau(x: torch.Tensor, tau: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """``x / tau`` (a multiplication where that is exact: cheaper than a division)."""
    inv = _exact_reciprocal(tau)
    if inv is None:
        return torch.div(x, tau, out=out)
    return torch.mul(x, inv, out=out)


def _forward_op(x_seq: torch.Tensor, v: torch.Tensor, p: Settings):
    """SpikingJelly's operator forward in fewer passes, written into preallocated sequences.

    Every value equals the operator's bit for bit, up to the sign of zeros: ``v - 0`` is ``v``,
    ``h >= V_th`` is ``h - V_th >= 0``, and the hard reset ``S V_reset + (1 - S) H`` is ``V_reset``
    where ``S = 1`` and ``H`` where ``S = 0``: with ``V_reset = 0`` and ``V_th > 0`` it is ``(1 - S) H``
    (``H >= V_th > 0`` where ``S = 1``, so the product is ``+0``), else a ``where``.
    """
    spikes, v_seq, h_seq = torch.empty_like(x_seq), torch.empty_like(x_seq), torch.empty_like(x_seq)
    fire = torch.empty(x_seq.shape, dtype=torch.bool, device=x_seq.device)
    r = 0.0 if p.reset is None else p.reset
    r_t = torch.tensor(r, dtype=x_seq.dtype)
    for t in range(x_seq.shape[0]):
        h = h_seq[t]
        rest = v if r == 0.0 else v - r
        if p.decay_input:
            torch.add(v, _div_tau(torch.sub(x_seq[t], rest), p.tau), out=h)
        else:
            torch.add(torch.sub(v, _div_tau(rest, p.tau)), x_seq[t], out=h)
        torch.ge(h, p.threshold, out=fire[t])
        spikes[t].copy_(fire[t])
        if p.reset is None:
            torch.sub(h, spikes[t] * p.threshold, out=v_seq[t])
        elif r == 0.0 and p.threshold > 0:  # (1 - S) H: cheaper than a masked select on the CPU
            torch.mul(h, torch.rsub(spikes[t], 1), out=v_seq[t])
        else:
            torch.where(fire[t], r_t, h, out=v_seq[t])
        v = v_seq[t]
    return spikes, v_seq, h_seq, fire


def _reset_grad(h: torch.Tensor, p: Settings, sg: torch.Tensor) -> torch.Tensor | float:
    """``dV_t / dH_t`` through the reset (the spike's path included unless detached)."""
    if p.reset is None:
        return 1 if p.detach_reset else 1 - p.threshold * sg
    rg = 1 - (h >= p.threshold).to(h.dtype)
    return rg if p.detach_reset else rg + (p.reset - h) * sg


def backward_steps(
    p: Settings,
    h_seq: torch.Tensor,
    mask: torch.Tensor | None,
    gs: torch.Tensor | None,
    gv: torch.Tensor | None,
    gh: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g_X, g_V0)`` from the gradients of spikes, post-reset ``V`` and pre-fire ``H`` (None: zero).

    ``op``: the operator's backward (``spikingjelly._ops.lif.cpu``), equal to it up to the sign of
    zeros (the detached hard reset passes ``c`` where ``S = 0`` and 0 where ``S = 1``; a missing
    spike gradient contributes nothing). ``mask`` is the fire mask (``op``) or the grid mask.
    """
    if p.flavour == "autograd":
        return _backward_autograd(p, h_seq, mask, gs, gv, gh)
    gx = torch.empty_like(h_seq)
    carry = torch.zeros_like(h_seq[0])
    zero = torch.zeros((), dtype=h_seq.dtype)
    for t in range(h_seq.shape[0] - 1, -1, -1):
        sg = surrogate_grad(h_seq[t] - p.threshold, p.surrogate, p.alpha)
        into_v = carry if gv is None else gv[t] + carry
        if p.detach_reset:
            g = into_v if p.reset is None else torch.where(mask[t], zero, into_v)
        else:
            g = into_v * _reset_grad(h_seq[t], p, sg)
        if gs is not None:
            g = gs[t] * sg + g
        if gh is not None:
            g = g + gh[t]
        if p.decay_input:
            _div_tau(g, p.tau, out=gx[t])
            carry = g - gx[t]
        else:
            gx[t] = g
            carry = g - _div_tau(g, p.tau)
    return gx, carry


def _backward_autograd(
    p: Settings,
    h_seq: torch.Tensor,
    mask: torch.Tensor | None,
    gs: torch.Tensor | None,
    gv: torch.Tensor | None,
    gh: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The backward a per-step autograd loop computes (terms that autograd would not create are absent)."""
    gx = torch.empty_like(h_seq)
    carry: torch.Tensor | None = None  # gradient reaching V_t from step t + 1
    for t in range(h_seq.shape[0] - 1, -1, -1):
        h = h_seq[t]
        into_v = carry if gv is None else (gv[t] if carry is None else carry + gv[t])
        terms = []
        g_spike = gs[t] if gs is not None else None
        if into_v is not None:
            if p.reset is None:
                terms.append(into_v)
                if not p.detach_reset:
                    g_spike = _acc(g_spike, -(into_v * p.threshold))
            else:
                spike = (h - p.threshold >= 0).to(h.dtype)
                terms.append(into_v * (1.0 - spike))
                if not p.detach_reset:
                    g_spike = _acc(g_spike, into_v * p.reset - into_v * h)
        if g_spike is not None:
            terms.insert(0, public_surrogate_backward(g_spike, h - p.threshold, p.surrogate, p.alpha))
        if gh is not None:
            terms.append(gh[t])
        g = terms[0] if terms else torch.zeros_like(h)
        for term in terms[1:]:
            g = g + term
        if mask is not None:
            g = g * p.grid.step * mask[t].to(g.dtype) / p.grid.step
        gx[t] = g / p.tau if p.decay_input else g
        carry = g - g / p.tau
    return gx, carry if carry is not None else torch.zeros_like(h_seq[0])


def _acc(a: torch.Tensor | None, b: torch.Tensor) -> torch.Tensor:
    return b if a is None else a + b


class FusedLIF(torch.autograd.Function):
    """``(x_seq [T, ...], v0) -> (spikes, V_seq, H_seq)``, all ``[T, ...]``; see the module docstring."""

    @staticmethod
    def forward(ctx: Any, x_seq: torch.Tensor, v0: torch.Tensor, p: Settings):  # type: ignore[override]
        spikes, v_seq, h_seq, mask = forward_steps(x_seq, v0, p)
        ctx.p = p
        ctx.save_for_backward(h_seq, mask)
        ctx.set_materialize_grads(False)
        return spikes, v_seq, h_seq

    @staticmethod
    def backward(ctx: Any, gs, gv, gh):  # type: ignore[override]
        h_seq, mask = ctx.saved_tensors
        gx, gv0 = backward_steps(ctx.p, h_seq, mask, gs, gv, gh)
        return gx, gv0, None


def settings_of(node: neuron.LIFNode, flavour: str, grid: Grid | None = None) -> Settings:
    """The :class:`Settings` of a SpikingJelly LIF node."""
    kind, alpha = surrogate_kind(node.surrogate_function)
    return Settings(
        tau=float(node.tau),
        decay_input=bool(node.decay_input),
        threshold=float(node.v_threshold),
        reset=None if node.v_reset is None else float(node.v_reset),
        detach_reset=bool(node.detach_reset),
        surrogate=kind,
        alpha=alpha,
        flavour=flavour,
        grid=grid,
    )


def run_fused(node: neuron.LIFNode, x_seq: torch.Tensor, flavour: str, grid: Grid | None = None):
    """Run ``node`` over ``x_seq`` with :class:`FusedLIF`; returns ``(spikes, V_seq, H_seq)``.

    The initial potential is the node's state when it matches (a continued sequence), else ``V_reset``.
    """
    return FusedLIF.apply(x_seq, _initial_v(node, x_seq), settings_of(node, flavour, grid))


def _initial_v(node: neuron.LIFNode, x_seq: torch.Tensor) -> torch.Tensor:
    """The node's potential when it continues a sequence of ``x_seq``'s shape, else ``V_reset``."""
    v = node.v
    if isinstance(v, torch.Tensor) and v.shape == x_seq.shape[1:]:
        return v
    return torch.full_like(x_seq[0], 0.0 if node.v_reset is None else node.v_reset)


class FusedLIFNode(neuron.LIFNode):
    """SpikingJelly's multi-step ``LIFNode`` computed by :class:`FusedLIF` on the CPU.

    The same module as ``LIFNode`` otherwise (state, ``reset``, ``store_v_seq``, the single-step
    mode); on a CUDA tensor it hands over to SpikingJelly's own backends. ``h_seq`` keeps the
    pre-fire potentials of the last forward for :func:`snnkd.methods.trace.membrane_before_fire`
    (differentiable, exact: no recomputation).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        surrogate_kind(self.surrogate_function)  # refuse what the fused path cannot run, at build time
        self.h_seq: torch.Tensor | None = None

    def multi_step_forward(self, x_seq: torch.Tensor, *args: torch.Tensor, **kwargs: object):
        if x_seq.device.type != "cpu" or args or self._neuron_precision is not None:
            self.h_seq = None
            return super().multi_step_forward(x_seq, *args, **kwargs)
        if not torch.is_grad_enabled() and not self.store_v_seq and x_seq.dim() > 1:
            spikes, self.v = forward_inference(x_seq, _initial_v(self, x_seq), settings_of(self, "op"))
            self.v_seq = self.h_seq = None
            return spikes
        spikes, v_seq, h_seq = run_fused(self, x_seq, "op")
        self.v = v_seq[-1]
        self.v_seq = v_seq if self.store_v_seq else None
        self.h_seq = h_seq if self.store_v_seq else None
        return spikes

    def membrane_before_fire(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``H_t`` of the last forward (needs ``store_v_seq``), ``[T, B, ...]``."""
        if self.h_seq is None or self.h_seq.shape[0] != x_seq.shape[0]:
            raise RuntimeError("FusedLIFNode.membrane_before_fire: run a forward with store_v_seq=True first")
        return self.h_seq

    def reset(self) -> None:
        super().reset()
        self.h_seq = None
