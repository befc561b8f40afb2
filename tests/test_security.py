"""Issue 21 (security and hardening): each attack itself, tried and refused.

- a checkpoint never chooses code: a ``config.plugin_dirs`` naming folders whose ``.py``
  would create a file is never loaded by ``eval``, ``--teacher``, ``export`` or ``--resume``;
  a checkpoint evaluates after its plugin folder moved (issue 26, item 5);
- a damaged checkpoint is one line, exit 2, everywhere, and never resumed from;
- a plugin that registers a built-in's name, or exits at import, is one line, exit 2;
- names that reach a shell (``params.yaml``) or a path (``--suite``) are plain names:
  ``dvc repro --keep-going`` of an injected ``params.yaml`` runs nothing;
- a canary password appears in no output; damaged MLflow stores fail before training;
- a resumed run's checkpoint is byte-identical to an uninterrupted run's; SIGTERM is SIGINT;
- ``export --out`` is checked first; Adam at ``lr`` 1e38 stops as divergence.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch
import yaml
from conftest import one_line_error as _one_line_error
from conftest import small_config, train_run
from conftest import train_args as _train

from snnkd.cli.main import main
from snnkd.trainer import checkpoint

REPO = Path(__file__).resolve().parents[1]
CANARY = "CANARYPW"


pytestmark = pytest.mark.usefixtures("restore_registries", "own_mlflow_store")


def _cli(args: list[str], cwd: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """``snnkd ARGS`` in a fresh interpreter (no plugin of this process's registry carries over)."""
    full = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "snnkd.cli.main", *args], cwd=cwd, env=full, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def _rewrite(src: Path, dest: Path, edit) -> Path:
    """A copy of checkpoint ``src`` with ``edit(state)`` applied (our marker kept)."""
    state = torch.load(src, map_location="cpu", weights_only=True)
    edit(state)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        torch.save(state, f)
    return dest


# --- a checkpoint never chooses code ------------------------------------------------------------


def _plugin_file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _trap(folder: Path, marker: Path) -> Path:
    """A plugin folder whose ``.py`` creates ``marker`` when imported."""
    _plugin_file(folder, "pwn.py", f"from pathlib import Path\nPath({str(marker)!r}).write_text('pwned')\n")
    return folder


@pytest.fixture
def trapped(tmp_path, monkeypatch, teacher_ckpt):
    """The digits teacher with ``config.plugin_dirs`` naming a relative folder, one in the temporary
    folder and a missing one, each trap creating a file under ``tmp_path/pwned``."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    _trap(tmp_path / "rel-plugins", marker)
    _trap(tmp_path / "abs-plugins", marker)
    dirs = ["rel-plugins", str(tmp_path / "abs-plugins"), str(tmp_path / "moved-away")]

    def name_the_traps(state):
        state["config"]["plugin_dirs"] = dirs

    return _rewrite(teacher_ckpt, tmp_path / "shared" / "checkpoint.pt", name_the_traps), marker


def test_the_trap_would_fire_if_its_folder_were_loaded(trapped, capsys):
    ckpt, marker = trapped
    assert main(["list", "methods", "--plugin-dir", "rel-plugins"]) == 0
    assert marker.read_text() == "pwned"  # so the tests below would see it


def test_eval_of_a_checkpoint_runs_no_code_it_names(trapped, capsys):
    ckpt, marker = trapped
    assert main(["eval", str(ckpt), "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] > 0.5
    assert not marker.exists()


def test_a_teacher_checkpoint_runs_no_code_it_names(trapped, tmp_path, capsys):
    ckpt, marker = trapped
    assert main(_train(tmp_path / "student", "--method", "kd", "--teacher", str(ckpt), "--no-track")) == 0
    assert not marker.exists()


def test_export_of_a_checkpoint_runs_no_code_it_names(trapped, tmp_path, capsys):
    pytest.importorskip("nir", reason="the [nir] extra")
    ckpt, marker = trapped
    assert main(["export", str(ckpt), "--out", str(tmp_path / "net.nir")]) == 0
    assert (tmp_path / "net.nir").is_file()
    assert not marker.exists()


def test_resume_from_a_checkpoint_runs_no_code_it_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    _trap(tmp_path / "rel-plugins", marker)
    out = tmp_path / "run"
    cfg = small_config(train__epochs=2)
    train_run(cfg, out, stop_after=1)

    def name_the_trap(state):
        state["config"]["plugin_dirs"] = ["rel-plugins", str(tmp_path / "rel-plugins")]

    _rewrite(out / "checkpoint.pt", out / "checkpoint.pt", name_the_trap)
    args = ["train", "--epochs", "2", "--device", "cpu", "--quiet", "--out", str(out), "--resume"]
    assert main([*args, "--no-track"]) == 0
    assert checkpoint.load(out / "checkpoint.pt")["epoch"] == 2
    assert not marker.exists()


PORTABLE = """
from snnkd.methods import Method, register, term

register(Method(name="h21-portable", paper="test", recipe=lambda hp: [term("ce", {weight})]))
"""


def test_a_checkpoint_evaluates_after_its_plugin_folder_moved(tmp_path, capsys):
    """Issue 26, item 5: the method is found by name wherever it is available, and checked
    against the loss terms its run recorded (run.json beside the checkpoint)."""
    _plugin_file(tmp_path / "a", "portable.py", PORTABLE.format(weight=1.0))
    out = tmp_path / "run"
    assert (
        main(_train(out, "--method", "h21-portable", "--plugin-dir", str(tmp_path / "a"), "--no-track")) == 0
    )
    shutil.move(tmp_path / "a", tmp_path / "b")
    ckpt = str(out / "checkpoint.pt")
    moved = _cli(["eval", ckpt, "--device", "cpu", "--plugin-dir", str(tmp_path / "b")], tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["accuracy"] > 0
    alone = _cli(["eval", ckpt, "--device", "cpu"], tmp_path)
    assert alone.returncode == 2
    assert alone.stderr.strip().splitlines() == [
        f"snnkd: error: checkpoint: {ckpt}: its method 'h21-portable' is not available here; give the "
        "folder of its plugin with --plugin-dir (folders a checkpoint names are never loaded: "
        f"{tmp_path / 'a'}); "
        "valid choices: " + alone.stderr.split("valid choices: ")[1].strip()
    ]
    _plugin_file(tmp_path / "c", "portable.py", PORTABLE.format(weight=2.0))  # the same name, another recipe
    other = _cli(["eval", ckpt, "--device", "cpu", "--plugin-dir", str(tmp_path / "c")], tmp_path)
    assert other.returncode == 2
    assert (
        "method 'h21-portable' here gives the loss terms 2.0*ce, not the 1.0*ce its run recorded"
        in other.stderr
    )
    assert len(other.stderr.strip().splitlines()) == 1


def test_a_builtin_method_checkpoint_evaluates_with_its_plugin_folder_gone(tmp_path, teacher_ckpt, capsys):
    def moved(state):
        state["config"]["plugin_dirs"] = [str(tmp_path / "gone")]

    ckpt = _rewrite(teacher_ckpt, tmp_path / "c.pt", moved)
    assert main(["eval", str(ckpt), "--device", "cpu"]) == 0


# --- a damaged checkpoint: one line, exit 2, everywhere -----------------------------------------


def _set(path: list[str], value):
    def edit(state):
        node = state
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _drop(key: str):
    return lambda state: state.pop(key)


DAMAGES = {
    "no config": (_drop("config"), "is damaged: its config is missing"),
    "no spec": (_drop("spec"), "is damaged: its spec is missing"),
    "no weights": (_drop("model"), "is damaged: its model is missing"),
    "weights not tensors": (
        _set(["model"], {"a": 1}),
        "its weights (model) are not a mapping of names to tensors",
    ),
    "damaged config": (_set(["config", "train", "lr"], "fast"), "is damaged: config: train.lr:"),
    "config not a mapping": (_set(["config"], [1, 2]), "is damaged: its config is a list, not a dict"),
    "bad spec arch": (_set(["spec", "arch"], "no-such-arch"), "is damaged: spec:"),
    "spec missing a key": (lambda s: s["spec"].pop("kwargs"), "is damaged: spec.kwargs is missing"),
    "misshapen weights": (
        lambda s: s["model"].update({k: torch.zeros(1) for k in list(s["model"])[:1]}),
        "its weights do not fit its spec",
    ),
}


RESUME_DAMAGES = {
    "bad spec arch": "is damaged: its spec is not this run's network; remove it to train afresh",
    "misshapen weights": "is damaged: its model does not load (RuntimeError: Error(s) in loading state_dict",
}


@pytest.fixture(scope="module")
def resumable(tmp_path_factory) -> Path:
    """A 2-epoch run stopped after epoch 1 (its checkpoint can be resumed)."""
    out = tmp_path_factory.mktemp("resumable")
    train_run(small_config(train__epochs=2), out, stop_after=1)
    return out / "checkpoint.pt"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("command", ["eval", "teacher", "export", "resume"])
def test_a_damaged_checkpoint_is_one_line_everywhere(
    tmp_path, capsys, teacher_ckpt, resumable, damage, command
):
    edit, expected = DAMAGES[damage]
    if command == "resume":  # what --resume checks against the run it continues
        expected = RESUME_DAMAGES.get(damage, expected)
    if command == "export":
        pytest.importorskip("nir", reason="the [nir] extra")
    source = resumable if command == "resume" else teacher_ckpt
    ckpt = _rewrite(source, tmp_path / "run" / "checkpoint.pt", edit)
    before = ckpt.read_bytes()
    args = {
        "eval": ["eval", str(ckpt), "--device", "cpu"],
        "teacher": _train(tmp_path / "student", "--method", "kd", "--teacher", str(ckpt)),
        "export": ["export", str(ckpt), "--out", str(tmp_path / "net.nir")],
        "resume": [
            "train",
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            str(ckpt.parent),
            "--resume",
            "--no-track",
        ],
    }[command]
    line = _one_line_error(capsys, main(args), expected)
    assert str(ckpt) in line
    assert ckpt.read_bytes() == before  # --resume never continues from (or rewrites) it
    assert not (tmp_path / "student").exists() and not (tmp_path / "net.nir").exists()
    assert not (ckpt.parent / "metrics.json").exists()


def test_resume_refuses_a_training_state_that_does_not_load(tmp_path, capsys, resumable):
    ckpt = _rewrite(resumable, tmp_path / "run" / "checkpoint.pt", _set(["optimizer"], {"state": 1}))
    args = ["train", "--epochs", "2", "--device", "cpu", "--quiet", "--out", str(ckpt.parent), "--resume"]
    expected = f"--resume: {ckpt} is damaged: its optimizer does not load"
    _one_line_error(capsys, main([*args, "--no-track"]), expected)


# --- plugins: no silent replacement of a built-in, no exit at import ----------------------------


def test_a_plugin_registering_a_builtin_name_is_refused_naming_both(tmp_path, capsys):
    folder = tmp_path / "p"
    evil = "register(Method(name='kd', paper='x', teacher='teacher', recipe=lambda hp: [term('ce')]))\n"
    _plugin_file(folder, "evil.py", "from snnkd.methods import Method, register, term\n" + evil)
    out = tmp_path / "run"
    code = main(_train(out, "--method", "kd", "--plugin-dir", str(folder)))
    line = _one_line_error(capsys, code, f"plugin {folder / 'evil.py'}: method 'kd' is defined twice: in ")
    assert f"{Path('methods') / 'kd.py'}:" in line and f"and in {folder / 'evil.py'}:2" in line
    assert not out.exists()


@pytest.mark.parametrize(
    "body,expected",
    [
        ("import sys\nsys.exit(0)\n", "it calls sys.exit(0) while being imported"),
        ("raise SystemExit('bye')\n", "it calls sys.exit('bye') while being imported"),
        ("raise GeneratorExit()\n", "GeneratorExit"),
    ],
)
def test_a_plugin_exiting_at_import_is_one_line_and_trains_nothing(tmp_path, capsys, body, expected):
    folder = tmp_path / "p"
    _plugin_file(folder, "bye.py", body)
    out = tmp_path / "run"
    code = main(_train(out, "--plugin-dir", str(folder)))
    _one_line_error(capsys, code, f"plugin {folder / 'bye.py'}: {expected}")
    assert not out.exists()


# --- names reaching a shell or a path ---------------------------------------------------------


def _params(tmp_path: Path, edit, whole: bool = True) -> Path:
    """params.yaml with ``edit`` made to its default suite (the plan: ``plan``); ``whole=False``: the
    default suite's file alone, as a benchmarks/<name>.yaml holds it."""
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    suite = data["suites"]["default"]
    suite["plan"] = data.pop("plan")
    edit(suite)
    data["plan"] = suite.pop("plan")
    data = data if whole else suite
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


INJECTIONS = {
    "datasets": (lambda d: d.update(datasets=["digits", "x;touch PWNED", "$(touch PWNED2)"]), "datasets.1"),
    "method": (lambda d: d["methods"].update({"kd`touch PWNED`": {}}), "methods.kd`touch PWNED`"),
    "network": (lambda d: d["networks"].update({"a b": d["networks"]["teacher"]}), "networks.a b"),
    "suite": (lambda d: d.update(suite="../x"), "suite"),
    "plan": (
        lambda d: d["plan"]["runs"]["default-digits-kd"].update(method="kd;touch PWNED"),
        "plan.runs.default-digits-kd.method",
    ),
    "plan suite": (
        lambda d: d["plan"]["networks"]["default-digits-teacher"].update(suite="$(touch PWNED)"),
        "plan.networks.default-digits-teacher.suite",
    ),
    "option": (lambda d: d.update(datasets=["--force"]), "datasets.0"),
}


@pytest.mark.parametrize("case", sorted(INJECTIONS))
@pytest.mark.parametrize("action", ["check", "plan", "setup"])
def test_names_reaching_a_shell_are_refused_before_any_plan(tmp_path, monkeypatch, capsys, case, action):
    edit, key = INJECTIONS[case]
    path = _params(tmp_path, edit)
    before = path.read_text()
    monkeypatch.chdir(tmp_path)
    args = ["pipeline", "setup", "--params", str(path)] if action == "setup" else ["suite", action, str(path)]
    where = f"{path}: " if key.startswith("plan") else f"{path}: suites.default: "
    line = _one_line_error(capsys, main(args), f"{where}{key}: ")
    allowed = "letters, digits, '_', '.' and '-', not beginning with '-', not dots alone"
    assert f"is not a valid name; use {allowed}" in line
    assert path.read_text() == before
    assert not (tmp_path / "results").exists() and not list(tmp_path.rglob("PWNED*"))


def test_suite_use_refuses_an_injected_benchmark(tmp_path, monkeypatch, capsys):
    (tmp_path / "benchmarks").mkdir()
    evil = _params(tmp_path, INJECTIONS["datasets"][0], whole=False)
    evil.rename(tmp_path / "benchmarks" / "evil.yaml")
    (tmp_path / "params.yaml").write_text("kept\n")
    monkeypatch.chdir(tmp_path)
    _one_line_error(
        capsys, main(["suite", "use", "evil"]), "benchmarks/evil.yaml: datasets.1: 'x;touch PWNED'"
    )
    assert (tmp_path / "params.yaml").read_text() == "kept\n"


def test_dvc_repro_of_an_injected_params_yaml_runs_nothing(tmp_path):
    """The audit's attack: `dvc repro --keep-going` with injected dataset names, in a copy of the repo."""
    from smoke_repo import fresh_copy, smoke_env

    env = smoke_env(tmp_path)
    repo = fresh_copy(tmp_path / "repo", env)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["suites"]["smoke"]["datasets"] = ["digits", "x;touch PWNED", "$(touch PWNED2)"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = subprocess.run(
        ["dvc", "repro", "--keep-going"], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0
    assert "datasets.1: 'x;touch PWNED' is not a valid name" in done.stdout + done.stderr
    assert not list(tmp_path.rglob("PWNED*"))  # the copy and everything around it
    assert not (repo / "results" / "checked.json").exists()
    assert not (repo / "data" / "prepared" / "digits" / "splits.json").exists()  # not even a valid stage ran


@pytest.mark.parametrize("suite", ["../../../../x", "a/b", "..", "x;y", "-rf"])
def test_suite_flag_cannot_escape_the_checkout(tmp_path, monkeypatch, capsys, suite):
    work = tmp_path / "a" / "b" / "c" / "d"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / ".git").mkdir()  # the repository root mlartifacts/ would go under
    out = work / "run"
    code = main(_train(out, f"--suite={suite}"))
    _one_line_error(capsys, code, f"--suite: {suite!r} is not a valid name")
    assert not out.exists()
    code = main(["tracking", "init", f"--suite={suite}"])
    _one_line_error(capsys, code, f"--suite: {suite!r} is not a valid name")
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".git", "a", "b", "c", "d"]


# --- no password in any output; the store checked before training -------------------------------


def _pg_ready() -> bool:
    try:
        import psycopg

        psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=5
        ).close()
    except Exception:
        return False
    return True


STORES = {
    "postgresql, closed port": f"postgresql://u:{CANARY}@127.0.0.1:1/x",
    "http server, closed port": f"http://u:{CANARY}@127.0.0.1:1",
    "postgresql, wrong database": f"postgresql://postgres:{CANARY}@127.0.0.1:5432/snnkd_h21_{uuid.uuid4().hex[:8]}",
    "missing driver": f"mysql://u:{CANARY}@127.0.0.1:1/x",
    "password query": f"postgresql://127.0.0.1:1/x?user=u&password={CANARY}",
}


CANARY_SCRIPT = """
import contextlib, io, json, os, sys
from snnkd.cli.main import main

results = {}
for case, uri in json.loads(sys.argv[1]).items():
    os.environ["MLFLOW_TRACKING_URI"] = uri
    for args in (json.loads(sys.argv[2]), ["tracking", "init", "--suite", "h21"]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(args)
        results.setdefault(case, []).append([code, err.getvalue()])
print(json.dumps(results))
"""


def test_a_canary_password_appears_in_no_output(tmp_path):
    """`snnkd train` and `tracking init` on each unusable store: one line, the password masked, before
    training; and the canary nowhere in the process's whole output (MLflow's and the drivers' logs too)."""
    stores = {k: v for k, v in STORES.items() if "wrong database" not in k or _pg_ready()}
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SNNKD_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run(
        [sys.executable, "-c", CANARY_SCRIPT, json.dumps(stores), json.dumps(_train(out))],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert CANARY not in res.stdout + res.stderr
    results = json.loads(res.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(stores)
    for case, outcomes in results.items():
        for code, err in outcomes:
            lines = err.strip().splitlines()
            assert code == 1 and len(lines) == 1, (case, err)
            assert lines[0].startswith("snnkd: error: mlflow: cannot ") and "***" in lines[0], (case, err)
    assert not out.exists()  # refused before training: no folder, no checkpoint


def test_redact_masks_every_form():
    from snnkd.tracking.redact import redact

    assert (
        redact(f"at postgresql+psycopg2://alice:{CANARY}@db:5432/x, then")
        == "at postgresql+psycopg2://alice:***@db:5432/x, then"
    )
    assert redact(f"http://:{CANARY}@h/p") == "http://:***@h/p"
    assert redact(f"dbname=x password={CANARY} host=h") == "dbname=x password=*** host=h"
    assert redact(f"?PASSWORD={CANARY}&u=1") == "?PASSWORD=***&u=1"
    assert redact(f"echoed: {CANARY}", f"http://u:{CANARY}@h") == "echoed: ***"
    assert redact("sqlite:////tmp/mlflow.db and journal:///a/b.journal") == (
        "sqlite:////tmp/mlflow.db and journal:///a/b.journal"
    )


def _store(tmp_path: Path, damage: str) -> str:
    db = tmp_path / f"{damage}.db"
    if damage == "random bytes":
        db.write_bytes(os.urandom(4096))
    elif damage == "text":
        db.write_text("not a database\n" * 50)
    else:  # a real store, made in another process (this one would keep its engine open, schema unchecked)
        res = _cli(["tracking", "init", "--suite", "h21"], tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{db}")
        assert res.returncode == 0, res.stderr
        with sqlite3.connect(db) as conn:
            if damage == "missing runs table":
                conn.execute("DROP TABLE runs")
            else:  # an old schema: MLflow's first revision
                conn.execute("UPDATE alembic_version SET version_num = '451aebb31d03'")
    return f"sqlite:///{db}"


DAMAGED_STORES = {
    "random bytes": "file is not a database",
    "text": "file is not a database",
    "missing runs table": "is damaged: it has no table 'runs'",
    "old schema": "Detected out-of-date database schema",
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_STORES))
def test_a_damaged_store_is_refused_before_training(tmp_path, monkeypatch, capsys, damage):
    from snnkd.trainer import loop as train

    uri = _store(tmp_path, damage)
    before = Path(uri[len("sqlite:///") :]).read_bytes()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("training began on a damaged store"))
    expected = DAMAGED_STORES[damage]
    _one_line_error(capsys, main(["tracking", "init", "--suite", "h21"]), expected, exit_code=1)
    _one_line_error(capsys, main(_train(tmp_path / "run")), expected, exit_code=1)
    assert not (tmp_path / "run").exists()
    code = main(
        [
            "leaderboard", "--params", str(REPO / "params.yaml"), "--suite", "default",
            "--out", str(tmp_path / "lb"), "--no-log",
        ]
    )  # fmt: skip
    _one_line_error(capsys, code, expected, exit_code=1)
    assert Path(uri[len("sqlite:///") :]).read_bytes() == before  # nothing "repaired" behind the user's back


# --- byte-identical resume; SIGTERM is SIGINT ----------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_resumed_run_writes_the_uninterrupted_runs_bytes(tmp_path, optimizer):
    cfg = small_config(train__epochs=3, train__patience=2, train__optimizer=optimizer)
    train_run(cfg, tmp_path / "whole")
    train_run(cfg, tmp_path / "parts", stop_after=1)
    train_run(cfg, tmp_path / "parts", stop_after=2, resume=True)
    train_run(cfg, tmp_path / "parts", resume=True)
    whole = (tmp_path / "whole" / "checkpoint.pt").read_bytes()
    assert (tmp_path / "parts" / "checkpoint.pt").read_bytes() == whole


def test_sigterm_is_an_interrupt_and_the_resumed_run_matches(tmp_path, capsys):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'sig.db'}"
    out = tmp_path / "run"
    args = ["train", "--epochs", "4", "--device", "cpu", "--quiet", "--out", str(out), "--suite", "h21"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snnkd.cli.main", *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not (out / "checkpoint.pt").exists() and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "snnkd: interrupted"
    assert not (out / "metrics.json").exists()
    runs = mlflow.MlflowClient(uri).search_runs(
        [mlflow.MlflowClient(uri).get_experiment_by_name("snnkd-h21").experiment_id]
    )
    assert [r.info.status for r in runs] == ["KILLED"]
    resumed = _cli([*args, "--resume"], tmp_path, MLFLOW_TRACKING_URI=uri)
    assert resumed.returncode == 0, resumed.stderr
    assert main([*args[:-2], "--out", str(tmp_path / "whole"), "--no-track"]) == 0
    assert (out / "checkpoint.pt").read_bytes() == (tmp_path / "whole" / "checkpoint.pt").read_bytes()


# --- export --out first; an overflowing optimizer step ---------------------------------------------


@pytest.mark.parametrize("where", ["folder", "under-file", "proc"])
def test_export_checks_out_before_converting(tmp_path, monkeypatch, capsys, teacher_ckpt, where):
    pytest.importorskip("nir", reason="the [nir] extra")
    from snnkd.nir import export

    monkeypatch.setattr(export, "to_nir", lambda *a: pytest.fail("converted before --out was checked"))
    (tmp_path / "f").write_text("x")
    (tmp_path / "dir").mkdir()
    out, expected = {
        "folder": (tmp_path / "dir", "is a folder, not a file"),
        "under-file": (tmp_path / "f" / "net.nir", "which is a file, not a folder"),
        "proc": (Path("/proc/snnkd-h21/net.nir"), "cannot"),
    }[where]
    code = main(["export", str(teacher_ckpt), "--out", str(out)])
    assert expected in _one_line_error(capsys, code, f"--out: {out}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "f"]
    assert not any((tmp_path / "dir").iterdir()) and (tmp_path / "f").read_text() == "x"
    assert not list(tmp_path.rglob("*.tmp"))


def test_export_to_an_unwritable_folder_is_one_line(tmp_path, teacher_ckpt):
    """As an unprivileged user (root may write anywhere)."""
    pytest.importorskip("nir", reason="the [nir] extra")
    ro = Path(os.environ.get("TMPDIR", "/tmp")) / f"snnkd-h21-ro-{os.getpid()}"
    ro.mkdir(exist_ok=True)
    shutil.copy(teacher_ckpt, ro / "c.pt")
    (ro / "c.pt").chmod(0o644)
    ro.chmod(0o555)
    try:
        cmd = [
            sys.executable,
            "-m",
            "snnkd.cli.main",
            "export",
            str(ro / "c.pt"),
            "--out",
            str(ro / "net.nir"),
        ]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd="/", timeout=300)
        assert res.returncode == 2, res.stderr
        assert res.stderr.strip().splitlines() == [
            f"snnkd: error: --out: {ro}/net.nir: cannot write in {ro} (Permission denied)"
        ]
        assert sorted(p.name for p in ro.iterdir()) == ["c.pt"]
    finally:
        ro.chmod(0o755)
        shutil.rmtree(ro)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_an_overflowing_optimizer_step_is_divergence(tmp_path, capsys, optimizer):
    import mlflow

    out = tmp_path / "run"
    code = main(_train(out, "--optimizer", optimizer, "--lr", "1e38", "--suite", "h21"))
    _one_line_error(capsys, code, "the optimizer's step overflowed float32 in epoch 1", exit_code=1)
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("snnkd-h21").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not out.exists()
