"""A trained network rebuilt from its checkpoint: the checkpoint names its method, it never chooses code.

A checkpoint's config records the ``plugin_dirs`` its run was given. They are *not*
loaded when the checkpoint is read (``snnkd eval``, ``--teacher``, ``snnkd export``,
``--resume``): a shared checkpoint could otherwise run any ``.py`` file of a folder it
names. Its method is looked up by name among the methods available here: the
built-ins, installed entry points (``snnkd.methods``) and the plugin folders the user
gives (``--plugin-dir``, or ``plugin_dirs`` of the config they pass). So a checkpoint
also evaluates anywhere the same method is available, wherever its plugin folder was.

When the run's ``run.json`` lies beside the checkpoint (``snnkd train --out`` and the
reference networks publish it there), the method found here must give the loss terms
recorded in it for the checkpoint's hyper-parameters; a method of the same name with
another recipe is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from snnkd.core.config import RunConfig, validate
from snnkd.errors import CheckpointError, ConfigError
from snnkd.methods import Method, discover, get_method
from snnkd.models.builders import SpikingNet, rebuild


def brief(err: BaseException, limit: int = 240) -> str:
    """``ErrorType: message`` on one line (whitespace collapsed), at most ``limit`` characters."""
    text = " ".join(str(err).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def method_of(state: dict[str, Any], source: str | Path, plugin_dirs: Iterable[str | Path] = ()) -> Method:
    """The method that trained the checkpoint ``state`` (read from ``source``), found by name here.

    ``plugin_dirs`` are the user's folders; the checkpoint's own ``config.plugin_dirs`` are never loaded.
    """
    cfg: RunConfig = validate(state["config"])
    dirs = list(plugin_dirs)
    try:
        method = get_method(cfg.method, dirs)
    except ConfigError:
        if not all(part.strip() in discover(dirs) for part in cfg.method.split("+")):
            named = ", ".join(cfg.plugin_dirs) or "none"
            raise CheckpointError(
                f"checkpoint: {source}: its method '{cfg.method}' is not available here; give the folder "
                f"of its plugin with --plugin-dir (folders a checkpoint names are never loaded: {named}); "
                f"valid choices: {', '.join(discover(dirs).names())}"
            ) from None
        raise
    _check_terms(method, cfg, Path(source))
    return method


def _check_terms(method: Method, cfg: RunConfig, source: Path) -> None:
    """Refuse ``method`` when the ``run.json`` beside ``source`` records other loss terms for this run."""
    from snnkd.evaluation.run_files import RUN_FILE

    recorded = source.parent / RUN_FILE
    try:
        run = json.loads(recorded.read_text())
    except (OSError, ValueError):
        return  # no record beside the checkpoint (or not a readable one): the name is the check
    if not isinstance(run, dict) or run.get("identity") != cfg.identity() or "terms" not in run:
        return  # the record of another run
    try:
        hp = method.resolve(cfg.hparams)
        terms = [{"name": t.name, "weight": t.weight, "params": dict(t.params)} for t in method.terms(hp)]
    except ConfigError as err:
        raise CheckpointError(f"checkpoint: {source}: method '{cfg.method}' here: {err}") from None
    here = json.loads(json.dumps([t for t in terms if t["weight"] != 0]))
    if here != run["terms"]:
        raise CheckpointError(
            f"checkpoint: {source}: method '{cfg.method}' here gives the loss terms {_names(here)}, "
            f"not the {_names(run['terms'])} its run recorded in {recorded}; "
            "give the plugin it was trained with (--plugin-dir)"
        )


def _names(terms: list[dict[str, Any]]) -> str:
    return " + ".join(f"{t.get('weight')}*{t.get('name')}{t.get('params') or ''}" for t in terms)


def network(
    state: dict[str, Any], source: str | Path = "checkpoint", plugin_dirs: Iterable[str | Path] = ()
) -> SpikingNet:
    """The trained network of a loaded checkpoint, its method's transform (quantization) applied.

    A spec that builds no network, or weights that do not fit it, is a one-line CheckpointError.
    """
    cfg = validate(state["config"])
    try:
        model = rebuild(state["spec"])
    except ConfigError as err:
        raise CheckpointError(f"checkpoint: {source} is damaged: spec: {err}") from None
    except Exception as err:  # any builder error on a hand-edited spec
        raise CheckpointError(f"checkpoint: {source} is damaged: spec: {brief(err)}") from None
    method = method_of(state, source, plugin_dirs)
    if method.transform is not None:
        model = method.transform(model, cfg)
    try:
        model.load_state_dict(state["model"])
    except Exception as err:  # missing, unexpected or misshapen weights
        raise CheckpointError(
            f"checkpoint: {source} is damaged: its weights do not fit its spec ({brief(err)})"
        ) from None
    return model
