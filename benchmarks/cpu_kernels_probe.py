"""Which CPU kernels give other bits on another CPU kind (issue 25, exact reproduction across CPUs).

A pinned digits run (``SNNKD_CPU_ISA=avx2``: ATen's capability and oneDNN's JIT ISA at AVX2) is
byte-identical across AMD EPYCs and differs on an Intel Xeon (results/perf.md). A whole run only
says *that* it diverges, many epochs in. This probe says *where*: it computes, in a fresh process
per setting, the kernels a digits student's training step calls on fixed inputs (the student's
shapes: conv 1->16 and 16->32 on 8x8 and 4x4 maps, batch 64 x T = 4, the linear readout, their
backward passes, batch norm, the loss, an Adam step), one thread, and prints a SHA-256 of each
result's bytes. Run it on two CPU kinds and compare:

    python benchmarks/cpu_kernels_probe.py --out results/perf_cpu_kernels_amd.json
    python benchmarks/cpu_kernels_probe.py --compare results/perf_cpu_kernels_amd.json

Settings (each on top of the AVX2 pin): the product's pin alone; MKL's reproducibility branches
(``MKL_CBWR=AVX2``, ``COMPATIBLE``); oneDNN off (``torch.backends.mkldnn.enabled = False``:
convolutions through ATen's im2col and MKL's sgemm). A kernel whose digest matches on both kinds
under a setting is reproducible there; the first setting under which every digest matches is
the cross-vendor pin to adopt (and then re-make the committed results with it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from snnkd.trainer.threads import CPU_ISAS

SETTINGS: dict[str, dict[str, str]] = {
    "pin": {},
    "pin+MKL_CBWR=AVX2": {"MKL_CBWR": "AVX2"},
    "pin+MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
    "pin+no-onednn": {"SNNKD_PROBE_NO_ONEDNN": "1"},
    "pin+no-onednn+MKL_CBWR=AVX2": {"SNNKD_PROBE_NO_ONEDNN": "1", "MKL_CBWR": "AVX2"},
}
PIN = CPU_ISAS["avx2"]  # the product's pin (ATen, oneDNN, OpenBLAS)


def _kernels() -> dict[str, str]:
    """Digests of the digits student's training-step kernels on fixed inputs (run in a child)."""
    import hashlib

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    if os.environ.get("SNNKD_PROBE_NO_ONEDNN"):
        torch.backends.mkldnn.enabled = False
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    def digest(t: torch.Tensor) -> str:
        return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]

    out: dict[str, str] = {}
    x1 = rand(256, 1, 8, 8).requires_grad_()
    w1 = rand(16, 1, 3, 3).requires_grad_()
    y1 = F.conv2d(x1, w1, padding=1)
    out["conv2d 1->16 8x8 forward"] = digest(y1)
    g1 = rand(*y1.shape)
    gx1, gw1 = torch.autograd.grad(y1, (x1, w1), g1)
    out["conv2d 1->16 backward input"] = digest(gx1)
    out["conv2d 1->16 backward weight"] = digest(gw1)
    x2 = rand(256, 16, 4, 4).requires_grad_()
    w2 = rand(32, 16, 3, 3).requires_grad_()
    y2 = F.conv2d(x2, w2, padding=1)
    out["conv2d 16->32 4x4 forward"] = digest(y2)
    gx2, gw2 = torch.autograd.grad(y2, (x2, w2), rand(*y2.shape))
    out["conv2d 16->32 backward input"] = digest(gx2)
    out["conv2d 16->32 backward weight"] = digest(gw2)
    a = rand(256, 128).requires_grad_()
    w = rand(10, 128).requires_grad_()
    b = rand(10).requires_grad_()
    y = F.linear(a, w, b)
    out["linear 128->10 forward (sgemm)"] = digest(y)
    ga, gw, gb = torch.autograd.grad(y, (a, w, b), rand(*y.shape))
    out["linear backward input"] = digest(ga)
    out["linear backward weight"] = digest(gw)
    out["linear backward bias (sum)"] = digest(gb)
    big = rand(512, 512)
    out["mm 512x512 (sgemm)"] = digest(big @ rand(512, 512))
    xb = rand(256, 16, 8, 8).requires_grad_()
    gamma, beta = rand(16).requires_grad_(), rand(16).requires_grad_()
    yb = F.batch_norm(xb, None, None, gamma, beta, training=True)
    out["batch norm forward"] = digest(yb)
    out["batch norm backward"] = digest(torch.autograd.grad(yb, xb, rand(*yb.shape))[0])
    logits = rand(64, 10).requires_grad_()
    loss = F.cross_entropy(logits, torch.arange(64) % 10)
    out["cross entropy"] = digest(loss)
    out["cross entropy backward"] = digest(torch.autograd.grad(loss, logits)[0])
    out["log_softmax / exp"] = digest(torch.exp(F.log_softmax(rand(64, 10) * 3, dim=1)))
    p = torch.nn.Parameter(rand(32, 16, 3, 3))
    p.grad = rand(32, 16, 3, 3)
    opt = torch.optim.Adam([p], lr=0.002)
    for _ in range(3):
        opt.step()
    out["adam step x3"] = digest(p)
    # appended after the kernels above (their inputs stay the same): MKL's vector maths, which
    # ATen calls for these functions on contiguous float tensors, the ATen-own ones beside them,
    # Adam's fused kernel (one ATen loop, the CPU's own sqrt) and numpy's OpenBLAS sgemm
    v = rand(4096).abs() * 10
    for name in ("sqrt", "exp", "log", "tanh"):
        out[f"{name} (MKL vector maths)"] = digest(getattr(torch, name)(v))
    out["sigmoid (ATen)"] = digest(torch.sigmoid(v - 5))
    out["softmax (ATen)"] = digest(F.softmax(v.view(64, 64), dim=1))
    q = torch.nn.Parameter(rand(32, 16, 3, 3))
    q.grad = rand(32, 16, 3, 3)
    fused = torch.optim.Adam([q], lr=0.002, fused=True)
    for _ in range(3):
        fused.step()
    out["adam step x3 (fused)"] = digest(q)
    a32, b32 = rand(512, 512).numpy(), rand(512, 512).numpy()
    out["numpy matmul 512x512 (OpenBLAS)"] = hashlib.sha256((a32 @ b32).tobytes()).hexdigest()[:16]
    return out


def _child(setting: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "SNNKD_PROBE_NO_ONEDNN")}
    env.update(PIN)
    env.update(SETTINGS[setting])
    done = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def _machine() -> dict[str, object]:
    import torch

    from snnkd.tracking.provenance import cpu_model

    libraries = [
        line.strip(" -")
        for line in torch.__config__.show().splitlines()
        if "Math Kernel Library" in line or "oneDNN" in line
    ]
    return {
        "cpu": cpu_model(),
        "native_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "libraries": libraries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the digests here (JSON)")
    parser.add_argument("--compare", type=Path, help="a JSON this script wrote on another CPU kind")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"capability": _capability(), "kernels": _kernels()}))
        return 0
    report = {"machine": _machine(), "settings": {s: _child(s) for s in SETTINGS}}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    other = json.loads(args.compare.read_text()) if args.compare else None
    for setting, got in report["settings"].items():
        kernels = got["kernels"]
        if other is None:
            print(f"{setting} (capability {got['capability']}): {len(kernels)} kernels")
            continue
        theirs = other["settings"].get(setting, {}).get("kernels", {})
        differ = [k for k in kernels if k in theirs and theirs[k] != kernels[k]]
        absent = [k for k in kernels if k not in theirs]
        verdict = "all equal" if not differ else f"{len(differ)} differ: " + "; ".join(differ)
        if absent:
            verdict += f" ({len(absent)} not in the other file: {'; '.join(absent)})"
        print(f"{setting} ({len(kernels) - len(absent)} compared): {verdict}")
    if other is not None:
        print(f"this: {report['machine']['cpu']}; other: {other['machine']['cpu']}")
    return 0


def _capability() -> str:
    import torch

    return torch.backends.cpu.get_cpu_capability()


if __name__ == "__main__":
    sys.exit(main())
