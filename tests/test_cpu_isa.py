"""The CPU policy's kernel ISA (snnkd.trainer.threads) and the additive-settings rule (snnkd.core.config).

Two policies reproduce committed runs. ``avx2`` (the field's default) pins ATen's, oneDNN's and
OpenBLAS's kernels: a pinned run reproduces a committed run of the same vendor's CPU byte for byte,
whatever more the CPU could do (an AVX-512 AMD EPYC against the EPYC-made recordings suite, an
AVX-512 Intel Xeon against the Xeon-made evidence suite), but not across vendors, because MKL,
torch's BLAS and vector maths, picks its kernels by vendor (benchmarks/cpu_kernels_probe.py).
``portable`` (the default suite's ``common.cpu_isa``) adds MKL's COMPATIBLE branch, Adam's fused
step and ATen's rsqrt for LSQ's batch-norm scale: a portable run is the same bytes on both vendors,
tested here against a reference made on an Intel Xeon and against the committed default run made
on an AMD EPYC. Data preparation is reproduced across vendors: fsdd's MFCCs (numpy's OpenBLAS) are
asserted to be dvc.lock's bytes on any CPU. A run that adds a setting at its default keeps the
identity and the published config of every committed run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from snnkd.core.config import RunConfig
from snnkd.tracking.provenance import cpu_model
from snnkd.trainer.threads import ISA_SETTING, ISA_VARIABLES, x86_64

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "default" / "runs" / "digits" / "scratch" / "seed0"  # portable, AMD-made
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
# committed avx2 runs, by the vendor of the CPU that made them (as it appears in the CPU's model
# name, snnkd.tracking.provenance.cpu_model; the suites' READMEs name the machines)
AVX2_REFERENCES = {
    "AMD": ROOT / "results" / "evidence-recordings" / "runs" / "fsdd" / "scratch" / "seed0",
    "Intel": ROOT / "results" / "evidence" / "runs" / "digits" / "scratch" / "seed0",
}


SNNKD = Path(sys.executable).with_name("snnkd")


def _committed_runs() -> list[Path]:
    return sorted((ROOT / "results" / "default" / "runs").glob("*/*/seed*/run.json"))


def test_committed_identities_and_configs_do_not_change():
    runs = _committed_runs()
    if not runs:
        pytest.skip("no committed runs")
    for path in runs:
        run = json.loads(path.read_text())
        cfg = RunConfig(**run["config"])
        assert cfg.identity() == run["identity"], path
        assert cfg.model_dump() == run["config"], path  # the additive fields are left out at their default


def test_additive_fields_appear_and_count_once_set():
    base = RunConfig()
    native = RunConfig(cpu_isa="native")
    assert "cpu_isa" not in base.model_dump() and native.model_dump()["cpu_isa"] == "native"
    assert native.identity() != base.identity()
    # the neuron's implementation is bit-identical: listed in the dump when set, never in the identity
    sj = RunConfig(neuron={"backend": "spikingjelly"})
    assert (
        sj.model_dump()["neuron"]["backend"] == "spikingjelly"
        and "backend" not in base.model_dump()["neuron"]
    )
    assert sj.identity() == base.identity()
    assert RunConfig(**native.model_dump()) == native


def _env(isa: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISA_VARIABLES}
    env[ISA_SETTING] = isa
    return env


def _native_isa() -> str:
    code = "from snnkd.trainer.threads import pin_isa_environment as p, dispatched_isa as d; p(); print(d())"
    out = subprocess.run([sys.executable, "-c", code], env=_env("native"), capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def _train_again(tmp_path: Path, reference: Path, isa: str) -> Path:
    """Train the configuration of the committed run ``reference`` (with ``cpu_isa: isa``) in a
    fresh ``snnkd train`` process pinned to ``isa``; its output folder."""
    config = json.loads((reference / "run.json").read_text())["config"]
    config["data_dir"] = str(ROOT / "data")
    if isa != "avx2":
        config["cpu_isa"] = isa  # avx2 is the default, left out of a committed config
    else:
        config.pop("cpu_isa", None)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / isa
    cmd = [str(SNNKD), "train", "--config", str(tmp_path / "run.yaml"), "--out", str(out), "--quiet"]
    env = {**_env(isa), "SNNKD_FSDD_DIR": str(FSDD)}
    done = subprocess.run(cmd + ["--no-track"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _differing(out: Path, reference: Path) -> list[str]:
    names = ("curve.csv", "metrics.json")
    return [n for n in names if (out / n).read_bytes() != (reference / n).read_bytes()]


def test_a_pinned_run_reproduces_a_committed_avx2_run_of_its_vendor(tmp_path):
    if not x86_64():
        pytest.skip("the ISA pin is an x86-64 policy")
    vendor = next((v for v in AVX2_REFERENCES if v in cpu_model()), None)
    if vendor is None:
        pytest.skip(f"no committed avx2 run was made on a CPU of this vendor ({cpu_model()})")
    reference = AVX2_REFERENCES[vendor]
    if not (reference / "run.json").exists():
        pytest.skip(f"no committed run {reference.relative_to(ROOT)}")
    if "fsdd" in reference.parts and not FSDD.is_dir():
        pytest.skip(f"no FSDD recordings at {FSDD}")
    if _native_isa() == "avx2":
        pytest.skip("this machine dispatches AVX2 kernels already: pinned and unpinned runs are the same run")
    assert "cpu_isa" not in json.loads((reference / "run.json").read_text())["config"]  # an avx2 run
    assert not _differing(_train_again(tmp_path, reference, "avx2"), reference), cpu_model()


_PINNED = (
    "import os, sys\nfrom snnkd.cli.main import build_parser\nfrom snnkd.pipeline.command import suite_isa\n"
    "from snnkd.trainer.threads import ISA_VARIABLES, pin_isa_environment\n"
    "args = build_parser().parse_args(sys.argv[1:])\nasked = pin_isa_environment(suite_isa(args))\n"
    "print(asked, {k: os.environ[k] for k in ISA_VARIABLES if k in os.environ})\n"
)


def _pinned(tmp_path: Path, argv: list[str], **extra: str) -> tuple[str, dict[str, str]]:
    """What a ``snnkd`` process given ``argv`` (in ``tmp_path``) pins: the ISA and its variables."""
    env = {k: v for k, v in _env("avx2").items() if k not in ("SNNKD_CPU_ISA", "SNNKD_ISA_PINNED")}
    cmd = [sys.executable, "-c", _PINNED, *argv]
    done = subprocess.run(cmd, env={**env, **extra}, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    isa, variables = done.stdout.strip().split(" ", 1)
    return isa, yaml.safe_load(variables)


def test_a_pipeline_stage_pins_its_suites_isa(tmp_path):
    """``suites.<suite>.common.cpu_isa`` pins a stage's process (``dvc repro`` sets no variable),
    re-pinning an outer snnkd process's pin (``snnkd scale`` pins itself first) but never a
    variable the user set to something else; ``SNNKD_CPU_ISA`` still decides over the suite."""
    from snnkd.trainer.threads import CPU_ISAS

    params = {"suites": {"fast": {"common": {"cpu_isa": "portable"}}, "plain": {"common": {"T": 4}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    stage = ["pipeline", "method", "fast", "digits", "scratch"]
    assert _pinned(tmp_path, stage) == ("portable", CPU_ISAS["portable"])
    plain = ["pipeline", "method", "plain", "digits", "scratch"]
    assert _pinned(tmp_path, plain) == ("avx2", CPU_ISAS["avx2"])
    assert _pinned(tmp_path, ["pipeline", "data", "digits"]) == ("avx2", CPU_ISAS["avx2"])
    outer = {**CPU_ISAS["avx2"], "SNNKD_ISA_PINNED": "avx2"}  # what a parent snnkd process leaves
    assert _pinned(tmp_path, stage, **outer) == ("portable", CPU_ISAS["portable"])
    assert _pinned(tmp_path, stage, SNNKD_CPU_ISA="avx2") == ("avx2", CPU_ISAS["avx2"])
    user = {"ATEN_CPU_CAPABILITY": "avx512"}  # set by hand: left alone, and the run refuses it
    assert _pinned(tmp_path, stage, **user) == ("portable", user)


def test_a_machine_wide_variable_that_agrees_is_completed(tmp_path):
    """A machine may export ``OPENBLAS_CORETYPE=Haswell`` to every program (this workplace's
    do): the pin keeps it and sets the rest, so a run starts, where it used to refuse the process."""
    from snnkd.trainer.threads import CPU_ISAS

    assert _pinned(tmp_path, ["list", "methods"], OPENBLAS_CORETYPE="Haswell") == ("avx2", CPU_ISAS["avx2"])
    env = {**_env("avx2"), "OPENBLAS_CORETYPE": "Haswell"}
    env.pop("SNNKD_CPU_ISA")
    cmd = [str(SNNKD), "train", "--epochs", "1", "--out", "x", "--no-track", "--quiet"]
    cmd += ["--set", f"data_dir={ROOT / 'data'}"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_run_refuses_a_process_with_another_isa(tmp_path):
    if not x86_64():
        pytest.skip("the ISA pin is an x86-64 policy")
    code = (
        "import sys\nfrom snnkd.cli.main import main\n"
        "sys.exit(main(['train', '--epochs', '1', '--set', 'cpu_isa=native', '--out', 'x', '--no-track']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env("avx2"), capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2 and not (tmp_path / "x").exists()
    assert "cpu_isa: the run asks for 'native'" in done.stderr and "Traceback" not in done.stderr


def _locked_md5(path: str) -> str:
    """The MD5 that dvc.lock records for the output ``path`` (the stage that made it, on its CPU)."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    for stage in lock.values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise AssertionError(f"dvc.lock has no output {path}")


def test_pinned_fsdd_features_are_the_recorded_bytes_on_any_cpu(tmp_path):
    """OpenBLAS's kernels are pinned too: fsdd's MFCCs (librosa's mel projection runs on numpy's
    OpenBLAS) are the bytes dvc.lock records (made on an AMD EPYC), on an Intel Xeon as well, and
    in a 1-thread process (preparation computes with snnkd.data.staging.PREPARE_THREADS)."""
    if not x86_64():
        pytest.skip("the ISA pin is an x86-64 policy")
    if not FSDD.is_dir():
        pytest.skip(f"no FSDD recordings at {FSDD}")
    pytest.importorskip("librosa")  # the [speech] extra's features are the recorded ones
    code = (  # in a process computing with 1 thread, as a training process (a scale worker) does
        "import sys\nfrom pathlib import Path\n"
        "from snnkd.trainer.threads import pin_isa_environment, limit\npin_isa_environment()\nlimit(1)\n"
        "from snnkd.data.folders import stage\nfrom snnkd.pipeline.stages import data\n"
        "stage('fsdd', 'data', sys.argv[1])\ndata('fsdd', Path('data/prepared'))\n"
    )
    env = {**_env("avx2"), "SNNKD_FSDD_DIR": str(FSDD), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(FSDD)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import hashlib

    got = hashlib.md5((tmp_path / "data" / "prepared" / "fsdd" / "splits.json").read_bytes()).hexdigest()
    assert got == _locked_md5("data/prepared/fsdd/splits.json"), cpu_model()


def test_the_pin_loads_openblas_with_its_avx2_kernels():
    code = (
        "from snnkd.trainer.threads import pin_isa_environment, openblas_cores, require_isa\n"
        "pin_isa_environment()\nimport numpy\nprint(openblas_cores())\nrequire_isa('avx2')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=_env("avx2"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(json.loads(done.stdout.strip().replace("'", '"'))) <= {"Haswell"}


PORTABLE_REFERENCE = ROOT / "tests" / "data" / "cross_vendor" / "digits-scratch-seed0-portable"  # Intel-made


def test_a_portable_run_is_the_same_bytes_across_vendors(tmp_path):
    """The committed digits scratch seed 0 run of the default suite (``cpu_isa: portable``, made on
    an AMD EPYC), trained again under the same policy, is its bytes and those of the reference made
    under it on an Intel Xeon: on either vendor's CPU, whatever ISA above AVX2 it has."""
    if not x86_64():
        pytest.skip("the ISA pin is an x86-64 policy")
    if not (COMMITTED / "run.json").exists():
        pytest.skip("no committed digits scratch run")
    assert json.loads((COMMITTED / "run.json").read_text())["config"]["cpu_isa"] == "portable"
    out = _train_again(tmp_path, COMMITTED, "portable")
    assert json.loads((out / "run.json").read_text())["config"]["cpu_isa"] == "portable"
    assert not _differing(out, COMMITTED), cpu_model()
    assert not _differing(out, PORTABLE_REFERENCE), cpu_model()


QUANT = ROOT / "results" / "default" / "runs" / "digits" / "quant" / "seed0"  # portable, AMD-made


def test_a_portable_quant_run_reproduces_the_committed_one(tmp_path):
    """The committed digits quant seed 0 run (LSQ weights and membrane at 4 bits, its batch-norm
    scale through ATen's ``rsqrt``: :func:`snnkd.quant.common.over_sqrt`), made on an AMD EPYC, is
    reproduced under ``portable`` on either vendor (measured on an Intel Xeon, model 167: the same
    bytes; results/perf.md)."""
    if not x86_64():
        pytest.skip("the ISA pin is an x86-64 policy")
    if not (QUANT / "run.json").exists():
        pytest.skip("no committed digits quant run")
    differ = _differing(_train_again(tmp_path, QUANT, "portable"), QUANT)
    assert not differ, (differ, cpu_model())


def test_the_portable_policy_needs_its_process(tmp_path):
    """A portable run in an avx2-pinned process (no ``MKL_CBWR``) stops with one line, exit 2."""
    code = (
        "import sys\nfrom snnkd.cli.main import main\n"
        "sys.exit(main(['train', '--epochs', '1', '--set', 'cpu_isa=portable', '--out', 'x', '--no-track']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env("avx2"), capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "MKL_CBWR=None" in done.stderr and "SNNKD_CPU_ISA=portable" in done.stderr
    assert not (tmp_path / "x").exists()
