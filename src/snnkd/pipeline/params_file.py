"""Editing ``params.yaml``: suites copied in from ``benchmarks/``, removed, and the plan regenerated.

The file is text a person reads, so a suite is copied in as its benchmark file's text (comments
kept), indented under ``suites.<name>``, and removing a suite drops its block alone; whatever the
text edit gives is checked against the data it should hold, and a file whose layout the edit cannot
follow is written from that data instead. Every write is one atomic write of a file whose suites
and plan have passed every check (:func:`snnkd.pipeline.suite.check`,
:func:`snnkd.pipeline.plan.check_names`): nothing is half-written, and a refused edit leaves the file
as it was.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

from snnkd.errors import ConfigError
from snnkd.pipeline import plan
from snnkd.pipeline.suite import benchmark_file, check, parse, read, write_params

HEADER = """\
# The pipeline's suites: `dvc repro` builds every suite under `suites`, each into results/<suite>/
# (`dvc repro leaderboard@<suite>`: one suite and what it needs). Each is a copy of a
# benchmarks/<name>.yaml: `snnkd suite add NAME`, `snnkd suite remove NAME`, `snnkd suite use NAME`
# (that suite alone) edit this list and regenerate the plan at the bottom; after editing a suite's
# settings here, run `snnkd suite plan`. A suite's stages read only its own keys.
"""
_BLOCK = re.compile(r"^  ([^\s#][^:]*):\s*(#.*)?$")


def _split(head: str) -> tuple[str, list[tuple[str, str]]] | None:
    """``head`` (the text above the marker) as (text up to ``suites:``, [(name, block text)]), or
    None when its layout is not the one this module writes."""
    lines = head.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip() == "suites:"]
    if len(starts) != 1:
        return None
    prefix, rest = "".join(lines[: starts[0] + 1]), lines[starts[0] + 1 :]
    if any(line[:1] not in ("", " ", "\n", "#") for line in rest):
        return None  # another top-level key below `suites:`
    blocks: list[tuple[str, list[str]]] = []
    for line in rest:
        found = _BLOCK.match(line.rstrip("\n"))
        if found:
            blocks.append((found.group(1).strip().strip("'\""), [line]))
        elif blocks:
            blocks[-1][1].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            return None
    return prefix, [(name, "".join(body)) for name, body in blocks]


def block(name: str, text: str) -> str:
    """Suite ``name``'s block: its benchmark file's text indented under ``  <name>:``."""
    body = textwrap.indent(text.strip("\n"), "    ")
    return f"  {name}:\n{body}\n"


def compose(head: str, edit: dict[str, str | None], want: dict[str, Any]) -> str:
    """``head`` with each suite of ``edit`` replaced by its block (``None``: removed), new ones last;
    checked to parse to ``want`` (the ``suites`` mapping), else written from ``want``."""
    split = _split(head)
    if split is not None:
        prefix, blocks = split
        names = [n for n, _ in blocks]
        out = [edit.get(n, body) if n in edit else body for n, body in blocks]
        out += [text for n, text in edit.items() if n not in names and text is not None]
        text = prefix + "".join(b for b in out if b is not None)
        try:
            if (yaml.safe_load(text) or {}).get("suites") == want:
                return text.rstrip("\n") + "\n"
        except yaml.YAMLError:
            pass
    return HEADER + yaml.safe_dump({"suites": want}, sort_keys=False, width=110)


def _render(text: str, suites_data: dict[str, Any], source: str) -> str:
    """``text`` (the suites, above the marker) with its plan generated from ``suites_data``."""
    from snnkd.pipeline.suites import parse_all

    suites = parse_all({"suites": suites_data}, source)
    for name, suite in suites.items():
        check(suite, f"{source}: suites.{name}")
    head = text.split(plan.MARKER, 1)[0].rstrip("\n")
    body = yaml.safe_dump({"plan": plan.build(suites)}, sort_keys=True, width=200)
    return f"{head}\n{plan.MARKER}\n{body}"


def _benchmark(name: str, benchmarks: Path) -> tuple[str, dict[str, Any]]:
    """The text and data of ``benchmarks/<name>.yaml``, checked (names, registries, its ``suite``)."""
    source = benchmark_file(name, benchmarks)
    data = read(source)
    suite = check(parse(data, str(source)), str(source))
    if suite.suite != name:
        raise ConfigError(f"{source}: suite: '{suite.suite}' must be the file's name '{name}'")
    return source.read_text(encoding="utf-8"), data


def _current(target: Path) -> tuple[str, dict[str, Any]]:
    """``target``'s text and its ``suites`` mapping (a pipeline's params.yaml)."""
    from snnkd.pipeline.suites import settings

    data = read(target)
    if isinstance(data, dict) and "suites" not in data and "suite" in data:
        raise ConfigError(
            f"{target}: holds one suite ('{data['suite']}'), not the pipeline's `suites:`; "
            "`snnkd suite use NAME` writes a params.yaml for benchmarks/<name>.yaml"
        )
    found = settings(data, str(target))
    plan.check_names(data.get("plan"), str(target))
    return target.read_text(encoding="utf-8"), dict(found)


def use(name: str, benchmarks: Path = Path("benchmarks"), target: Path = Path("params.yaml")) -> Path:
    """``target`` holding suite ``name`` alone (``benchmarks/<name>.yaml``) and its plan, in one write."""
    text, data = _benchmark(name, benchmarks)
    head = compose(HEADER + "suites:\n", {name: block(name, text)}, {name: data})
    return write_params(target, _render(head, {name: data}, str(target)))


def add(name: str, benchmarks: Path = Path("benchmarks"), target: Path = Path("params.yaml")) -> Path:
    """Suite ``name`` (``benchmarks/<name>.yaml``) added to ``target``'s suites; the plan regenerated."""
    text, data = _benchmark(name, benchmarks)
    current, found = _current(target)
    if name in found:
        raise ConfigError(
            f"suite: '{name}' is already in {target}; `snnkd suite remove {name}` first to copy it again"
        )
    want = {**found, name: data}
    head = compose(current.split(plan.MARKER, 1)[0], {name: block(name, text)}, want)
    return write_params(target, _render(head, want, str(target)))


def remove(name: str, target: Path = Path("params.yaml")) -> Path:
    """Suite ``name`` dropped from ``target``'s suites (its results/<name>/ is left as it is)."""
    current, found = _current(target)
    if name not in found:
        raise ConfigError(f"suite: '{name}' is not in {target}; valid choices: {', '.join(found)}")
    if len(found) == 1:
        raise ConfigError(
            f"suite: '{name}' is {target}'s only suite; a pipeline needs one (`snnkd suite use`)"
        )
    want = {n: body for n, body in found.items() if n != name}
    head = compose(current.split(plan.MARKER, 1)[0], {name: None}, want)
    return write_params(target, _render(head, want, str(target)))


def replan(target: Path = Path("params.yaml")) -> Path:
    """``target``'s plan regenerated from its suites (atomically)."""
    current, found = _current(target)
    return write_params(target, _render(current, found, str(target)))
