"""Silencing torch's log lines that carry no information for snnkd (shared by every entry point)."""

from __future__ import annotations

import logging


def _no_triton_noise(record: logging.LogRecord) -> bool:
    """Drop torch's "Triton not available" warning: this CPU package never uses Triton kernels."""
    return not str(record.msg).startswith("Triton not available")


def quiet_torch_logs() -> None:
    """Silence warnings torch prints on every import that carry no information here."""
    logger = logging.getLogger("torch._library.triton")
    if _no_triton_noise not in logger.filters:
        logger.addFilter(_no_triton_noise)
