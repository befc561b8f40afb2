import json
import textwrap

import pytest
import torch
from conftest import small_config, train_run

from snnkd.cli.main import main
from snnkd.methods import RecipeLoss, discover, get_method
from snnkd.methods.terms import TERMS
from snnkd.methods.trace import Knowledge
from snnkd.trainer import checkpoint


@pytest.fixture(autouse=True)
def _restore_method_registry():
    """Plugins registered by a test do not leak into later tests."""
    from snnkd import methods

    methods.discover()
    saved = dict(methods.METHODS._items)
    yield
    methods.METHODS._items.clear()
    methods.METHODS._items.update(saved)


BUILTIN = [
    "act-reg",
    "feature-kd",
    "kd",
    "kd-mse",
    "kd-per-step",
    "kd-spike-train",
    "kd-spikes",
    "logit-reg",
    "md-snn",
    "multistage",
    "quant",
    "scratch",
]


def test_every_builtin_method_is_registered_with_paper_and_formula():
    registry = discover()
    for name in BUILTIN:
        m = registry.get(name)
        assert m.paper and "``" in m.doc  # the formula is in the docstring


def test_composed_recipe_equals_weighted_sum_of_terms():
    method = get_method("kd + act-reg + logit-reg")
    hp = method.resolve({"alpha": 0.3, "tau": 2.0, "lambda_a": 0.1, "p": 2, "lambda_z": 0.05})
    torch.manual_seed(0)
    s = Knowledge(logits=torch.randn(4, 3), spikes={"l": (torch.rand(2, 4, 5) > 0.5).float()})
    k = Knowledge(logits=torch.randn(4, 3))
    y = torch.tensor([0, 1, 2, 1])
    total, parts = RecipeLoss(method.terms(hp))(s, k, y)

    def t(name, **p):
        return TERMS.get(name).fn(s, k, y, **p)

    expected = 0.7 * t("ce") + 0.3 * t("kd_kl", tau=2.0) + 0.1 * t("act_l2") + 0.05 * t("logit_l2")
    assert torch.allclose(total, expected)
    assert set(parts) == {"ce", "kd_kl", "act_l2", "logit_l2"}
    assert method.teacher == "teacher"


def test_modifier_alone_adds_to_cross_entropy():
    names = [t.name for t in get_method("logit-reg").terms({"lambda_z": 0.1})]
    assert names == ["ce", "logit_l2"]


def test_kd_trains_only_the_student_and_keeps_the_teacher_bit_identical(tmp_path, teacher_ckpt):
    before = checkpoint.load(teacher_ckpt)["model"]
    cfg = small_config(method="feature-kd", teacher=str(teacher_ckpt))
    run, metrics = train_run(cfg, tmp_path / "fkd")
    after = run.teacher.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad for p in run.teacher.model.parameters())
    adapter = run.loss.parts["feature_mse"]
    assert adapter.proj.weight.grad is not None  # the adapter learns
    assert metrics["history"][0]["loss_feature_mse"] > 0


def test_teacher_cache_gives_the_same_training_as_a_teacher_pass(tmp_path, teacher_ckpt, monkeypatch):
    cfg = small_config(method="kd", teacher=str(teacher_ckpt), train__epochs=2)
    _, cached = train_run(cfg, tmp_path / "cached")
    monkeypatch.setattr("snnkd.trainer.teacher.is_deterministic", lambda name: False)
    _, live = train_run(cfg, tmp_path / "live")
    assert [h["loss"] for h in cached["history"]] == pytest.approx(
        [h["loss"] for h in live["history"]], rel=1e-5
    )
    assert cached["test_accuracy"] == live["test_accuracy"]


def test_teacher_knowledge_is_cached_on_disk_for_later_runs(tmp_path, teacher_ckpt, monkeypatch):
    from snnkd.trainer import teacher
    from snnkd.trainer.run import prepare

    cfg = small_config(method="kd", teacher=str(teacher_ckpt), seed=1)
    _, first = train_run(cfg, tmp_path / "first")
    files = list(teacher.teacher_cache_dir().glob("*-digits-T4-direct-logits.pt"))
    assert len(files) == 1
    teacher._TEACHER_CACHE.clear()  # as in a new process

    def no_teacher_pass(*args, **kwargs):
        raise AssertionError("the teacher ran although its knowledge was cached")

    monkeypatch.setattr(teacher, "batches", no_teacher_pass)
    run = prepare(cfg)
    knowledge = teacher._teacher_knowledge(run, None)
    assert knowledge is not None and len(knowledge.logits) == len(run.data.train)


def test_spike_methods_train_with_spiking_output_networks(tmp_path, spiking_teacher_ckpt):
    for name in ("kd-spikes", "kd-spike-train"):
        cfg = small_config(method=name, readout="spiking", teacher=str(spiking_teacher_ckpt))
        _, m = train_run(cfg, tmp_path / name)
        assert 0.0 <= m["test_accuracy"] <= 1.0 and m["spikes_per_sample"] > 0


def test_multistage_learns_from_the_assistant(tmp_path, teacher_ckpt):
    assistant = tmp_path / "assistant"
    train_run(small_config(model="assistant", method="kd", teacher=str(teacher_ckpt)), assistant)
    cfg = small_config(method="multistage", teacher=str(assistant / "checkpoint.pt"))
    _, m = train_run(cfg, tmp_path / "student")
    assert m["teacher"]["model"] == "assistant"


def _cli_err(capsys, *args):
    code = main(["train", "--quiet", "--device", "cpu", *args])
    return code, capsys.readouterr().err.strip()


def test_spike_count_methods_refuse_networks_without_spiking_output(capsys, teacher_ckpt, tmp_path):
    code, err = _cli_err(capsys, "--method", "kd-spikes", "--teacher", str(teacher_ckpt))
    assert code == 2 and "readout: method 'kd-spikes' needs readout 'spiking'" in err
    code, err = _cli_err(
        capsys,
        "--method",
        "kd-spikes",
        "--readout",
        "spiking",
        "--teacher",
        str(teacher_ckpt),
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 2 and "has no spiking output layer" in err and "\n" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "distill"], "method: unknown method 'distill'; valid choices: act-reg,"),
        (["--method", "kd", "--hparam", "tau=0"], "hparams.tau: 0 is outside [1.0, 20.0]"),
        (["--method", "kd", "--hparam", "alpha=1.5"], "hparams.alpha: 1.5 is outside [0.0, 1.0]"),
        (["--method", "kd", "--hparam", "gamma=1"], "hparams.gamma: not a hyper-parameter of 'kd'"),
        (["--method", "act-reg", "--hparam", "p=3"], "hparams.p: 3 is not valid; valid choices: 1, 2"),
        (["--method", "kd"], "teacher: method 'kd' learns from a teacher network"),
    ],
)
def test_bad_method_input_is_one_line_exit_2(capsys, args, message):
    code, err = _cli_err(capsys, *args)
    assert code == 2 and message in err and "\n" not in err


PLUGIN = textwrap.dedent(
    '''
    """My method: ``L = CE + w * {term}``."""
    from snnkd.methods import HParam, Method, register, term

    register(Method(
        name="{name}", paper="test", teacher="{teacher}",
        hparams={{"w": HParam(0.5, -1.0, 1.0)}},
        recipe=lambda hp: [term("ce"), term("{term}", hp["w"])],
    ))
    '''
)


def _plugin(folder, name, term_name="kd_mse", teacher="teacher"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name.replace('-', '_')}.py").write_text(
        PLUGIN.format(name=name, term=term_name, teacher=teacher)
    )
    return folder


def test_method_from_a_plugin_folder_trains_end_to_end(tmp_path, teacher_ckpt, capsys):
    folder = _plugin(tmp_path / "plugins", "my-kd")
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--quiet",
            "--method",
            "my-kd",
            "--plugin-dir",
            str(folder),
            "--teacher",
            str(teacher_ckpt),
            "--out",
            str(out),
            "--epochs",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    curve = (out / "curve.csv").read_text().splitlines()
    loss = dict(zip(curve[0].split(","), curve[1].split(","), strict=True))["loss_kd_mse"]
    assert record["method"] == "my-kd" and float(loss) > 0


def test_plugin_with_unknown_term_or_negative_weight_is_refused(tmp_path, capsys):
    folder = _plugin(tmp_path / "p1", "bad-term", term_name="no_such_term", teacher="none")
    code, err = _cli_err(capsys, "--method", "bad-term", "--plugin-dir", str(folder))
    assert code == 2 and "unknown loss term 'no_such_term'" in err
    folder = _plugin(tmp_path / "p2", "neg", term_name="logit_l2", teacher="none")
    code, err = _cli_err(capsys, "--method", "neg", "--plugin-dir", str(folder), "--hparam", "w=-0.5")
    assert code == 2 and "term 'logit_l2' of 'neg' has weight -0.5 < 0" in err


def test_method_from_an_entry_point_trains_end_to_end(tmp_path, monkeypatch):
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "ep_method.py").write_text(
        "from snnkd.methods import Method, term\n"
        "METHOD = Method(name='ep-logit', paper='test', "
        "recipe=lambda hp: [term('ce'), term('logit_l2', 0.1)])\n"
    )
    dist = pkg / "ep_method-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-method\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[snnkd.methods]\nep-logit = ep_method:METHOD\n")
    monkeypatch.syspath_prepend(str(pkg))
    assert "ep-logit" in discover()
    _, m = train_run(small_config(method="ep-logit"), tmp_path / "run")
    assert m["method"] == "ep-logit" and "loss_logit_l2" in m["history"][0]
