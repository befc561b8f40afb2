"""The GPU path (bf16 autocast, channels-last, pinned batches) and its throughput benchmark, on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnkd.data.loader import batches
from snnkd.data.registry import Split

ROOT = Path(__file__).resolve().parents[1]


def test_throughput_benchmark_runs_with_tiny_settings():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_throughput.py"), "--device", "cpu"]
    cmd += ["--batch-size", "2", "--batches", "1", "--T", "1", "--amp", "--channels-last"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["model"] == "spiking VGG-11" and r["params"] == 9_228_362
    assert r["samples"] == 2 and r["samples_per_s"] > 0 and r["amp_bf16"] and r["channels_last"]
    assert r["peak_gpu_mib"] is None and r["peak_rss_mib"] > 0
    assert "samples/s" in out.splitlines()[0]


def test_bf16_autocast_trains_through_the_trainer(tmp_path):
    from conftest import small_config, train_run

    # an MLP: bf16 convolutions are slow on CPUs; three epochs reach ~86 % either way
    _, amp = train_run(small_config(model="mlp", train__amp=True, train__epochs=3), tmp_path / "amp")
    _, fp32 = train_run(small_config(model="mlp", train__epochs=3), tmp_path / "fp32")
    assert amp["test_accuracy"] > 0.6 and abs(amp["test_accuracy"] - fp32["test_accuracy"]) < 0.1
    assert amp["history"][-1]["loss"] != fp32["history"][-1]["loss"]  # autocast did change the arithmetic


def test_channels_last_converts_the_convolutions(tmp_path):
    from conftest import small_config, train_run

    run, metrics = train_run(small_config(train__channels_last=True), tmp_path)
    assert run.model.features.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert metrics["test_accuracy"] > 0.1


def test_pinned_batches_hold_the_same_samples():
    split = Split(torch.arange(10).view(10, 1), torch.arange(10))
    plain = list(batches(split, 4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    if not torch.cuda.is_available():
        pytest.skip("pinning page-locked memory needs CUDA")
    pinned = list(batches(split, 4, shuffle=True, generator=torch.Generator().manual_seed(0), pin=True))
    for (i, x, _), (j, px, py) in zip(plain, pinned, strict=True):
        assert torch.equal(i, j) and torch.equal(x, px) and px.is_pinned() and py.is_pinned()
