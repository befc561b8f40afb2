"""The MINT-style quantization scheme (``quant.scheme: mint``), mirroring tests/test_quant.py."""

from __future__ import annotations

import pytest
import torch
from conftest import small_config, train_run
from spikingjelly.activation_based import functional

from snnkd import quant as Q
from snnkd.cli.main import main
from snnkd.trainer import checkpoint
from snnkd.trainer.run import prepare, rebuild_from_state


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _mint(**kw):
    return small_config(method="quant", quant__scheme="mint", **kw)


def _quantized(bits: int = 3):
    torch.manual_seed(0)
    cfg = _mint(quant__weight_bits=bits, quant__membrane_bits=bits)
    return prepare(cfg)


@pytest.fixture(scope="module")
def mint_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mint")
    cfg = _mint(train__epochs=2, quant__weight_bits=3, quant__membrane_bits=3)
    run, metrics = train_run(cfg, out)
    return run, metrics, out


# --- the quantizer ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_mint_codes_have_2b_minus_1_symmetric_levels_after_tanh(bits):
    q = Q.weight_qmax(bits)
    d = torch.tensor(0.5 / q)  # alpha = 0.5 < tanh(3): the clamp is reached
    w = torch.linspace(-3, 3, 20001)
    codes = Q.mint_codes(w, d, bits)
    levels = torch.unique(codes)
    assert len(levels) == 2**bits - 1
    assert levels.min() == -q and levels.max() == q and torch.equal(levels, levels.round())
    assert torch.equal(codes, torch.round(torch.clamp(torch.tanh(w) / d, -q, q)))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_mint_gradient_is_straight_through_inside_the_clamp(bits):
    q = Q.weight_qmax(bits)
    d = torch.tensor(0.5 / q)
    w = torch.linspace(-2, 2, 801, requires_grad=True)
    Q.mint_codes(w, d, bits).sum().backward()
    t = torch.tanh(w.detach())
    inside = t.abs() <= 0.5
    assert torch.allclose(w.grad[inside], (1 - t[inside] ** 2) / d)  # d tanh(w)/d / dw
    assert torch.equal(w.grad[~inside], torch.zeros(int((~inside).sum())))


def test_one_step_per_layer_shared_by_weights_and_the_membrane_it_feeds():
    run = _quantized()
    model = run.model
    layers = Q.quant_layers(model)
    assert all(m.scheme == "mint" and m.log_step.numel() == 1 for m in layers.values())
    f = model.features
    assert isinstance(f.lif1, Q.MintLIFNode) and f.lif1._source == [f.conv1]
    assert f.lif2._source == [f.conv2]
    x = run.encode(run.data.test.x[:8]).contiguous()
    model.train()
    model(x)
    functional.reset_net(model)
    w_f, _ = f.conv1.folded()
    s = f.conv1.step(w_f)
    assert torch.equal(s, s[:1].expand_as(s)) and torch.equal(f.lif1.step(), s[0])


def test_membrane_on_the_grid_after_leak_and_reset():
    run = _quantized(bits=3)
    model = run.model
    x = run.encode(run.data.test.x[:32]).contiguous()
    model.train()
    model(x)
    functional.reset_net(model)
    model.eval()
    nodes = {n: m for n, m in model.named_modules() if isinstance(m, Q.MintLIFNode)}
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: inputs.__setitem__(n, i[0])) for n, m in nodes.items()
    ]
    for m in nodes.values():
        m.store_v_seq = True
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for name, node in nodes.items():
        d = float(node.step())
        u = node.v_seq  # the stored state U_t after leak and reset, [T, B, ...]
        codes = u / d
        assert torch.allclose(codes, codes.round(), atol=1e-4), name
        assert codes.round().abs().max() <= Q.weight_qmax(3)
        # by hand: H_t = U_{t-1} + X_t / tau, fire, hard reset to 0, leak, quantize
        u_prev = torch.zeros_like(u[0])
        for t in range(u.shape[0]):
            h = u_prev + inputs[name][t] / node.tau
            assert torch.allclose(node.h_seq[t], h, atol=1e-6)
            spike = (h >= node.v_threshold).float()
            v = h * (1 - spike)
            expected = d * torch.round(torch.clamp(torch.tanh(v - v / node.tau) / d, -3, 3))
            assert torch.allclose(u[t], expected, atol=1e-6), (name, t)
            u_prev = u[t]


def test_the_membrane_quantizer_trains_the_shared_step():
    run = _quantized()
    f = run.model.features
    x = run.encode(run.data.test.x[:8]).contiguous()
    run.model.train()
    run.model(x)  # initialise steps
    functional.reset_net(run.model)
    node = f.lif1
    node.surrogate_function.alpha = 2.0
    out = node(torch.randn(3, 4, 16, 8, 8) * 2)  # the neuron alone: only the membrane path uses d
    out.sum().backward()
    assert f.conv1.log_step.grad is not None and float(f.conv1.log_step.grad.abs()) > 0


# --- training, export, size, errors ----------------------------------------------------------------


def test_exported_integer_student_predicts_exactly_as_in_training(mint_run):
    run, metrics, _ = mint_run
    model = run.model.eval()
    exported = Q.export_integer(model)
    ints = [m for m in exported.modules() if isinstance(m, Q.IntegerLayer)]
    assert len(ints) == 3
    for m in ints:
        assert m.weight_int.dtype == torch.int8 and m.weight_int.abs().max() <= Q.weight_qmax(3)
        assert torch.equal(m.scale, m.scale[:1].expand_as(m.scale))  # one step per layer
    assert exported.features.lif1._source[0] is exported.features.conv1
    x = run.encode(run.data.test.x)
    with torch.no_grad():
        a = model.logits(model(x))
        functional.reset_net(model)
        b = exported.logits(exported(x))
    assert torch.equal(a, b)
    assert float((b.argmax(1) == run.data.test.y).float().mean()) == pytest.approx(metrics["test_accuracy"])


def test_mint_checkpoint_reloads_with_the_same_predictions(mint_run):
    run, _, out = mint_run
    reloaded = rebuild_from_state(checkpoint.load(out / "checkpoint.pt")).eval()
    assert reloaded.features.lif2._source == [reloaded.features.conv2]
    x = run.encode(run.data.test.x[:64])
    run.model.eval()
    with torch.no_grad():
        a = run.model(x)
        functional.reset_net(run.model)
        assert torch.equal(a, reloaded(x))


def test_mint_size_counts_one_step_per_layer(mint_run):
    _, m, _ = mint_run
    n_weights = 16 * 9 + 32 * 16 * 9 + 10 * 128
    channels = 16 + 32 + 10  # a 32-bit folded bias per channel
    assert m["model_size_bits"] == 3 * n_weights + 32 * 3 + 32 * channels
    assert m["config"]["quant"]["scheme"] == "mint"


def test_md_snn_trains_under_mint(tmp_path):
    fp = tmp_path / "fp"
    train_run(small_config(), fp)
    cfg = small_config(method="md-snn", quant__scheme="mint", teacher=str(fp / "checkpoint.pt"))
    run, m = train_run(cfg, tmp_path / "md")
    assert isinstance(run.model.features.lif1, Q.MintLIFNode)
    assert m["history"][0]["loss_membrane_mse"] > 0


@pytest.mark.parametrize(
    "sets, message",
    [
        (["quant.scheme=foo"], "quant.scheme: Input should be 'lsq' or 'mint'"),
        (["quant.scheme=mint", "quant.weight_bits=1"], "quant.weight_bits: scheme 'mint'"),
        (["quant.scheme=mint", "quant.membrane_bits=1"], "quant.membrane_bits: scheme 'mint'"),
    ],
)
def test_bad_scheme_input_is_a_one_line_error_with_exit_2(tmp_path, capsys, sets, message):
    out = tmp_path / "run"
    args = ["train", "--quiet", "--device", "cpu", "--method", "quant", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith(f"snnkd: error: {message}")
    assert not out.exists()
