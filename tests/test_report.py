"""The HTML report: self-contained, complete per dataset, and rendered by headless Chromium offline."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from headless import find_chromium, open_page

from snnkd.pipeline.suite import network_dir, parse, run_dir
from snnkd.results import leaderboard as lb
from snnkd.results import plots, report

METHODS = {"scratch": 0.80, "kd": 0.90, "act-reg": 0.78}
DATASETS = ("digits", "mnist1d")
NB_BLOCK = {
    "ClassificationAccuracy": 0.8,
    "ActivationSparsity": 0.9,
    "ActivationSparsityByLayer": {"features.lif1": 0.92, "features.lif2": 0.88},
    "SynapticOperations": {"Effective_MACs": 17000.0, "Effective_ACs": 42000.0, "Dense": 240896.0},
    "MembraneUpdates": 6000.0,
    "Footprint": 24952,
    "ConnectionSparsity": 0.0,
}


def small_suite():
    return parse(
        {
            "suite": "report-test",
            "datasets": list(DATASETS),
            "seeds": [0, 1, 2],
            "common": {"T": 4},
            "budgets": {"digits": {"train": {"epochs": 3}}, "mnist1d": {"train": {"epochs": 3}}},
            "networks": {"teacher": {"model": "teacher"}},
            "methods": {m: {} for m in METHODS},
            "groups": {"none": ["scratch", "act-reg"], "teacher": ["kd"]},
        },
        "test",
    )


def runs_frame() -> pd.DataFrame:
    rows = []
    for d in DATASETS:
        for m, acc in METHODS.items():
            for seed in range(3):
                rows.append(
                    {
                        "dataset": d, "method": m, "seed": seed, "test_accuracy": acc + 0.01 * seed,
                        "spikes_per_sample": 100 * acc + seed, "firing_rate": 0.05,
                        "synops": 1000 * acc + seed,
                        "energy_pj": 2e5 + seed, "weight_bits": 32, "model_size_bits": 1000,
                        "firing_rate/features.lif1": 0.04 + 0.001 * seed, "firing_rate/features.lif2": 0.06,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A results/ tree (curves, metrics with a neurobench block, a reference network) and the build result."""
    monkeypatch.chdir(tmp_path)
    runs = runs_frame()
    for d, m, s in runs[["dataset", "method", "seed"]].itertuples(index=False):
        folder = run_dir("report-test", d, m, s)
        folder.mkdir(parents=True)
        curve = pd.DataFrame({"epoch": [1, 2, 3], "val_accuracy": [0.3, 0.6 + 0.01 * s, METHODS[m]]})
        curve.to_csv(folder / "curve.csv", index=False)
        block = {**NB_BLOCK, "MembraneUpdates": 6000.0 + s} if m != "act-reg" else None
        (folder / "metrics.json").write_text(json.dumps({"test_accuracy": 0.8, "neurobench": block}))
    for d in DATASETS:
        net = network_dir("report-test", d, "teacher")
        net.mkdir(parents=True)
        (net / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9876, "params": 123456}))
    table = lb.aggregate(runs)
    frames = lb.display_frames(table)
    result = {"table": table, "frames": frames, "runs": runs, "left_out": pd.DataFrame(), "files": {}}
    path = report.write(result, tmp_path / "results" / "report.html", small_suite())
    return path, result


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained_and_has_every_part(results):
    path, _ = results
    page = path.read_text()
    parser = _Tags()
    parser.feed(page)
    tags = parser.tags
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
    sources = [a.get("src") or a.get("href") or "" for _, a in tags]
    assert all(s.startswith(("data:image/png;base64,", "#")) for s in sources if s), sources
    images = [a["src"] for t, a in tags if t == "img"]
    # per dataset: spikes, SynOps + energy, curves, firing rates
    assert len(images) == 4 * len(DATASETS)
    for src in images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for d in DATASETS:
        assert f'<h2 id="{d}">' in page
    for heading in ("Leaderboard", "Validation curves", "Firing rate per layer", "Reference networks"):
        assert page.count(f"<h3>{heading}") == len(DATASETS)
    assert "98.76" in page and "123,456" in page  # the reference network's accuracy and size
    assert re.search(r"git commit</th><td>[^<]+</td>", page)
    assert "spikingjelly" in page and "torch" in page  # software versions
    assert "{&quot;train&quot;: {&quot;epochs&quot;: 3}}" in page  # the per-dataset budget
    for method in METHODS:
        assert method in page


def test_neurobench_csv_has_neurobench_names_and_means_over_seeds(results):
    path, _ = results
    nb = pd.read_csv(path.parent / "neurobench.csv").set_index(["dataset", "method"])
    names = {"ClassificationAccuracy", "SynapticOperations/Effective_ACs", "MembraneUpdates", "Footprint"}
    assert names <= set(nb.columns)
    assert nb.loc[("digits", "kd"), "MembraneUpdates"] == 6001.0  # mean of 6000, 6001, 6002
    assert nb.loc[("digits", "kd"), "n_seeds"] == 3
    assert ("digits", "act-reg") not in nb.index  # its runs have no neurobench block


def test_every_method_gets_its_own_colour_and_marker():
    style = plots.styles([f"m{i}" for i in range(11)])
    assert len({s["color"] for s in style.values()}) == 11
    assert len({s["marker"] for s in style.values()}) == 11


def test_error_bars_are_std_over_seeds():
    stats = plots.per_method(runs_frame(), ["test_accuracy"]).set_index(["dataset", "method"])
    assert stats.loc[("digits", "kd"), "test_accuracy_mean"] == pytest.approx(0.91)
    assert stats.loc[("digits", "kd"), "test_accuracy_std"] == pytest.approx(0.01)


def test_report_renders_in_headless_chromium_offline(results, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is missing and cannot be installed (not root, or no apt-get)")
    path, _ = results
    page = open_page(path, chromium)
    Path(tmp_path / "report.png").write_bytes(page.screenshot)
    assert page.errors == []
    assert page.requests == []
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.height > 3000  # two datasets' tables and figures, laid out


def test_the_browser_check_sees_requests_and_console_errors(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is missing and cannot be installed (not root, or no apt-get)")
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="http://192.0.2.1/a.png"><script>console.error("boom")</script></body></html>'
    )
    page = open_page(bad, chromium)
    assert page.requests == ["http://192.0.2.1/a.png"]
    assert "boom" in page.errors
