"""A trained network as a NIR graph (:mod:`~snnkd.nir.export`) and that graph run in SpikingJelly,
snnTorch or Norse (:mod:`~snnkd.nir.simulators`): ``snnkd export`` and its checks.
"""
