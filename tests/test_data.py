import torch

from snnkd.data import load_splits
from snnkd.data.encoders import ENCODERS


def test_digits_split_is_stratified_fixed_and_complete():
    a, b = load_splits("digits"), load_splits("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1078, 359, 360)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert a.info.input_shape == (1, 8, 8) and a.info.num_classes == 10
    assert float(a.train.x.min()) >= 0.0 and float(a.train.x.max()) <= 1.0
    for split in (a.train, a.val, a.test):  # every class in every split, ~10 % each
        counts = torch.bincount(split.y, minlength=10).float() / len(split)
        assert counts.min() > 0.08 and counts.max() < 0.12


def test_mnist1d_is_generated_with_default_sizes():
    s = load_splits("mnist1d")
    assert (len(s.train) + len(s.val), len(s.test)) == (4000, 1000)
    assert s.train.x.shape[1:] == (1, 40) and s.info.modality == "sequence"


def test_direct_encoding_repeats_input():
    x = torch.rand(5, 1, 8, 8)
    seq = ENCODERS.get("direct")(x, 4)
    assert seq.shape == (4, 5, 1, 8, 8)
    assert all(torch.equal(seq[t], x) for t in range(4))


def test_rate_encoding_is_bernoulli_and_seeded():
    x = torch.full((2000, 3), 0.3)
    x[:, 1] = 0.0
    x[:, 2] = 1.0
    seq = ENCODERS.get("rate")(x, 8, torch.Generator().manual_seed(1))
    assert seq.shape == (8, 2000, 3) and set(seq.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(seq[..., 0].mean()) - 0.3) < 0.01
    assert float(seq[..., 1].sum()) == 0.0 and float(seq[..., 2].mean()) == 1.0
    again = ENCODERS.get("rate")(x, 8, torch.Generator().manual_seed(1))
    assert torch.equal(seq, again)
