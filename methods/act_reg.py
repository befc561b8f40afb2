"""Activation regularisation: ``L = base + lambda_a * act_lp``, ``p in {1, 2}``.

``act_l1 = (1/L) sum_l (1/N_l) sum_i r_{l,i}`` (mean firing rate) and
``act_l2`` the same on squared rates ``r^2`` (Louis et al., ICANN 2024). A
modifier: alone its base is ``ce``; composed (``kd + act-reg``) it adds its
term to the base recipe.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="act-reg",
        paper="Louis et al., ICANN 2024",
        modifier=True,
        hparams={
            "lambda_a": HParam(1e-2, 1e-4, 1.0, log=True, help="weight of the activity term"),
            "p": HParam(1, choices=(1, 2), help="1: L1 on rates, 2: L2 on rates"),
        },
        recipe=lambda hp: [term("act_l1" if hp["p"] == 1 else "act_l2", hp["lambda_a"])],
        doc=__doc__,
    )
)
