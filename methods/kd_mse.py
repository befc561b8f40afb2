"""Logit-matching KD: ``L = CE(z_s, y) + beta (1/C) ||z_s - z_k||^2``.

Louis et al., "Reducing the Spike Rate of Deep Spiking Neural Networks Based on
Time-Encoding" / KD and regularisation for lower activity, ICANN 2024.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="kd-mse",
        paper="Louis et al., ICANN 2024",
        teacher="teacher",
        hparams={"beta": HParam(1.0, 1e-3, 10.0, log=True, help="weight of logit matching")},
        recipe=lambda hp: [term("ce"), term("kd_mse", hp["beta"])],
        doc=__doc__,
    )
)
