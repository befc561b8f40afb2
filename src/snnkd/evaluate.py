"""Evaluating a saved checkpoint on a split of its dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snnkd import checkpoint
from snnkd.config import validate


def evaluate_checkpoint(
    path: str | Path, split: str = "test", device: str = "auto", plugin_dirs: list[str] | tuple = ()
) -> dict[str, Any]:
    """Rebuild the network stored in ``path`` and measure it on ``split``.

    Its method is found among the built-ins, entry points and ``plugin_dirs`` (``--plugin-dir``),
    never in folders the checkpoint names (:mod:`snnkd.reload`).
    """
    import torch

    from snnkd import metrics as M
    from snnkd.data import load_splits
    from snnkd.data.encoders import ENCODERS
    from snnkd.train import pick_device, rebuild_from_state

    state = checkpoint.load(path)
    cfg = validate(state["config"])
    dev = pick_device(device)
    model = rebuild_from_state(state, plugin_dirs, path).to(dev)
    data = load_splits(cfg.dataset, cfg.data_dir)
    gen = torch.Generator().manual_seed(cfg.seed)

    def encode(x):
        return ENCODERS.get(cfg.encoder)(data.batch(x, False), cfg.steps, gen)

    result = M.evaluate(model, getattr(data, split), encode, cfg.train.eval_batch_size, dev)
    result.update(split=split, epoch=state["epoch"], checkpoint=str(path))
    return result
