"""``results/<suite>/report.html``: the suite's results in one self-contained page.

The page has no script and no external resource: styles are inline and every
figure is a matplotlib PNG embedded as a ``data:`` URI, so it opens offline and
makes no network request. Per dataset it shows the leaderboard (the same display
frames as ``leaderboard.md``), accuracy against spikes per sample (the main
trade-off), SynOps and energy with 95 % CIs over seeds on both axes and scratch as
the reference (a sweep's points joined as its curve, and their table), activity at
iso-accuracy in the three units and activity per layer (:mod:`snnkd.results.tradeoff`), the validation
curves (mean and a band over seeds), firing rates per layer, the
NeuroBench metrics and the reference networks; then the suite's budgets, the
software versions and the git commit.

The page is a function of the runs and the code: no wall-clock time, layers in the network's
order, so the same runs give the same bytes whether they were read from MLflow or from their
published files.
"""

from __future__ import annotations

import base64
import html
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from snnkd.evaluation import neurobench_metrics
from snnkd.pipeline.suite import Suite, network_dir, run_dir, split_network
from snnkd.results import plots, tradeoff

EXTRA_PACKAGES = ("pandas", "scipy", "statsmodels", "matplotlib", "pydantic", "neurobench")

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1250px;
color:#1b1b1b;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem}h2{border-bottom:2px solid #0072B2;padding-bottom:.2rem;margin-top:2.5rem}
h3{font-size:1.05rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fafafa}
img{max-width:100%;height:auto;border:1px solid #eee}
.meta td{text-align:left}.note{color:#555;font-size:.85rem}
.wide{overflow-x:auto}nav a{margin-right:1rem}code{background:#f3f3f3;padding:0 .2rem}
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _frame(df: pd.DataFrame) -> str:
    """A DataFrame as an HTML table, every cell escaped, scrolling sideways when wider than the page."""
    table = df.to_html(index=False, escape=True, border=0, na_rep="–")
    return f'<div class="wide">{table}</div>'


def _image(fig, alt: str, path: Path | None = None) -> str:
    data = base64.b64encode(plots.png(fig, path)).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def read_curves(keys: pd.DataFrame, suite: str) -> pd.DataFrame:
    """``curve.csv`` of every (dataset, method, seed) of ``suite`` in ``keys`` that has one, stacked."""
    parts = []
    for d, m, s in keys[["dataset", "method", "seed"]].drop_duplicates().itertuples(index=False):
        path = run_dir(suite, d, m, int(s)) / "curve.csv"
        if path.is_file():
            curve = pd.read_csv(path)
            if {"epoch", "val_accuracy"} <= set(curve.columns):
                parts.append(curve[["epoch", "val_accuracy"]].assign(dataset=d, method=m, seed=int(s)))
    cols = ["dataset", "method", "seed", "epoch", "val_accuracy"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _metrics_json(path: Path) -> dict[str, Any] | None:
    """A run's checked ``metrics.json``; None when absent or damaged (the leaderboard lists it)."""
    from snnkd.tracking.published import NETWORK_REQUIRED, DamagedRun, read_metrics

    try:
        return read_metrics(path.parent, NETWORK_REQUIRED) if path.is_file() else None
    except DamagedRun:
        return None


def neurobench_runs(keys: pd.DataFrame, suite: str) -> pd.DataFrame:
    """The ``neurobench`` block of every run's ``metrics.json`` as flat NeuroBench-named columns."""
    rows = []
    for d, m, s in keys[["dataset", "method", "seed"]].drop_duplicates().itertuples(index=False):
        data = _metrics_json(run_dir(suite, d, m, int(s)) / "metrics.json") or {}
        block = data.get("neurobench")
        if block:
            rows.append({"dataset": d, "method": m, "seed": int(s), **neurobench_metrics.flat(block)})
    return pd.DataFrame(rows)


def neurobench_table(keys: pd.DataFrame, suite: str) -> pd.DataFrame:
    """Per (dataset, method): seeds and the mean over seeds of every NeuroBench column."""
    runs = neurobench_runs(keys, suite)
    if runs.empty:
        return pd.DataFrame(columns=["dataset", "method", "n_seeds"])
    numbers = [c for c in runs.columns if c not in ("dataset", "method", "seed")]
    grouped = runs.groupby(["dataset", "method"])
    out = grouped[numbers].mean()
    out.insert(0, "n_seeds", grouped["seed"].nunique())
    return out.reset_index()


def write_neurobench_csv(keys: pd.DataFrame, path: Path, suite: str) -> Path:
    """``results/<suite>/neurobench.csv``: one row per (dataset, method) with NeuroBench's metric names."""
    neurobench_table(keys, suite).to_csv(path, index=False, float_format="%.6g")
    return path


def references(suite: Suite, dataset: str) -> pd.DataFrame:
    """The suite's reference networks on ``dataset``: accuracy, spikes and size from their metrics.json."""
    rows = []
    for name in suite.network_names():  # a network trained on several seeds: one row per seed
        net = suite.networks[split_network(name)[0]]
        data = _metrics_json(network_dir(suite.suite, dataset, name) / "metrics.json")
        rows.append(
            {
                "network": name,
                "model": net.model,
                "readout": net.readout,
                "test acc (%)": "–" if data is None else f"{100 * data['test_accuracy']:.2f}",
                "spikes/sample": "–" if not data or "spikes_per_sample" not in data
                else f"{data['spikes_per_sample']:.1f}",
                "params": "–" if not data or "params" not in data else f"{data['params']:,}",
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def git_commit() -> str:
    """``git rev-parse HEAD`` of the working directory, or why it is unknown."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__})"
    return out.stdout.strip() if out.returncode == 0 else "unknown (not a git checkout)"


def versions() -> dict[str, str]:
    """Python and the installed versions of the packages the results depend on."""
    from snnkd.tracking.provenance import versions as tracked

    out = tracked()
    for name in EXTRA_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _kv(items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items.items())
    return f'<table class="meta">{rows}</table>'


def _budgets(suite: Suite) -> str:
    common = {k: json.dumps(v, sort_keys=True) for k, v in suite.common.items()}
    per = {d: json.dumps(suite.budgets.get(d, {}), sort_keys=True) for d in suite.datasets}
    return (
        "<h3>Budgets</h3>"
        + _kv({"seeds": suite.seeds, "student": suite.student, **common})
        + "<p>Per dataset:</p>"
        + _kv(per)
        + "<p>Tuning (same budget for every method):</p>"
        + _kv(tuning(suite))
    )


def tuning(suite: Suite) -> dict[str, Any]:
    """The suite's ``tune`` budget as the report shows it: no ``epochs`` is the dataset's budget."""
    budget = suite.tune.model_dump()
    if budget["epochs"] is None:  # TuneBudget.epochs: default, the dataset's budget (to a plateau)
        budget["epochs"] = "the dataset's budget (to a plateau)"
    return budget


def _dataset_section(dataset: str, result: dict[str, Any], suite: Suite, frames, curves, nb) -> str:
    runs = result["runs"]
    part = runs[runs["dataset"] == dataset]
    points = result.get("points", runs)  # the methods' runs and the sweeps' points
    points = points[points["dataset"] == dataset]
    sweeps = result.get("sweeps", {})
    order = result.get("layer_order")
    methods = sorted(runs["method"].unique())
    body = [f'<h2 id="{_e(dataset)}">{_e(dataset)}</h2>', "<h3>Leaderboard</h3>"]
    body.append(_frame(frames[dataset]) if dataset in frames else "<p>No leaderboard rows.</p>")
    body.append("<h3>Accuracy against spikes per sample</h3>")
    body.append(
        _image(
            plots.tradeoffs(points, ["spikes_per_sample"], methods=methods, sweeps=sweeps),
            f"{dataset}: accuracy vs spikes",
        )
    )
    body.append("<h3>Accuracy against SynOps and against energy</h3>")
    body.append(
        '<p class="note">Energy = E<sub>MAC</sub>·MACs + E<sub>AC</sub>·SynOps, batch norm folded. With '
        "direct encoding the MACs are those of the first layer, the same for every student of a dataset, "
        "so energy differs between full-precision methods only through SynOps; quantized students use "
        "the int8 constants.</p>"
    )
    body.append(
        _image(
            plots.tradeoffs(points, ["synops", "energy_pj"], methods=methods, sweeps=sweeps),
            f"{dataset}: accuracy vs SynOps, energy",
        )
    )
    delta = result.get("margin_pp", 0.5)
    sweep_views = tradeoff.curve_frames(result.get("curves", pd.DataFrame()))
    if dataset in sweep_views:
        body.append("<h3>Trade-off curves (sweeps)</h3>")
        body.append(f'<p class="note">{_e(tradeoff.CURVE_LEGEND)}</p>')
        body.append(_frame(sweep_views[dataset]))
    iso = tradeoff.iso_frames(result.get("iso", pd.DataFrame()))
    if dataset in iso:
        body.append("<h3>Activity at iso-accuracy</h3>")
        body.append(f'<p class="note">{_e(tradeoff.iso_legend(delta))}</p>')
        body.append(_frame(iso[dataset]))
    layers = tradeoff.layer_frames(result.get("layers", pd.DataFrame()))
    if dataset in layers:
        body.append("<h3>Where activity goes: spikes and SynOps per layer</h3>")
        body.append(f'<p class="note">{_e(tradeoff.LAYER_LEGEND)}</p>')
        body.append(_frame(layers[dataset]))
    body.append("<h3>Validation curves</h3>")
    if (curves["dataset"] == dataset).any():
        body.append(_image(plots.curves(curves, dataset, methods), f"{dataset}: validation curves"))
    else:
        body.append('<p class="note">No curve.csv found for this dataset.</p>')
    body.append("<h3>Firing rate per layer</h3>")
    body.append(_image(plots.firing_rates(part, methods=methods, order=order), f"{dataset}: firing rates"))
    body.append("<h3>NeuroBench metrics (mean over seeds)</h3>")
    nb_part = nb[nb["dataset"] == dataset].drop(columns="dataset")
    if len(nb_part):  # one row per NeuroBench metric, one column per method
        wide = nb_part.set_index("method").T.map(lambda v: f"{v:.6g}")
        body.append(_frame(wide.rename_axis(index="NeuroBench metric", columns=None).reset_index()))
    else:
        body.append('<p class="note">No run of this dataset has a neurobench block yet (re-run it).</p>')
    body.append("<h3>Reference networks</h3>")
    body.append(_frame(references(suite, dataset)))
    return "\n".join(body)


def render(result: dict[str, Any], suite: Suite) -> str:
    """The report's HTML for ``leaderboard.build``'s ``result`` (``frames``: its display tables)."""
    runs = result["runs"]
    datasets = [d for d in suite.datasets if (runs["dataset"] == d).any()]
    frames = result["frames"]  # leaderboard.display_frames of the table
    curves = read_curves(runs, suite.suite)
    nb = neurobench_table(runs, suite.suite)
    left = result.get("left_out")
    n_left = 0 if left is None else len(left)
    n_points = len(result.get("points", runs)) - len(runs)
    swept = f" and {n_points} runs of sweep points" if n_points else ""
    nav = " ".join(f'<a href="#{_e(d)}">{_e(d)}</a>' for d in datasets)
    sections = "\n".join(_dataset_section(d, result, suite, frames, curves, nb) for d in datasets)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>snnkd report: suite {_e(suite.suite)}</title>
<style>{STYLE}</style></head>
<body>
<h1>snnkd report: suite <code>{_e(suite.suite)}</code></h1>
<p class="note">Built from {len(runs)} runs{swept} ({n_left} left out) of
{len(datasets)} datasets. Trade-off figures: 95 % t CI of the mean over seeds on both axes, scratch
dashed; other error bars and bands: ± 1 standard deviation over seeds.
Energy: 45 nm, E = E<sub>MAC</sub>·MACs + E<sub>AC</sub>·SynOps, batch norm folded.</p>
<nav>{nav} <a href="#provenance">provenance</a></nav>
{sections}
<h2 id="provenance">Provenance</h2>
{_budgets(suite)}
<h3>Software</h3>
{_kv(versions())}
<h3>Code</h3>
{_kv({"git commit": git_commit()})}
</body></html>
"""


def write(result: dict[str, Any], path: Path, suite: Suite) -> Path:
    """Write the report to ``path`` (atomically) and ``neurobench.csv`` next to it."""
    from snnkd.core.atomic import atomic_text

    page = render(result, suite)
    write_neurobench_csv(result["runs"], Path(path).parent / "neurobench.csv", suite.suite)
    atomic_text(Path(path), page)
    return Path(path)
