"""Sweep definitions: the YAML files in `sweeps/` as typed, validated dataclasses.

A sweep definition names the search space (dotted config keys with a
distribution each), the mode (`constrained` or `pareto`), the compute budget,
the sampler and the datamodel (LDS) settings every trial is scored against::

    name: prune-finetune
    mode: constrained          # maximise LDS subject to cost <= budget
    budget: 900                # seconds of measured compute per trial
    lds_alpha: mean            # objective: mean of lds.alpha_<α> over alphas, or one α
    sampler: {name: tpe, seed: 0, n_startup_trials: 4}
    lds: {alphas: [0.5], num_sets: 3, coalitions_per_set: 16}
    space:
      pruning.ratio: {type: float, low: 0.1, high: 0.7}
      finetune.steps: {type: int, low: 20, high: 200, log: true}
      finetune.learning_rate: {type: categorical, choices: [1.0e-4, 2.0e-4]}

Every key is checked: an unknown key, a bad range or a value the study
config rejects raises `SweepSpecError` naming the key and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, LDSConfig, StudyConfig, digest, load_config, read_yaml

__all__ = [
    "MODES",
    "SAMPLERS",
    "SWEPT_SECTIONS",
    "SweepSpecError",
    "ParamSpec",
    "SamplerSpec",
    "SweepSpec",
    "load_sweep_spec",
    "parse_sweep_spec",
]

MODES = ("constrained", "pareto")
SAMPLERS = ("tpe", "nsgaii")
PARAM_TYPES = ("float", "int", "categorical")

# Sections a sweep may change. The others determine the data, the full model
# θ*, the sampling noises and the property, and therefore the retrained
# datamodel values that LDS compares against: a trial that changed them would
# be scored against another ground truth than its neighbours.
SWEPT_SECTIONS = ("pruning", "finetune", "valuation")

_TOP_KEYS = ("name", "study_name", "mode", "budget", "lds_alpha", "sampler", "lds", "space")


class SweepSpecError(ConfigError):
    """An invalid sweep definition; the message names the key and the fix."""


@dataclass(frozen=True)
class ParamSpec:
    """One searched config key and its distribution.

    Attributes:
        key: dotted study config key, e.g. `finetune.learning_rate`.
        type: `float`, `int` or `categorical`.
        low: lower bound (float and int), inclusive.
        high: upper bound (float and int), inclusive.
        log: sample on a log scale (float and int, needs `low > 0`).
        step: grid step (float and int); None samples continuously (float) or by 1 (int).
        choices: the values of a categorical parameter (None, bool, int, float or str).
    """

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial) -> Any:
        """Draw this parameter for an Optuna trial and return the value."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_categorical(self.key, list(self.choices))

    def corner_values(self) -> list[Any]:
        """Return the values that bound the range (low and high, or every choice)."""
        if self.type == "categorical":
            return list(self.choices)
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]


@dataclass(frozen=True)
class SamplerSpec:
    """The Optuna sampler: `tpe` (default) or `nsgaii`, both with constraint support.

    Attributes:
        name: `tpe` or `nsgaii`.
        seed: base seed; trial `k` is sampled with a seed derived from (seed, k),
            so workers sharing a study draw different points reproducibly.
        n_startup_trials: random trials before TPE models the history (tpe only).
        population_size: individuals per generation (nsgaii only).
    """

    name: str = "tpe"
    seed: int = 0
    n_startup_trials: int = 4
    population_size: int = 8


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep definition.

    Attributes:
        name: the definition's name, part of the default Optuna study name.
        mode: `constrained` (maximise LDS with cost <= budget) or `pareto`
            (maximise LDS and minimise cost).
        budget: maximum compute seconds per trial; required by `constrained`,
            optional in `pareto` (then infeasible trials leave the front).
        lds_alpha: `mean` (mean of `lds.alpha_<α>` over the alphas) or one of the alphas.
        sampler: the sampler settings.
        lds: the datamodel settings, overriding the study config's `lds` section.
        space: the searched parameters in file order.
        study_name: the Optuna study name; None means `<config name>-<name>`.
        source: the YAML path it was read from.
    """

    name: str
    mode: str
    space: tuple[ParamSpec, ...]
    budget: float | None = None
    lds_alpha: str | float = "mean"
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    lds: dict[str, Any] = field(default_factory=dict)
    study_name: str | None = None
    source: str | None = None

    @property
    def directions(self) -> list[str]:
        return ["maximize"] if self.mode == "constrained" else ["maximize", "minimize"]

    def optuna_study_name(self, config: StudyConfig) -> str:
        return self.study_name or f"{config.name}-{self.name}"

    def study_config(self, config_path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
        """Load the study config with this sweep's `lds` settings and `overrides` applied."""
        merged = {f"lds.{key}": value for key, value in self.lds.items()}
        merged.update(overrides or {})
        return load_config(config_path, merged)

    def digest(self) -> str:
        """Return a digest of everything that makes trials of two processes comparable."""
        payload = dataclasses.asdict(self)
        payload.pop("source")
        return digest(payload)


def load_sweep_spec(path: str | Path, *, budget: float | None = None) -> SweepSpec:
    """Read and validate a sweep definition from YAML.

    Args:
        path: the YAML file, e.g. `sweeps/prune-finetune.yaml`.
        budget: overrides the file's `budget` (seconds); None keeps it.

    Raises:
        SweepSpecError: on a missing file, an unknown key, a bad range or a bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepSpecError(f"Sweep definition not found: {path}. Pass an existing YAML file, e.g. sweeps/prune-finetune.yaml.")
    raw = read_yaml(path, SweepSpecError)
    if budget is not None:
        raw = {**raw, "budget": budget} if isinstance(raw, dict) else raw
    spec = parse_sweep_spec(raw, source=str(path))
    return spec


def parse_sweep_spec(raw: Any, *, source: str | None = None) -> SweepSpec:
    """Validate a sweep definition given as a mapping (as read from YAML)."""
    where = source or "the sweep definition"
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{where} must contain a YAML mapping at the top level, got {type(raw).__name__}.")
    _check_keys(raw, _TOP_KEYS, prefix="")

    name = raw.get("name") or (Path(source).stem if source else None)
    if not name or not all(c.isalnum() or c in "-_." for c in str(name)):
        raise SweepSpecError(f"name must be a non-empty identifier of letters, digits, '-', '_' or '.', got {name!r}.")
    mode = raw.get("mode", "constrained")
    _check_choice("mode", mode, MODES)
    study_name = raw.get("study_name")
    if study_name is not None and not str(study_name).strip():
        raise SweepSpecError("study_name is empty; remove it to use '<config name>-<sweep name>' or give a name.")

    spec = SweepSpec(
        name=str(name),
        mode=mode,
        space=_parse_space(raw.get("space")),
        budget=_parse_budget(raw.get("budget")),
        lds_alpha=_parse_lds_alpha(raw.get("lds_alpha", "mean")),
        sampler=_parse_sampler(raw.get("sampler") or {}),
        lds=_parse_lds(raw.get("lds") or {}),
        study_name=None if study_name is None else str(study_name),
        source=source,
    )
    _check_budget(spec)
    _check_lds_alpha(spec)
    return spec


def check_space_against_config(spec: SweepSpec, config_path: str | Path, overrides: dict[str, Any] | None = None) -> None:
    """Load the study config at every corner of the space, so a bad range fails before any trial.

    Raises:
        SweepSpecError: naming the parameter and the value the config rejects.
    """
    for param in spec.space:
        for value in param.corner_values():
            try:
                spec.study_config(config_path, {**(overrides or {}), param.key: value})
            except SweepSpecError:
                raise
            except ConfigError as error:
                raise SweepSpecError(
                    f"space.{param.key}: the study config rejects the value {value!r}: {error} "
                    "Narrow the range or the choices to valid values."
                ) from None


def _parse_space(raw: Any) -> tuple[ParamSpec, ...]:
    if not isinstance(raw, dict) or not raw:
        raise SweepSpecError(
            "space must be a non-empty mapping of dotted config keys to distributions, "
            "e.g. space: {pruning.ratio: {type: float, low: 0.1, high: 0.7}}."
        )
    return tuple(_parse_param(str(key), value) for key, value in raw.items())


def _parse_param(key: str, raw: Any) -> ParamSpec:
    _check_swept_key(key)
    if not isinstance(raw, dict):
        raise SweepSpecError(f"space.{key} must be a mapping with a 'type', got {raw!r}.")
    kind = raw.get("type")
    _check_choice(f"space.{key}.type", kind, PARAM_TYPES)

    if kind == "categorical":
        _check_keys(raw, ("type", "choices"), prefix=f"space.{key}.")
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SweepSpecError(f"space.{key}.choices must be a non-empty list, got {choices!r}.")
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise SweepSpecError(f"space.{key}.choices entries must be scalars (Optuna stores them), got {choice!r}.")
        if len(set(map(repr, choices))) != len(choices):
            raise SweepSpecError(f"space.{key}.choices has duplicates: {choices!r}; list each value once.")
        return ParamSpec(key, kind, choices=tuple(choices))

    _check_keys(raw, ("type", "low", "high", "log", "step"), prefix=f"space.{key}.")
    low, high = (_number(raw.get(bound), f"space.{key}.{bound}") for bound in ("low", "high"))
    if kind == "int":
        for bound, value in (("low", low), ("high", high)):
            if not float(value).is_integer():
                raise SweepSpecError(f"space.{key}.{bound} must be an integer for type int, got {value!r}.")
    if not low <= high:
        raise SweepSpecError(f"space.{key} needs low <= high, got low={low}, high={high}; swap or fix the bounds.")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SweepSpecError(f"space.{key}.log must be true or false, got {log!r}.")
    if log and low <= 0:
        raise SweepSpecError(f"space.{key}.log needs low > 0, got low={low}; raise low or set log: false.")
    step = raw.get("step")
    if step is not None:
        step = _number(step, f"space.{key}.step")
        if step <= 0 or (kind == "int" and not float(step).is_integer()):
            raise SweepSpecError(f"space.{key}.step must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}.")
        if log:
            raise SweepSpecError(f"space.{key} cannot combine log: true with a step (Optuna forbids it); drop one.")
    return ParamSpec(key, kind, low=low, high=high, log=log, step=step)


def _check_swept_key(key: str) -> None:
    parts = key.split(".")
    if parts[0] not in SWEPT_SECTIONS:
        raise SweepSpecError(
            f"space.{key}: a sweep may only search keys under {', '.join(SWEPT_SECTIONS)}. "
            "Other sections change the data, the full model, the sampling or the property, and with them the "
            "datamodel values LDS compares against; sweep those by running one sweep per config instead."
        )
    cls: Any = StudyConfig
    for depth, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
        if part not in names:
            prefix = ".".join(parts[:depth])
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" Did you mean '{prefix}.{close[0]}'?" if close else f" Valid keys there: {', '.join(names)}."
            raise SweepSpecError(f"space.{key}: '{key}' is not a study config key.{hint}")
        cls = _dataclass_of(typing.get_type_hints(cls)[part])
    if dataclasses.is_dataclass(cls):
        raise SweepSpecError(f"space.{key} names a config section, not a value; search one of its keys, e.g. {key}.steps.")


def _dataclass_of(hint: Any) -> Any:
    # `retrain: TrainingConfig | None` is a section too.
    for arg in typing.get_args(hint) or (hint,):
        if dataclasses.is_dataclass(arg):
            return arg
    return hint


def _parse_budget(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    value = _number(raw, "budget")
    if not value > 0 or not math.isfinite(value):
        raise SweepSpecError(f"budget is the maximum compute seconds per trial and must be positive and finite, got {raw!r}.")
    return value


def _check_budget(spec: SweepSpec) -> None:
    if spec.mode == "constrained" and spec.budget is None:
        raise SweepSpecError(
            "mode: constrained needs a budget (maximum compute seconds per trial); "
            "set budget: in the sweep YAML or pass --budget."
        )


def _parse_lds_alpha(raw: Any) -> str | float:
    if raw == "mean":
        return "mean"
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise SweepSpecError(f"lds_alpha must be 'mean' or one of the lds.alphas, e.g. 0.5, got {raw!r}.") from None


def _parse_sampler(raw: Any) -> SamplerSpec:
    if not isinstance(raw, dict):
        raise SweepSpecError(f"sampler must be a mapping, e.g. {{name: tpe, seed: 0}}, got {raw!r}.")
    names = [f.name for f in dataclasses.fields(SamplerSpec)]
    _check_keys(raw, names, prefix="sampler.")
    spec = SamplerSpec(**raw)
    _check_choice("sampler.name", spec.name, SAMPLERS)
    for key in ("seed", "n_startup_trials", "population_size"):
        value = getattr(spec, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SweepSpecError(f"sampler.{key} must be an integer, got {value!r}.")
    if spec.seed < 0:
        raise SweepSpecError(f"sampler.seed must be >= 0, got {spec.seed}.")
    if spec.n_startup_trials < 0:
        raise SweepSpecError(f"sampler.n_startup_trials must be >= 0, got {spec.n_startup_trials}.")
    if spec.population_size < 2:
        raise SweepSpecError(f"sampler.population_size must be at least 2, got {spec.population_size}.")
    return spec


def _parse_lds(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SweepSpecError(f"lds must be a mapping of datamodel settings, e.g. {{num_sets: 3}}, got {raw!r}.")
    names = [f.name for f in dataclasses.fields(LDSConfig)]
    _check_keys(raw, names, prefix="lds.")
    try:
        LDSConfig(**raw).validate()
    except ConfigError as error:
        raise SweepSpecError(f"{error} Fix the sweep definition's lds section.") from None
    except TypeError as error:
        raise SweepSpecError(f"lds: {error}") from None
    return dict(raw)


def _check_lds_alpha(spec: SweepSpec) -> None:
    if spec.lds_alpha == "mean" or "alphas" not in spec.lds:
        return
    alphas = [float(alpha) for alpha in spec.lds["alphas"]]
    if spec.lds_alpha not in alphas:
        raise SweepSpecError(f"lds_alpha={spec.lds_alpha} is not one of lds.alphas {alphas}; pick one of them or 'mean'.")


def _check_keys(raw: dict, valid: tuple[str, ...] | list[str], prefix: str) -> None:
    for key in raw:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" Did you mean '{prefix}{close[0]}'?" if close else f" Valid keys: {', '.join(valid)}."
            raise SweepSpecError(f"Unknown sweep key '{prefix}{key}'.{hint}")


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SweepSpecError(f"{key}={value!r} is not one of {', '.join(choices)}.{hint}")


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SweepSpecError(f"{key} must be a number, got {value!r}.") from None
    return float(value)
