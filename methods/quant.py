"""Quantization-aware training of the student: ``L = CE(z_s, y)`` on a quantized network.

Weights to ``b`` bits (uniform, symmetric, per output channel, learned step,
straight-through estimator), batch norm folded into the preceding layer before
the weights are quantized, and the membrane potential to ``b_u`` bits on
``[-r, r)`` at every step; ``b``, ``b_u`` and ``r`` come from the run's
``quant`` section (``--weight-bits``, ``--membrane-bits``), not from Optuna.
Formulas: :mod:`snnkd.quant`.

The quantized-SNN baseline of MD-SNN (Lee et al., "MD-SNN: Membrane
potential-aware distillation on quantized spiking neural networks", DATE 2026).
"""

from snnkd.methods import Method, register, term
from snnkd.quant import quantize_model

register(
    Method(
        name="quant",
        paper="MD-SNN, Lee et al., DATE 2026 (quantized baseline)",
        recipe=lambda hp: [term("ce")],
        transform=quantize_model,
        doc=__doc__,
    )
)
