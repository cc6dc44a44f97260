"""Typed experiment configuration, loaded from YAML.

A study is described by one YAML file whose sections map onto the dataclasses
below. Unknown keys are rejected with the closest valid name, so a typo fails
before any training starts. Each section has a content digest, and the digests
of the sections that determine a model or a value are what the run store uses
to decide whether a finished run can be reused.
"""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "SchedulerConfig",
    "TrainingConfig",
    "PruningConfig",
    "FinetuneConfig",
    "SamplingConfig",
    "PropertyConfig",
    "ValuationConfig",
    "LDSConfig",
    "ExecutorConfig",
    "TrackingConfig",
    "BaselinesConfig",
    "BASELINE_METHODS",
    "PROPERTY_NAMES",
    "StudyConfig",
    "load_config",
    "read_yaml",
    "digest",
]


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key and the fix."""


PROPERTY_NAMES = ("inception_score", "cluster_entropy", "aesthetic_score")


@dataclass
class DataConfig:
    """Where the contributor images are and how they are preprocessed.

    `path` is a folder with one subfolder per contributor, a CSV or Parquet
    manifest with columns `path` and `contributor`, or `cifar100-20` for
    torchvision's CIFAR-100 restricted to 20 fine labels (downloads).
    Relative paths are resolved against the config file's folder's parent
    when they do not exist relative to the working directory.

    `contributor_column` names the manifest column that holds the
    contributor (e.g. `identity`); its values are read as strings.
    `num_workers` bounds the threads that decode images (None: up to 4,
    never more than the CPU count). It does not change the loaded data.
    """

    path: str = "examples/cifar10-mini"
    resolution: int = 16
    channels: int = 3
    cache_dir: str = ".cache/diffusion-credit"
    max_images_per_contributor: int | None = None
    contributor_column: str = "contributor"
    num_workers: int | None = None

    def validate(self) -> None:
        _check_positive("data.resolution", self.resolution)
        if self.channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 or 3, got {self.channels!r}.")
        if self.max_images_per_contributor is not None:
            _check_positive("data.max_images_per_contributor", self.max_images_per_contributor)
        if not self.contributor_column or self.contributor_column == "path":
            raise ConfigError(
                f"data.contributor_column must name a manifest column other than 'path', "
                f"got {self.contributor_column!r}."
            )
        if self.num_workers is not None:
            _check_positive("data.num_workers", self.num_workers)


@dataclass
class SchedulerConfig:
    """The DDPM noise schedule used for training (DDIM reuses it for sampling)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"

    def validate(self) -> None:
        _check_positive("model.scheduler.num_train_timesteps", self.num_train_timesteps)
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ConfigError(
                "model.scheduler needs 0 < beta_start < beta_end < 1, got "
                f"beta_start={self.beta_start}, beta_end={self.beta_end}."
            )
        _check_choice("model.scheduler.beta_schedule", self.beta_schedule, ("linear", "scaled_linear", "squaredcos_cap_v2"))


@dataclass
class ModelConfig:
    """The diffusion model family and its architecture.

    `attention_levels[i]` puts self-attention in the down and up blocks of
    resolution level `i`; its length must match `block_out_channels`.
    """

    family: str = "pixel"
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    layers_per_block: int = 1
    attention_levels: list[bool] = field(default_factory=lambda: [False, True, False])
    attention_head_dim: int = 8
    norm_num_groups: int = 8
    dropout: float = 0.0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def validate(self) -> None:
        _check_choice("model.family", self.family, ("pixel", "latent", "lora"))
        if not self.block_out_channels:
            raise ConfigError("model.block_out_channels is empty; give one channel count per resolution level.")
        if len(self.attention_levels) != len(self.block_out_channels):
            raise ConfigError(
                f"model.attention_levels has {len(self.attention_levels)} entries but "
                f"model.block_out_channels has {len(self.block_out_channels)}; give one per level."
            )
        for channels in self.block_out_channels:
            if channels % self.norm_num_groups:
                raise ConfigError(
                    f"model.block_out_channels entry {channels} is not divisible by "
                    f"model.norm_num_groups={self.norm_num_groups}."
                )
        _check_positive("model.layers_per_block", self.layers_per_block)
        self.scheduler.validate()


@dataclass
class TrainingConfig:
    """Training of the full model `θ*` and of retrained coalition models."""

    steps: int = 1500
    batch_size: int = 32
    learning_rate: float = 2e-4
    optimizer: str = "adam"
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    ema_decay: float | None = None
    mixed_precision: str = "no"
    checkpoint_every: int = 500
    seed: int = 0

    def validate(self, prefix: str = "training") -> None:
        _check_positive(f"{prefix}.steps", self.steps)
        _check_positive(f"{prefix}.batch_size", self.batch_size)
        _check_positive(f"{prefix}.learning_rate", self.learning_rate)
        _check_choice(f"{prefix}.optimizer", self.optimizer, ("adam", "adamw"))
        _check_choice(f"{prefix}.mixed_precision", self.mixed_precision, ("no", "fp16", "bf16"))
        if not 0 <= self.warmup_steps < self.steps:
            raise ConfigError(
                f"{prefix}.warmup_steps={self.warmup_steps} must be in [0, steps={self.steps}); "
                "a warmup as long as the run never reaches the full learning rate."
            )
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"{prefix}.ema_decay must be in (0, 1) or null, got {self.ema_decay}.")
        _check_positive(f"{prefix}.checkpoint_every", self.checkpoint_every)


@dataclass
class FinetuneConfig:
    """Fine-tuning of a trained model on a coalition's data (methods `sft`, `ft`).

    EMA is never used here: a coalition model must not carry the full-data
    average. `warmup_steps` must be shorter than `steps`.
    """

    steps: int = 100
    batch_size: int = 32
    learning_rate: float = 2e-4
    optimizer: str = "adam"
    warmup_steps: int = 0
    grad_clip: float = 1.0
    seed: int = 0
    mixed_precision: str = "no"

    def validate(self, prefix: str = "finetune") -> None:
        self.as_training().validate(prefix)

    def as_training(self) -> TrainingConfig:
        return TrainingConfig(
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            optimizer=self.optimizer,
            warmup_steps=self.warmup_steps,
            grad_clip=self.grad_clip,
            ema_decay=None,
            checkpoint_every=max(self.steps, 1),
            seed=self.seed,
            mixed_precision=self.mixed_precision,
        )


@dataclass
class PruningConfig:
    """Structural magnitude pruning and the all-data fine-tune that follows (`θ̃*`).

    `ratio` is the fraction of channels *removed* from each prunable layer.
    """

    ratio: float = 0.3
    importance: str = "magnitude"
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(steps=300))

    def validate(self) -> None:
        if not 0 <= self.ratio < 1:
            raise ConfigError(
                f"pruning.ratio is the fraction of channels removed and must be in [0, 1), got {self.ratio}."
            )
        _check_choice("pruning.importance", self.importance, ("magnitude",))
        self.finetune.validate("pruning.finetune")


@dataclass
class SamplingConfig:
    """Generation from fixed initial noises with DDIM (η = 0)."""

    num_images: int = 256
    num_inference_steps: int = 25
    batch_size: int = 64
    seed: int = 1234

    def validate(self) -> None:
        _check_positive("sampling.num_images", self.num_images)
        _check_positive("sampling.num_inference_steps", self.num_inference_steps)
        _check_positive("sampling.batch_size", self.batch_size)


@dataclass
class PropertyConfig:
    """The global property `F` and its settings.

    `backend` names the network that embeds or classifies images: `study`
    is the in-project classifier trained on the study's own contributors;
    `inception`, `blip` and `clip` load pretrained weights from `weights`
    (a local path or hub id).
    """

    name: str = "inception_score"
    backend: str = "study"
    weights: str | None = None
    splits: int = 1
    num_clusters: int = 20
    quantile: float = 0.9
    head: str | None = None
    batch_size: int = 128
    classifier_steps: int = 600
    classifier_seed: int = 0
    classifier_learning_rate: float = 1e-3
    classifier_holdout: float = 0.1

    def validate(self) -> None:
        _check_choice("property.name", self.name, PROPERTY_NAMES)
        _check_choice("property.backend", self.backend, ("study", "inception", "blip", "clip"))
        _check_positive("property.splits", self.splits)
        _check_positive("property.num_clusters", self.num_clusters)
        if not 0 <= self.quantile <= 1:
            raise ConfigError(f"property.quantile must be in [0, 1], got {self.quantile}.")


@dataclass
class ValuationConfig:
    """How coalitions are sampled and which estimator turns them into credit.

    `uncertainty` is how KernelSHAP estimates the std of its values:
    `batches` (std across `num_batches` independent batches), `bootstrap`
    (`num_bootstrap` resamples) or `none`. A result has converged when
    `max std / (max value − min value) < convergence_threshold`.
    """

    method: str = "sft"
    estimator: str = "kernelshap"
    num_coalitions: int = 32
    paired: bool = True
    num_batches: int = 4
    seed: int = 0
    uncertainty: str = "batches"
    num_bootstrap: int = 100
    convergence_threshold: float = 0.01

    def validate(self) -> None:
        _check_choice("valuation.method", self.method, ("sft", "ft", "retrain", "lora"))
        _check_choice("valuation.estimator", self.estimator, ("kernelshap", "exact", "banzhaf", "loo"))
        _check_positive("valuation.num_coalitions", self.num_coalitions)
        _check_positive("valuation.num_batches", self.num_batches)
        _check_choice("valuation.uncertainty", self.uncertainty, ("batches", "bootstrap", "none"))
        _check_positive("valuation.num_bootstrap", self.num_bootstrap)
        _check_positive("valuation.convergence_threshold", self.convergence_threshold)


@dataclass
class LDSConfig:
    """Datamodel coalitions retrained from scratch for the LDS.

    Each of the `num_sets` sets per α contains `coalitions_per_set` different
    coalitions of size round(α·n).
    """

    alphas: list[float] = field(default_factory=lambda: [0.5])
    num_sets: int = 3
    coalitions_per_set: int = 16
    seed: int = 100

    def validate(self) -> None:
        for alpha in self.alphas:
            if not 0 < alpha < 1:
                raise ConfigError(f"lds.alphas entries must be in (0, 1), got {alpha}.")
        _check_positive("lds.num_sets", self.num_sets)
        _check_positive("lds.coalitions_per_set", self.coalitions_per_set)


@dataclass
class ExecutorConfig:
    """The executor of coalition evaluations: `inprocess`, or `local` worker processes."""

    kind: str = "inprocess"
    workers: int = 1
    devices: list[str] = field(default_factory=list)

    def validate(self) -> None:
        _check_choice("executor.kind", self.kind, ("inprocess", "local"))
        _check_positive("executor.workers", self.workers)


@dataclass
class TrackingConfig:
    """The MLflow run store; `MLFLOW_TRACKING_URI` overrides `uri` when set."""

    uri: str = "sqlite:///mlflow.db"
    artifact_location: str | None = None

    def validate(self) -> None:
        if not self.uri:
            raise ConfigError("tracking.uri is empty; use e.g. sqlite:///mlflow.db.")


BASELINE_METHODS = (
    "pixel_similarity",
    "pixel_similarity_mean",
    "pixel_similarity_max",
    "embedding_similarity",
    "embedding_similarity_mean",
    "embedding_similarity_max",
    "trak",
    "d_trak",
    "journey_trak",
    "relative_influence",
    "renormalized_influence",
    "gradient_similarity",
)


@dataclass
class BaselinesConfig:
    """Settings of the similarity and TRAK-family baselines.

    Attributes:
        methods: baseline names run by `compute_baselines`, from `METHODS`;
            a `_mean` or `_max` suffix on a similarity method overrides
            `aggregate`.
        timesteps: diffusion timesteps the gradient features average over.
            An int `K` takes `K` timesteps evenly spaced over
            `[0, num_train_timesteps - 1]`; a list gives them explicitly.
        projection_dim: `k`, the dimension of the random projection of the
            gradients (1,024 to 32,768 in published work).
        projection_type: `rademacher` (entries ±1/√k) or `gaussian`
            (entries N(0, 1/k)).
        chunk_size: parameter rows of the projection matrix generated at a
            time; memory for the projection is `chunk_size × k` floats.
        batch_size: examples per vectorised per-sample-gradient call.
        projection_batch_size: examples whose gradients are projected
            together. Generating the projection matrix is the main cost, so
            larger blocks are faster. They take `projection_batch_size × P`
            floats of gradient memory.
        timestep_batch_size: timesteps evaluated in one UNet call per example.
        ridge_lambda: `λ` in `(ΦᵀΦ + λI)⁻¹` when no λ is selected on held-out
            coalitions.
        lambda_grid: candidate values of `λ` for `select_ridge_lambda`.
        seed: seed of the projection and of the diffusion noises.
        embedding: which embedding `embedding_similarity` uses, e.g. `clip`
            or `study` (the in-project classifier); the caller maps the name
            to a `features` callable.
        aggregate: `mean` or `max` over a contributor's images for the
            similarity baselines.
        num_generated: generated images used (the first ones); `None` uses
            all that are passed.
        journey_steps: DDIM steps of the generation trajectory that
            Journey-TRAK records and averages over.
        loo_method: coalition method of the leave-one-out baseline
            (`retrain`, the ground truth, or a cheaper `sft` or `ft`).
    """

    methods: list[str] = field(default_factory=lambda: ["pixel_similarity", "trak", "d_trak"])
    timesteps: int | list[int] = 10
    projection_dim: int = 1024
    projection_type: str = "rademacher"
    chunk_size: int = 32768
    batch_size: int = 16
    projection_batch_size: int = 64
    timestep_batch_size: int = 4
    ridge_lambda: float = 0.5
    lambda_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1, 0.5, 1.0, 10.0])
    seed: int = 0
    embedding: str = "study"
    aggregate: str = "mean"
    num_generated: int | None = None
    journey_steps: int = 25
    loo_method: str = "retrain"

    def validate(self, prefix: str = "baselines") -> "BaselinesConfig":
        """Check every field; raise `ConfigError` naming the key and the fix."""
        for name in self.methods:
            if name not in BASELINE_METHODS:
                raise ConfigError(f"{prefix}.methods contains {name!r}, which is not one of {', '.join(BASELINE_METHODS)}.")
        _check_timesteps(f"{prefix}.timesteps", self.timesteps)
        for key in (
            "projection_dim",
            "chunk_size",
            "batch_size",
            "projection_batch_size",
            "timestep_batch_size",
            "journey_steps",
        ):
            _check_positive_int(f"{prefix}.{key}", getattr(self, key))
        if self.num_generated is not None:
            _check_positive_int(f"{prefix}.num_generated", self.num_generated)
        if self.projection_type not in ("rademacher", "gaussian"):
            raise ConfigError(f"{prefix}.projection_type={self.projection_type!r} is not one of rademacher, gaussian.")
        if self.aggregate not in ("mean", "max"):
            raise ConfigError(f"{prefix}.aggregate={self.aggregate!r} is not one of mean, max.")
        if self.loo_method not in ("retrain", "sft", "ft"):
            raise ConfigError(f"{prefix}.loo_method={self.loo_method!r} is not one of retrain, sft, ft.")
        if self.ridge_lambda < 0:
            raise ConfigError(f"{prefix}.ridge_lambda must be >= 0, got {self.ridge_lambda}.")
        if not self.lambda_grid or min(self.lambda_grid) < 0:
            raise ConfigError(f"{prefix}.lambda_grid must be a non-empty list of values >= 0, got {self.lambda_grid}.")
        return self


def _check_positive_int(key: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}.")


def _check_timesteps(key: str, value: int | list[int]) -> None:
    if isinstance(value, int):
        _check_positive_int(key, value)
        return
    if not value or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in value):
        raise ConfigError(f"{key} must be a positive count or a non-empty list of timesteps >= 0, got {value!r}.")


@dataclass
class StudyConfig:
    """A whole study: one dataset, one model recipe, one property."""

    name: str = "cifar10-mini"
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    retrain: TrainingConfig | None = None
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    property: PropertyConfig = field(default_factory=PropertyConfig)
    valuation: ValuationConfig = field(default_factory=ValuationConfig)
    lds: LDSConfig = field(default_factory=LDSConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    source: str | None = None

    @builtins.property
    def retraining(self) -> TrainingConfig:
        """The recipe for retraining a coalition from scratch: `training`, with what a `retrain` section overrides."""
        return self.retrain if self.retrain is not None else self.training

    def validate(self) -> "StudyConfig":
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ConfigError(f"name must be a non-empty identifier of letters, digits, '-', '_' or '.', got {self.name!r}.")
        self.data.validate()
        self.model.validate()
        self.training.validate("training")
        self.pruning.validate()
        self.finetune.validate("finetune")
        if self.retrain is not None:
            self.retrain.validate("retrain")
        self.sampling.validate()
        self.property.validate()
        self.valuation.validate()
        self.lds.validate()
        self.executor.validate()
        self.tracking.validate()
        self.baselines.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        result = dataclasses.asdict(self)
        result.pop("source")
        return result


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key repeated in one mapping, where PyYAML keeps the last value silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = key in first_line
            except TypeError:  # an unhashable key, which the base class rejects with its own message
                continue
            if seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}, first set on line {first_line[key] + 1}", key_node.start_mark
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, error_type: type[ConfigError] = ConfigError) -> Any:
    """Parse a UTF-8 YAML file; an empty file gives {}.

    Raises:
        error_type: the file is not UTF-8, not valid YAML or repeats a key in one mapping; the message is one
            line with the position.
    """
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as error:
        raise error_type(f"{path} is not UTF-8 text (byte {error.start}: {error.reason}); save it with UTF-8 encoding.") from None
    except yaml.YAMLError as error:
        raise error_type(f"{path} is not valid YAML: {_describe_yaml_error(error)}. Correct the syntax there.") from None


def _describe_yaml_error(error: yaml.YAMLError) -> str:
    """Return the parser's complaint on one line, with the line and column of each mark (1-based)."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return " ".join(str(error).split())
    parts = []
    for text, mark in ((error.context, error.context_mark), (error.problem, error.problem_mark)):
        if text:
            parts.append(f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text)
    return "; ".join(parts)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Load and validate a study config from YAML.

    Args:
        path: the YAML file.
        overrides: dotted keys to values applied after loading, e.g.
            `{"data.path": "my/folder", "finetune.steps": 50}`.

    Raises:
        ConfigError: on a missing file, invalid YAML, an unknown key or an invalid value.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}. Pass an existing YAML file, e.g. configs/cifar10-mini.yaml.")
    raw = read_yaml(path)
    if raw == {}:
        raise ConfigError(f"{path} is empty; start from configs/smoke.yaml or configs/cifar10-mini.yaml and set at least `name`.")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must contain a YAML mapping at the top level, got {type(raw).__name__}.")
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    config = _build(StudyConfig, _inherit_training(raw), prefix="")
    config.source = str(path)
    return config.validate()


def config_from_dict(raw: dict[str, Any]) -> StudyConfig:
    """Build and validate a config from a plain mapping (as `to_dict` returns)."""
    return _build(StudyConfig, _inherit_training(dict(raw)), prefix="").validate()


def _inherit_training(raw: dict[str, Any]) -> dict[str, Any]:
    """Fill the keys that a `retrain` section leaves out from the `training` section.

    Without this, `retrain: {seed: 3}` would retrain coalitions with the
    package's default recipe instead of the study's `training` recipe.
    """
    retrain, training = raw.get("retrain"), raw.get("training", {})
    if isinstance(retrain, dict) and isinstance(training, dict):
        raw["retrain"] = {**training, **retrain}
    return raw


def digest(*parts: Any, length: int = 16) -> str:
    """Return a stable hex digest of JSON-serialisable parts (dataclasses allowed)."""
    payload = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot digest a value of type {type(value).__name__}: {value!r}")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"Cannot override {key!r}: {part!r} is not a section.")
    node[parts[-1]] = value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else f" Valid keys: {', '.join(names)}."
            raise ConfigError(f"Unknown config key '{prefix}{key}'.{hint}")
    kwargs = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in raw.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [arg for arg in args if arg is not type(None)]
        listed = [arg for arg in inner if typing.get_origin(arg) is list]
        if listed and isinstance(value, (list, tuple)):
            return _coerce(listed[0], value, key)
        return _coerce(inner[0], value, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=f"{key}.")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}.")
        return [_coerce(args[0], item, f"{key}[{index}]") for index, item in enumerate(value)]
    return _coerce_scalar(hint, value, key)


def _coerce_scalar(hint: Any, value: Any, key: str) -> Any:
    # Values arrive from YAML or from MLflow's string parameters.
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be of type {hint.__name__}, got {value!r}.") from None
    return value


def _check_positive(key: str, value: float) -> None:
    if value is None or value <= 0:
        raise ConfigError(f"{key} must be positive, got {value!r}.")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(choices)}.{hint}")
