"""Spike-count KD: ``L = (1 - alpha) CE(n_s, y) + alpha tau^2 KL(softmax(n_k/tau) || softmax(n_s/tau))``.

Soft targets built from the teacher's output spike counts ``n = sum_t s_out_t``.
This loss is the suite's formalisation of Distilling Spikes' spike-based KD
(Kushawaha et al., ICPR 2020), whose exact loss is not public. Both networks
need a spiking output layer (``readout: spiking``); the student's logits are
its counts.

Counts lie in ``[0, T]``, so with ``T = 4`` a softmax over them is very flat:
at ``tau = 4`` two classes' soft-target probabilities differ by at most a
factor ``e^(T/tau) = e``; the default ``tau = 2`` allows ``e^2`` and ``tau = 1``
``e^4``. ``alpha`` weights the distillation term (torchdistill's ``KDLoss``:
its ``alpha`` is our ``1 - alpha``).
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="kd-spikes",
        paper="Kushawaha et al., ICPR 2020 (Distilling Spikes)",
        teacher="teacher",
        readout="spiking",
        hparams={
            "tau": HParam(2.0, 1.0, 20.0, log=True, help="softmax temperature on counts"),
            "alpha": HParam(0.5, 0.0, 1.0, help="weight of the distillation term"),
        },
        recipe=lambda hp: [
            term("ce", 1 - hp["alpha"]),
            term("kd_count", hp["alpha"], tau=hp["tau"]),
        ],
        doc=__doc__,
    )
)
