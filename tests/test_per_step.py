"""Per-step KD (kd_step, kd-per-step), time alignment of an MD-SNN teacher at another T,
and the alpha convention next to torchdistill's ``KDLoss``."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import small_config, train_run

from snnkd.methods import RecipeLoss, discover, get_method
from snnkd.methods.terms import TERMS, resample_steps
from snnkd.methods.trace import Knowledge

LN3 = math.log(3.0)
# tau = 4, teacher logits (4 ln 3, 0): soft targets (3/4, 1/4); against a uniform student
# KL = 3/4 ln(3/2) + 1/4 ln(1/2)
KL_UNIFORM = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)


def _k(logits, readout=None, membrane=None) -> Knowledge:
    return Knowledge(
        logits=torch.tensor(logits),
        readout=None if readout is None else torch.tensor(readout),
        membrane={n: torch.tensor(v) for n, v in (membrane or {}).items()},
    )


def test_kd_step_equals_a_hand_computed_value():
    # T = 2, B = 1, C = 2: step 1 reads (0, 0) (KL = KL_UNIFORM), step 2 equals the teacher (KL = 0)
    s = _k([[2 * LN3, 0.0]], readout=[[[0.0, 0.0]], [[4 * LN3, 0.0]]])
    k = _k([[4 * LN3, 0.0]])
    value = float(TERMS.get("kd_step").fn(s, k, torch.tensor([0]), tau=4.0))
    assert value == pytest.approx(16 * KL_UNIFORM / 2, rel=1e-6)  # (1/T) sum_t tau^2 KL
    assert 16 * KL_UNIFORM / 2 == pytest.approx(1.0464963, rel=1e-6)


def test_kd_step_with_equal_steps_is_kd_kl_and_averages_the_batch():
    g = torch.Generator().manual_seed(0)
    o = torch.randn(1, 3, 5, generator=g)
    zk = torch.randn(3, 5, generator=g)
    s = Knowledge(logits=o.mean(0), readout=o.expand(4, 3, 5))
    k = Knowledge(logits=zk)
    y = torch.zeros(3, dtype=torch.long)
    a = TERMS.get("kd_step").fn(s, k, y, tau=3.0)
    b = TERMS.get("kd_kl").fn(s, k, y, tau=3.0)
    assert torch.allclose(a, b)


def test_kd_per_step_is_registered_with_its_formula_and_reads_the_readout():
    m = discover().get("kd-per-step")
    assert "formalisation" in m.doc and "(1/T) sum_t" in m.doc and m.teacher == "teacher"
    hp = m.resolve({"alpha": 0.25, "tau": 2.0})
    assert [(t.name, t.weight) for t in m.terms(hp)] == [("ce", 0.75), ("kd_step", 0.25)]
    assert m.needs(hp) == ({"logits", "readout"}, {"logits"})


def test_kd_per_step_trains_from_a_teacher(tmp_path, teacher_ckpt):
    cfg = small_config(method="kd-per-step", teacher=str(teacher_ckpt))
    _, m = train_run(cfg, tmp_path)
    assert [t["name"] for t in m["terms"]] == ["ce", "kd_step"]
    assert m["history"][0]["loss_kd_step"] > 0 and 0 <= m["test_accuracy"] <= 1


# --- MD-SNN teacher at another T ------------------------------------------------------------------


def test_resample_steps_averages_teacher_steps_into_student_steps():
    u = torch.tensor([1.0, 3.0, 5.0, 9.0]).view(4, 1, 1)
    assert resample_steps(u, 2).flatten().tolist() == [2.0, 7.0]  # (1+3)/2, (5+9)/2
    assert resample_steps(u, 1).flatten().tolist() == [4.5]
    assert resample_steps(u[:2], 4).flatten().tolist() == [1.0, 1.0, 3.0, 3.0]  # repeated
    assert resample_steps(u, 4) is u


def test_membrane_mse_aligns_a_teacher_at_four_steps_with_a_student_at_two():
    s = _k([[0.0]], membrane={"l": [[[1.0, 0.0]], [[0.0, 0.0]]]})  # T_s = 2, B = 1, N = 2
    k = _k([[0.0]], membrane={"l": [[[0.0, 2.0]], [[2.0, 2.0]], [[4.0, 0.0]], [[0.0, 0.0]]]})
    # teacher resampled: step 1 (1, 2), step 2 (2, 0); squared errors 0 + 4 + 4 + 0 over T N = 4
    assert float(TERMS.get("membrane_mse").fn(s, k, None)) == pytest.approx(2.0)


def test_md_snn_trains_a_two_step_student_from_a_four_step_teacher(tmp_path):
    fp = tmp_path / "fp"
    train_run(small_config(T=4), fp)
    cfg = small_config(method="md-snn", T=2, teacher=str(fp / "checkpoint.pt"))
    run, m = train_run(cfg, tmp_path / "md")
    assert run.teacher.steps == 4 and run.cfg.steps == 2
    assert m["history"][0]["loss_membrane_mse"] > 0 and m["history"][0]["loss_kd_kl"] > 0
    assert m["config"]["T"] == 2 and m["weight_bits"] == 4


# --- alpha convention: ours against torchdistill's KDLoss ------------------------------------------


def torchdistill_kd_loss(z_s, z_k, y, alpha: float, tau: float) -> torch.Tensor:
    """torchdistill's ``KDLoss`` (``beta`` left unset): ``alpha CE + (1 - alpha) tau^2 KL`` (batchmean)."""
    soft = F.kl_div(F.log_softmax(z_s / tau, 1), F.softmax(z_k / tau, 1), reduction="batchmean")
    return alpha * F.cross_entropy(z_s, y) + (1 - alpha) * tau**2 * soft


def test_alpha_convention_maps_onto_torchdistill_kdloss():
    z_s, z_k, y = torch.zeros(1, 2), torch.tensor([[4 * LN3, 0.0]]), torch.tensor([0])
    alpha, tau = 0.3, 4.0
    by_hand = (1 - alpha) * math.log(2.0) + alpha * 16 * KL_UNIFORM  # ours: alpha weights the KL
    assert by_hand == pytest.approx(1.1131008, rel=1e-6)
    kd = get_method("kd")
    ours = RecipeLoss(kd.terms(kd.resolve({"alpha": alpha, "tau": tau})))(_k(z_s), _k(z_k), y)[0]
    assert float(ours) == pytest.approx(by_hand, rel=1e-6)
    assert float(torchdistill_kd_loss(z_s, z_k, y, 1 - alpha, tau)) == pytest.approx(by_hand, rel=1e-6)
    # unmapped, the same number means a different loss
    assert float(torchdistill_kd_loss(z_s, z_k, y, alpha, tau)) != pytest.approx(by_hand, rel=1e-3)
