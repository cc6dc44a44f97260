"""One sweep trial: the `attribute` flow under sampled settings, scored by LDS and measured cost.

The objective of a trial is the LDS of its attribution against the sweep's
datamodel coalitions: `lds.alpha_<α>` for the chosen α, or the mean of
`lds.alpha_<α>` over all alphas. A trial whose LDS is undefined at any of
those alphas (every datamodel set constant or tied) has no objective.

The cost of a trial is the compute its settings need, read from the runs
it used rather than from the clock of this process:

- `cost.coalition_seconds`: train + sample + property seconds of every
  distinct planned coalition run of the attribution;
- `cost.pruned_model_seconds`: the fine-tune seconds of the pruned model
  `θ̃*` (method `sft` only).

A trial that reuses finished coalition runs therefore has the same cost as
the trial that computed them, so the budget compares settings, not the order
in which trials ran. What this trial computed itself is logged apart as
`cost.computed_seconds` and `cost.computed_coalitions`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mlflow
import numpy as np

from .. import store
from ..config import StudyConfig
from ..stages import find_model_run
from ..study import Study
from ..valuation import coalition_to_bits

__all__ = ["TrialResult", "derive_study", "ensure_datamodels", "lds_objective", "evaluate_trial"]

logger = logging.getLogger(__name__)

DatamodelSets = dict[float, list[tuple[np.ndarray, np.ndarray]]]

# Sections that determine the dataset, θ*, the sampling noises and the
# property; trials that agree on them can share those objects in memory.
_SHARED_SECTIONS = ("data", "model", "training", "retrain", "sampling", "property", "device")
_TIME_METRICS = ("time.train_s", "time.sample_s", "time.property_s")


@dataclass(frozen=True)
class TrialResult:
    """The measurements of one trial.

    Attributes:
        lds: the objective (see the module docstring); None when undefined.
        lds_per_alpha: mean LDS per α, None where undefined.
        undefined_reason: why `lds` is None, else None.
        cost_seconds: `coalition_seconds + pruned_model_seconds`.
        coalition_seconds: recorded compute of the attribution's coalition runs, seconds.
        pruned_model_seconds: recorded fine-tune seconds of `θ̃*` (0 unless method `sft`).
        computed_coalitions: coalition runs this trial computed (not reused).
        computed_seconds: recorded compute of those runs, seconds.
        feasible: `cost_seconds <= budget` (True without a budget).
        attribution_run_id: the attribution run of this trial.
    """

    lds: float | None
    lds_per_alpha: dict[float, float | None]
    undefined_reason: str | None
    cost_seconds: float
    coalition_seconds: float
    pruned_model_seconds: float
    computed_coalitions: int
    computed_seconds: float
    feasible: bool
    attribution_run_id: str

    def metrics(self) -> dict[str, float]:
        """Return the metrics a trial run logs."""
        metrics = {
            "cost": self.cost_seconds,
            "cost.coalition_seconds": self.coalition_seconds,
            "cost.pruned_model_seconds": self.pruned_model_seconds,
            "cost.computed_seconds": self.computed_seconds,
            "cost.computed_coalitions": float(self.computed_coalitions),
            "feasible": float(self.feasible),
        }
        if self.lds is not None:
            metrics["lds"] = self.lds
        for alpha, value in self.lds_per_alpha.items():
            if value is not None:
                metrics[f"lds.alpha_{alpha:g}"] = value
        return metrics


def derive_study(base: Study, config: StudyConfig) -> Study:
    """Return a study for a trial's config that shares the base study's loaded objects.

    The dataset, the full model `θ*` and the property are shared only when the
    sections that determine them are equal, so a trial never scores with an
    object built for other settings.
    """
    study = Study(config, progress=base.progress)
    if any(getattr(config, name) != getattr(base.config, name) for name in _SHARED_SECTIONS):
        return study
    # NOTE: relies on Study keeping cached properties in vars() and θ* in `_cache`.
    for name in ("dataset", "property", "device", "cache_dir"):
        if name in vars(base):
            vars(study)[name] = vars(base)[name]
    if "full" in base._cache:
        study._cache["full"] = base._cache["full"]
    return study


def ensure_datamodels(study: Study) -> DatamodelSets:
    """Evaluate (or reuse) the study's planned datamodel coalitions and return their sets.

    Runs nested under the active run. Only the first process of a sweep pays
    for the retraining, because later ones find the finished runs. Processes
    that start together on an empty store each retrain the same coalitions,
    so start one worker first (or run the `datamodels` entry point).

    Returns:
        Per α, one (coalitions bool [m, n], values float [m]) pair per set, in
        set order, holding exactly the coalitions the `lds` section plans.
    """
    from ..datamodels import run_datamodels

    return run_datamodels(study, nested=True)


def lds_objective(lds: Mapping[float, object], lds_alpha: str | float) -> tuple[float | None, str | None]:
    """Return the objective from LDS results per α, or None with the reason it is undefined.

    Args:
        lds: α to an `LDSResult` (its `mean` is None when undefined).
        lds_alpha: `mean` for the mean over all alphas, or one α.
    """
    if not lds:
        return None, "no datamodel sets were found, so no LDS was computed"
    alphas = sorted(lds) if lds_alpha == "mean" else [float(lds_alpha)]
    missing = [alpha for alpha in alphas if alpha not in lds]
    if missing:
        return None, f"no LDS at alpha {missing[0]:g}; the datamodel sets cover alphas {sorted(lds)}"
    undefined = [alpha for alpha in alphas if lds[alpha].mean is None]
    if undefined:
        alpha = undefined[0]
        return None, f"LDS at alpha {alpha:g} is undefined ({lds[alpha]}): every datamodel set is constant or tied"
    return float(np.mean([lds[alpha].mean for alpha in alphas])), None


def evaluate_trial(
    study: Study, planned_sets: DatamodelSets, *, lds_alpha: str | float, budget: float | None
) -> TrialResult:
    """Run the `attribute` flow nested under the active run and score it.

    Args:
        study: the trial's study (its config carries the sampled settings).
        planned_sets: the sweep's datamodel sets, from `ensure_datamodels`.
        lds_alpha: `mean` or one α (see `lds_objective`).
        budget: maximum cost in seconds; None marks every trial feasible.
    """
    from ..datamodels import planned_datamodel_sets
    from ..lds_runs import log_lds
    from ..pipeline import run_attribute

    outcome = run_attribute(study, nested=True)

    # The flow scores against the sets the study's `lds` section plans, which
    # are the sweep's planned sets; rescore only if they somehow differ.
    lds = outcome.lds
    if _canonical(planned_datamodel_sets(study)) != _canonical(planned_sets):
        lds = log_lds(outcome.attribution_run_id, sets=planned_sets, nested=True)
    value, reason = lds_objective(lds, lds_alpha)

    pruned_seconds = _pruned_model_seconds(study) if study.config.valuation.method == "sft" else 0.0
    cost = outcome.coalition_seconds + pruned_seconds
    computed, computed_seconds = _computed_coalitions(study, outcome.attribution_run_id)
    return TrialResult(
        lds=value,
        lds_per_alpha={alpha: result.mean for alpha, result in sorted(lds.items())},
        undefined_reason=reason,
        cost_seconds=cost,
        coalition_seconds=outcome.coalition_seconds,
        pruned_model_seconds=pruned_seconds,
        computed_coalitions=computed,
        computed_seconds=computed_seconds,
        feasible=budget is None or cost <= budget,
        attribution_run_id=outcome.attribution_run_id,
    )


def _pruned_model_seconds(study: Study) -> float:
    found = find_model_run(study, "prune", study.prune_digest)
    return float(found.data.metrics.get("time.train_s", 0.0)) if found is not None else 0.0


def _computed_coalitions(study: Study, attribution_run_id: str) -> tuple[int, float]:
    """Count the coalition runs nested under this trial's `attribute` run, and their recorded seconds."""
    attribute_run_id = mlflow.get_run(attribution_run_id).data.tags.get("mlflow.parentRunId")
    if attribute_run_id is None:
        return 0, 0.0
    runs = store.search_runs({store.TAG_KIND: "coalition", store.TAG_STUDY: study.name, "mlflow.parentRunId": attribute_run_id})
    seconds = sum(run.data.metrics.get(name, 0.0) for run in runs for name in _TIME_METRICS)
    return len(runs), float(seconds)


def _canonical(sets: DatamodelSets) -> dict[float, list[tuple[tuple[str, float], ...]]]:
    return {
        float(alpha): [tuple(sorted(zip(map(coalition_to_bits, coalitions), values.tolist()))) for coalitions, values in pairs]
        for alpha, pairs in sets.items()
    }


def sets_summary(sets: DatamodelSets) -> Sequence[str]:
    """Describe datamodel sets for logs, e.g. `alpha 0.5: 2 sets of 4`."""
    return [f"alpha {alpha:g}: {len(pairs)} sets of {', '.join(str(len(v)) for _, v in pairs)}" for alpha, pairs in sorted(sets.items())]
