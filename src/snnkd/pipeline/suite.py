"""A benchmark suite (``params.yaml``): its typed schema, validation and run configurations.

A suite names the datasets, the seeds, the student preset, a training budget
per dataset, the reference networks trained once per dataset, or once per seed of the first
``seeds`` (teacher, a teacher with a spiking output layer, the assistant) and the methods with
their hyper-parameters. ``groups`` sorts the methods by the network they learn
from, which is what lets ``dvc.yaml`` give each method stage exactly the
checkpoint it depends on:

========== ============================================ ==================================
group      methods                                      network learnt from
========== ============================================ ==================================
none       teacher role ``none``                        -
teacher    role ``teacher``, mean readout               ``networks.teacher``
spiking    role ``teacher``, spiking readout            ``networks.teacher-spiking``
assistant  role ``assistant``                           ``networks.assistant``
twin       role ``fp-twin``                             the ``twin`` run (``scratch``), same seed
========== ============================================ ==================================

``sweeps`` declares trade-off curves: points of one hyper-parameter of a method, each run as a
*variant* of it (:mod:`snnkd.pipeline.sweeps`) with its own stages and run folders, in the method's group.

A ``methods`` key is a run name; an entry with ``method`` is an *alias* running that method under
its own name (one method several times, with other settings). ``tables``, ``tuned_against`` and
``claims`` (another suite's claims file, checked on this suite's runs) declare the suite's
verdict-table stages (:func:`snnkd.pipeline.plan.verdicts`, docs/verdicts.md).

Suites live in ``benchmarks/<name>.yaml``; ``snnkd suite add NAME`` validates one and copies it
into ``params.yaml``'s ``suites`` (:mod:`snnkd.pipeline.suites`), each suite publishing under its own folder
``results/<suite>/`` (:func:`suite_dir`).
Everything is checked before any training, each problem reported with the key that holds it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from snnkd.core.config import Settings
from snnkd.errors import ConfigError
from snnkd.pipeline.sweeps import SweepAxis, Variant
from snnkd.tracking.experiments import experiment_name  # also imported from here

Group = Literal["none", "teacher", "spiking", "assistant", "twin"]
GROUPS: tuple[str, ...] = ("none", "teacher", "spiking", "assistant", "twin")
NETWORKS: tuple[str, ...] = ("teacher", "teacher-spiking", "assistant")
GROUP_NETWORK: dict[str, str | None] = {
    "none": None,
    "teacher": "teacher",
    "spiking": "teacher-spiking",
    "assistant": "assistant",
    "twin": None,
}
REFERENCE = "scratch"  # the method every other one is compared with
RESULTS = Path("results")  # results/<suite>/: each suite's runs, networks, checkpoints, tuned, tables


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MethodEntry(Settings):
    """A run of the suite: hyper-parameters and any other run settings (``config``).

    Its key is the run name (stage names, run folders, leaderboard rows). ``method`` makes the key an
    alias: the registered method (or ``+``-composition) the entry runs, default the key itself.
    ``twin``: for an entry of ``groups.twin``, the run (of ``groups.none``) whose same-seed checkpoint
    is its full-precision teacher, default ``scratch``. Both are additive: left out of dumps at
    their defaults.
    """

    hparams: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict, description="RunConfig fields, nested")
    method: str | None = Field(None, description="the registered method the entry runs (default: its key)")
    twin: str | None = Field(
        None, description="groups.twin: the run whose same-seed checkpoint is the teacher (default scratch)"
    )
    ADDITIVE = frozenset({"method", "twin"})


class NetworkEntry(Settings):
    """A reference network, trained per dataset on the suite's first seed, or on its first ``seeds``.

    With ``seeds: k > 1`` the network is trained once per seed of ``suite.seeds[:k]``, each in
    ``results/<suite>/networks/<dataset>/<name>/seed<s>/`` (named ``<name>/seed<s>``), and the
    student of the suite's ``i``-th seed learns from the one of seed ``suite.seeds[i mod k]``
    (:meth:`Suite.network_for`): every student seed is paired with a teacher seed, so that the
    paired statistics average over teachers as well as over initialisations instead of resting
    on one teacher (issue 22). ``seeds`` is additive: left out of dumps at its default, 1.
    """

    model: str
    method: str = "scratch"
    readout: Literal["mean", "spiking"] = "mean"
    teacher: str | None = Field(None, description="network it learns from (the assistant: teacher)")
    hparams: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    budgets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per dataset RunConfig fields; the students' budgets never reach it"
    )
    seeds: int = Field(
        1,
        ge=1,
        description="trained on the suite's first `seeds` seeds; the student of the suite's i-th seed "
        "learns from the one of seed i mod `seeds`",
    )
    ADDITIVE = frozenset({"seeds"})


class TuneBudget(Settings):
    """``tune``: the Optuna budget every method of the suite gets before its runs (0: no tuning)."""

    trials: int = Field(0, ge=0, description="finished trials per (dataset, method) study")
    epochs: int | None = Field(
        None, ge=1, description="max epochs of a trial; default: the dataset's budget (to a plateau)"
    )
    objectives: str = Field("accuracy", description="accuracy | accuracy,spikes | accuracy,energy")
    pruner: Literal["median", "hyperband", "halving", "none"] = Field(
        "hyperband", description="pruner of single-objective studies, epochs as resource (snnkd.tune.pruners)"
    )
    seeds: int = Field(
        1,
        ge=1,
        description="a trial's objective is the mean over the validation scores of the suite's first "
        "`seeds` seeds (near ties of one seed no longer choose the point)",
    )
    ADDITIVE = frozenset({"seeds", "pruner"})  # left out of every dump at their defaults

    @field_validator("objectives")
    @classmethod
    def _known(cls, text: str) -> str:
        from snnkd.tune.spec import parse_objectives

        parse_objectives(text)
        return text


class Suite(_Strict):
    """The whole of ``params.yaml``."""

    suite: str = Field(description="a name (snnkd.names): letters, digits, '_', '.', '-'")
    datasets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    student: str = "student"
    common: dict[str, Any] = Field(default_factory=dict)
    budgets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    networks: dict[str, NetworkEntry]
    methods: dict[str, MethodEntry] = Field(min_length=1)
    groups: dict[Group, list[str]]
    tune: TuneBudget = Field(default_factory=TuneBudget)
    jobs: int = Field(2, ge=1, description="seeds of a method stage trained at once (one CPU thread each)")
    margin_pp: float = Field(
        0.5,
        gt=0,
        description="accuracy margin δ (percentage points) of equivalence and iso-accuracy verdicts",
    )
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="folder of each dataset read from files (fsdd, nmnist-small); default data/raw/<name>",
    )
    sweeps: dict[str, dict[str, SweepAxis]] = Field(
        default_factory=dict,
        description="per method, one hyper-parameter's grid or values: each point a variant "
        "(snnkd.pipeline.sweeps)",
    )
    tables: list[str] = Field(
        default_factory=list,
        description="verdict tables built from the suite's runs besides claims "
        "(snnkd.pipeline.plan.TABLES: quant)",
    )
    tuned_against: str | None = Field(
        None,
        description="the suite run at its defaults that `snnkd tuning-evidence` pairs this tuned suite with",
    )
    claims: str | None = Field(
        None,
        description="another suite's claims (benchmarks/claims/<name>.yaml) checked on this suite's runs; "
        "default: benchmarks/claims/<suite>.yaml where it exists",
    )
    _variants: dict[str, Variant] | None = PrivateAttr(None)

    def variants(self) -> dict[str, Variant]:
        """The sweep points, by variant name (expanded once; errors name the ``sweeps`` key)."""
        if self._variants is None:
            from snnkd.pipeline.sweeps import expand

            self._variants = expand(self.sweeps, self.methods, self.common.get("plugin_dirs", []))
        return self._variants

    def run_names(self) -> list[str]:
        """What the pipeline runs per dataset: the methods, then every sweep's variants in value order."""
        return [*self.methods, *self.variants()]

    def entry_of(self, name: str) -> str:
        """The ``methods`` key a run name reads its settings from (a variant's entry, else the name)."""
        if name in self.methods:  # not a variant: the sweeps are expanded (and checked) by check()
            return name
        variant = self.variants().get(name)
        return variant.method if variant else name

    def method_of(self, name: str) -> str:
        """The registered method (or composition) a run name runs: its entry's ``method``, else the
        entry's key (a sweep variant: its entry's)."""
        key = self.entry_of(name)
        entry = self.methods.get(key)
        return entry.method if entry is not None and entry.method is not None else key

    def twin_of(self, name: str) -> str:
        """The run whose same-seed checkpoint is the teacher of ``groups.twin`` run ``name``."""
        entry = self.methods.get(self.entry_of(name))
        return entry.twin if entry is not None and entry.twin is not None else REFERENCE

    def group_of(self, method: str) -> str:
        method = self.entry_of(method)
        for group, names in self.groups.items():
            if method in names:
                return group
        raise ConfigError(f"groups: method '{method}' is in no group")

    def network_seeds(self, name: str) -> list[int]:
        """The seeds reference network ``name`` is trained on: the suite's first ``seeds``."""
        return self.seeds[: self.networks[name].seeds]

    def network_names(self) -> list[str]:
        """Every trained reference network: a network's name, or ``<name>/seed<s>`` for each of its
        seeds where it is trained on several (:func:`seeded_network`)."""
        return [self.network_for(name, s) for name in self.networks for s in self.network_seeds(name)]

    def network_for(self, name: str, seed: int) -> str:
        """The trained network a run of ``seed`` learns from when it learns from network ``name``.

        A network trained on one seed teaches every seed. One trained on ``k`` seeds pairs by
        position: the run of the suite's ``i``-th seed learns from the network of seed
        ``seeds[i mod k]``, so that seed ``seeds[i]`` for ``i < k`` learns from its own seed's network.
        """
        seeds = self.network_seeds(name)
        if len(seeds) == 1:
            return name
        if seed not in self.seeds:
            raise ConfigError(f"seed: {seed} is not in suite '{self.suite}'; valid choices: {self.seeds}")
        return seeded_network(name, seeds[self.seeds.index(seed) % len(seeds)])

    def network_config(self, dataset: str, name: str) -> dict[str, Any]:
        """RunConfig data of reference network ``name`` on ``dataset`` (a name of
        :meth:`network_names`: ``<name>/seed<s>`` trains on seed ``s``, a plain name on the first)."""
        base, seed = split_network(name)
        net = self.networks[base]
        seed = self.seeds[0] if seed is None else seed
        data = copy.deepcopy(self.common)  # not the students' budgets: a reference network has its own
        _deep_merge(data, net.config)
        _deep_merge(data, net.budgets.get(dataset, {}))
        data["dataset"] = dataset
        data.update(model=net.model, method=net.method, readout=net.readout, seed=seed)
        data["hparams"] = dict(net.hparams)
        if net.teacher is not None:
            teacher = self.network_for(net.teacher, seed)
            data["teacher"] = str(checkpoint_of(network_dir(self.suite, dataset, teacher)))
        return data

    def method_config(self, dataset: str, method: str, seed: int, tuned: bool = True) -> dict[str, Any]:
        """RunConfig data of ``method`` on ``dataset`` with ``seed``, teacher checkpoint included.

        With ``tuned``, the hyper-parameters the ``tune`` stage wrote to
        ``results/<suite>/tuned/<dataset>/<method>.yaml`` replace the suite's, when that file exists.
        A sweep variant (``method`` one of :meth:`variants`) is its method's entry with the swept
        hyper-parameter fixed at its point, never tuned.
        """
        from snnkd.methods import get_method
        from snnkd.tune.stage import tuned_hparams

        variant = self.variants().get(method)
        name = method
        entry = self.methods[self.entry_of(name)]
        data = self._base(dataset)
        data["model"] = self.student
        _deep_merge(data, entry.config)
        data.update(method=self.method_of(name), seed=seed, hparams=dict(entry.hparams))
        chosen = tuned_hparams(dataset, method, suite_dir(self.suite)) if tuned and variant is None else None
        if chosen is not None:
            data["hparams"] = chosen
        if variant is not None:
            data["hparams"][variant.hparam] = variant.value
        method = data["method"]
        declared = get_method(method, data.get("plugin_dirs", [])).readout
        if declared is not None:
            data["readout"] = declared
        group = self.group_of(name)
        if group == "twin":
            data["teacher"] = str(run_checkpoint(self.suite, dataset, self.twin_of(name), seed))
        elif GROUP_NETWORK[group] is not None:
            network = self.network_for(GROUP_NETWORK[group], seed)
            data["teacher"] = str(checkpoint_of(network_dir(self.suite, dataset, network)))
        return data

    def _base(self, dataset: str) -> dict[str, Any]:
        data = copy.deepcopy(self.common)
        _deep_merge(data, self.budgets.get(dataset, {}))
        data["dataset"] = dataset
        return data

    def experiment(self) -> str:
        return experiment_name(self.suite)

    def require(
        self,
        dataset: str,
        *,
        network: str | None = None,
        method: str | None = None,
        seed: int | None = None,
        source: str = "params.yaml",
    ) -> None:
        """Refuse a stage of what this suite does not contain: trained anyway, it would run with this
        suite's settings and publish over another suite's results (or a seed outside the suite)."""
        asked = [("dataset", dataset, self.datasets)]
        if network is not None:
            asked.append(("network", network, self.network_names()))  # <name>/seed<s> too
        if method is not None:
            asked.append(("method", method, list(self.run_names())))  # sweep variants too
        if seed is not None:
            asked.append(("seed", seed, self.seeds))
        for what, name, valid in asked:
            if name not in valid:
                raise ConfigError(
                    f"{source}: {what} '{name}' is not in suite '{self.suite}'; "
                    f"valid choices: {', '.join(map(str, valid)) or 'none'}"
                )


def suite_dir(suite: str) -> Path:
    """``results/<suite>/``: everything a suite's pipeline stages publish."""
    return RESULTS / suite


def run_dir(suite: str, dataset: str, method: str, seed: int) -> Path:
    """Where a method run's metrics.json, run.json and curve.csv are published (git)."""
    return suite_dir(suite) / "runs" / dataset / method / f"seed{seed}"


def checkpoints_dir(suite: str, dataset: str, method: str) -> Path:
    """The folder of a method's published checkpoints, one per seed (DVC cache)."""
    return suite_dir(suite) / "checkpoints" / dataset / method


def run_checkpoint(suite: str, dataset: str, method: str, seed: int) -> Path:
    """Where a method run's checkpoint is published (DVC cache)."""
    return checkpoints_dir(suite, dataset, method) / f"seed{seed}.pt"


def networks_dir(suite: str) -> Path:
    """``results/<suite>/networks/``: the suite's reference networks."""
    return suite_dir(suite) / "networks"


def network_dir(suite: str, dataset: str, name: str) -> Path:
    """A reference network's folder; a seeded one's (``<name>/seed<s>``) is below its network's."""
    return networks_dir(suite) / dataset / name


def seeded_network(name: str, seed: int) -> str:
    """The name of network ``name`` trained on ``seed`` (one of several seeds): ``<name>/seed<s>``."""
    return f"{name}/seed{seed}"


def split_network(name: str) -> tuple[str, int | None]:
    """``(network, seed)`` of a trained network's name; ``seed`` None for a plain name."""
    from snnkd.names import SEEDED

    seeded = SEEDED.match(name)
    return (seeded.group("name"), int(seeded.group("seed"))) if seeded else (name, None)


def checkpoint_of(folder: Path) -> Path:
    return folder / "checkpoint.pt"


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def expected_group(method: str, plugin_dirs: list[str] | None = None) -> str:
    """The group a method belongs in, from its teacher role and required readout."""
    from snnkd.methods import get_method

    m = get_method(method, plugin_dirs or [])
    if m.teacher == "none":
        return "none"
    if m.teacher == "assistant":
        return "assistant"
    if m.teacher == "fp-twin":
        return "twin"
    return "spiking" if m.readout == "spiking" else "teacher"


def _format(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "params"
    msg = first["msg"].removeprefix("Value error, ")  # a validator's own message, as it is
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"params.yaml: {loc}: {msg}"


def parse(data: Any, source: str = "params.yaml") -> Suite:
    """Validate plain data into a Suite (schema only); errors name the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must hold a mapping")
    try:
        suite = Suite.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err).replace("params.yaml", source, 1)) from None
    _check_names(suite, source)
    return suite


def _check_names(suite: Suite, source: str) -> None:
    """Every name that reaches a command line (``dvc.yaml``'s ``cmd:``) or a path is a plain name
    (:mod:`snnkd.names`): the suite, datasets, methods (``+``-compositions), networks and the
    student, checked before anything is planned or run (the plan's records: :mod:`snnkd.pipeline.suites`)."""
    from snnkd.names import check_name

    keyed: list[tuple[str, Any, bool]] = [("suite", suite.suite, False), ("student", suite.student, False)]
    keyed += [(f"datasets.{i}", name, False) for i, name in enumerate(suite.datasets)]
    for name, entry in suite.methods.items():  # an alias's key is a plain name, its method may compose
        keyed.append((f"methods.{name}", name, entry.method is None))
        if entry.method is not None:
            keyed.append((f"methods.{name}.method", entry.method, True))
        if entry.twin is not None:
            keyed.append((f"methods.{name}.twin", entry.twin, False))
    if suite.tuned_against is not None:
        keyed.append(("tuned_against", suite.tuned_against, False))
    if suite.claims is not None:
        keyed.append(("claims", suite.claims, False))
    keyed += [(f"tables.{i}", name, False) for i, name in enumerate(suite.tables)]
    keyed += [(f"networks.{name}", name, False) for name in suite.networks]
    for name, net in suite.networks.items():
        keyed += [(f"networks.{name}.model", net.model, False), (f"networks.{name}.method", net.method, True)]
    for group, names in suite.groups.items():
        keyed += [(f"groups.{group}.{i}", name, True) for i, name in enumerate(names)]
    for key, value, composed in keyed:
        try:
            check_name(value, key, composed)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None


def check(suite: Suite, source: str = "params.yaml") -> Suite:
    """Check names and values against the registries and resolve every run's config."""
    from snnkd.core.config import validate
    from snnkd.data import DATASETS
    from snnkd.methods import discover, get_method
    from snnkd.models import preset_for

    plugin_dirs = list(suite.common.get("plugin_dirs", []))
    registry = discover(plugin_dirs)
    _check_lists(suite, source)
    for i, name in enumerate(suite.datasets):
        if name not in DATASETS:
            raise ConfigError(
                f"{source}: datasets.{i}: unknown dataset '{name}'; valid choices: "
                + ", ".join(DATASETS.names())
            )
    _check_sources(suite, source)
    for name in suite.budgets:
        if name not in suite.datasets:
            raise ConfigError(f"{source}: budgets.{name}: not one of the suite's datasets")
    for net_name, net in suite.networks.items():
        for name in net.budgets:
            if name not in suite.datasets:
                raise ConfigError(
                    f"{source}: networks.{net_name}.budgets.{name}: not one of the suite's datasets"
                )
    if REFERENCE not in suite.methods:
        raise ConfigError(f"{source}: methods: the reference method '{REFERENCE}' is required")
    for key, entry in suite.methods.items():  # a registered method or a composition ("kd-mse+logit-reg")
        name = suite.method_of(key)
        where = f"methods.{key}" if entry.method is None else f"methods.{key}.method"
        if " " in name or not all(part in registry for part in name.split("+")):
            raise ConfigError(
                f"{source}: {where}: unknown method (compose with '+', no spaces); "
                f"valid choices: {', '.join(registry.names())}"
            )
        if name.count("+") > 1:  # a method stage of dvc.yaml depends on two plugin files
            raise ConfigError(f"{source}: {where}: at most two methods may be composed in a suite")
    _check_tables(suite, source)
    seen: dict[str, str] = {}
    for group, names in suite.groups.items():
        for name in names:
            if name not in suite.methods:
                raise ConfigError(f"{source}: groups.{group}: '{name}' is not in methods")
            if name in seen:
                raise ConfigError(f"{source}: groups.{group}: '{name}' is also in groups.{seen[name]}")
            seen[name] = group
            want = expected_group(suite.method_of(name), plugin_dirs)
            if want != group:
                raise ConfigError(
                    f"{source}: groups.{group}: '{name}' learns from its "
                    f"'{get_method(suite.method_of(name), plugin_dirs).teacher}' network; "
                    f"it belongs in groups.{want}"
                )
    _check_aliases(suite, source, seen, plugin_dirs)
    from snnkd.pipeline.sweeps import expand

    suite._variants = expand(suite.sweeps, suite.methods, plugin_dirs, source)  # checked against the plugins
    if suite.tune.seeds > len(suite.seeds):
        raise ConfigError(
            f"{source}: tune.seeds: {suite.tune.seeds} is more than the suite's {len(suite.seeds)} seeds"
        )
    for name in suite.methods:
        if name not in seen:
            raise ConfigError(
                f"{source}: groups: method '{name}' is in no group; "
                f"put it in groups.{expected_group(suite.method_of(name), plugin_dirs)}"
            )
    for group in GROUPS:
        net = GROUP_NETWORK[group]
        if suite.groups.get(group) and net is not None and net not in suite.networks:
            raise ConfigError(f"{source}: networks.{net}: needed by groups.{group}")
    for name, net in suite.networks.items():
        if name not in NETWORKS:
            raise ConfigError(
                f"{source}: networks.{name}: unknown network; valid choices: {', '.join(NETWORKS)}"
            )
        if net.teacher is not None and net.teacher not in suite.networks:
            raise ConfigError(f"{source}: networks.{name}.teacher: '{net.teacher}' is not a network")
        if net.seeds > len(suite.seeds):
            raise ConfigError(
                f"{source}: networks.{name}.seeds: {net.seeds} is more than the suite's "
                f"{len(suite.seeds)} seeds"
            )
    for dataset in suite.datasets:
        if dataset not in suite.budgets:
            raise ConfigError(f"{source}: budgets.{dataset}: missing (every dataset needs a training budget)")
        _validate(validate, {**copy.deepcopy(suite.common), "dataset": dataset}, f"{source}: common")
        _validate(validate, suite._base(dataset), f"{source}: budgets.{dataset}")
        try:
            preset_for(dataset, suite.student)
        except ConfigError as err:
            raise ConfigError(f"{source}: student: {err}") from None
        for name, net in suite.networks.items():
            try:
                preset_for(dataset, net.model)
            except ConfigError as err:
                why = str(err).removeprefix("model: ")
                raise ConfigError(f"{source}: networks.{name}.model: {why}") from None
            _validate(validate, suite.network_config(dataset, name), f"{source}: networks.{name}")
        for name in suite.run_names():
            # the suite's own values are checked (tuned files are checked when a stage reads them)
            key = f"methods.{name}" if name in suite.methods else f"sweeps.{suite.method_of(name)}"
            own = suite.method_config(dataset, name, suite.seeds[0], tuned=False)
            cfg = _validate(validate, own, f"{source}: {key}")
            try:
                get_method(cfg.method, plugin_dirs).resolve(cfg.hparams)
            except ConfigError as err:
                raise ConfigError(f"{source}: {key}.{err}") from None
    return suite


TABLES: tuple[str, ...] = ("quant",)  # the verdict tables a suite may ask for (`tables`; claims: a file)


def _check_tables(suite: Suite, source: str) -> None:
    """``tables`` names known tables, once each; ``claims`` names a claims file
    (``benchmarks/claims/<name>.yaml``); ``tuned_against`` names another benchmark suite."""
    for i, name in enumerate(suite.tables):
        if name not in TABLES:
            raise ConfigError(
                f"{source}: tables.{i}: unknown table '{name}'; valid choices: {', '.join(TABLES)}"
            )
        if name in suite.tables[:i]:
            raise ConfigError(f"{source}: tables.{i}: '{name}' is listed twice")
    benchmarks = Path("benchmarks")
    claims = benchmarks / "claims" / f"{suite.claims}.yaml"
    if suite.claims is not None and benchmarks.is_dir() and not claims.is_file():
        files = sorted(p.stem for p in (benchmarks / "claims").glob("*.yaml"))
        raise ConfigError(
            f"{source}: claims: no benchmarks/claims/{suite.claims}.yaml; "
            f"valid choices: {', '.join(files) or 'none'}"
        )
    other = suite.tuned_against
    if other is None:
        return
    known = sorted(p.stem for p in benchmarks.glob("*.yaml") if p.stem != suite.suite)
    if other == suite.suite or (benchmarks.is_dir() and other not in known):
        raise ConfigError(
            f"{source}: tuned_against: '{other}' is not another suite (benchmarks/<name>.yaml); "
            f"valid choices: {', '.join(known) or 'none'}"
        )


def _check_aliases(suite: Suite, source: str, seen: dict[str, str], plugin_dirs: list[str]) -> None:
    """``twin`` only for an entry of ``groups.twin``, naming a run of ``groups.none``; an alias (an
    entry with ``method``) is neither swept nor searched by ``tune`` (its tuned file is its own)."""
    from snnkd.methods import get_method
    from snnkd.tune.space import is_searchable

    for key, entry in suite.methods.items():
        if entry.twin is not None:
            if seen.get(key) != "twin":
                raise ConfigError(f"{source}: methods.{key}.twin: only an entry of groups.twin has a twin")
            valid = suite.groups.get("none", [])
            if entry.twin not in valid:
                raise ConfigError(
                    f"{source}: methods.{key}.twin: '{entry.twin}' is not a run of groups.none; "
                    f"valid choices: {', '.join(valid) or 'none'}"
                )
        if entry.method is None or entry.method == key:
            continue
        if key in suite.sweeps:
            raise ConfigError(f"{source}: sweeps.{key}: an alias (methods.{key}.method) cannot be swept")
        hparams = get_method(entry.method, plugin_dirs).hparams.values()
        if suite.tune.trials > 0 and any(is_searchable(hp) for hp in hparams):
            raise ConfigError(
                f"{source}: methods.{key}.method: an alias of a tunable method is not tuned; "
                "set tune.trials: 0 or name the entry after its method"
            )


def _check_sources(suite: Suite, source: str) -> None:
    """``sources`` names folder keys only; every folder the suite's datasets read is there."""
    from snnkd.data.folders import FOLDERS, require

    keys = sorted({ds.folder for ds in FOLDERS.values()})
    for key in suite.sources:
        if key not in keys:
            raise ConfigError(
                f"{source}: sources.{key}: not a dataset read from files; valid choices: {', '.join(keys)}"
            )
    for name in suite.datasets:
        folder = folder_of(suite, name)
        if folder is not None:
            require(name, "data", folder)


def folder_of(suite: Suite, dataset: str) -> str | None:
    """The folder ``dataset`` is read from in this suite: ``sources.<key>``, else ``data/raw/<key>``
    (never the environment: ``params.yaml`` alone says it); ``None`` for a dataset of its own."""
    from snnkd.data.archives import raw_dir
    from snnkd.data.folders import FOLDERS

    if dataset not in FOLDERS:
        return None
    key = FOLDERS[dataset].folder
    return suite.sources.get(key) or raw_dir(Path("data"), key).as_posix()


def _check_lists(suite: Suite, source: str) -> None:
    """Seeds are distinct and non-negative; datasets are distinct."""
    for key, items in (("datasets", suite.datasets), ("seeds", suite.seeds)):
        for i, item in enumerate(items):
            if item in items[:i]:
                raise ConfigError(f"{source}: {key}.{i}: '{item}' is listed twice")
    for i, seed in enumerate(suite.seeds):
        if seed < 0:
            raise ConfigError(f"{source}: seeds.{i}: {seed} is negative; a seed must be >= 0")


def _validate(validate, data: dict[str, Any], where: str):
    try:
        return validate(data)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def load(path: str | Path, *, full: bool = True) -> Suite:
    """Read, parse and (when ``full``) check a suite file (``benchmarks/<name>.yaml``; the pipeline's
    ``params.yaml`` holds several: :func:`snnkd.pipeline.suites.load`)."""
    p = Path(path)
    data = read(p)
    suite = parse(data, str(p))
    return check(suite, str(p)) if full else suite


def read(path: str | Path) -> Any:
    """A YAML file's data; an absent, unreadable or malformed file is one line naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML ({str(err).splitlines()[0]})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except OSError as err:
        raise ConfigError(f"{p}: cannot read ({err.strerror or err})") from None
    return data


def benchmark_file(name: str | None, benchmarks: Path = Path("benchmarks")) -> Path:
    """``benchmarks/<name>.yaml``; no name or an unknown one is an error listing the suites there."""
    if not benchmarks.is_dir():
        raise ConfigError(
            f"suite: no {benchmarks}/ folder in {Path.cwd()}: suites are the benchmarks/<name>.yaml files "
            "of an snnkd checkout (they are not installed with the package); run this from its root"
        )
    from snnkd.names import ALLOWED, is_name

    valid = ", ".join(sorted(p.stem for p in benchmarks.glob("*.yaml"))) or f"none ({benchmarks}/ is empty)"
    if name and not is_name(name):
        raise ConfigError(f"suite: {name!r} is not a valid name ({ALLOWED}); valid choices: {valid}")
    source = benchmarks / f"{name}.yaml"
    if name and source.is_file():
        return source
    what = f"no {benchmarks}/{name}.yaml" if name else "expected NAME (a benchmarks/<name>.yaml)"
    raise ConfigError(f"suite: {what}; valid choices: {valid}")


def write_params(target: Path, text: str) -> Path:
    """Write a suite file atomically; an unwritable one (read-only, immutable) is one line."""
    from snnkd.core.atomic import atomic_text

    try:
        atomic_text(target, text)
    except OSError as err:
        raise ConfigError(f"{target}: cannot write ({err.strerror or err}); nothing was changed") from None
    return target
