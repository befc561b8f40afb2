"""A small name -> object registry, in the style of torchdistill's registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from snnkd.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (builders, loss terms, methods).

    ``kind`` names what is registered; it appears in errors such as
    ``unknown dataset 'x'; valid choices: digits, mnist1d``.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, replace: bool = False):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            if name in self._items and not replace and self._items[name] is not item:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = item
            return item

        return add(obj) if obj is not None else add

    def get(self, name: str, field: str | None = None) -> T:
        """Look ``name`` up; an unknown name raises a one-line ConfigError."""
        try:
            return self._items[name]
        except KeyError:
            label = field or self.kind
            raise ConfigError(
                f"{label}: unknown {self.kind} '{name}'; valid choices: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]


def lazy(fn: Callable[[], T]) -> Callable[[], T]:
    """Call ``fn`` once, on first use."""
    cache: list[T] = []

    def get() -> T:
        if not cache:
            cache.append(fn())
        return cache[0]

    return get
