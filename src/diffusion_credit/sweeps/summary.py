"""Sweep results: the trial table, the best feasible trial, the Pareto front and their plot."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

__all__ = ["trial_table", "best_trial", "pareto_front", "nondominated", "plot_sweep", "log_summary"]

logger = logging.getLogger(__name__)

_TABLE_COLUMNS = ["number", "state", "lds", "cost_seconds", "feasible", "attribution_run", "mlflow_run", "reason"]


def trial_table(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """Return one row per trial: number, state, lds, cost_seconds, feasible, run ids, reason and params.

    `lds` is empty for trials without an objective (pruned, failed, running).
    """
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        attrs = trial.user_attrs
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "lds": attrs.get("lds"),
                "cost_seconds": attrs.get("cost_seconds"),
                "feasible": attrs.get("feasible"),
                "attribution_run": attrs.get("attribution_run_id"),
                "mlflow_run": attrs.get("mlflow_run_id"),
                "reason": attrs.get("undefined_reason") or attrs.get("fail_reason"),
                **trial.params,
            }
        )
    return pd.DataFrame(rows, columns=_TABLE_COLUMNS + sorted({key for t in trials for key in t.params}))


def _scored(trials: Sequence[FrozenTrial], *, feasible_only: bool) -> list[FrozenTrial]:
    """COMPLETE trials with a finite LDS and cost, feasible ones only when asked."""
    kept = []
    for trial in trials:
        attrs = trial.user_attrs
        if trial.state != TrialState.COMPLETE or attrs.get("lds") is None or attrs.get("cost_seconds") is None:
            continue
        if not (math.isfinite(attrs["lds"]) and math.isfinite(attrs["cost_seconds"])):
            continue
        if feasible_only and not attrs.get("feasible", False):
            continue
        kept.append(trial)
    return kept


def best_trial(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """Return the feasible COMPLETE trial with the highest LDS, or None when no trial is feasible.

    Ties go to the lower cost, then to the lower trial number.
    """
    candidates = _scored(trials, feasible_only=True)
    if not candidates:
        return None
    return min(candidates, key=lambda t: (-t.user_attrs["lds"], t.user_attrs["cost_seconds"], t.number))


def nondominated(lds: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Return the indices of the Pareto-optimal points for maximising LDS and minimising cost.

    A point is dominated when another has LDS >= and cost <= with at least one
    strict; equal points are all kept.

    Args:
        lds: float [k], higher is better.
        cost: float [k], seconds, lower is better.

    Returns:
        int64 [m] indices into the inputs, ordered by increasing cost.
    """
    lds, cost = np.asarray(lds, dtype=float), np.asarray(cost, dtype=float)
    if lds.shape != cost.shape or lds.ndim != 1:
        raise ValueError(f"lds and cost must be 1-D of equal length, got shapes {lds.shape} and {cost.shape}.")
    better_or_equal = (lds[None, :] >= lds[:, None]) & (cost[None, :] <= cost[:, None])
    strictly_better = (lds[None, :] > lds[:, None]) | (cost[None, :] < cost[:, None])
    dominated = (better_or_equal & strictly_better).any(axis=1)
    front = np.flatnonzero(~dominated)
    return front[np.lexsort((-lds[front], cost[front]))].astype(np.int64)


def pareto_front(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Return the feasible COMPLETE trials on the LDS-up, cost-down Pareto front, by increasing cost."""
    candidates = _scored(trials, feasible_only=True)
    if not candidates:
        return []
    lds = np.array([t.user_attrs["lds"] for t in candidates])
    cost = np.array([t.user_attrs["cost_seconds"] for t in candidates])
    return [candidates[index] for index in nondominated(lds, cost)]


def plot_sweep(table: pd.DataFrame, highlighted: Sequence[int], *, budget: float | None, title: str):
    """Plot LDS against cost: feasible dots, infeasible crosses, highlighted trials joined in red.

    Args:
        table: `trial_table` output.
        highlighted: trial numbers to mark (the Pareto front, or the best trial).
        budget: draws a vertical line at this cost when given, seconds.
        title: the figure title.
    """
    figure, axis = plt.subplots(figsize=(6, 4))
    scored = table[table["lds"].notna() & table["cost_seconds"].notna()]
    feasible = scored["feasible"].astype(bool)
    if feasible.any():
        axis.scatter(scored.loc[feasible, "cost_seconds"], scored.loc[feasible, "lds"], marker="o", label="feasible")
    if (~feasible).any():
        axis.scatter(scored.loc[~feasible, "cost_seconds"], scored.loc[~feasible, "lds"], marker="x", color="gray", label="infeasible")
    marked = scored[scored["number"].isin(list(highlighted))].sort_values("cost_seconds")
    if len(marked) > 1:
        # The front as an attainment curve: the best LDS reachable at each cost.
        axis.plot(marked["cost_seconds"], marked["lds"], "o-", color="tab:red", drawstyle="steps-post", label="Pareto front")
    elif len(marked):
        axis.plot(marked["cost_seconds"], marked["lds"], "o", color="tab:red", markersize=10, fillstyle="none", label="best")
    for _, row in scored.iterrows():
        axis.annotate(str(int(row["number"])), (row["cost_seconds"], row["lds"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if budget is not None:
        axis.axvline(budget, linestyle="--", color="black", linewidth=1, label=f"budget {budget:g} s")
    axis.set(xlabel="cost (compute seconds per trial)", ylabel="LDS", title=title)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def log_summary(trials: Sequence[FrozenTrial], *, mode: str, budget: float | None, title: str) -> dict:
    """Log the trial table, the best trial or Pareto front (CSV) and the plot on the active run.

    Returns:
        `{"best": FrozenTrial | None, "front": list[FrozenTrial]}`; `best` is
        set in `constrained` mode, `front` in `pareto` mode.
    """
    table = trial_table(trials)
    counts = table["state"].value_counts()
    metrics = {f"trials.{state.name.lower()}": float(counts.get(state.name, 0)) for state in TrialState}
    metrics["trials.feasible"] = float(len(_scored(trials, feasible_only=True)))

    if mode == "constrained":
        best = best_trial(trials)
        chosen, front = ([] if best is None else [best]), []
        if best is None:
            logger.warning("No feasible trial with a defined LDS yet; raise the budget or run more trials.")
        else:
            metrics.update({"best.lds": best.user_attrs["lds"], "best.cost": best.user_attrs["cost_seconds"], "best.trial": float(best.number)})
            mlflow.set_tag("credit.best_trial_run", best.user_attrs.get("mlflow_run_id", ""))
            logger.info("Best trial %d: LDS %.4f at cost %.1f s, params %s", best.number, best.user_attrs["lds"], best.user_attrs["cost_seconds"], best.params)
        artifact = "best.csv"
    else:
        best, front = None, pareto_front(trials)
        chosen = front
        metrics["front.size"] = float(len(front))
        logger.info("Pareto front: trials %s", [t.number for t in front])
        artifact = "pareto.csv"

    mlflow.log_metrics(metrics)
    numbers = [t.number for t in chosen]
    with tempfile.TemporaryDirectory() as tmp:
        table.to_csv(Path(tmp) / "trials.csv", index=False)
        table[table["number"].isin(numbers)].sort_values("cost_seconds").to_csv(Path(tmp) / artifact, index=False)
        figure = plot_sweep(table, numbers, budget=budget, title=title)
        figure.savefig(Path(tmp) / "sweep.png", dpi=120)
        plt.close(figure)
        mlflow.log_artifacts(tmp)
    return {"best": best, "front": front}
