"""How far a coalition value moves when another machine computes it again (`rechecks.csv` from `recheck.py`).

A value's change `Δ = value − stored value` has two sources: the models
(`θ*`, `θ̃*` and the study classifier, which each session trained itself
before they were pinned) and the arithmetic of the machine's instruction
set. The report sets the spread of Δ against the spread of the method's
values between coalitions: when the two are alike, values from the two
machines measure different games and must not be mixed in one estimate.
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
        `mean_change`, `rms_change` (root mean square of Δ), `max_change` (largest |Δ|), `pearson`
        (stored against rechecked, None below 3 values), `sd_between` (the
        standard deviation of the method's values over the coalitions that
        are neither empty nor full) and `ratio` (`rms_change / sd_between`).
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
        rms_change = float(np.sqrt(np.mean(changes**2)))
        sd_between = _spread_between(coalitions, method, steps)
        rows.append(
            {
                "method": method,
                "steps": steps,
                "stored_machine": stored_machine,
                "machine": machine,
                "values": len(group),
                "mean_change": float(changes.mean()),
                "rms_change": rms_change,
                "max_change": float(np.abs(changes).max()),
                "pearson": _pearson(group["stored_value"].astype(float), group["value"].astype(float)),
                "sd_between": sd_between,
                "ratio": rms_change / sd_between if sd_between else None,
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
