"""How far a coalition value moves when another machine computes it again (`rechecks.csv` from `recheck.py`).

A value's change `Δ = value − stored value` has two sources: the models
(`θ*`, `θ̃*` and the study classifier, which each session trained itself
before they were pinned) and the arithmetic of the machine's instruction
set. The mean of Δ is an offset shared by one machine's values. It cancels
in a game computed on one machine, but not in a game that mixes machines.
The spread of Δ around that mean is noise that no grouping removes, and the
report sets it against the spread of the method's values between coalitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["recheck_rows"]


def recheck_rows(rechecks: pd.DataFrame, coalitions: pd.DataFrame) -> list[dict]:
    """Return one row per (method, steps, stored machine, recheck machine) with the size of the changes.

    Args:
        rechecks: `rechecks.csv` rows of the study.
        coalitions: `coalitions.csv` rows of the study, for the spread between coalitions.

    Returns:
        Rows with `method`, `steps`, `stored_machine`, `machine`, `values`,
        `mean_change`, `sd_change` (None below 2 values), `max_change` (largest |Δ|), `pearson`
        (stored against rechecked, None below 3 values), `sd_between` (the
        standard deviation of the method's values over the coalitions that
        are neither empty nor full) and `ratio` (`sd_change / sd_between`).
    """
    if rechecks.empty:
        return []
    frame = rechecks.copy()
    frame["steps"] = pd.to_numeric(frame["finetune_steps"], errors="coerce")
    frame["change"] = frame["value"].astype(float) - frame["stored_value"].astype(float)

    rows = []
    for (method, steps, stored_machine, machine), group in frame.groupby(
        ["method", "steps", "stored_machine", "machine"], dropna=False, sort=True
    ):
        steps = None if pd.isna(steps) else int(steps)
        changes = group["change"].to_numpy()
        sd_change = float(np.std(changes, ddof=1)) if len(changes) >= 2 else None
        sd_between = _spread_between(coalitions, method, steps)
        rows.append(
            {
                "method": method,
                "steps": steps,
                "stored_machine": stored_machine,
                "machine": machine,
                "values": len(group),
                "mean_change": float(changes.mean()),
                "sd_change": sd_change,
                "max_change": float(np.abs(changes).max()),
                "pearson": _pearson(group["stored_value"].astype(float), group["value"].astype(float)),
                "sd_between": sd_between,
                "ratio": sd_change / sd_between if sd_change is not None and sd_between else None,
            }
        )
    return rows


def _spread_between(coalitions: pd.DataFrame, method: str, steps: int | None) -> float | None:
    rows = coalitions[(coalitions["method"] == method) & (coalitions["settings"] == coalitions["game_key"])]
    if steps is not None:
        rows = rows[rows["finetune_steps"] == steps]
    inner = rows[rows["coalition"].str.contains("0") & rows["coalition"].str.contains("1")]
    return float(inner["value"].std(ddof=1)) if len(inner) >= 2 else None


def _pearson(stored: pd.Series, rechecked: pd.Series) -> float | None:
    if len(stored) < 3 or stored.std() == 0 or rechecked.std() == 0:
        return None
    return float(np.corrcoef(stored, rechecked)[0, 1])
