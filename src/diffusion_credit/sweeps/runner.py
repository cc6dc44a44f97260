"""Run a sweep: one `sweep` MLflow run per process, one nested run per Optuna trial.

Processes that name the same storage and study share one Optuna study
(`create_study(load_if_exists=True)`). Each process runs its own number of
trials one after another, so no two trials share MLflow's active run.
Parallelise by starting more processes.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import optuna

from .. import store
from ..config import StudyConfig, digest
from ..errors import InputError
from ..study import Study
from .spec import SweepSpec, SweepSpecError, check_space_against_config
from .storage import make_storage, redact
from .summary import log_summary
from .trials import derive_study, ensure_datamodels, evaluate_trial, sets_summary

__all__ = ["TAG_SWEEP", "TAG_TRIAL", "SweepOutcome", "run_sweep", "build_sampler", "trial_seed", "CONSTRAINT_BUDGET"]

logger = logging.getLogger(__name__)

TAG_SWEEP = "credit.sweep"
TAG_TRIAL = "credit.trial"
_STUDY_KEY_ATTR = "credit.sweep_key"

# Optuna constraint `cost_seconds - budget`; a trial is feasible when it is <= 0.
CONSTRAINT_BUDGET = "cost_over_budget_s"

# Config sections whose values make trials of two processes comparable.
_KEYED_SECTIONS = ("model", "training", "retrain", "pruning", "finetune", "sampling", "property", "valuation", "lds")


@dataclass(frozen=True)
class SweepOutcome:
    """The trials of one sweep process and the shared study's best trial or front afterwards.

    Attributes:
        study_name: the Optuna study name.
        sweep_run_id: this process's `sweep` MLflow run.
        trial_numbers: the Optuna trial numbers this process ran.
        best_number: the best feasible trial of the whole study (constrained mode), else None.
        front_numbers: the Pareto front of the whole study by increasing cost (pareto mode).
    """

    study_name: str
    sweep_run_id: str
    trial_numbers: list[int]
    best_number: int | None
    front_numbers: list[int]


def trial_seed(seed: int, number: int) -> int:
    """Return the sampler seed of trial `number`: distinct per trial, equal across reruns."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def build_sampler(spec: SweepSpec, *, seed: int) -> optuna.samplers.BaseSampler:
    """Return the spec's sampler seeded with `seed`.

    Both samplers read the budget constraint that each trial records with
    `Trial.set_constraint` (Optuna 5 deprecates the samplers' `constraints_func`).
    """
    if spec.sampler.name == "nsgaii":
        return optuna.samplers.NSGAIISampler(population_size=spec.sampler.population_size, seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=spec.sampler.n_startup_trials, seed=seed)


def run_sweep(
    config_path: str | Path,
    spec: SweepSpec,
    *,
    trials: int,
    storage: str | None = None,
    overrides: dict | None = None,
    progress: bool = True,
) -> SweepOutcome:
    """Run `trials` trials of the sweep in this process and log the study's summary.

    Args:
        config_path: the study config (YAML); the sweep's `lds` settings override its `lds` section.
        spec: the validated sweep definition.
        trials: trials this process runs, >= 0 (0 only logs the summary).
        storage: Optuna storage (see `make_storage`); None means `sqlite:///optuna.db`.
        overrides: dotted config keys applied to every trial, e.g. `{"data.path": "my/folder"}`.
        progress: show progress bars.

    Raises:
        SweepSpecError: when the space or `lds_alpha` does not fit the config.
        InputError: on a bad storage, or a study created from another sweep definition.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 0:
        raise InputError(f"trials must be an integer >= 0, got {trials!r}.")
    overrides = dict(overrides or {})
    base_config = spec.study_config(config_path, overrides)
    _check_lds_alpha(spec, base_config)
    check_space_against_config(spec, config_path, overrides)
    optuna_storage = make_storage(storage)
    base = Study(base_config, progress=progress)
    base.tracking()
    study_name = spec.optuna_study_name(base_config)
    optuna_study = _open_study(spec, optuna_storage, study_name, _sweep_key(spec, base))

    tags = {TAG_SWEEP: study_name}
    with store.start_run(base.name, "sweep", tags=tags, run_name=f"sweep-{study_name}") as sweep_run:
        _log_sweep_params(spec, study_name, storage, trials)
        planned_sets = ensure_datamodels(base)
        logger.info("Datamodel sets: %s", "; ".join(sets_summary(planned_sets)))

        numbers: list[int] = []
        objective = _Objective(spec, base, config_path, overrides, optuna_study, planned_sets, study_name, numbers)
        optuna_study.optimize(objective, n_trials=trials, catch=(), show_progress_bar=False)

        summary = log_summary(optuna_study.get_trials(deepcopy=False), mode=spec.mode, budget=spec.budget, title=study_name)
        best, front = summary["best"], summary["front"]
        return SweepOutcome(
            study_name=study_name,
            sweep_run_id=sweep_run.info.run_id,
            trial_numbers=numbers,
            best_number=None if best is None else best.number,
            front_numbers=[trial.number for trial in front],
        )


class _Objective:
    """The Optuna objective: sample settings, run the flow in a nested run, return LDS (and cost)."""

    def __init__(self, spec, base, config_path, overrides, optuna_study, planned_sets, study_name, numbers):
        self.spec = spec
        self.base = base
        self.config_path = config_path
        self.overrides = overrides
        self.optuna_study = optuna_study
        self.planned_sets = planned_sets
        self.study_name = study_name
        self.numbers = numbers

    def __call__(self, trial: optuna.Trial):
        # Seed per trial number, so workers that share the study draw different points.
        self.optuna_study.sampler = build_sampler(self.spec, seed=trial_seed(self.spec.sampler.seed, trial.number))
        self.numbers.append(trial.number)
        overrides = {param.key: param.suggest(trial) for param in self.spec.space}
        logger.info("Trial %d of study %s: %s", trial.number, self.study_name, overrides)

        tags = {TAG_SWEEP: self.study_name, TAG_TRIAL: str(trial.number)}
        with store.start_run(self.base.name, "sweep", tags=tags, run_name=f"trial-{trial.number}", nested=True) as run:
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            mlflow.log_params(overrides)
            try:
                result = self._evaluate(overrides)
            except Exception as error:
                trial.set_user_attr("fail_reason", f"{type(error).__name__}: {error}"[:1000])
                raise
            mlflow.log_metrics(result.metrics())
            mlflow.set_tag("credit.attribution_run", result.attribution_run_id)
            for name, value in _user_attrs(result).items():
                trial.set_user_attr(name, value)
            if self.spec.budget is not None:
                trial.set_constraint(CONSTRAINT_BUDGET, result.cost_seconds - self.spec.budget)
            if result.lds is None:
                mlflow.set_tag("credit.trial_state", "PRUNED")
                mlflow.set_tag("credit.trial_reason", result.undefined_reason)

        logger.info(
            "Trial %d: LDS %s, cost %.1f s (%s), %d coalitions computed",
            trial.number,
            "undefined" if result.lds is None else f"{result.lds:.4f}",
            result.cost_seconds,
            "feasible" if result.feasible else "over budget",
            result.computed_coalitions,
        )
        if result.lds is None:
            raise optuna.TrialPruned(f"Trial {trial.number} has no objective: {result.undefined_reason}.")
        return result.lds if self.spec.mode == "constrained" else (result.lds, result.cost_seconds)

    def _evaluate(self, overrides):
        config = self.spec.study_config(self.config_path, {**self.overrides, **overrides})
        study = derive_study(self.base, config)
        return evaluate_trial(study, self.planned_sets, lds_alpha=self.spec.lds_alpha, budget=self.spec.budget)


def _user_attrs(result) -> dict:
    return {
        "lds": result.lds,
        "lds_per_alpha": {f"{alpha:g}": value for alpha, value in result.lds_per_alpha.items()},
        "undefined_reason": result.undefined_reason,
        "cost_seconds": result.cost_seconds,
        "computed_coalitions": result.computed_coalitions,
        "feasible": result.feasible,
        "attribution_run_id": result.attribution_run_id,
    }


def _open_study(spec: SweepSpec, storage, study_name: str, sweep_key: str) -> optuna.Study:
    """Create the Optuna study or join it, checking that it was made from the same definition."""
    sampler = build_sampler(spec, seed=spec.sampler.seed)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=spec.directions, sampler=sampler, load_if_exists=True
    )
    if [d.name.lower() for d in study.directions] != spec.directions:
        raise InputError(
            f"Optuna study {study_name!r} has directions {[d.name.lower() for d in study.directions]}, but mode "
            f"{spec.mode!r} needs {spec.directions}; set a new study_name in the sweep definition."
        )
    if _STUDY_KEY_ATTR not in study.user_attrs:
        study.set_user_attr(_STUDY_KEY_ATTR, sweep_key)
    stored = study.user_attrs[_STUDY_KEY_ATTR]
    if stored != sweep_key:
        raise InputError(
            f"Optuna study {study_name!r} was created from another sweep definition or study config "
            f"(key {stored}, this process {sweep_key}), so their trials would not be comparable. "
            "Run with the same config and sweep YAML, or set a new study_name in the sweep definition."
        )
    logger.info("Optuna study %s: %d trials so far", study_name, len(study.get_trials(deepcopy=False)))
    return study


def _sweep_key(spec: SweepSpec, study: Study) -> str:
    sections = {name: getattr(study.config, name) for name in _KEYED_SECTIONS}
    return digest(spec.digest(), study.dataset.digest, sections)


def _check_lds_alpha(spec: SweepSpec, config: StudyConfig) -> None:
    if spec.lds_alpha != "mean" and float(spec.lds_alpha) not in config.lds.alphas:
        raise SweepSpecError(
            f"lds_alpha={spec.lds_alpha} is not one of the datamodel alphas {config.lds.alphas}; "
            "pick one of them, 'mean', or add it to lds.alphas."
        )


def _log_sweep_params(spec: SweepSpec, study_name: str, storage: str | None, trials: int) -> None:
    mlflow.log_params(
        {
            "sweep.name": spec.name,
            "sweep.study_name": study_name,
            "sweep.mode": spec.mode,
            "sweep.budget": spec.budget,
            "sweep.lds_alpha": spec.lds_alpha,
            "sweep.sampler": spec.sampler.name,
            "sweep.seed": spec.sampler.seed,
            "sweep.storage": redact(storage or "sqlite:///optuna.db"),
            "sweep.trials": trials,
            "sweep.source": spec.source or "",
        }
    )
    store.log_json(dataclasses.asdict(spec), "sweep.json")
