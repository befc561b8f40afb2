"""The CPU thread policy: every run computes with a fixed number of threads (default 1).

Why: on a busy machine, torch's default (one intra-op thread per core) lets
OpenMP threads spin against any other CPU-bound job: an epoch of 2.6 s took
172 s beside a second job on 2 cores. And a different thread count sums floats
in a different order, which spiking thresholds amplify, so results depended on
the machine. With a fixed count, results depend only on the configuration
(``RunConfig.threads`` is part of a run's identity), and parallelism comes from
running independent seeds in separate processes instead.

``limit`` sets torch's intra-op threads (``torch.set_num_threads``), its
inter-op threads (once per process, before any parallel work) and, through
``threadpoolctl``, the BLAS/OpenMP pools numpy and scikit-learn use.
``child_environment`` gives subprocesses the same limits from their start.

The kernel ISA is part of the same policy (issue 25). On x86-64, torch picks its vectorised
kernels (ATen's CPU capability) and oneDNN its JIT ISA from the machine, and AVX2 and AVX-512
kernels round differently: a run on an AVX-512 machine left the committed AVX2 curve at epoch 8.
``RunConfig.cpu_isa`` (default ``avx2``, the lowest ISA the suite supports on x86-64) pins both:
``ATEN_CPU_CAPABILITY=avx2`` and ``ONEDNN_MAX_CPU_ISA=AVX2`` (neither alone is enough), and
OpenBLAS, numpy's and scipy's BLAS, to its Haswell (AVX2) kernels: ``OPENBLAS_CORETYPE=Haswell``.
OpenBLAS picks its kernels by CPU model (SkylakeX on an AVX-512 Xeon, Zen on an AMD EPYC, whose
kernels are Haswell's), and librosa's mel projection runs on it: fsdd's prepared MFCCs were other
bytes on a Xeon than on the EPYC until this pin, and are the EPYC's bytes with it
(``tests/test_cpu_isa.py``). MKL, torch's BLAS and vector maths (``sqrt``, ``exp``, ``log``),
dispatches by vendor and is not covered (results/perf.md). ATen and oneDNN read their variables
at torch's first use, OpenBLAS at numpy's import, so they must be set before: the ``snnkd``
command sets them first thing (:func:`pin_isa_environment`, from ``SNNKD_CPU_ISA``, default
``avx2``); forked seed workers inherit the parent's dispatch; subprocesses (and Ray or other
workers started from it) inherit the variables. :func:`require_isa` checks, when a run is
prepared, that this process computes with the run's ISA, and stops it with a one-line error
otherwise. ``native`` leaves all three to the machine.

``portable`` is the candidate policy for reproduction across CPU vendors (results/perf.md): the
AVX2 pin, MKL's ``COMPATIBLE`` branch (``MKL_CBWR=COMPATIBLE``: every sgemm and ``exp`` of the
kernel probe are the same bits on an AMD EPYC and an Intel Xeon there) and Adam's fused CPU
kernel (:func:`fused_optimizer`: one ATen loop with the CPU's own ``sqrt``, where the
single-tensor step calls MKL's vector ``sqrt``, which is not correctly rounded and differs by
vendor). It changes every number against ``avx2``, so runs record it (``cpu_isa: portable``) and
``SNNKD_CPU_ISA=portable`` pins the process.
"""

from __future__ import annotations

import os
import platform

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_limiter = None

CPU_ISAS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
    "native": {},
}
CPU_ISAS["portable"] = {**CPU_ISAS["avx2"], "MKL_CBWR": "COMPATIBLE"}
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "MKL_CBWR")
ISA_SETTING = "SNNKD_CPU_ISA"  # the ISA the snnkd command pins before torch starts
DEFAULT_ISA = "avx2"
PINNED_MARK = "SNNKD_ISA_PINNED"  # the ISA an snnkd process pinned for itself and its children


def x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def isa_environment(isa: str, env: dict[str, str] | os._Environ = os.environ) -> None:
    """Set (or, for ``native``, remove) the ISA variables in ``env``."""
    for name in ISA_VARIABLES:
        env.pop(name, None)
    env.update(CPU_ISAS[isa])


def pin_isa_environment(wanted: str | None = None) -> str:
    """The ``snnkd`` command's first step: pin the kernel ISA before torch starts.

    The ISA is ``$SNNKD_CPU_ISA`` when set, else ``wanted`` (a pipeline stage passes its suite's
    ``common.cpu_isa``: :func:`snnkd.pipeline.command.suite_isa`), else ``avx2``. Variables already
    set that agree with it are completed (a machine may export ``OPENBLAS_CORETYPE=Haswell`` for
    all its programs); variables the user set to something else are left alone (the run then
    refuses the process, :func:`require_isa`); variables an outer ``snnkd`` process pinned
    (``SNNKD_ISA_PINNED`` names its ISA and they are that ISA's) are re-pinned, so that ``dvc
    repro`` under ``snnkd scale`` runs each suite's stages under the suite's ISA. Returns the ISA
    asked for.
    """
    isa = os.environ.get(ISA_SETTING) or wanted or DEFAULT_ISA
    if isa not in CPU_ISAS:
        from snnkd.errors import ConfigError

        raise ConfigError(f"{ISA_SETTING}: unknown ISA '{isa}'; choose one of {sorted(CPU_ISAS)}")
    present = {name: os.environ[name] for name in ISA_VARIABLES if name in os.environ}
    outer = os.environ.get(PINNED_MARK)
    agrees = all(CPU_ISAS[isa].get(name) == value for name, value in present.items())
    if agrees or (outer in CPU_ISAS and present == CPU_ISAS[outer]):
        isa_environment(isa)
        os.environ[PINNED_MARK] = isa
    return isa


def dispatched_isa() -> str:
    """The kernel ISA this process's torch dispatches to (``avx2``, ``avx512``, ``default``, ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability().lower()


def openblas_cores() -> list[str]:
    """The kernel families (``architecture``) of the OpenBLAS libraries this process has loaded."""
    from threadpoolctl import threadpool_info

    libraries = threadpool_info()
    return [str(lib.get("architecture")) for lib in libraries if lib.get("internal_api") == "openblas"]


def require_isa(isa: str) -> None:
    """Stop (one-line ``ConfigError``) unless this process computes with the ISA ``isa`` pins."""
    from snnkd.errors import ConfigError

    if not x86_64():
        return  # the pin is an x86-64 policy: elsewhere there is one kernel family
    have = dispatched_isa()
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA")
    mkl = os.environ.get("MKL_CBWR")
    blas = CPU_ISAS["avx2"]["OPENBLAS_CORETYPE"]
    cores = openblas_cores()
    pinned = have == "avx2" and onednn == "AVX2" and all(core == blas for core in cores)
    if pinned and isa in ("avx2", "portable") and mkl == CPU_ISAS[isa].get("MKL_CBWR"):
        return
    if isa == "native" and not any(name in os.environ for name in ISA_VARIABLES):
        return
    raise ConfigError(
        f"cpu_isa: the run asks for '{isa}', but this process computes with ATen '{have}', "
        f"ONEDNN_MAX_CPU_ISA={onednn}, MKL_CBWR={mkl} and OpenBLAS {'/'.join(cores) or 'not loaded'}; "
        f"torch and numpy fix them at their first use: run it through the snnkd command with "
        f"{ISA_SETTING}={isa} (or set {', '.join(ISA_VARIABLES)} before Python starts)"
    )


def fused_optimizer(isa: str) -> bool:
    """Whether runs of ``isa`` step Adam/AdamW with torch's fused CPU kernel (``portable`` only).

    The default single-tensor step computes ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``
    with ``torch.sqrt``, which ATen hands to MKL's vector maths; the fused kernel computes the same
    formula (Kingma and Ba 2015) in one ATen loop with the CPU's correctly rounded ``sqrt``.
    """
    return isa == "portable"


def child_environment(threads: int = 1) -> None:
    """Set the thread variables (for this process's libraries not yet loaded, and its children)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def limit(threads: int = 1) -> None:
    """Make this process compute with ``threads`` CPU threads from now on."""
    global _limiter
    import torch
    from threadpoolctl import threadpool_limits

    child_environment(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started: it can be set only once
        pass
    _limiter = threadpool_limits(limits=threads)  # kept alive: the limit holds while it exists


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's CPU set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
