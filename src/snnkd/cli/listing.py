"""Tables for ``snnkd list``."""

from __future__ import annotations

from pathlib import Path


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*map(str, r)).rstrip() for r in [header, *rows])


def datasets(data_dir: str = "data") -> str:
    """Every dataset: shape, state, description, and its source and licence where the registry has them."""
    from snnkd.data import DATASETS
    from snnkd.data.staging import REAL

    rows = []
    for name, spec in DATASETS.items():
        info = spec.info
        urls = sorted({a.url for a in REAL[name].archives}) if name in REAL else []
        rows.append(
            [
                name,
                info.modality,
                "x".join(map(str, info.input_shape)),
                info.num_classes,
                spec.state(Path(data_dir)),
                info.description,
                info.source or ", ".join(urls) or "-",
                info.licence or "-",
            ]
        )
    header = ["dataset", "modality", "input", "classes", "state", "description", "source", "licence"]
    return _table(header, rows)


def models() -> str:
    from snnkd.core.config import NeuronConfig
    from snnkd.data import DATASETS
    from snnkd.models import PRESETS, build_model

    rows = []
    for dataset, table in PRESETS.items():
        info = DATASETS.get(dataset).info
        for name, (arch, kwargs) in table.items():
            net = build_model(arch, info.input_shape, info.num_classes, NeuronConfig(), **kwargs)
            params = sum(p.numel() for p in net.parameters())
            args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
            rows.append([dataset, name, arch, f"{params:,}", args])
    return _table(["dataset", "model", "architecture", "params", "arguments"], rows)


def hparam(name: str, hp) -> str:
    """``tau=4 [1, 20] log``, ``bits=8 {2, 4, 8}``: default and valid range (the Optuna search space)."""
    if hp.choices is not None:
        return f"{name}={hp.default} {{{', '.join(map(str, hp.choices))}}}"
    bounds = f" [{hp.low:g}, {hp.high:g}]" if hp.low is not None and hp.high is not None else ""
    return f"{name}={hp.default:g}{bounds}" + (" log" if hp.log else "")


def methods(plugin_dirs: list[str]) -> str:
    from snnkd.methods import discover

    rows = []
    for name, m in discover(plugin_dirs).items():
        hp = {n: h.default for n, h in m.hparams.items()}
        terms = " + ".join(t.name if t.weight == 1 else f"{t.weight:g}*{t.name}" for t in m.terms(hp))
        hparams = "; ".join(hparam(n, h) for n, h in m.hparams.items()) or "-"
        rows.append([name, m.teacher, terms, hparams, m.paper])
    header = ["method", "teacher", "loss (defaults)", "hyper-parameters (default [range])", "paper"]
    return _table(header, rows)


def terms(plugin_dirs: list[str]) -> str:
    from snnkd.methods import discover
    from snnkd.methods.terms import TERMS

    discover(plugin_dirs)  # plugin files register their own terms
    rows = []
    for name, spec in TERMS.items():
        doc = (spec.fn.__doc__ or "").strip().splitlines()[0]
        rows.append([name, ",".join(sorted(spec.student)), ",".join(sorted(spec.teacher)) or "-", doc])
    return _table(["term", "student", "teacher", "formula"], rows)


def render(what: str, plugin_dirs: list[str] | None = None) -> str:
    if what == "datasets":
        return datasets()
    if what == "models":
        return models()
    if what == "methods":
        return methods(plugin_dirs or [])
    return terms(plugin_dirs or [])
