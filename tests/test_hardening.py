"""Issue 12: every bad input a one-line error, byte-stable outputs, divergence, teacher cache, plugins.

Concurrency (MLflow store, separate tuners) is in ``test_tune_distributed.py``.
"""

from __future__ import annotations

import copy
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import one_line_error as _one_line_error
from conftest import small_config, train_run
from conftest import train_args as _train

from snnkd.cli.main import main
from snnkd.core.atomic import atomic_text
from snnkd.errors import CheckpointError, ConfigError, TrainingDiverged
from snnkd.trainer import checkpoint

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("restore_registries", "own_mlflow_store")


# --- bad input on the command line -------------------------------------------------------------


def _plugin(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


CLI_CASES = {
    "malformed --config": (
        lambda t: ["--config", str(_write(t / "bad.yaml", "train: {lr: [1, 2\n"))],
        "config: {t}/bad.yaml is not valid YAML",
    ),
    "--config not a mapping": (
        lambda t: ["--config", str(_write(t / "list.yaml", "- 1\n- 2\n"))],
        "must hold a mapping",
    ),
    "--hparam without =": (lambda t: ["--method", "kd", "--hparam", "tau"], "--hparam: expected NAME=VALUE"),
    "--set without =": (lambda t: ["--set", "train.lr"], "--set: expected KEY=VALUE, got 'train.lr'"),
    "--lr inf": (lambda t: ["--lr", "inf"], "train.lr: Input should be a finite number"),
    "--lr nan": (lambda t: ["--lr", "nan"], "train.lr: Input should be a finite number"),
    "--set tau=.inf": (lambda t: ["--set", "neuron.tau=.inf"], "neuron.tau: Input should be a finite number"),
    "plugin raising on import": (
        lambda t: ["--plugin-dir", str(_plugin(t / "p1", "boom.py", "raise RuntimeError('boom')\n").parent)],
        "plugin {t}/p1/boom.py: RuntimeError: boom",
    ),
    "plugin with a syntax error": (
        lambda t: ["--plugin-dir", str(_plugin(t / "p2", "syn.py", "def f(:\n    pass\n").parent)],
        "plugin {t}/p2/syn.py: SyntaxError: invalid syntax (line 1)",
    ),
    "plugin importing a missing module": (
        lambda t: ["--plugin-dir", str(_plugin(t / "p3", "imp.py", "import no_such_module_h12\n").parent)],
        "plugin {t}/p3/imp.py: ModuleNotFoundError: No module named 'no_such_module_h12'",
    ),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_bad_cli_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case):
    make, expected = CLI_CASES[case]
    out = tmp_path / "run"
    code = main(_train(out, *make(tmp_path)))
    _one_line_error(capsys, code, expected.format(t=tmp_path))
    assert not out.exists()


@pytest.mark.parametrize(
    "where,expected",
    [
        ("file", "is a file, not a folder"),
        ("under-file", "which is a file, not a folder"),
        ("proc", "cannot"),
    ],
)
def test_unusable_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch, where, expected):
    from snnkd.trainer import run

    monkeypatch.setattr(run, "load_splits", lambda *a: pytest.fail("work began before --out was checked"))
    target = {
        "file": _write(tmp_path / "f", "x"),
        "under-file": _write(tmp_path / "g", "x") / "sub" / "run",
        "proc": Path("/proc/snnkd-h12/run"),
    }[where]
    code = main(_train(target))
    assert expected in _one_line_error(capsys, code, f"--out: {target}")
    if where == "file":
        assert (tmp_path / "f").read_text() == "x"


def test_read_only_out_is_refused_before_training(tmp_path):
    """As an unprivileged user (root may write anywhere): one line, exit 2, in seconds."""
    ro = Path(os.environ.get("TMPDIR", "/tmp")) / f"snnkd-h12-ro-{os.getpid()}"
    ro.mkdir(exist_ok=True)
    ro.chmod(0o555)
    try:
        cmd = [sys.executable, "-m", "snnkd.cli.main", *_train(ro / "run")]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "SNNKD_CACHE_DIR": str(ro / "cache")}
        res = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=env, timeout=120)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert res.returncode == 2, res.stderr
        assert lines == [f"snnkd: error: --out: {ro}/run: cannot write in {ro} (Permission denied)"]
        assert not (ro / "run").exists()
    finally:
        ro.rmdir()


def test_out_holding_a_finished_run_is_exit_2(tmp_path, capsys):
    out = tmp_path / "done"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    code = main(_train(out))
    _one_line_error(capsys, code, "already holds a finished run; use --force or --resume")


def test_a_crashed_run_leaves_no_folder(tmp_path, capsys, monkeypatch):
    from snnkd.trainer import loop as train

    def crash(*args, **kwargs):
        raise TrainingDiverged("loss became nan at epoch 1")

    monkeypatch.setattr(train, "train_epoch", crash)
    out = tmp_path / "a" / "b" / "run"
    code = main(_train(out))
    _one_line_error(capsys, code, "loss became nan", exit_code=1)
    assert not (tmp_path / "a").exists()
    # a folder that existed before is kept
    (tmp_path / "kept").mkdir()
    main(_train(tmp_path / "kept"))
    capsys.readouterr()
    assert (tmp_path / "kept").is_dir()


def test_no_triton_noise_on_commands(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args in (["list", "methods"], _train(tmp_path / "run")):
        res = subprocess.run(
            [sys.executable, "-m", "snnkd.cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr
        assert "Triton" not in res.stdout + res.stderr, res.stderr
        assert args[0] != "list" or res.stderr == ""
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


# --- params.yaml ------------------------------------------------------------------------------


def _suite_file(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data = copy.deepcopy(data)
    edit(data["suites"]["default"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "edit,expected",
    [
        (
            lambda d: d["networks"]["teacher"].update(model="giant"),
            "networks.teacher.model: unknown model 'giant' for digits; valid choices:",
        ),
        (lambda d: d.update(seeds=[0, 1, 0]), "seeds.2: '0' is listed twice"),
        (lambda d: d.update(datasets=["digits", "digits"]), "datasets.1: 'digits' is listed twice"),
        (lambda d: d.update(seeds=[-1]), "seeds.0: -1 is negative; a seed must be >= 0"),
    ],
)
def test_broken_params_yaml_names_the_key(tmp_path, capsys, edit, expected):
    path = _suite_file(tmp_path, edit)
    code = main(["suite", "check", str(path)])
    _one_line_error(capsys, code, f"{path}: suites.default: {expected}")


def test_params_yaml_malformed_yaml_is_one_line(tmp_path, capsys):
    path = _write(tmp_path / "params.yaml", "suite: x\nseeds: [0, 1\n")
    _one_line_error(capsys, main(["suite", "check", str(path)]), "not valid YAML")


# --- checkpoints and atomic writes ------------------------------------------------------------


def test_identical_runs_give_byte_identical_checkpoints(tmp_path):
    cfg = small_config(train__epochs=2)
    _, first = train_run(cfg, tmp_path / "a")
    _, second = train_run(cfg, tmp_path / "b")
    a, b = (tmp_path / "a" / "checkpoint.pt").read_bytes(), (tmp_path / "b" / "checkpoint.pt").read_bytes()
    assert a == b
    # the timings are still measured, in the metrics
    assert all(h["epoch_seconds"] > 0 for h in first["history"])
    assert "epoch_seconds" not in checkpoint.load(tmp_path / "a" / "checkpoint.pt")["history"][0]


def test_atomic_writes_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_text(tmp_path / "a.txt", "x")
        checkpoint.save(tmp_path / "c.pt", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o640


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".checkpoint.pt.{dead_pid}.abc123.tmp"
    old_style = tmp_path / ".checkpoint.pt.k2j4h5.tmp"  # no pid; two hours old
    live = tmp_path / ".checkpoint.pt.1.zz9.tmp"  # pid 1 runs
    other = tmp_path / f".metrics.json.{dead_pid}.q.tmp"  # another file's
    for p in (stale, old_style, live, other):
        p.write_text("half")
    os.utime(old_style, (0, 0))
    checkpoint.save(tmp_path / "checkpoint.pt", {"x": 1})
    assert not stale.exists() and not old_style.exists()
    assert live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".checkpoint")) == [live.name]


# --- divergence -------------------------------------------------------------------------------


def _fake_run(model: torch.nn.Module) -> SimpleNamespace:
    return SimpleNamespace(reference_loss=None, model=model, loss=torch.nn.Module())


def test_divergence_rule():
    from snnkd.trainer.divergence import check_divergence

    run = _fake_run(torch.nn.Linear(2, 2))
    check_divergence(run, 1, [torch.tensor(2.3), torch.tensor(40.0)])  # noisy, not diverged
    assert run.reference_loss == pytest.approx(2.3)
    check_divergence(run, 2, [torch.tensor(2290.0)])  # under 1000 x 2.3
    with pytest.raises(TrainingDiverged, match=r"loss exploded to 1e\+08 in epoch 3 \(first batch: 2.3"):
        check_divergence(run, 3, [torch.tensor(1.0), torch.tensor(1e8)])
    # a small first loss is judged against 1, not against itself
    small = _fake_run(torch.nn.Linear(2, 2))
    check_divergence(small, 1, [torch.tensor(1e-3), torch.tensor(900.0)])
    bn = torch.nn.BatchNorm1d(3)
    bn.running_var[1] = float("inf")
    with pytest.raises(TrainingDiverged, match=r"1 parameters or buffers .* epoch 4 \(first: running_var\)"):
        check_divergence(_fake_run(bn), 4, [torch.tensor(1.0)])


def test_exploding_run_stops_and_its_mlflow_run_is_failed(tmp_path, capsys, monkeypatch):
    """lr=1e30 with SGD: the loss explodes while finite; exit 1, nothing published, run FAILED."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "run"
    code = main([*_train(out, "--epochs", "2", "--lr", "1e30", "--optimizer", "sgd"), "--track"])
    line = _one_line_error(capsys, code, "loss exploded to", exit_code=1)
    assert "in epoch 1" in line and "lower the learning rate" in line
    assert not out.exists()
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("snnkd-adhoc").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


# --- teacher knowledge ------------------------------------------------------------------------


def _kd_run(teacher_ckpt):
    from snnkd.methods.trace import Tracer
    from snnkd.trainer.run import prepare

    run = prepare(small_config(method="kd", teacher=str(teacher_ckpt)))
    return run, Tracer(run.teacher.model, run.teacher_needs)


@pytest.mark.parametrize(
    "damage",
    [
        lambda k: {**k, "logits": k["logits"][:, :3].contiguous()},  # wrong logit shape
        lambda k: {**k, "logits": k["logits"].double()},  # wrong dtype
        lambda k: {**k, "logits": k["logits"].index_fill(0, torch.tensor([5]), float("nan"))},
        lambda k: {**k, "logits": k["logits"][:-1]},  # wrong row count
        lambda k: {"nonsense": 1},
    ],
    ids=["shape", "dtype", "nan", "rows", "foreign"],
)
def test_damaged_teacher_cache_is_recomputed(teacher_ckpt, damage):
    from snnkd.trainer import teacher

    run, tracer = _kd_run(teacher_ckpt)
    teacher._TEACHER_CACHE.clear()
    good = teacher._teacher_knowledge(run, tracer)
    (path,) = teacher.teacher_cache_dir().glob(f"{run.teacher.digest[:16]}-*-logits.pt")
    saved = torch.load(path, weights_only=True)
    torch.save(damage(saved), path)
    teacher._TEACHER_CACHE.clear()
    again = teacher._teacher_knowledge(run, tracer)
    assert again.logits.shape == good.logits.shape and again.logits.dtype == torch.float32
    assert torch.equal(again.logits, good.logits)
    assert torch.equal(torch.load(path, weights_only=True)["logits"], saved["logits"])  # rewritten


def test_nan_teacher_is_one_error_naming_its_checkpoint(tmp_path, teacher_ckpt, capsys):
    state = checkpoint.load(teacher_ckpt)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    bad = tmp_path / "nan-teacher.pt"
    checkpoint.save(bad, {k: v for k, v in state.items() if k != "format"})
    out = tmp_path / "run"
    code = main(_train(out, "--method", "kd", "--teacher", str(bad)))
    line = _one_line_error(capsys, code, f"teacher: {bad} holds non-finite weights")
    assert "learning rate" not in line
    assert not out.exists()


def test_nan_teacher_logits_are_named_not_blamed_on_the_learning_rate(teacher_ckpt):
    from snnkd.methods.trace import Knowledge
    from snnkd.trainer import teacher

    run, _ = _kd_run(teacher_ckpt)
    logits = torch.zeros(4, 10)
    logits[2, 3] = float("nan")
    with pytest.raises(CheckpointError, match=rf"teacher: {teacher_ckpt} gives non-finite logits .*1 of 4"):
        teacher._check_teacher_knowledge(run, Knowledge(logits=logits))


# --- plugins ----------------------------------------------------------------------------------

PLUGIN = """
from snnkd.methods import Method, register, term
from snnkd.methods.terms import term as loss_term


@loss_term("h12_double_ce", student={"logits"})
def double_ce(s, k, y):
    import torch.nn.functional as F

    return 2 * F.cross_entropy(s.logits, y)


register(Method(name="h12-method", paper="test", recipe=lambda hp: [term("h12_double_ce")]))
"""


def test_a_plugin_installed_and_loaded_from_its_folder_is_not_a_conflict(tmp_path, monkeypatch):
    import importlib

    from snnkd.methods import discover, get_method

    folder = tmp_path / "pkg"
    _plugin(folder, "h12plugin.py", PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    importlib.import_module("h12plugin")  # as an installed package's entry point imports it
    try:
        assert "h12-method" in discover([folder])  # the same file again, from the folder
        assert get_method("h12-method", [folder]).terms({})[0].name == "h12_double_ce"
    finally:
        sys.modules.pop("h12plugin", None)


def test_a_real_term_conflict_names_both_sources(tmp_path, capsys):
    a = _plugin(tmp_path / "a", "one.py", PLUGIN)
    b = _plugin(tmp_path / "b", "two.py", PLUGIN.replace("2 * F", "3 * F"))
    code = main(["list", "methods", "--plugin-dir", str(a.parent), "--plugin-dir", str(b.parent)])
    line = _one_line_error(capsys, code, f"plugin {b}: loss term 'h12_double_ce' is defined twice: in {a}:")
    assert f"and in {b}:" in line


def test_unknown_teacher_role_is_refused():
    from snnkd.methods import Method

    with pytest.raises(
        ConfigError,
        match="method m: teacher 'teachr' is not a teacher role; valid choices: "
        "none, teacher, assistant, fp-twin",
    ):
        Method(name="m", paper="p", recipe=lambda hp: [], teacher="teachr")


def test_unknown_knowledge_field_is_one_line(tmp_path, capsys):
    bad = PLUGIN.replace('student={"logits"}', 'student={"logit"}')
    folder = _plugin(tmp_path / "f", "field.py", bad).parent
    code = main(["list", "methods", "--plugin-dir", str(folder)])
    _one_line_error(
        capsys,
        code,
        "loss term 'h12_double_ce': unknown student knowledge field 'logit'; "
        "valid choices: logits, readout, out_spikes, spikes, membrane",
    )


# --- tuning side effects ----------------------------------------------------------------------


def test_chance_level_result_is_flagged(tmp_path):
    from snnkd.tune.pareto import Point
    from snnkd.tune.spec import TuneSpec
    from snnkd.tune.study import chance_warning, write_tuned

    spec = TuneSpec(base={"dataset": "digits", "method": "kd"}, trials=2, storage="x.journal", study="s")
    assert "at chance level (1/10 = 0.1000" in chance_warning(spec, 0.11)
    assert chance_warning(spec, 0.9) is None
    path = write_tuned(spec, Point(0, 0.11, float("nan"), {"tau": 2.0}), {}, tmp_path / "t.yaml", "at chance")
    assert "# WARNING: at chance\n" in path.read_text()
    assert yaml.safe_load(path.read_text())["hparams"] == {"tau": 2.0}


def test_adhoc_tune_writes_outside_results():
    from snnkd.cli.main import build_parser

    args = build_parser().parse_args(["tune", "--method", "kd"])
    assert args.results_dir == "runs/tune"


AUDIT = [
    ["--config", "nope.yaml"],
    ["--out", "/proc/self/x"],
    ["--hparam", "=3"],
    ["--set", "=3"],
    ["--set", "train.lr=[1"],
    ["--set", "train.lr.x=3"],
    ["--set", "hparams=3"],
    ["--lr", "-1"],
    ["--grad-clip", "inf"],
    ["--lif-tau", "inf"],
    ["--threshold", "nan"],
    ["--seed", "-1"],
    ["--method", "nope"],
    ["--method", "kd"],
    ["--method", "kd", "--teacher", "nope.pt"],
    ["--method", "kd", "--teacher", "afile"],
    ["--method", "kd+"],
    ["--method", "kd+kd-mse", "--teacher", "x"],
    ["--hparam", "nope=1"],
    ["--method", "kd", "--hparam", "tau=abc"],
    ["--method", "kd", "--hparam", "tau=-5"],
    ["--plugin-dir", "nope"],
    ["--plugin-dir", "afile"],
    ["--readout", "x"],
    ["--weight-bits", "0"],
    ["--resume", "--out", "afile"],
]
OTHER = [
    ["eval", "nope.pt"],
    ["eval", "afile"],
    ["eval", "bad.yaml"],
    ["list", "methods", "--plugin-dir", "nope"],
    ["suite", "check", "bad.yaml"],
    ["suite", "check", "list.yaml"],
    ["pipeline", "method"],
    ["pipeline", "method", "digits", "x", "0", "--params", "bad.yaml"],
    ["tune", "--method", "scratch", "--trials", "1"],
    ["tune", "--method", "kd", "--trials", "0"],
    ["tune", "--method", "logit-reg", "--objectives", "x"],
    ["tune", "--method", "logit-reg", "--storage", "journal://", "--trials", "1"],
    ["tune", "--method", "logit-reg", "--lr", "inf"],
    ["tune", "--method", "logit-reg", "--hparam", "x"],
    ["tune", "--method", "logit-reg", "--results-dir", "afile/x", "--trials", "1", "--no-mlflow"],
    [
        "tune",
        "--method",
        "logit-reg",
        "--storage",
        "journal:///proc/x.journal",
        "--trials",
        "1",
        "--no-mlflow",
    ],
    ["leaderboard", "--params", "bad.yaml"],
]


@pytest.mark.parametrize("args", [["train", *a] for a in AUDIT] + OTHER, ids=" ".join)
def test_audit_cases_are_one_line_exit_2(tmp_path, capsys, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "afile", "x")
    _write(tmp_path / "bad.yaml", "a: [1\n")
    _write(tmp_path / "list.yaml", "- 1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    if args[0] == "train":
        args = [*_train(tmp_path / "run"), *args[1:]]
    _one_line_error(capsys, main(args), "")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
