"""The reference benchmark's numbers, computed from its CSV files alone (no run store, no models).

- Coalition values: one per (method, fine-tuning steps, coalition), the mean
  over seeds where several seeds were evaluated.
- Ground truth: the retrained datamodel coalitions of each α, per set.
- Estimators: KernelSHAP on prefixes of the paired kernel sample, Banzhaf MSR
  on the uniform sample and leave-one-out, each per method; baselines from
  `baselines.csv`. All scored by LDS over the datamodel sets.
- Cost: seconds per coalition (train + sample + property) and, for the budget
  curve, units of one retrain plus its inference.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from pinned_models import read_manifest
from scipy import stats

from diffusion_credit.evaluation import BudgetPoint, LDSResult, cross_fitted_lds, lds_budget_curve, lds_over_sets
from diffusion_credit.valuation import banzhaf_msr, bits_to_coalition, kernel_shap, leave_one_out

__all__ = [
    "BenchmarkData",
    "Game",
    "Estimate",
    "pooled_within_variance",
    "seed_adjusted",
    "seed_range",
    "load_results",
    "games",
    "datamodel_sets",
    "cost_table",
    "estimates",
    "lds_rows",
    "fidelity_rows",
    "noise_rows",
    "status_rows",
]

logger = logging.getLogger(__name__)

TIME_COLUMNS = ("train_s", "sample_s", "property_s")
GameId = tuple[str, int | None]


@dataclass
class BenchmarkData:
    """The CSV files of one study.

    Attributes:
        study: the study name.
        num_contributors: `n`, the length of the coalition bitstrings.
        coalitions: `coalitions.csv`, one row per eval key, with `total_s` added.
        plan: `plan.csv` rows of the study.
        stages: `stages.csv` rows of the study.
        baselines: `baselines.csv` rows of the study.
        other_studies: studies with rows in the files that this report leaves out.
        rechecks: `rechecks.csv` rows of the study (values computed again on another machine).
        pinned: `models/pinned.json`, the models every session shares, by folder name.
    """

    study: str
    num_contributors: int
    coalitions: pd.DataFrame
    plan: pd.DataFrame
    stages: pd.DataFrame
    baselines: pd.DataFrame
    other_studies: list[str] = field(default_factory=list)
    rechecks: pd.DataFrame = field(default_factory=pd.DataFrame)
    pinned: dict = field(default_factory=dict)

    @property
    def primary_machine(self) -> str | None:
        """The machine with the most computed coalition values; costs are compared on it."""
        computed = self.coalitions[self.coalitions["total_s"].notna()]
        if computed.empty:
            return None
        return computed["machine"].value_counts().index[0]

    @property
    def latest_machine(self) -> str | None:
        """The machine of the most recently finished computed value, on which the time left is estimated."""
        computed = self.coalitions[self.coalitions["total_s"].notna()]
        if computed.empty:
            return None
        return computed.sort_values("finished_at")["machine"].iloc[-1]


@dataclass
class Game:
    """The values of one method at one fine-tuning step count.

    Attributes:
        method: `retrain`, `sft` or `ft`.
        steps: fine-tuning steps, None for `retrain`.
        values: coalition bitstring to the mean value over seeds.
        seeds: coalition bitstring to the values of each seed.
        ignored_rows: rows of the same method and steps with an older recipe, left out.
        seed_values: coalition bitstring to {seed: value}, for the analyses
            that need to know which seed gave which value.
    """

    method: str
    steps: int | None
    values: dict[str, float]
    seeds: dict[str, list[float]]
    ignored_rows: int = 0
    seed_values: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return method_label(self.method, self.steps)


@dataclass
class Estimate:
    """One attribution and what it cost.

    Attributes:
        estimator: `KernelSHAP`, `Banzhaf`, `LOO` or a baseline name.
        method: the coalition method, or `baseline`.
        steps: fine-tuning steps of `sft`/`ft`, else None.
        num_coalitions: coalition values the estimator read (boundary values included).
        scores: float `[n]` in contributor order.
        cost: units of one retrain plus inference, None when not measured.
        curve: the LDS budget curve over kernel prefixes, per α (KernelSHAP only).
    """

    estimator: str
    method: str
    steps: int | None
    num_coalitions: int
    scores: np.ndarray
    cost: float | None
    curve: dict[float, list[BudgetPoint]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.method == "baseline":
            return f"{self.estimator} (baseline)"
        return f"{self.estimator}, {method_label(self.method, self.steps)}"


def report_alpha(truth: dict[float, dict]) -> float | None:
    """Return the α that plots and budget findings use: 0.5 when planned, else the smallest, None without any."""
    if 0.5 in truth:
        return 0.5
    if truth:
        return min(truth)
    return None


def method_label(method: str, steps: int | None) -> str:
    """Return e.g. `retrain` or `sFT 60 steps`."""
    if method == "retrain":
        return "retrain"
    name = {"sft": "sFT", "ft": "FT"}.get(method, method)
    return f"{name} {steps} steps"


def load_results(results_dir: str | Path, study: str | None = None) -> BenchmarkData:
    """Read the CSV files of one study (default: the study with the most coalition rows).

    Raises:
        FileNotFoundError: when `coalitions.csv` is missing.
        ValueError: when the requested study has no rows.
    """
    results_dir = Path(results_dir)
    path = results_dir / "coalitions.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run benchmarks/reference/run.py first or pass --results.")
    coalitions = _read_csv(path, {"coalition": str, "eval_key": str, "settings": str, "game_key": str})
    studies = coalitions["study"].value_counts()
    if study is None:
        if studies.empty:
            raise ValueError(f"{path} has no rows yet; run benchmarks/reference/run.py first.")
        study = studies.index[0]
    if study not in studies.index:
        raise ValueError(f"Study {study!r} has no rows in {path}; it has {', '.join(studies.index) or 'none'}.")

    coalitions = coalitions[coalitions["study"] == study].drop_duplicates("eval_key", keep="first").copy()
    coalitions["finetune_steps"] = _optional_int(coalitions["finetune_steps"])
    coalitions["total_s"] = coalitions[list(TIME_COLUMNS)].sum(axis=1, min_count=len(TIME_COLUMNS))
    plan = _read_optional(results_dir / "plan.csv", study, {"coalition": str, "eval_key": str})
    for column in ("finetune_steps", "game_steps"):
        if column in plan:
            plan[column] = _optional_int(plan[column])
    return BenchmarkData(
        study=study,
        num_contributors=len(coalitions["coalition"].iloc[0]),
        coalitions=coalitions,
        plan=plan,
        stages=_read_optional(results_dir / "stages.csv", study),
        baselines=_read_optional(results_dir / "baselines.csv", study),
        other_studies=[name for name in studies.index if name != study],
        rechecks=_read_optional(results_dir / "rechecks.csv", study, {"coalition": str, "eval_key": str}),
        pinned=read_manifest(results_dir),
    )


def games(data: BenchmarkData) -> dict[GameId, Game]:
    """Group the coalition values into games; seed replicates of a coalition are averaged.

    A seed shifts every coalition alike, so with several seeds in a game the
    average is taken after removing each seed's offset (see `seed_adjusted`).
    Otherwise a coalition with seeds 0 and 1 and one with seed 0 alone would
    differ by half of seed 1's offset. When one method and step count has
    rows of several recipes (an upstream change), only the recipe of the
    newest row is kept.
    """
    result = {}
    frame = data.coalitions.sort_values("finished_at")
    for (method, steps), rows in frame.groupby(["method", frame["finetune_steps"].fillna(-1)], sort=True):
        steps = None if steps == -1 else int(steps)
        newest = rows["game_key"].iloc[-1]
        current = rows[rows["game_key"] == newest]
        seeds = current.groupby("coalition")["value"].apply(list).to_dict()
        values = {bits: float(np.mean(replicates)) for bits, replicates in seeds.items()}
        seed_values = {
            bits: dict(zip(group["seed"].astype(int), group["value"].astype(float))) for bits, group in current.groupby("coalition")
        }
        if current["seed"].nunique() > 1:
            values = seed_adjusted(seed_values)[1]
        # Every game drops the last bits of float arithmetic alike, so equal values tie in all of them.
        values = {bits: round(value, VALUE_DECIMALS) for bits, value in values.items()}
        result[(method, steps)] = Game(method, steps, values, seeds, ignored_rows=len(rows) - len(current), seed_values=seed_values)
    return result


def seed_adjusted(seed_values: Mapping[str, Mapping[int, float]]) -> tuple[float | None, dict[str, float]]:
    """Fit `value = coalition effect + seed offset` by least squares; return the residual variance and the effects.

    The first seed's offset is 0, so an effect is on that seed's scale. The
    variance is None when no coalition has two seeds (nothing is left over).
    When a seed never shares a coalition with the others, its offset cannot
    be separated from the coalitions' values. The plain means and the pooled
    variance between seeds are returned instead.
    """
    coalitions = sorted(seed_values)
    seeds = sorted({seed for by_seed in seed_values.values() for seed in by_seed})
    observations = [(row, seed, value) for row, bits in enumerate(coalitions) for seed, value in seed_values[bits].items()]

    design = np.zeros((len(observations), len(coalitions) + len(seeds) - 1))
    targets = np.empty(len(observations))
    for index, (row, seed, value) in enumerate(observations):
        design[index, row] = 1.0
        if seed != seeds[0]:
            design[index, len(coalitions) + seeds.index(seed) - 1] = 1.0
        targets[index] = value
    coefficients, _, rank, _ = np.linalg.lstsq(design, targets, rcond=None)
    if rank < design.shape[1]:
        return _one_way(seed_values)

    # Recomputed from the offsets, so that a coalition seen only with the first seed keeps its value.
    offsets = {seed: 0.0 if index == 0 else float(coefficients[len(coalitions) + index - 1]) for index, seed in enumerate(seeds)}
    effects = {bits: float(np.mean([value - offsets[seed] for seed, value in seed_values[bits].items()])) for bits in coalitions}
    degrees = len(observations) - rank
    if degrees <= 0:
        return None, effects
    residuals = targets - design @ coefficients
    return float(residuals @ residuals) / degrees, effects


def _one_way(seed_values: Mapping[str, Mapping[int, float]]) -> tuple[float | None, dict[str, float]]:
    """Return the pooled variance between seeds of one coalition (None without replicates) and the plain means."""
    means = {bits: float(np.mean(list(by_seed.values()))) for bits, by_seed in seed_values.items()}
    return pooled_within_variance(list(by_seed.values()) for by_seed in seed_values.values()), means


def pooled_within_variance(replicates: Iterable[list[float]]) -> float | None:
    """Return the pooled variance between seeds over coalitions with at least 2 seeds, or None."""
    squares, degrees = 0.0, 0
    for values in replicates:
        if len(values) >= 2:
            squares += float(np.var(values, ddof=1)) * (len(values) - 1)
            degrees += len(values) - 1
    return squares / degrees if degrees else None


VALUE_DECIMALS = 12
"""Decimals a game value keeps: far below any measured difference, above the rounding of means and fits."""

MIN_SET_COALITIONS = 8
"""A datamodel set enters the LDS once this many of its coalitions are retrained
(all of them, for a smaller set); a rank correlation over fewer coalitions is mostly noise."""


def datamodel_sets(data: BenchmarkData, retrain: Game | None) -> dict[float, dict]:
    """Return per α the evaluated part of each datamodel set and the counts.

    Returns:
        α → `{"sets": [(coalitions bool [m, n], values [m])], "planned": int,
        "evaluated": int, "seeds": {seed count: coalitions}}`, counting
        distinct coalitions; a set with fewer
        than `MIN_SET_COALITIONS` evaluated coalitions (or fewer than all, for
        a smaller set) is left out of `sets`.
    """
    result = {}
    if data.plan.empty:
        return result
    plan = data.plan
    planned = plan[(plan["phase"] == "datamodels") & (plan["sample"] == "datamodel") & (plan["method"] == "retrain")]
    for alpha, rows in planned.groupby("alpha"):
        sets = []
        for _, members in rows.sort_values("position").groupby("set"):
            bits = [b for b in members["coalition"] if retrain is not None and b in retrain.values]
            if len(bits) >= max(2, min(MIN_SET_COALITIONS, len(members))):
                coalitions = np.stack([bits_to_coalition(b) for b in bits])
                sets.append((coalitions, np.array([retrain.values[b] for b in bits])))

        # A coalition drawn into two sets is one retrain, so the counts are over distinct coalitions.
        distinct = set(rows["coalition"])
        evaluated = [b for b in distinct if retrain is not None and b in retrain.values]
        seeds = Counter(len(retrain.seeds[b]) for b in evaluated)
        result[float(alpha)] = {"sets": sets, "planned": len(distinct), "evaluated": len(evaluated), "seeds": dict(sorted(seeds.items()))}
    return result


def cost_table(data: BenchmarkData) -> pd.DataFrame:
    """Return seconds per coalition by method, step count and machine, with the speed-up over retraining.

    Retrain rows of the empty and the full coalition are left out: they are
    the untrained model and `θ*`, loaded rather than trained. The columns are
    medians, because a coalition that ran beside other work can take several
    times as long. `slowest_s` shows how long the slowest one took.
    """
    frame = data.coalitions[data.coalitions["total_s"].notna()].copy()
    boundary = (frame["method"] == "retrain") & ~(frame["coalition"].str.contains("0") & frame["coalition"].str.contains("1"))
    frame = frame[~boundary]
    if frame.empty:
        return pd.DataFrame(columns=["machine", "method", "steps", "coalitions", "train_s", "sample_s", "property_s", "total_s", "slowest_s", "speedup"])
    frame["steps"] = frame["finetune_steps"].fillna(-1)
    table = frame.groupby(["machine", "method", "steps"]).agg(
        coalitions=("total_s", "size"),
        train_s=("train_s", "median"),
        sample_s=("sample_s", "median"),
        property_s=("property_s", "median"),
        total_s=("total_s", "median"),
        slowest_s=("total_s", "max"),
    ).reset_index()
    table["steps"] = pd.Series([None if steps == -1 else int(steps) for steps in table["steps"]], index=table.index, dtype=object)
    retrain = table[table["method"] == "retrain"].set_index("machine")["total_s"]
    table["speedup"] = [
        retrain.get(machine) / total if machine in retrain.index else None for machine, total in zip(table["machine"], table["total_s"])
    ]
    return table


def unit_seconds(costs: pd.DataFrame, machine: str | None) -> float | None:
    """Return the cost unit on `machine`: median seconds of one retrain plus its inference, or None."""
    rows = costs[(costs["machine"] == machine) & (costs["method"] == "retrain")]
    return None if rows.empty else float(rows["total_s"].iloc[0])


def method_seconds(costs: pd.DataFrame, machine: str | None, method: str, steps: int | None) -> float | None:
    """Return the median seconds of one coalition of `method` at `steps` on `machine`, or None."""
    rows = costs[(costs["machine"] == machine) & (costs["method"] == method)]
    rows = rows[rows["steps"].map(lambda value: value == steps)]
    return None if rows.empty else float(rows["total_s"].iloc[0])


def cost_machine(costs: pd.DataFrame, method: str, steps: int | None, preferred: str | None) -> str | None:
    """Return the machine to price `method` on: `preferred` when it measured both the method and a retrain.

    Otherwise the machine with the most coalitions of the method among those
    that measured a retrain too, since a cost in units is a ratio to the
    retrain on the same machine. None when no machine measured both.
    """
    measured = costs[costs["method"] == method]
    measured = measured[measured["steps"].map(lambda value: value == steps).astype(bool)]
    with_unit = measured[measured["machine"].map(lambda machine: unit_seconds(costs, machine) is not None).astype(bool)]
    if with_unit.empty:
        return None
    if preferred in set(with_unit["machine"]):
        return preferred
    return with_unit.sort_values("coalitions", ascending=False)["machine"].iloc[0]


def estimates(data: BenchmarkData, all_games: dict[GameId, Game], truth: dict[float, dict], costs: pd.DataFrame) -> list[Estimate]:
    """Solve every estimator the CSV values allow, with its cost and, for KernelSHAP, its budget curve."""
    retrain = all_games.get(("retrain", None))
    if retrain is None or data.plan.empty:
        return _baseline_estimates(data, costs)
    empty, full = "0" * data.num_contributors, "1" * data.num_contributors
    if empty not in retrain.values or full not in retrain.values:
        return _baseline_estimates(data, costs)

    result = []
    plan = data.plan
    for (game_method, game_steps), rows in plan.groupby(["game_method", plan["game_steps"].fillna(-1)], sort=True):
        game_steps = None if game_steps == -1 else int(game_steps)
        context = _GameContext(data, all_games, costs, game_method, game_steps, retrain.values[empty])
        if context.v_full is None:
            continue
        kernel = rows[rows["sample"] == "kernel"].drop_duplicates("position").sort_values("position")
        loo = rows[rows["sample"] == "loo"].drop_duplicates("position").sort_values("position")
        uniform = rows[rows["sample"] == "uniform"].drop_duplicates("position").sort_values("position")
        result += _kernel_estimate(context, kernel, truth)
        result += _loo_estimate(context, loo)
        result += _banzhaf_estimate(context, uniform)
    return result + _baseline_estimates(data, costs)


def lds_rows(all_estimates: Sequence[Estimate], truth: dict[float, dict]) -> list[dict]:
    """Return one LDS table row per estimate and α (LDS None where no datamodel set is evaluated)."""
    rows = []
    for alpha, info in sorted(truth.items()):
        for estimate in all_estimates:
            lds = lds_over_sets(estimate.scores, info["sets"]) if info["sets"] else None
            rows.append({"alpha": alpha, "estimate": estimate, "lds": lds, "datamodel_coalitions": sum(len(v) for _, v in info["sets"])})
    return rows


def additive_references(truth: dict[float, dict]) -> dict[float, LDSResult]:
    """Return, per α with at least two usable sets, the LDS of a linear datamodel cross-fitted on the other sets."""
    return {alpha: cross_fitted_lds(info["sets"]) for alpha, info in sorted(truth.items()) if len(info["sets"]) >= 2}


def fidelity_rows(all_games: dict[GameId, Game], num_contributors: int, datamodel_coalitions: Sequence[str] = ()) -> list[dict]:
    """Return the Pearson and Spearman correlation of each fine-tuning game with the retrained values.

    Compared on the coalitions both have, boundary coalitions left out;
    None where fewer than 3 coalitions are shared. `pearson_low` and
    `pearson_high` bound the 95% Fisher-z interval (None below 4 coalitions).
    The `same_size_*` keys repeat the Pearson correlation on the shared
    `datamodel_coalitions` alone. Those coalitions all have the same size,
    so it measures whether the method ranks coalitions by what they hold
    rather than by how many contributors they hold.
    """
    retrain = all_games.get(("retrain", None))
    datamodel = set(datamodel_coalitions)
    rows = []
    for (method, steps), game in sorted(all_games.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        if method == "retrain" or retrain is None:
            continue
        shared = [b for b in game.values if b in retrain.values and "0" in b and "1" in b]
        pearson, spearman, interval = _correlations(game, retrain, shared)
        same_size = [b for b in shared if b in datamodel]
        same_size_pearson, _, same_size_interval = _correlations(game, retrain, same_size)
        rows.append(
            {
                "method": method,
                "steps": steps,
                "coalitions": len(shared),
                "pearson": pearson,
                "pearson_low": interval[0],
                "pearson_high": interval[1],
                "spearman": spearman,
                "same_size_coalitions": len(same_size),
                "same_size_pearson": same_size_pearson,
                "same_size_low": same_size_interval[0],
                "same_size_high": same_size_interval[1],
            }
        )
    return rows


def _correlations(game: Game, retrain: Game, coalitions: Sequence[str]) -> tuple[float | None, float | None, tuple]:
    """Return Pearson, Spearman and the Pearson 95% interval over `coalitions`; Nones below 3 coalitions or without spread."""
    if len(coalitions) < 3:
        return None, None, (None, None)
    x = np.array([game.values[b] for b in coalitions])
    y = np.array([retrain.values[b] for b in coalitions])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, None, (None, None)
    pearson = float(stats.pearsonr(x, y).statistic)
    return pearson, float(stats.spearmanr(x, y).statistic), pearson_interval(pearson, len(coalitions))


def pearson_interval(r: float, n: int) -> tuple[float | None, float | None]:
    """Return the 95% interval of a Pearson correlation from `n` pairs (Fisher z), or Nones for n < 4."""
    if n < 4:
        return None, None
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    half = 1.959963984540054 / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def noise_rows(all_games: dict[GameId, Game]) -> list[dict]:
    """Return the seed noise per game: std over seeds per coalition, and the spread across coalitions.

    `spread` is the signal the noise is compared with. It is the std across
    the game's coalitions, one value each (the mean over seeds), with the
    boundary coalitions left out.
    """
    rows = []
    for (method, steps), game in sorted(all_games.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        replicated = {bits: values for bits, values in game.seeds.items() if len(values) >= 2}
        if not replicated:
            continue
        stds = [float(np.std(values, ddof=1)) for values in replicated.values()]
        inner = [value for bits, value in game.values.items() if "0" in bits and "1" in bits]
        spread = float(np.std(inner, ddof=1)) if len(inner) >= 2 else None
        rows.append(
            {
                "method": method,
                "steps": steps,
                "coalitions": len(replicated),
                "seeds": max(len(values) for values in replicated.values()),
                "min_seeds": min(len(values) for values in replicated.values()),
                "per_coalition": {bits: (float(np.mean(v)), float(np.std(v, ddof=1)), len(v)) for bits, v in replicated.items()},
                "mean_std": float(np.mean(stds)),
                "spread": spread,
                "spread_coalitions": len(inner),
            }
        )
    return rows


def seed_range(row: dict) -> str:
    """Return a noise row's seeds per coalition: `3`, or `2–3` when coalitions have different counts."""
    low = row.get("min_seeds", row["seeds"])
    return str(row["seeds"]) if low == row["seeds"] else f"{low}–{row['seeds']}"


def status_rows(data: BenchmarkData, costs: pd.DataFrame) -> list[dict]:
    """Return per phase: distinct values planned, done, left and the estimated seconds left.

    The estimate sums the median measured seconds of each remaining task's
    method and step count on the machine that computed the latest value. A
    method never measured there is scaled from another machine by the two
    machines' retrain times. The estimate is None when that fails too.
    Retrain tasks of the empty and full coalitions count 0 s, because they
    load a model.
    """
    if data.plan.empty:
        return []
    done = set(data.coalitions["eval_key"])
    machine = data.latest_machine
    rows = []
    for phase in dict.fromkeys(data.plan["phase"]):
        tasks = data.plan[data.plan["phase"] == phase].drop_duplicates("eval_key")
        left = tasks[~tasks["eval_key"].isin(done)]
        seconds = 0.0
        for _, task in left.iterrows():
            if task["method"] == "retrain" and not ("0" in task["coalition"] and "1" in task["coalition"]):
                continue
            measured = _seconds_on(costs, machine, task["method"], task["finetune_steps"])
            if measured is None:
                seconds = None
                break
            seconds += measured
        rows.append({"phase": phase, "planned": len(tasks), "done": len(tasks) - len(left), "left": len(left), "seconds_left": seconds})
    return rows


def _seconds_on(costs: pd.DataFrame, machine: str | None, method: str, steps: int | None) -> float | None:
    """Return the median seconds of one coalition on `machine`, scaled from another machine's ratio to its retrain when needed."""
    measured = method_seconds(costs, machine, method, steps)
    if measured is not None:
        return measured
    other = cost_machine(costs, method, steps, machine)
    unit = unit_seconds(costs, machine)
    if other is None or unit is None:
        return None
    return method_seconds(costs, other, method, steps) / unit_seconds(costs, other) * unit


class _GameContext:
    """The inputs of one game's estimators: value lookup, boundary values and costs."""

    def __init__(self, data, all_games, costs, method, steps, v_empty):
        self.data = data
        self.games = all_games
        self.method = method
        self.steps = steps
        self.v_empty = v_empty
        full = "1" * data.num_contributors
        own = all_games.get((method, steps))
        retrain = all_games[("retrain", None)]
        self.v_full = own.values.get(full) if own is not None and full in own.values else retrain.values.get(full)
        machine = cost_machine(costs, "retrain" if method == "retrain" else method, steps, data.primary_machine)
        self.unit = unit_seconds(costs, machine)
        self.coalition_seconds = method_seconds(costs, machine, method, steps)
        self.base_cost = self._base_cost()

    def value(self, row) -> float | None:
        game = self.games.get((row["method"], row["finetune_steps"]))
        return None if game is None else game.values.get(row["coalition"])

    def cost(self, distinct_coalitions: int) -> float | None:
        if self.base_cost is None or self.coalition_seconds is None:
            return None
        return self.base_cost + distinct_coalitions * self.coalition_seconds / self.unit

    def _base_cost(self) -> float | None:
        """`θ*` as one unit, plus the pruned fine-tune for sFT and the method's own `v(N)` for sFT and FT."""
        if self.unit is None:
            return None
        base = 1.0
        if self.method == "sft":
            prune = self.data.stages[self.data.stages["stage"] == "prune"] if not self.data.stages.empty else self.data.stages
            if prune.empty:
                return None
            base += float(prune["seconds"].iloc[-1]) / self.unit
        if self.method != "retrain":
            if self.coalition_seconds is None:
                return None
            base += self.coalition_seconds / self.unit
        return base


def _kernel_estimate(context: _GameContext, kernel: pd.DataFrame, truth: dict[float, dict]) -> list[Estimate]:
    values = []
    for _, row in kernel.iterrows():
        value = context.value(row)
        if value is None:
            break
        values.append(value)
    count = len(values) - len(values) % 2
    if count < 2:
        return []
    coalitions = np.stack([bits_to_coalition(bits) for bits in kernel["coalition"].iloc[:count]])
    values = np.array(values[:count])
    solve = partial(kernel_shap, v_empty=context.v_empty, v_full=context.v_full, paired=True, uncertainty="none")
    try:
        scores = solve(coalitions, values).values
    except ValueError as error:
        logger.info("KernelSHAP of %s on %d coalitions is not determined yet: %s", context.method, count, error)
        return []

    first_seen = _first_occurrences(kernel["coalition"].iloc[:count])
    estimate = Estimate("KernelSHAP", context.method, context.steps, count + 2, scores, context.cost(int(first_seen.sum())))
    if context.cost(0) is not None:
        row_costs = first_seen * context.coalition_seconds / context.unit
        sizes = [size for size in (8, 16, 32, 64, 128, 256, 512) if size < count] + [count]
        for alpha, info in truth.items():
            if info["sets"]:
                estimate.curve[alpha] = lds_budget_curve(
                    coalitions, values, info["sets"], estimate=solve, prefix_sizes=sizes, coalition_cost=row_costs, base_cost=context.base_cost
                )
    return [estimate]


def _loo_estimate(context: _GameContext, loo: pd.DataFrame) -> list[Estimate]:
    if loo.empty:
        return []
    values = [context.value(row) for _, row in loo.iterrows()]
    if any(value is None for value in values):
        return []
    coalitions = np.stack([bits_to_coalition(bits) for bits in loo["coalition"]])
    result = leave_one_out(coalitions, np.array(values), context.v_full)
    cost = context.cost(int(_first_occurrences(loo["coalition"]).sum()))
    return [Estimate("LOO", context.method, context.steps, len(values) + 1, result.values, cost)]


def _banzhaf_estimate(context: _GameContext, uniform: pd.DataFrame) -> list[Estimate]:
    """Banzhaf MSR on the longest evaluated prefix of the uniform sample (any prefix of it is uniform)."""
    evaluated = []
    for _, row in uniform.iterrows():
        value = context.value(row)
        if value is None:
            break
        evaluated.append((row["coalition"], value))
    if not evaluated:
        return []
    coalitions = np.stack([bits_to_coalition(bits) for bits, _ in evaluated])
    try:
        result = banzhaf_msr(coalitions, np.array([value for _, value in evaluated]))
    except ValueError as error:
        logger.info("Banzhaf of %s is not determined yet: %s", context.method, error)
        return []
    cost = context.cost(int(_first_occurrences(pd.Series([bits for bits, _ in evaluated])).sum()))
    return [Estimate("Banzhaf", context.method, context.steps, len(evaluated), result.values, cost)]


def _baseline_estimates(data: BenchmarkData, costs: pd.DataFrame) -> list[Estimate]:
    if data.baselines.empty:
        return []
    unit = unit_seconds(costs, data.primary_machine)
    result = []
    for name, rows in data.baselines.groupby("baseline", sort=True):
        newest = rows[rows["digest"] == rows.sort_values("finished_at")["digest"].iloc[-1]]
        newest = newest.drop_duplicates("contributor_index", keep="last").sort_values("contributor_index")
        if len(newest) != data.num_contributors:
            continue
        seconds = newest["seconds"].iloc[0]
        cost = None if unit is None or pd.isna(seconds) else 1.0 + float(seconds) / unit
        result.append(Estimate(name, "baseline", None, 0, newest["score"].to_numpy(dtype=float), cost))
    return result


def _first_occurrences(coalitions: pd.Series) -> np.ndarray:
    return (~pd.Series(list(coalitions)).duplicated()).to_numpy(dtype=float)


def _optional_int(column: pd.Series) -> pd.Series:
    values = [None if pd.isna(value) or value == "" else int(float(value)) for value in column]
    return pd.Series(values, index=column.index, dtype=object)


def _read_optional(path: Path, study: str, dtype: dict | None = None) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    frame = _read_csv(path, dtype)
    return frame[frame["study"] == study].copy() if "study" in frame else pd.DataFrame()


def _read_csv(path: Path, dtype: dict | None) -> pd.DataFrame:
    """Read a results CSV, leaving out a partial last line that a killed runner left (the file is not changed)."""
    text = path.read_text()
    if text and not text.endswith("\n"):
        cut = text.rfind("\n") + 1
        logger.warning("Left out a partial last line of %s (%d characters); the next run.py start removes it.", path, len(text) - cut)
        text = text[:cut]
    return pd.read_csv(io.StringIO(text), dtype=dtype)
