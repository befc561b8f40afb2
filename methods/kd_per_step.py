"""Per-step KD: every time step's readout learns from the teacher.

``L = (1 - alpha) CE(z_s, y) + alpha (1/T) sum_t tau^2 KL(softmax(z_k/tau) || softmax(o_t^s/tau))``.

``o_t^s`` is the student's readout at step ``t`` and ``z_k`` the teacher's
logits (its time-averaged readout, or an ANN teacher's output): every time
step learns from the teacher, not only the time average ``z_s``. The
cross-entropy stays on ``z_s``.

The suite's formalisation of the per-step distillation family that SNN KD
moved to after 2023, e.g. temporal decoupling distillation (ICML 2025,
``Intelli-Chip-Lab/snn_temporal_decoupling_distillation``: ``CE + alpha (1/T)
sum_t KD(o_t, teacher)``, temperature 3, T = 6) and temporal separation with
entropy regularisation (CVPR 2025); neither paper's exact loss is reproduced.
``alpha`` weights the distillation term, as in ``kd`` (torchdistill's ``KDLoss``
weights cross-entropy with its ``alpha``: its ``alpha`` is our ``1 - alpha``).
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="kd-per-step",
        paper="per-step KD (suite's formalisation; temporal decoupling distillation, ICML 2025)",
        teacher="teacher",
        hparams={
            "tau": HParam(4.0, 1.0, 20.0, log=True, help="softmax temperature"),
            "alpha": HParam(0.5, 0.0, 1.0, help="weight of the per-step distillation term"),
        },
        recipe=lambda hp: [
            term("ce", 1 - hp["alpha"]),
            term("kd_step", hp["alpha"], tau=hp["tau"]),
        ],
        doc=__doc__,
    )
)
