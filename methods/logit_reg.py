"""Logits regularisation: ``L = base + lambda_z (1/C) ||z_s||^2``.

Proposed by Louis et al. (ICANN 2024) to keep logits small, which lowers the
activity needed to produce them. A modifier: alone its base is ``ce``;
composed (``kd-mse + logit-reg``) it adds its term to the base recipe.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="logit-reg",
        paper="Louis et al., ICANN 2024",
        modifier=True,
        hparams={"lambda_z": HParam(1e-2, 1e-4, 1.0, log=True, help="weight of the logit term")},
        recipe=lambda hp: [term("logit_l2", hp["lambda_z"])],
        doc=__doc__,
    )
)
