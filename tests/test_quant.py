"""Quantized students (snnkd.quant) and the quant / md-snn methods."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
from conftest import small_config, train_run
from spikingjelly.activation_based import functional, layer

from snnkd import quant as Q
from snnkd.cli.main import main
from snnkd.errors import ConfigError
from snnkd.methods.terms import membrane_mse
from snnkd.methods.trace import Knowledge, Tracer
from snnkd.trainer import checkpoint
from snnkd.trainer.run import prepare, rebuild_from_state


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These networks are tiny: one intra-op thread is faster and does not spin on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _digits_batch(n: int = 32, steps: int = 4) -> torch.Tensor:
    run = prepare(small_config())
    return run.encode(run.data.test.x[:n]).contiguous()[:steps]


def _fp_student(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return prepare(small_config(seed=seed)).model


@pytest.fixture(scope="module")
def quant_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quant")
    cfg = small_config(method="quant", train__epochs=2, quant__weight_bits=3, quant__membrane_bits=4)
    run, metrics = train_run(cfg, out)
    return run, metrics, out


# --- quantizers -------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_weight_quantizer_has_2b_minus_1_symmetric_levels(bits):
    w = torch.linspace(-3, 3, 20001).view(1, -1)
    step = torch.tensor([2.0 / 2 ** (bits - 1)])  # the grid ends inside the range: clamping happens
    q = Q.quantize_weight(w, step, bits)
    levels = torch.unique(q)
    assert len(levels) == 2**bits - 1
    assert torch.allclose(levels, -levels.flip(0))  # symmetric, zero included
    assert torch.allclose(levels / step, torch.round(levels / step))


def test_one_bit_weights_are_binary():
    q = Q.quantize_weight(torch.linspace(-2, 2, 101).view(1, -1), torch.tensor([0.5]), 1)
    assert sorted(torch.unique(q).tolist()) == [-0.5, 0.5]


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_weight_gradient_is_straight_through_inside_the_clamp_range(bits):
    qmax = Q.weight_qmax(bits)
    v = torch.linspace(-2.0 * qmax, 2.0 * qmax, 801, requires_grad=True)
    Q.weight_codes(v, bits).sum().backward()
    inside = v.detach().abs() <= qmax
    assert torch.equal(v.grad[inside], torch.ones(int(inside.sum())))
    assert torch.equal(v.grad[~inside], torch.zeros(int((~inside).sum())))


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_membrane_quantizer_has_2b_levels_on_its_grid(bits):
    r = 2.0
    h = torch.linspace(-5, 5, 40001, requires_grad=True)
    u = Q.quantize_membrane(h, bits, r)
    d = Q.membrane_step(bits, r)
    levels = torch.unique(u.detach())
    assert len(levels) == 2**bits
    assert levels.min() == -r and levels.max() == r - d
    assert torch.equal(levels / d, torch.round(levels / d))
    u.sum().backward()
    inside = (h.detach() / d >= -(2 ** (bits - 1))) & (h.detach() / d <= 2 ** (bits - 1) - 1)
    assert torch.equal(h.grad, inside.float())


def test_quantized_membrane_potentials_stay_on_the_grid():
    cfg = small_config(method="quant", quant__weight_bits=4, quant__membrane_bits=3)
    model = Q.quantize_model(_fp_student(), cfg)
    x = _digits_batch()
    model.train()
    model(x)  # initialise steps and BN statistics
    functional.reset_net(model)
    model.eval()
    k = Tracer(model, {"membrane", "spikes"})(x)
    d = Q.membrane_step(3, 2.0)
    assert set(k.membrane) == {"features.lif1", "features.lif2"}
    for name, u in k.membrane.items():
        codes = u / d
        assert torch.equal(codes, torch.round(codes)), name
        assert codes.min() >= -4 and codes.max() <= 3
        assert torch.equal(k.spikes[name], (u >= 1.0).float())  # fire from the quantized potential


# --- BN folding, transform, export ---------------------------------------------------------


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g))
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(c, generator=g))
            m.bias.data.copy_(torch.randn(c, generator=g))


def test_bn_folded_network_equals_the_unfolded_one_before_quantization():
    fp = _fp_student()
    _randomise_bn(fp)
    fp.eval()
    folded = Q.full_precision_copy(Q.quantize_model(copy.deepcopy(fp), small_config(method="quant")))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = _digits_batch()
    a = fp(x)
    functional.reset_net(fp)
    b = folded(x)
    assert torch.allclose(a, b, atol=1e-5)


def test_folding_with_batch_statistics_matches_training_mode_bn():
    conv = layer.Conv2d(3, 5, 3, padding=1, bias=True, step_mode="m")
    bn = layer.BatchNorm2d(5, step_mode="m")
    _randomise_bn(bn)
    x = torch.randn(4, 6, 3, 8, 8)
    ql = Q.QuantLayer(copy.deepcopy(conv), copy.deepcopy(bn), 8).train()
    ref = bn(conv(x))  # training mode: batch statistics
    w_f, b_f = ql.folded(x)
    y = functional_call_conv(conv, w_f, b_f, x)
    assert torch.allclose(ref, y, atol=1e-5)
    assert torch.allclose(ql.bn.running_mean, bn.running_mean, atol=1e-6)
    assert torch.allclose(ql.bn.running_var, bn.running_var, atol=1e-5)


def functional_call_conv(conv, w, b, x):
    return torch.func.functional_call(conv, {"weight": w, "bias": b}, (x,))


def test_transform_keeps_module_names_and_sets_bits():
    fp = _fp_student()
    q = Q.quantize_model(copy.deepcopy(fp), small_config(method="quant", quant__weight_bits=2))
    names = {n for n, _ in fp.named_modules()}
    assert names <= {n for n, _ in q.named_modules()}
    assert q.weight_bits == 2 and isinstance(q.features.conv1, Q.QuantLayer)
    assert isinstance(q.features.lif1, Q.QuantLIFNode) and isinstance(q.head, Q.QuantLayer)


def test_exported_integer_student_predicts_exactly_as_in_training(quant_run):
    run, metrics, _ = quant_run
    model = run.model.eval()
    exported = Q.export_integer(model)
    for name, m in exported.named_modules():
        if isinstance(m, Q.IntegerLayer):
            assert m.weight_int.dtype == torch.int8
            assert m.weight_int.abs().max() <= Q.weight_qmax(3)
            assert m.layer.weight is None, name
    assert not any(isinstance(m, Q.QuantLayer) for m in exported.modules())
    x = run.encode(run.data.test.x)
    with torch.no_grad():
        a = model.logits(model(x))
        functional.reset_net(model)
        b = exported.logits(exported(x))
    assert torch.equal(a, b)
    acc = float((b.argmax(1) == run.data.test.y).float().mean())
    assert acc == pytest.approx(metrics["test_accuracy"])


def test_quantized_checkpoint_reloads_with_the_same_predictions(quant_run):
    run, metrics, out = quant_run
    reloaded = rebuild_from_state(checkpoint.load(out / "checkpoint.pt")).eval()
    x = run.encode(run.data.test.x[:64])
    run.model.eval()
    with torch.no_grad():
        a = run.model(x)
        functional.reset_net(run.model)
        assert torch.equal(a, reloaded(x))


def test_quant_run_reports_bits_size_and_spikesim_figures(quant_run):
    _, m, _ = quant_run
    assert m["weight_bits"] == 3 and m["membrane_bits"] == 4
    n_weights = 16 * 9 + 32 * 16 * 9 + 10 * 128
    channels = 16 + 32 + 10
    assert m["model_size_bits"] == 3 * n_weights + 2 * 32 * channels
    assert m["model_size_bits"] < m["fp_model_size_bits"]
    assert m["spikesim_energy_pj"] > 0 and m["fp_spikesim_energy_pj"] > 0
    assert m["spikesim_pe_cycles"] == m["fp_spikesim_pe_cycles"]
    assert m["xbar_count"] < m["fp_xbar_count"] and m["edap_ratio"] > 0


# --- membrane_mse and md-snn -------------------------------------------------------------------


def test_membrane_mse_equals_a_hand_computed_value():
    s = Knowledge(
        logits=torch.zeros(1, 2),
        membrane={"a": torch.zeros(2, 1, 3), "b": torch.tensor([[[1.0, 2.0]]])},
    )
    k = Knowledge(
        logits=torch.zeros(1, 2),
        membrane={"a": torch.ones(2, 1, 3), "b": torch.zeros(1, 1, 2), "c": torch.zeros(1)},
    )
    # layer a: (1/(T N)) sum 1 = 1; layer b: (1 + 4) / 2 = 2.5; mean over the two pairs
    assert float(membrane_mse(s, k, torch.zeros(1))) == pytest.approx(1.75)
    k.membrane["b"] = torch.zeros(1, 1, 3)
    with pytest.raises(ValueError, match="layer 'b': student shape"):
        membrane_mse(s, k, torch.zeros(1))


def test_md_snn_with_zero_alpha_and_beta_reduces_to_quant(tmp_path):
    q = dict(quant__weight_bits=4, quant__membrane_bits=4, seed=5)
    run_q, a = train_run(small_config(method="quant", **q), tmp_path / "quant")
    cfg = small_config(method="md-snn", hparams={"alpha": 0.0, "beta": 0.0}, **q)
    run_m, b = train_run(cfg, tmp_path / "md")
    assert [t["name"] for t in b["terms"]] == ["ce"]
    assert a["history"][0]["loss"] == b["history"][0]["loss"]
    assert [h["val_accuracy"] for h in a["history"]] == [h["val_accuracy"] for h in b["history"]]
    for k in ("test_accuracy", "spikes_per_sample", "energy_pj", "model_size_bits", "spikesim_energy_pj"):
        assert a[k] == b[k], k
    sa, sb = run_q.model.state_dict(), run_m.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_md_snn_distils_membranes_from_the_fp_twin(tmp_path):
    fp_out = tmp_path / "fp"
    train_run(small_config(), fp_out)
    cfg = small_config(method="md-snn", teacher=str(fp_out / "checkpoint.pt"))
    _, m = train_run(cfg, tmp_path / "md")
    assert {t["name"] for t in m["terms"]} == {"ce", "kd_kl", "membrane_mse"}
    assert m["history"][0]["loss_membrane_mse"] > 0
    assert m["weight_bits"] == 4 and m["teacher"]["model"] == "student"


def test_md_snn_refuses_a_teacher_whose_layers_do_not_align(tmp_path, capsys, teacher_ckpt):
    code = main(["train", "--quiet", "--device", "cpu", "--method", "md-snn", "--teacher", str(teacher_ckpt),
                 "--epochs", "1", "--out", str(tmp_path / "x")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "teacher: md-snn" in err and "does not align" in err


# --- bit widths are validated --------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--weight-bits", "--membrane-bits"])
@pytest.mark.parametrize("value", ["0", "-3", "17"])
def test_invalid_bit_widths_are_one_line_errors_with_exit_2(tmp_path, capsys, flag, value):
    out = tmp_path / "run"
    code = main(["train", "--method", "quant", flag, value, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    field = "quant.weight_bits" if flag == "--weight-bits" else "quant.membrane_bits"
    assert code == 2 and "\n" not in err
    assert err.startswith(f"snnkd: error: {field}: ")
    assert not out.exists()


@pytest.mark.parametrize("bits", [0, -1, 17, 2.5])
def test_quantizer_api_rejects_invalid_bit_widths(bits):
    with pytest.raises(ConfigError, match="not a valid bit width"):
        Q.check_bits(bits, "quant.weight_bits")


def test_a_bn_with_no_layer_before_it_gets_quantized_parameters():
    net = nn.Sequential(layer.BatchNorm2d(4, step_mode="m"))
    _randomise_bn(net)
    ref = copy.deepcopy(net).eval()
    Q.fold_and_quantize(net, 8, 8, 2.0)
    assert isinstance(net[0], Q.QuantBatchNorm)
    net.eval()
    x = torch.randn(2, 3, 4, 5, 5)
    bn = ref[0]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    step = scale.abs().max() / Q.weight_qmax(8)
    y = net(x)
    assert torch.allclose(y, ref(x), atol=float(step) * float(x.abs().max()))
    recovered = (y - bn.bias.view(1, 1, -1, 1, 1)) / (x - bn.running_mean.view(1, 1, -1, 1, 1))
    codes = recovered.mean((0, 1, 3, 4)).detach() / step
    assert torch.allclose(codes, codes.round(), atol=1e-3)
