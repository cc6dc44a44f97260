"""The result object every estimator returns.

A `ValuationResult` carries the values, their standard errors when the
estimator has them, the estimator name, how many coalitions went in and the
convergence status::

    result = kernel_shap(coalitions, values, v_empty=v0, v_full=v1, num_batches=4)
    result.values            # float64 [n], one score per contributor
    result.std               # float64 [n] or None
    result.converged         # max std / (max β − min β) < threshold, or None
    result.write_csv("attribution.csv", contributors)   # contributor,score,std
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ValuationResult"]


@dataclass(frozen=True)
class ValuationResult:
    """Scores of the contributors, in the study's contributor order.

    Attributes:
        values: float64 `[n]`, the score of each contributor (Shapley value,
            Banzhaf value or leave-one-out difference).
        std: float64 `[n]`, the standard error of each score, or None when the
            estimator gives none (exact values, leave-one-out, `uncertainty="none"`).
        estimator: `kernelshap`, `exact_shapley`, `exact_banzhaf`, `banzhaf_msr` or `loo`.
        num_coalitions: coalitions the estimate used, empty and full included
            where the estimator reads them.
        converged: whether `max std / (max value − min value) < threshold`;
            None without `std`.
        convergence_ratio: `max std / (max value − min value)`; None without `std`.
        forecast_num_coalitions: coalitions needed for the ratio to fall below
            the threshold, assuming `std ∝ 1/√m`; None without `std`.
        extra: estimator-specific details (e.g. `num_distinct`, `v_empty`).
    """

    values: np.ndarray
    std: np.ndarray | None
    estimator: str
    num_coalitions: int
    converged: bool | None = None
    convergence_ratio: float | None = None
    forecast_num_coalitions: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)

    def ranking(self) -> np.ndarray:
        """Return contributor indices from the highest score to the lowest (ties by index)."""
        return np.argsort(-self.values, kind="stable")

    def to_rows(self, contributors: Sequence[str]) -> list[dict[str, Any]]:
        """Return one `{contributor, score, std}` dict per contributor (`std` None when absent)."""
        if len(contributors) != len(self.values):
            raise ValueError(
                f"Got {len(contributors)} contributor names for {len(self.values)} values; "
                "pass the study's contributor list in the order the coalitions use."
            )
        stds = self.std if self.std is not None else [None] * len(self.values)
        return [
            {"contributor": name, "score": float(score), "std": None if std is None else float(std)}
            for name, score, std in zip(contributors, self.values, stds)
        ]

    def write_csv(self, path: str | Path, contributors: Sequence[str]) -> Path:
        """Write `contributor,score,std` rows (std left empty when absent) and return the path."""
        path = Path(path)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["contributor", "score", "std"])
            writer.writeheader()
            for row in self.to_rows(contributors):
                writer.writerow({**row, "std": "" if row["std"] is None else repr(row["std"])})
        return path
