"""Multi-stage KD: teacher -> assistant -> student, each stage ``kd``.

The assistant (an intermediate-size network) is itself a ``kd`` student of the
teacher; this method distils the assistant into the student with
``L = (1 - alpha) CE + alpha tau^2 KL(softmax(z_a/tau) || softmax(z_s/tau))``.
Proposed for large teacher-student gaps (Distilling Spikes, Kushawaha et al.,
ICPR 2020; teacher-assistant KD, Mirzadeh et al., AAAI 2020). The first stage's
``tau`` and ``alpha`` are those the assistant was trained with.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="multistage",
        paper="Kushawaha et al., ICPR 2020; Mirzadeh et al., AAAI 2020",
        teacher="assistant",
        hparams={
            "tau": HParam(4.0, 1.0, 20.0, log=True, help="temperature of the last stage"),
            "alpha": HParam(0.5, 0.0, 1.0, help="distillation weight of the last stage"),
        },
        recipe=lambda hp: [
            term("ce", 1 - hp["alpha"]),
            term("kd_kl", hp["alpha"], tau=hp["tau"]),
        ],
        doc=__doc__,
    )
)
