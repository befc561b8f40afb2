"""snnkd.scale.history: recorded stage durations and the start order by bottom level."""

from __future__ import annotations

import json

from snnkd.scale.dag import Stage
from snnkd.scale.history import FILE, bottom_levels, load, record, start_order

# DVC's order: data, a teacher, its kd tuning and method stages, and a long quant stage that needs
# only the data (the default suite's tail: DVC put it last)
STAGES = [
    Stage("data@d", "snnkd pipeline data d", ()),
    Stage("network@s-d-teacher", "...", ("data@d",)),
    Stage("tune@s-d-kd", "...", ("network@s-d-teacher",)),
    Stage("method@s-d-kd", "...", ("tune@s-d-kd",)),
    Stage("method@s-d-quant", "...", ("data@d",)),
]


def names(stages):
    return [s.name for s in stages]


def test_untimed_stages_count_one_second_each():
    level = bottom_levels(STAGES, {})
    assert level == {
        "data@d": 4.0,
        "network@s-d-teacher": 3.0,
        "tune@s-d-kd": 2.0,
        "method@s-d-kd": 1.0,
        "method@s-d-quant": 1.0,
    }
    # ties keep DVC's order
    assert names(start_order(STAGES, {})) == names(STAGES)


def test_a_long_stage_that_needs_little_starts_first():
    seconds = {"data@d": 2, "network@s-d-teacher": 100, "tune@s-d-kd": 50, "method@s-d-kd": 80}
    seconds["method@s-d-quant"] = 500
    level = bottom_levels(STAGES, seconds)
    assert level["method@s-d-quant"] == 500 and level["network@s-d-teacher"] == 230
    assert level["data@d"] == 502  # max(230, 500) + 2
    assert names(start_order(STAGES, seconds)) == [
        "data@d",
        "method@s-d-quant",
        "network@s-d-teacher",
        "tune@s-d-kd",
        "method@s-d-kd",
    ]


def test_needs_outside_the_selection_are_ignored():
    level = bottom_levels(STAGES[2:], {"tune@s-d-kd": 5, "method@s-d-kd": 7})
    assert level == {"tune@s-d-kd": 12, "method@s-d-kd": 7, "method@s-d-quant": 1.0}


def test_record_merges_and_load_reads_back(tmp_path):
    assert load(tmp_path) == {}
    record(tmp_path, {"b": 2.5})
    record(tmp_path, {"a": 1.0, "b": 3.0})
    assert load(tmp_path) == {"a": 1.0, "b": 3.0}
    assert json.loads((tmp_path / FILE).read_text()) == {"a": 1.0, "b": 3.0}
    record(tmp_path, {})  # nothing executed: the file stays as it is
    assert load(tmp_path) == {"a": 1.0, "b": 3.0}


def test_an_unreadable_record_is_no_history(tmp_path):
    (tmp_path / FILE).parent.mkdir(parents=True)
    (tmp_path / FILE).write_text("{not json")
    assert load(tmp_path) == {}
    (tmp_path / FILE).write_text('["a list"]')
    assert load(tmp_path) == {}
