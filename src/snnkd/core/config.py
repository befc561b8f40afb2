"""Typed, validated configuration of one training run.

Everything a run depends on lives in :class:`RunConfig`; it is validated once
(pydantic) so that bad input stops before any work with a one-line
:class:`~snnkd.errors.ConfigError` naming the field and the valid choices.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from snnkd.errors import ConfigError

SURROGATES = ("atan", "sigmoid", "triangle")


class _Strict(BaseModel):
    """Base of every config section.

    **Additive settings.** A field added after runs were published is listed in the section's
    ``ADDITIVE``. While such a field holds its default, every dump of the config leaves it out:
    ``model_dump`` (the published ``run.json``/``config.yaml``, a checkpoint's model spec, MLflow
    parameters) and therefore :meth:`RunConfig.identity`. An existing run's identity and published
    config stay what they were; a run that sets the field differently is a different run.
    Reading a published config back gives the default, which is what that run used.
    """

    # inf and nan are refused in every float field (``--lr inf`` fails here, not in training)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    ADDITIVE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_additive_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in self.ADDITIVE:
            if name in data and getattr(self, name) == type(self).model_fields[name].get_default(
                call_default_factory=True
            ):
                del data[name]
        return data


Settings = _Strict  # the public name of the base, for settings sections outside this module


class NeuronConfig(_Strict):
    """LIF neuron settings: ``H_t = V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau``."""

    tau: float = Field(2.0, gt=1.0, description="membrane time constant (> 1)")
    v_threshold: float = Field(1.0, gt=0.0)
    reset: Literal["hard", "soft"] = "hard"
    detach_reset: bool = True
    surrogate: Literal["atan", "sigmoid", "triangle"] = "atan"
    backend: Literal["spikingjelly", "fused"] = Field(
        "fused",
        description="CPU implementation: snnkd's fused LIF (snnkd.models.fused_lif, the default) or "
        "SpikingJelly's LIF operator; bit-identical results, so not part of a run's identity; "
        "CUDA always runs SpikingJelly's backends",
    )

    ADDITIVE = frozenset({"backend"})


class TrainConfig(_Strict):
    epochs: int = Field(20, ge=1, description="maximum epochs (all of them unless patience is set)")
    patience: int | None = Field(
        None, ge=1, description="stop after this many epochs without a validation gain > min_delta"
    )
    min_delta: float = Field(0.0, ge=0.0, le=1.0, description="validation-accuracy gain that counts")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    schedule: Literal["cosine", "step", "none"] = "cosine"
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    grad_clip: float | None = Field(None, gt=0.0)
    eval_batch_size: int = Field(512, ge=1)
    amp: bool = Field(False, description="bf16 autocast of the forward pass (CUDA)")
    channels_last: bool = Field(False, description="channels-last memory format for conv nets (CUDA)")
    bn_samples: int = Field(
        2048,
        ge=1,
        description="training samples the batch-norm statistics are re-estimated from before every "
        "evaluation (a fixed random subset; snnkd.evaluation.batchnorm); fewer is cheaper and changes the "
        "results",
    )

    ADDITIVE = frozenset({"bn_samples"})


class QuantConfig(_Strict):
    """Bit widths of a quantized student (used by methods that quantize)."""

    weight_bits: int = Field(4, ge=1, le=16)
    membrane_bits: int = Field(4, ge=1, le=16)
    membrane_range: float = Field(2.0, gt=0.0, description="membrane clamped to [-r, r] (scheme lsq)")
    scheme: Literal["lsq", "mint"] = Field(
        "lsq",
        description="lsq: per-channel learned weight steps, membrane on [-r, r) before firing; "
        "mint: one learned scale per layer shared by weights and membrane, membrane after leak and reset",
    )


class RunConfig(_Strict):
    """One training run: (dataset, model, method, seed, hyper-parameters)."""

    dataset: str = "digits"
    model: str = Field("student", description="model preset of the dataset")
    ann: bool = Field(False, description="train the ANN twin (ReLU, one step)")
    T: int = Field(4, ge=1, description="time steps")
    encoder: Literal["direct", "rate", "frames"] = Field(
        "direct", description="'frames' for event datasets (their own time axis), else direct or rate"
    )
    readout: Literal["mean", "spiking"] = "mean"
    neuron: NeuronConfig = Field(default_factory=NeuronConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    method: str = "scratch"
    hparams: dict[str, Any] = Field(default_factory=dict)
    teacher: str | None = Field(None, description="checkpoint of the teacher network")
    quant: QuantConfig = Field(default_factory=QuantConfig)
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(1, ge=1, le=256, description="CPU threads of the run (results depend on it)")
    cpu_isa: Literal["avx2", "native", "portable"] = Field(
        "avx2",
        description="CPU kernel ISA on x86-64 (results depend on it): avx2 pins ATen, oneDNN and "
        "OpenBLAS to AVX2 (snnkd.trainer.threads), portable adds MKL's COMPATIBLE branch and Adam's "
        "fused kernel (the candidate for the same bits across CPU vendors), native lets them use the "
        "machine's best",
    )
    plugin_dirs: list[str] = Field(default_factory=list)
    data_dir: str = "data"

    ADDITIVE = frozenset({"cpu_isa"})

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from snnkd.data import DATASETS

        DATASETS.get(name, field="dataset")
        return name

    @model_validator(mode="before")
    @classmethod
    def _events_default_to_frames(cls, data: Any) -> Any:
        """Event data carry their own time axis: 'direct' (the default) means feeding their frames."""
        from snnkd.data import DATASETS

        if isinstance(data, dict) and data.get("encoder", "direct") == "direct":
            name = data.get("dataset", "digits")
            if isinstance(name, str) and name in DATASETS and DATASETS.get(name).info.modality == "events":
                data = {**data, "encoder": "frames"}
        return data

    @model_validator(mode="after")
    def _encoder_fits_dataset(self) -> RunConfig:
        from snnkd.data import DATASETS

        events = DATASETS.get(self.dataset).info.modality == "events"
        if events != (self.encoder == "frames"):
            want = "'frames' (or 'direct')" if events else "'direct' or 'rate'"
            raise ValueError(f"encoder: dataset '{self.dataset}' needs encoder {want}, got '{self.encoder}'")
        return self

    @property
    def steps(self) -> int:
        """Time steps actually simulated: an ANN runs one."""
        return 1 if self.ann else self.T

    def identity(self) -> str:
        """A short hash of everything that determines the run's result."""
        # where it computes and how (the neuron's implementation) do not change the result
        blob = json.dumps(
            self.model_dump(exclude={"device": True, "plugin_dirs": True, "neuron": {"backend"}}),
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _format(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "config"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    if first["type"] == "value_error" and msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        if msg.startswith(f"{loc}: "):
            msg = msg[len(loc) + 2 :]
    return f"{loc}: {msg}"


def validate(data: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from plain data, turning validation errors into one line."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None
    except ConfigError:
        raise


def parse_override(item: str, flag: str = "--set", what: str = "KEY") -> tuple[list[str], Any]:
    """``train.lr=0.01`` -> (["train", "lr"], 0.01); the value is parsed as YAML.

    ``flag`` and ``what`` name the option in errors (``--hparam`` expects NAME=VALUE).
    """
    if "=" not in item:
        raise ConfigError(f"{flag}: expected {what}=VALUE, got '{item}'")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"{flag}: expected {what}=VALUE, got '{item}'")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"{flag}: {key.strip()}: not a valid value ({_first_line(err)})") from None
    return key.strip().split("."), value


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def merge(base: dict[str, Any], path: list[str], value: Any) -> None:
    node = base
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(path)}: '{part}' is not a section")
    node[path[-1]] = value


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config: file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config: {p} is not valid YAML ({_first_line(err)})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config: cannot read {p} ({_first_line(err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {p} must hold a mapping")
    return data
