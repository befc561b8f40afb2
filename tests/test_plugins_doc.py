"""docs/plugins.md's worked example, run as written: listed with its term, composed and trained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from snnkd.cli.main import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


@pytest.fixture(autouse=True)
def _restore_method_registry():
    from snnkd import methods

    methods.discover()
    saved = dict(methods.METHODS._items)
    yield
    methods.METHODS._items.clear()
    methods.METHODS._items.update(saved)


@pytest.fixture
def plugin_dir(tmp_path) -> Path:
    text = DOC.read_text()
    (code,) = re.findall(r"`my_plugins/kd_cos\.py`:\n\n```python\n(.*?)```", text, re.S)
    folder = tmp_path / "my_plugins"
    folder.mkdir()
    (folder / "kd_cos.py").write_text(code)
    return folder


def test_list_shows_the_plugin_method_with_its_range_and_its_term(plugin_dir, capsys):
    assert main(["list", "methods", "--plugin-dir", str(plugin_dir)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("kd-cos ")]
    assert row.split()[1:4] == ["teacher", "ce", "+"] and "beta=1 [0.01, 10] log" in row
    assert main(["list", "terms", "--plugin-dir", str(plugin_dir)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("logit_cosine ")]
    assert row.split()[1:3] == ["logits", "logits"] and "1 - cos(z_s, z_k)" in row


def test_the_example_term_and_method_compute_and_train(plugin_dir, teacher_ckpt, tmp_path, capsys):
    from snnkd.methods import get_method
    from snnkd.methods.terms import TERMS
    from snnkd.methods.trace import Knowledge

    method = get_method("kd-cos + act-reg", [plugin_dir])
    assert [t.name for t in method.terms(method.resolve({}))] == ["ce", "logit_cosine", "act_l1"]
    fn = TERMS.get("logit_cosine").fn
    s = Knowledge(logits=torch.tensor([[1.0, 0.0], [2.0, 2.0]]))
    k = Knowledge(logits=torch.tensor([[0.0, 3.0], [1.0, 1.0]]))
    assert fn(s, k, torch.tensor([0, 1])).item() == pytest.approx(0.5)  # (1 - 0 + 1 - 1) / 2

    out = tmp_path / "run"
    args = ["train", "--method", "kd-cos", "--teacher", str(teacher_ckpt), "--plugin-dir", str(plugin_dir),
            "--hparam", "beta=0.5", "--epochs", "1", "--out", str(out), "--quiet", "--no-track"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["method"] == "kd-cos" and record["hparams"] == {"beta": 0.5}
    assert [t["name"] for t in record["terms"]] == ["ce", "logit_cosine"]
