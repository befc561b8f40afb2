"""Knowledge distillation (Hinton et al., 2015).

``L = (1 - alpha) CE(z_s, y) + alpha tau^2 KL(softmax(z_k/tau) || softmax(z_s/tau))``.

Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015;
used for SNNs by Kushawaha et al. (ICPR 2020) and Louis et al. (ICANN 2024).
The teacher is a larger SNN or the ANN twin of an architecture.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="kd",
        paper="Hinton et al. 2015",
        teacher="teacher",
        hparams={
            "tau": HParam(4.0, 1.0, 20.0, log=True, help="softmax temperature"),
            "alpha": HParam(0.5, 0.0, 1.0, help="weight of the distillation term"),
        },
        recipe=lambda hp: [
            term("ce", 1 - hp["alpha"]),
            term("kd_kl", hp["alpha"], tau=hp["tau"]),
        ],
        doc=__doc__,
    )
)
