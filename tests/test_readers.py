"""Field libraries behind the readers: tonic for ATIS events, librosa for MFCCs.

Each equals the default install's own reader on the same input, so a dataset
staged with or without the ``[events]`` / ``[speech]`` extras is the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkd.data import events, speech


def _atis(rows: list[tuple[int, int, int, int]]) -> bytes:
    """40-bit ATIS records ``(x, y, p, t)``."""
    out = bytearray()
    for x, y, p, t in rows:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 255, t & 255])
    return bytes(out)


def test_tonic_reads_atis_events_as_the_default_reader_does():
    pytest.importorskip("tonic", reason="the [events] extra")
    data = _atis([(3, 4, 1, 10), (33, 0, 0, 70_000), (0, 33, 1, 8_388_607)])
    ours, theirs = events._read_atis_bin(data), events.read_atis_bin(data)
    expected = {"x": [3, 33, 0], "y": [4, 0, 33], "p": [1, 0, 1], "t": [10, 70_000, 8_388_607]}
    for key, values in expected.items():
        assert theirs[key].tolist() == values and ours[key].tolist() == values


def test_librosa_mfcc_equals_the_torch_definition():
    pytest.importorskip("librosa", reason="the [speech] extra")
    t = torch.arange(speech.SAMPLE_RATE) / speech.SAMPLE_RATE
    noise = torch.randn(2, speech.SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    wave = 0.5 * torch.sin(2 * torch.pi * torch.tensor([[440.0], [1000.0]]) * t) + 0.05 * noise
    ours, theirs = speech.mfcc_torch(wave), speech.mfcc(wave)
    assert theirs.shape == (2, speech.N_MFCC, speech.FRAMES) and theirs.dtype == torch.float32
    np.testing.assert_allclose(theirs.numpy(), ours.numpy(), atol=1e-4)
