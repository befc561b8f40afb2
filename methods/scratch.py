"""Scratch: the student trained alone, ``L = CE(z_s, y)``; the reference every method is measured against."""

from snnkd.methods import Method, register, term

register(
    Method(
        name="scratch",
        paper="baseline (no distillation)",
        recipe=lambda hp: [term("ce")],
        doc=__doc__,
    )
)
