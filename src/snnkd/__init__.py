"""snnkd: a reproducible benchmark suite for knowledge distillation, activity
regularisation and quantization of spiking neural networks.

Heavy libraries (torch, spikingjelly, mlflow, optuna) are imported lazily by the
modules that need them, so ``snnkd --help`` answers at once.
"""

__version__ = "0.1.0"
