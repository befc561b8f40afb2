"""In-memory mini-batches with a seeded order, cheaper than a DataLoader for small tensors."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from snnkd.data.registry import Split


def batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    pin: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(index, x, y)``; ``index`` holds the samples' positions in the split.

    ``pin=True`` gathers each batch into page-locked memory, so that a
    ``.to("cuda", non_blocking=True)`` copy overlaps with the GPU's work.
    """
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        x, y = split.x[idx], split.y[idx]
        if pin:
            x, y = x.pin_memory(), y.pin_memory()
        yield idx, x, y


def num_batches(split: Split, batch_size: int) -> int:
    return (len(split) + batch_size - 1) // batch_size
