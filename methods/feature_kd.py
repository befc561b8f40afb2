"""Feature KD: ``L = CE(z_s, y) + beta (1/N) ||g(r^s) - r^k||^2`` with a learned 1x1 adapter ``g``.

KDSNN-style feature distillation (Xu et al., CVPR 2023) on the firing rates of
the last convolutional layer of student and teacher (their spatial sizes must
agree); the exact layer choice is the suite's formalisation.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="feature-kd",
        paper="Xu et al., CVPR 2023 (KDSNN); suite's formalisation",
        teacher="teacher",
        hparams={"beta": HParam(1.0, 1e-3, 10.0, log=True, help="weight of feature matching")},
        recipe=lambda hp: [term("ce"), term("feature_mse", hp["beta"])],
        doc=__doc__,
    )
)
