"""How much of a game's spread between coalitions is signal, and what that caps.

A coalition value from one seed is the coalition's true value, plus an
offset that the seed gives every coalition alike, plus seed noise. Seed `k`
is the same seed for every coalition, and its offset is real: at 60 steps,
sFT's third fine-tuning seed scores all 42 datamodel coalitions about 0.02
lower. An offset shared by all coalitions cannot change their ranking, so
it is fitted and removed: `value = coalition effect + seed offset + noise`,
by least squares over every value of the game. Across the datamodel
coalitions (the population every LDS set is drawn from) the split is then

    var(coalition effect from k seeds) = σ_b² + σ_w² / k,

with σ_w² the residual variance of that fit and σ_b² the variance of the
true values between coalitions. The reliability of a k-seed
value is `R_k = σ_b² / (σ_b² + σ_w² / k)`, and `√R_k` bounds the correlation
that even the exact values can reach with such noisy ones. So `√R` of the
retrained ground truth is the ceiling an LDS should be read against (the
bound is for Pearson; Spearman behaves alike for values this close to normal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from report_analysis import Game, GameId, pooled_within_variance, seed_adjusted

__all__ = ["reliability_rows"]


def reliability_rows(all_games: Mapping[GameId, Game], datamodel_coalitions: Iterable[str]) -> list[dict]:
    """Return the variance split and reliability of each game over the datamodel coalitions.

    Args:
        all_games: the games of the report.
        datamodel_coalitions: the planned datamodel coalitions of one α.

    Returns:
        One row per game with seed replicates and at least 3 evaluated
        datamodel coalitions: `coalitions`, `replicated` (the coalitions with
        2 or more seeds that σ_w pools), `mean_seeds`, `sigma_within`,
        `sigma_between`, `reliability_one` (one seed), `reliability`
        (the seeds as measured) and `ceiling` (`√reliability`, None when the
        estimate of σ_b² is not positive).
    """
    population = list(dict.fromkeys(datamodel_coalitions))
    rows = []
    for (method, steps), game in sorted(all_games.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        if game.seed_values:
            within, effects = seed_adjusted(game.seed_values)
        else:
            within, effects = pooled_within_variance(game.seeds.values()), game.values
        members = [bits for bits in population if bits in effects]
        if within is None or len(members) < 3:
            continue

        means = np.array([effects[bits] for bits in members])
        counts = np.array([len(game.seeds[bits]) for bits in members], dtype=float)
        between = max(0.0, float(np.var(means, ddof=1)) - within * float(np.mean(1.0 / counts)))

        mean_seeds = float(np.mean(counts))
        reliability = _reliability(between, within, mean_seeds)
        rows.append(
            {
                "method": method,
                "steps": steps,
                "coalitions": len(members),
                "replicated": sum(1 for values in game.seeds.values() if len(values) >= 2),
                "mean_seeds": mean_seeds,
                "sigma_within": within**0.5,
                "sigma_between": between**0.5,
                "reliability_one": _reliability(between, within, 1.0),
                "reliability": reliability,
                # With no spread left above the seed noise, this sample cannot distinguish the ceiling from 0.
                "ceiling": reliability**0.5 if between > 0 else None,
            }
        )
    return rows


def _reliability(between: float, within: float, seeds: float) -> float:
    total = between + within / seeds
    return between / total if total > 0 else 0.0
