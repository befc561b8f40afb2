"""Eager torch without importing ``torch._dynamo`` (2-4 s of a run's start-up).

Why an eager run imports Dynamo (torch 2.13)
--------------------------------------------
- ``torch._disable_dynamo`` (``torch/_compile.py``) decorates
  ``Optimizer.add_param_group``, ``zero_grad``, ``state_dict`` and
  ``load_state_dict``, and every ``TorchDispatchMode`` subclass's
  ``__torch_dispatch__`` (such as SpikingJelly's op counters). Its wrapper looks
  for a cached callable on the wrapped function's ``__dynamo_disable``
  attribute; when it is absent it imports ``torch._dynamo`` to build
  ``torch._dynamo.disable(fn)`` and caches it. ``Optimizer.__init__`` calls
  ``add_param_group``, so creating any optimizer imports Dynamo (with sympy and
  the FX symbolic-shape machinery).
- Every built-in optimizer's ``step`` is wrapped by
  ``torch.optim.optimizer._use_grad_for_differentiable``, whose wrapper runs
  ``import torch._dynamo`` on every call only to put
  ``torch._dynamo.graph_break()`` around the update.

Both exist for ``torch.compile`` alone: ``disable`` keeps Dynamo from tracing
into the function, and ``graph_break`` is an empty function outside tracing.
In eager mode, which is all snnkd ever runs (it never calls ``torch.compile``),
the disabled function behaves as the plain function and the step wrapper
reduces to ``set_grad_enabled(defaults["differentiable"])`` around the update,
so the numbers are bit-identical.

What :func:`install` does
-------------------------
Only while ``torch._dynamo`` is not imported (otherwise it changes nothing):

- it pre-fills the ``__dynamo_disable`` cache of each ``_disable_dynamo``-wrapped
  method of ``torch.optim``'s optimizers and of every ``TorchDispatchMode``
  subclass defined so far with a callable that calls the plain function;
- it replaces the ``_use_grad_for_differentiable`` layer of each
  ``torch.optim`` optimizer's ``step`` with the same grad-mode switch, without
  the import.

Both check ``sys.modules`` on every call: once anything imports
``torch._dynamo`` (someone may compile), they hand over to torch's own
wrappers, so compiled code sees exactly torch's behaviour. Call it again after
importing a module that defines dispatch modes.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import _use_grad_for_differentiable
from torch.utils._python_dispatch import TorchDispatchMode

DYNAMO = "torch._dynamo"
_CACHE = "__dynamo_disable"  # the attribute torch._compile._disable_dynamo caches on the wrapped function


def _code_of_disable_dynamo_wrapper() -> Any:
    return torch._disable_dynamo(lambda: None).__code__


def _code_of_use_grad_wrapper() -> Any:
    return _use_grad_for_differentiable(lambda: None).__code__


def _closure(fn: Callable) -> dict[str, Any]:
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__ or ()), strict=True))


class _PlainUntilDynamo:
    """The ``__dynamo_disable`` cache entry: ``fn`` itself until torch._dynamo is imported.

    Then it builds torch's ``torch._dynamo.disable(fn, recursive, wrapping=False)``
    (as ``_disable_dynamo`` would have), caches that instead, and calls it.
    """

    def __init__(self, fn: Callable, recursive: bool) -> None:
        self.fn, self.recursive = fn, recursive

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if DYNAMO not in sys.modules:
            return self.fn(*args, **kwargs)
        import torch._dynamo

        disabled = torch._dynamo.disable(self.fn, self.recursive, wrapping=False)
        setattr(self.fn, _CACHE, disabled)
        return disabled(*args, **kwargs)


def _eager_step(use_grad: Callable) -> Callable:
    """``use_grad`` (torch's step wrapper) without its ``import torch._dynamo``, same grad mode."""
    raw = use_grad.__wrapped__

    @functools.wraps(raw)
    def step(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if DYNAMO in sys.modules:
            return use_grad(self, *args, **kwargs)
        prev = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(self.defaults["differentiable"])
            return raw(self, *args, **kwargs)
        finally:
            torch.set_grad_enabled(prev)

    step.snnkd_eager = True  # type: ignore[attr-defined]
    return step


def _optimizer_classes() -> list[type[torch.optim.Optimizer]]:
    found = [getattr(torch.optim, name) for name in dir(torch.optim)]
    return [c for c in found if isinstance(c, type) and issubclass(c, torch.optim.Optimizer)]


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def _prefill_disable_caches(cls: type) -> int:
    wrapper_code, done = _code_of_disable_dynamo_wrapper(), 0
    for attr in vars(cls).values():
        if callable(attr) and getattr(attr, "__code__", None) is wrapper_code:
            cell = _closure(attr)
            if getattr(cell["fn"], _CACHE, None) is None:
                setattr(cell["fn"], _CACHE, _PlainUntilDynamo(cell["fn"], cell["recursive"]))
            done += 1
    return done


def _replace_step(cls: type[torch.optim.Optimizer]) -> bool:
    step = vars(cls).get("step")
    hooked = getattr(step, "hooked", False)  # Optimizer.__init__ wraps the class's step once
    inner = step.__wrapped__ if hooked else step
    if inner is None or getattr(inner, "__code__", None) is not _code_of_use_grad_wrapper():
        return getattr(inner, "snnkd_eager", False)
    new = _eager_step(inner)
    if hooked:
        new = torch.optim.Optimizer.profile_hook_step(new)
        new.hooked = True  # type: ignore[attr-defined]
    cls.step = new  # type: ignore[method-assign]
    return True


def install() -> bool:
    """Let optimizers and dispatch modes run without importing ``torch._dynamo``; idempotent.

    Returns whether it is in effect (False once torch._dynamo is imported:
    then torch's own wrappers run unchanged).
    """
    if DYNAMO in sys.modules:
        return False
    for cls in _optimizer_classes():
        _prefill_disable_caches(cls)
        _replace_step(cls)
    for cls in _subclasses(TorchDispatchMode):
        _prefill_disable_caches(cls)
    return True
