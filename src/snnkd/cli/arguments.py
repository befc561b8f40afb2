"""The command line's argument parser: every parsing error is one line naming the valid choices.

argparse prints its usage block and exits on a bad argument; :class:`Parser` raises a
:class:`~snnkd.errors.ConfigError` instead, which :func:`snnkd.cli.main` prints as
``snnkd: error: ...`` with exit code 2, like every other bad input. A missing positional
that has choices (``snnkd pipeline`` without a step, ``snnkd`` without a command) names
them: argparse's own message says only that the argument is required.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from snnkd.errors import ConfigError

REQUIRED = "the following arguments are required: "


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are :class:`ConfigError` (sub-command parsers included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.positionals: dict[str, argparse.Action] = {}  # before argparse adds its own arguments
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self._remember(action)
        return action

    def add_subparsers(self, **kwargs: Any) -> argparse._SubParsersAction:
        action = super().add_subparsers(**kwargs)
        self._remember(action)
        return action

    def _remember(self, action: argparse.Action) -> None:
        if not action.option_strings:  # choices read when needed: sub-commands are added later
            self.positionals[action.metavar or action.dest] = action

    def error(self, message: str) -> None:  # type: ignore[override]  # raises instead of exiting
        if message.startswith(REQUIRED):
            missing = [name.strip() for name in message.removeprefix(REQUIRED).split(",")]
            for name in missing:
                choices = getattr(self.positionals.get(name), "choices", None)
                if choices:
                    message += f"; valid choices for {name}: {', '.join(choices)}"
        raise ConfigError(message)


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1 (``--jobs 0`` is refused, not read as "the default")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


class Renamed(argparse.Action):
    """A flag that was renamed: using it is an error that says what to use instead."""

    def __init__(self, option_strings: list[str], dest: str, advice: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.advice = advice

    def __call__(self, parser, namespace, values: str | Iterable[Any] | None, option_string=None) -> None:
        raise argparse.ArgumentError(self, self.advice)
