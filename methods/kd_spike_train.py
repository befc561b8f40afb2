"""Spike-train KD: ``L = CE(n_s, y) + beta (1/(T C)) sum_t ||s_out_t^s - s_out_t^k||^2``.

The suite's formalisation of distilling the teacher's output spike trains
directly (Distilling Spikes, Kushawaha et al., ICPR 2020); the paper's exact
loss is not public. Both networks need a spiking output layer with the same T.
"""

from snnkd.methods import HParam, Method, register, term

register(
    Method(
        name="kd-spike-train",
        paper="Kushawaha et al., ICPR 2020 (Distilling Spikes); suite's formalisation",
        teacher="teacher",
        readout="spiking",
        hparams={"beta": HParam(1.0, 1e-3, 10.0, log=True, help="weight of spike matching")},
        recipe=lambda hp: [term("ce"), term("kd_spike_train", hp["beta"])],
        doc=__doc__,
    )
)
