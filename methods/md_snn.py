"""MD-SNN: membrane-potential distillation from the full-precision SNN into its quantized copy.

``L = (1 - alpha) CE(z_s, y) + alpha tau^2 KL(softmax(z_k/tau) || softmax(z_s/tau))
      + beta (1/|A|) sum_{(l,l') in A} (1/(T N_l)) sum_t ||u_{l,t}^s - u_{l',t}^k||^2``

``u`` is the membrane potential after charge, before fire and reset; the
student's is the quantized one (``b_u`` bits), the teacher is the
full-precision network of the same architecture (a ``scratch`` run of the same
preset, ``--teacher``), and ``A`` pairs hidden neuron layers of the same name.
The student is quantized exactly as in ``quant`` (:mod:`snnkd.quant`, either
``quant.scheme``).

**A teacher at another T** (``T_k != T_s``): it runs at its own time steps
on the same input. The logit term needs nothing more (``z_k`` is a time
average); the membrane term aligns the teacher's membrane sequence to the
student's steps by adaptive average pooling over time
(:func:`snnkd.terms.resample_steps`: with ``T_k = 4``, ``T_s = 2`` student step
1 is compared with the mean of teacher steps 1-2, step 2 with that of 3-4).
This rule is the suite's formalisation of the paper's "versatile teacher" that
serves students at several time steps; the paper's own alignment is not public.

Lee et al., "MD-SNN: Membrane potential-aware distillation on quantized spiking
neural networks", DATE 2026. The loss above is the suite's formalisation of
the paper's idea (``shared/METHODS.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from snnkd.errors import ConfigError
from snnkd.methods import HParam, Method, register, term
from snnkd.quant import quantize_model


def _membranes(model: nn.Module, input_shape: list[int], steps: int) -> dict[str, torch.Tensor]:
    from spikingjelly.activation_based import functional

    from snnkd.trace import Tracer

    model.eval()
    with torch.no_grad():
        k = Tracer(model, {"membrane"})(torch.zeros(steps, 1, *input_shape))
    functional.reset_net(model)
    return k.membrane


def check_twin(student: nn.Module, cfg: Any) -> None:
    """Raise a one-line ``ConfigError`` when the teacher's layers do not align with the student's.

    Checked on the full-precision student before it is quantized (names and
    shapes are unchanged by quantization). Skipped when the teacher's
    checkpoint is absent (reloading a finished run).
    """
    if not cfg.teacher or not Path(cfg.teacher).is_file():
        return
    from snnkd import checkpoint
    from snnkd.models.builders import rebuild
    from snnkd.terms import aligned_pairs

    state = checkpoint.load(cfg.teacher)
    if state["spec"]["ann"]:
        raise ConfigError("teacher: md-snn needs a spiking full-precision twin, got an ANN")
    teacher = rebuild(state["spec"])
    shape = student.spec["input_shape"]
    was = student.training
    s = _membranes(student, shape, cfg.steps)
    student.train(was)
    k = _membranes(teacher, shape, int(state["config"]["T"]))  # the teacher's own time steps
    try:
        aligned_pairs(s, k)
    except ValueError as err:
        raise ConfigError(
            f"teacher: md-snn distils membrane potentials layer by layer from the full-precision "
            f"twin of the student ('{cfg.model}'); {err}"
        ) from None


def transform(model: nn.Module, cfg: Any) -> nn.Module:
    """Check the teacher aligns with the student, then quantize the student."""
    check_twin(model, cfg)
    return quantize_model(model, cfg)


register(
    Method(
        name="md-snn",
        paper="MD-SNN, Lee et al., DATE 2026",
        teacher="fp-twin",
        hparams={
            "tau": HParam(4.0, 1.0, 20.0, log=True, help="softmax temperature"),
            "alpha": HParam(0.5, 0.0, 1.0, help="weight of logit distillation"),
            "beta": HParam(1.0, 0.0, 10.0, help="weight of membrane-potential distillation"),
        },
        recipe=lambda hp: [
            term("ce", 1 - hp["alpha"]),
            term("kd_kl", hp["alpha"], tau=hp["tau"]),
            term("membrane_mse", hp["beta"]),
        ],
        transform=transform,
        doc=__doc__,
    )
)
