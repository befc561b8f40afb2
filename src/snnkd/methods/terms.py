"""Loss terms, registered by name so that recipes compose them in configuration.

A term is a pure function ``term(student, teacher, labels, **params) -> scalar``
of two :class:`~snnkd.methods.trace.Knowledge` records; it declares the knowledge
fields it reads from each. Every term is averaged over the batch. Formulas and
notation: ``shared/METHODS.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnkd.core.definitions import code_of, source_of
from snnkd.core.registry import Registry
from snnkd.errors import ConfigError
from snnkd.methods.trace import Knowledge


@dataclass(frozen=True)
class TermSpec:
    fn: Callable[..., torch.Tensor]
    student: frozenset[str]  # knowledge fields read from the student
    teacher: frozenset[str]  # ... and from the teacher
    # Terms with learned parts (an adapter) build them once from a first batch.
    module: Callable[[Knowledge, Knowledge], nn.Module] | None = None


TERMS: Registry[TermSpec] = Registry("loss term")


def term(name: str, student=(), teacher=(), module=None):
    """Register ``fn`` as loss term ``name`` reading the given knowledge fields.

    The fields must be names of :data:`snnkd.methods.trace.FIELDS`. Registering a name
    again with the same definition (the same plugin file loaded as a package and
    from a folder) is a no-op; another definition is a one-line ConfigError
    naming both sources.
    """
    sides = {"student": _fields(name, "student", student), "teacher": _fields(name, "teacher", teacher)}

    def add(fn):
        spec = TermSpec(fn, sides["student"], sides["teacher"], module)
        if name in TERMS:
            old = TERMS.get(name)
            if _definition(old) != _definition(spec):
                raise ConfigError(
                    f"loss term '{name}' is defined twice: in {source_of(old.fn)} and in {source_of(fn)}"
                )
            return fn
        TERMS.register(name, spec)
        return fn

    return add


def _fields(name: str, side: str, given) -> frozenset[str]:
    """The declared knowledge fields of one side, checked against the fields a Tracer records."""
    from snnkd.methods.trace import FIELDS

    fields = frozenset([given] if isinstance(given, str) else given)
    unknown = sorted(fields - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"loss term '{name}': unknown {side} knowledge field '{unknown[0]}'; "
            f"valid choices: {', '.join(FIELDS)}"
        )
    return fields


def _definition(spec: TermSpec) -> tuple:
    return spec.student, spec.teacher, code_of(spec.fn), code_of(spec.module)


def _kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau^2 * KL(softmax(z_k / tau) || softmax(z_s / tau))``, averaged over the batch."""
    log_p_s = F.log_softmax(student_logits / tau, dim=1)
    log_p_k = F.log_softmax(teacher_logits / tau, dim=1)
    return F.kl_div(log_p_s, log_p_k, reduction="batchmean", log_target=True) * tau * tau


@term("ce", student={"logits"})
def ce(s: Knowledge, k: Knowledge | None, y: torch.Tensor) -> torch.Tensor:
    """``CE(z_s, y)``: cross-entropy of the student's logits."""
    return F.cross_entropy(s.logits, y)


@term("kd_kl", student={"logits"}, teacher={"logits"})
def kd_kl(s: Knowledge, k: Knowledge, y: torch.Tensor, tau: float = 4.0) -> torch.Tensor:
    """``tau^2 KL(softmax(z_k/tau) || softmax(z_s/tau))`` (Hinton et al., 2015)."""
    return _kl(s.logits, k.logits, tau)


@term("kd_step", student={"readout"}, teacher={"logits"})
def kd_step(s: Knowledge, k: Knowledge, y: torch.Tensor, tau: float = 4.0) -> torch.Tensor:
    """``(1/T) sum_t tau^2 KL(softmax(z_k/tau) || softmax(o_t^s/tau))``: per-step KD.

    Every time step's readout ``o_t^s`` of the student learns from the
    teacher's logits ``z_k`` (time-averaged, or an ANN teacher's output),
    instead of the time average only. The suite's formalisation of the
    per-step distillation family, e.g. temporal decoupling distillation
    (ICML 2025, loss ``CE + alpha (1/T) sum_t KD(o_t, teacher)``) and temporal
    separation with entropy regularisation (CVPR 2025); neither paper's
    exact loss is reproduced here.
    """
    steps = s.readout.shape[0]
    target = k.logits.unsqueeze(0).expand(steps, *k.logits.shape)
    # batchmean over T*B rows = (1/T) sum_t of the per-step batch means
    return _kl(s.readout.flatten(0, 1), target.flatten(0, 1), tau)


@term("kd_count", student={"out_spikes"}, teacher={"out_spikes"})
def kd_count(s: Knowledge, k: Knowledge, y: torch.Tensor, tau: float = 4.0) -> torch.Tensor:
    """``tau^2 KL(softmax(n_k/tau) || softmax(n_s/tau))`` on output spike counts ``n = sum_t s_out_t``.

    The suite's formalisation of Distilling Spikes' spike-based KD
    (Kushawaha et al., ICPR 2020), whose exact loss is not public: soft
    targets built from the teacher's output spike counts.

    What ``tau`` does here: counts are integers in ``[0, T]``, so two classes'
    logits differ by at most ``T``. With ``T = 4`` and ``tau = 4`` the largest
    possible ratio of two soft-target probabilities is ``e^(T/tau) = e``
    (2.7), so the targets are very flat; ``tau = 1`` allows ``e^4`` (55) and
    ``tau < 1`` sharpens further. Pick ``tau`` against ``T``, not as for logits.
    """
    return _kl(s.counts, k.counts, tau)


@term("kd_spike_train", student={"out_spikes"}, teacher={"out_spikes"})
def kd_spike_train(s: Knowledge, k: Knowledge, y: torch.Tensor) -> torch.Tensor:
    """``(1/(T C)) sum_t ||s_out_t^s - s_out_t^k||^2``, averaged over the batch.

    The suite's formalisation of the idea of distilling the spike trains
    themselves (Distilling Spikes, Kushawaha et al., ICPR 2020).
    """
    return (s.out_spikes - k.out_spikes).pow(2).mean()


@term("kd_mse", student={"logits"}, teacher={"logits"})
def kd_mse(s: Knowledge, k: Knowledge, y: torch.Tensor) -> torch.Tensor:
    """``(1/C) ||z_s - z_k||^2``: logit matching (Louis et al., ICANN 2024)."""
    return (s.logits - k.logits).pow(2).mean()


def _rates(s: Knowledge) -> list[torch.Tensor]:
    if not s.spikes:
        raise ValueError("activity terms need the student's hidden spikes")
    return [r.flatten(1) for r in s.rates().values()]


@term("act_l1", student={"spikes"})
def act_l1(s: Knowledge, k: Knowledge | None, y: torch.Tensor) -> torch.Tensor:
    """``(1/L) sum_l (1/N_l) sum_i r_{l,i}``: mean firing rate (Louis et al., ICANN 2024)."""
    return torch.stack([r.mean() for r in _rates(s)]).mean()


@term("act_l2", student={"spikes"})
def act_l2(s: Knowledge, k: Knowledge | None, y: torch.Tensor) -> torch.Tensor:
    """``(1/L) sum_l (1/N_l) sum_i r_{l,i}^2`` on rates (squaring binary spikes would do nothing)."""
    return torch.stack([r.pow(2).mean() for r in _rates(s)]).mean()


@term("logit_l2", student={"logits"})
def logit_l2(s: Knowledge, k: Knowledge | None, y: torch.Tensor) -> torch.Tensor:
    """``(1/C) ||z_s||^2``: logits regularisation (Louis et al., ICANN 2024)."""
    return s.logits.pow(2).mean()


def aligned_pairs(s: dict[str, torch.Tensor], k: dict[str, torch.Tensor]) -> list[tuple[str, str]]:
    """Layer pairs of the same name in student and teacher; shapes must agree but for time steps.

    Sequences are ``[T, B, ...]``: the time dimension may differ (a teacher at
    another ``T``, see :func:`resample_steps`).
    """
    pairs = [(n, n) for n in s if n in k]
    if not pairs:
        raise ValueError(f"no layer names in common: student {list(s)}, teacher {list(k)}")
    for a, b in pairs:
        if s[a].shape[1:] != k[b].shape[1:]:
            raise ValueError(
                f"layer '{a}': student shape {tuple(s[a].shape)} does not align with "
                f"teacher shape {tuple(k[b].shape)}"
            )
    return pairs


def resample_steps(u: torch.Tensor, steps: int) -> torch.Tensor:
    """``u [T_k, B, ...]`` brought to ``steps`` time steps by adaptive average pooling over time.

    ``u~_t = mean of u_j over j in [floor(t T_k / T_s), ceil((t+1) T_k / T_s))``: with
    ``T_k = m T_s`` each student step gets the mean of its ``m`` teacher steps
    (``T_k = 4 -> T_s = 2``: ``(u_1 + u_2)/2, (u_3 + u_4)/2``); with ``T_k < T_s``
    teacher steps are repeated; equal ``T`` leaves ``u`` unchanged.
    """
    if u.shape[0] == steps:
        return u
    flat = u.flatten(1).t().unsqueeze(0)  # [1, B*N, T_k]
    out = F.adaptive_avg_pool1d(flat, steps)[0].t()
    return out.reshape(steps, *u.shape[1:])


@term("membrane_mse", student={"membrane"}, teacher={"membrane"})
def membrane_mse(s: Knowledge, k: Knowledge, y: torch.Tensor) -> torch.Tensor:
    """``(1/|A|) sum_{(l,l') in A} (1/(T N_l)) sum_t ||u_{l,t}^s - u~_{l',t}^k||^2``.

    Membrane-potential distillation over layer pairs ``A`` aligned by name
    (MD-SNN, Lee et al., DATE 2026), averaged over the batch. A teacher run at
    ``T_k != T_s`` steps is aligned in time by :func:`resample_steps`
    (``u~ = u`` when ``T_k = T_s``): the suite's formalisation of MD-SNN's
    "versatile teacher" serving students at several time steps.
    """
    pairs = aligned_pairs(s.membrane, k.membrane)
    return torch.stack(
        [
            (s.membrane[a] - resample_steps(k.membrane[b], s.membrane[a].shape[0])).pow(2).mean()
            for a, b in pairs
        ]
    ).mean()


def _last_spatial(rates: dict[str, torch.Tensor]) -> str:
    """The last hidden layer that still has a channel (and spatial) dimension."""
    names = [n for n, r in rates.items() if r.dim() >= 3]
    if not names:
        raise ValueError("feature_mse needs a convolutional hidden layer in both networks")
    return names[-1]


class FeatureAdapter(nn.Module):
    """A learned 1x1 adapter ``g`` from the student's channels to the teacher's.

    When the two layers' spatial sizes differ, both rate maps are average-pooled
    to the smaller size (``size``) before they are compared.
    """

    def __init__(
        self, student_layer: str, teacher_layer: str, cin: int, cout: int, size: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.student_layer, self.teacher_layer = student_layer, teacher_layer
        self.size = tuple(size)
        conv = nn.Conv2d if len(size) == 2 else nn.Conv1d
        self.proj = conv(cin, cout, 1, bias=False)

    def pool(self, r: torch.Tensor) -> torch.Tensor:
        if tuple(r.shape[2:]) == self.size:
            return r
        pool = F.adaptive_avg_pool2d if len(self.size) == 2 else F.adaptive_avg_pool1d
        return pool(r, self.size)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.pool(self.proj(r))


def _make_adapter(s: Knowledge, k: Knowledge) -> FeatureAdapter:
    rs, rk = s.rates(), k.rates()
    a, b = _last_spatial(rs), _last_spatial(rk)
    if rs[a].dim() != rk[b].dim():
        raise ValueError(
            f"feature_mse: student layer '{a}' {tuple(rs[a].shape[1:])} and teacher layer "
            f"'{b}' {tuple(rk[b].shape[1:])} have different numbers of dimensions"
        )
    size = tuple(min(u, v) for u, v in zip(rs[a].shape[2:], rk[b].shape[2:], strict=True))
    return FeatureAdapter(a, b, rs[a].shape[1], rk[b].shape[1], size)


@term("feature_mse", student={"spikes"}, teacher={"spikes"}, module=_make_adapter)
def feature_mse(s: Knowledge, k: Knowledge, y: torch.Tensor, module: FeatureAdapter) -> torch.Tensor:
    """``(1/|A|) sum_A (1/N_l) ||g(r_l^s) - r_{l'}^k||^2`` with a learned 1x1 adapter ``g``.

    KDSNN-style feature KD (Xu et al., CVPR 2023), on firing rates of the last
    convolutional layer of each network (``|A| = 1``), both average-pooled to
    the smaller spatial size when they differ; the suite's formalisation.
    """
    r_s = s.spikes[module.student_layer].mean(0)
    r_k = module.pool(k.spikes[module.teacher_layer].mean(0))
    return (module(r_s) - r_k).pow(2).flatten(1).mean(1).mean()
