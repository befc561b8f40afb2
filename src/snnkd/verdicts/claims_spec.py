"""A suite's claims as data: ``benchmarks/claims/<suite>.yaml``, each a list of paired comparisons.

::

    suite: evidence            # the suite whose runs the claims are checked on (its margin_pp is δ)
    reference: scratch         # the method of the power line and of the iso-accuracy restatement
    claims:
      a:
        text: "KD students beat scratch students (Hinton KD)"
        compare:
          - {method: kd, against: scratch, metric: test_accuracy, want: gain}
      c:
        text: "activity regularisation cuts spikes at equal accuracy (Louis et al.)"
        compare:
          - {method: act-reg, against: scratch, metric: spikes_per_sample, want: cut}
          - {method: act-reg, against: scratch, metric: test_accuracy, want: equal}
        iso_accuracy: [act-reg]  # restated as activity at iso-accuracy (snnkd.results.tradeoff)

``want``: ``gain`` (``method`` significantly higher), ``cut`` (significantly lower) or ``equal``
(equivalent within the suite's margin δ: TOST, accuracies only). Claims keep their file order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from snnkd.errors import ConfigError
from snnkd.names import check_name

CLAIMS_DIR = Path("benchmarks/claims")
#: the metrics a comparison may name, with the label its row shows; only accuracy is in points
METRICS: dict[str, str] = {
    "test_accuracy": "accuracy",
    "spikes_per_sample": "spikes/sample",
    "synops": "SynOps",
    "energy_pj": "energy",
}
SIGN: dict[str, int] = {"gain": +1, "cut": -1, "equal": 0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Comparison(_Strict):
    """``method − against`` on ``metric``, paired by seed, read as the claim wants."""

    method: str
    against: str
    metric: Literal["test_accuracy", "spikes_per_sample", "synops", "energy_pj"]
    want: Literal["gain", "cut", "equal"]

    @model_validator(mode="after")
    def _equal_on_accuracy(self) -> Comparison:
        if self.want == "equal" and self.metric != "test_accuracy":
            raise ValueError("want: equal (TOST within the accuracy margin δ) needs metric: test_accuracy")
        return self

    @property
    def sign(self) -> int:
        return SIGN[self.want]


class Claim(_Strict):
    text: str = Field(min_length=1, description="the claim as the papers state it, with their names")
    compare: list[Comparison] = Field(min_length=1)
    iso_accuracy: list[str] = Field(
        default_factory=list, description="methods restated as activity at iso-accuracy against the reference"
    )


class Claims(_Strict):
    suite: str = Field(description="the suite whose runs are checked; its margin_pp is the margin δ")
    reference: str = "scratch"
    claims: dict[str, Claim] = Field(min_length=1)


def claims_file(suite: str, claims_dir: Path = CLAIMS_DIR) -> Path:
    return claims_dir / f"{suite}.yaml"


def load(path: Path) -> Claims:
    """Read and validate a claims file; every problem is one line naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--claims: no file {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold a mapping")
    try:
        claims = Claims.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "claims"
        msg = (
            "unknown field"
            if first["type"] == "extra_forbidden"
            else first["msg"].removeprefix("Value error, ")
        )
        raise ConfigError(f"{path}: {where}: {msg}") from None
    check_name(claims.suite, f"{path}: suite")  # it names benchmarks/<suite>.yaml
    return claims
