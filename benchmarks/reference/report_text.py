"""The "Conclusions so far" of the reference report, written from the numbers with cautious wording.

Every sentence is generated from a measured number and states only what
that number supports: a difference counts only when the 95% intervals do
not overlap, and a missing measurement is named as missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from report_analysis import Estimate, method_label, report_alpha, seed_range

__all__ = ["conclusions"]

NOISE_RATIO_HIGH = 0.5
"""Seed std over the spread across coalitions above which one seed cannot rank coalitions reliably."""


def conclusions(lds_rows, fidelity, noise, reliability, costs: pd.DataFrame, estimates: Sequence[Estimate], truth, additive) -> str:
    """Return the conclusions as markdown: a group of bullet points under each question the benchmark answers."""
    # The reliability rows remove the seed offsets and compare same-size coalitions, so they replace the
    # cruder noise ratio of the same game.
    covered = {(row["method"], row["steps"]) for row in reliability}
    noise_only = [row for row in noise if (row["method"], row["steps"]) not in covered]
    groups = {
        "Which method wins, and at which budget": [
            *_lds_findings(lds_rows),
            *_baseline_findings(lds_rows),
            *_additive_findings(additive, lds_rows),
            *_budget_findings(estimates, truth),
            *_cost_findings(costs),
        ],
        "sFT and FT against retraining": [
            *_approximation_findings(lds_rows),
            *_fidelity_findings(fidelity),
            *_approximation_reliability(reliability, fidelity),
            *_noise_findings([row for row in noise_only if row["method"] != "retrain"]),
        ],
        "How far the ground truth can be trusted": [
            *_ceiling_findings(reliability),
            *_noise_findings([row for row in noise_only if row["method"] == "retrain"]),
        ],
        "What to tune next": [_without_prefix(bullet) for bullet in _next_steps(lds_rows, fidelity, noise, additive)],
    }
    if not any(groups.values()):
        return "None yet: the benchmark has no measurements to compare."

    sections = []
    for title, bullets in groups.items():
        if bullets:
            sections.append(f"### {title}\n\n" + "\n".join(f"- {bullet}" for bullet in bullets))
    return "\n\n".join(sections)


def _without_prefix(bullet: str) -> str:
    """Drop the "Next: " that a next step carries outside its own heading."""
    text = bullet.removeprefix("Next: ")
    return text[:1].upper() + text[1:]


def _defined(lds_rows, alpha):
    rows = [r for r in lds_rows if r["alpha"] == alpha and r["lds"] is not None and r["lds"].mean is not None]
    return sorted(rows, key=lambda r: -r["lds"].mean)


def _interval(result) -> str:
    if result.ci_low is None:
        return f"{result.mean:.3f} (one set, no interval)"
    return f"{result.mean:.3f} [{result.ci_low:.3f}, {result.ci_high:.3f}]"


def _separated(first, second) -> bool:
    """Return True when the 95% intervals of two LDS results do not overlap."""
    if first.ci_low is None or second.ci_low is None:
        return False
    return first.ci_low > second.ci_high or second.ci_low > first.ci_high


def _lds_findings(lds_rows) -> list[str]:
    alphas = sorted({row["alpha"] for row in lds_rows})
    if not alphas:
        return ["LDS: not measured yet, because no retrained datamodel set exists."]
    bullets = []
    for alpha in alphas:
        rows = _defined(lds_rows, alpha)
        if not rows:
            bullets.append(f"LDS at α = {alpha:g}: no attribution could be scored yet.")
            continue
        best, sets = rows[0], rows[0]["lds"].num_defined
        text = f"At α = {alpha:g}, the highest LDS is {best['estimate'].label} with {_interval(best['lds'])} over {sets} sets"
        if len(rows) > 1:
            second = rows[1]
            verdict = "its interval does not overlap" if _separated(best["lds"], second["lds"]) else "its interval overlaps"
            text += f"; {verdict} that of the runner-up, {second['estimate'].label} ({_interval(second['lds'])})"
        bullets.append(text + ".")
    return bullets


def _approximation_findings(lds_rows) -> list[str]:
    """Compare sFT and FT KernelSHAP with retrained KernelSHAP at each α."""
    bullets = []
    for alpha in sorted({row["alpha"] for row in lds_rows}):
        rows = _defined(lds_rows, alpha)
        if rows:
            bullets += _against_retrain(rows, alpha)
    return bullets


def _baseline_findings(lds_rows) -> list[str]:
    """Compare the best baseline with the best coalition-based attribution (Shapley, Banzhaf or LOO) at each α."""
    bullets = []
    for alpha in sorted({row["alpha"] for row in lds_rows}):
        rows = _defined(lds_rows, alpha)
        baselines = [row for row in rows if row["estimate"].method == "baseline"]
        coalition_based = [row for row in rows if row["estimate"].method != "baseline"]
        if not baselines or not coalition_based:
            continue
        baseline, attribution = baselines[0], coalition_based[0]
        relation = "apart from" if _separated(baseline["lds"], attribution["lds"]) else "overlapping"
        bullets.append(
            f"The best baseline at α = {alpha:g}, {baseline['estimate'].label}, reaches {_interval(baseline['lds'])}, "
            f"against {_interval(attribution['lds'])} for the best coalition-based attribution, "
            f"{attribution['estimate'].label}: intervals {relation} each other."
        )
    return bullets


def _additive_findings(additive, lds_rows) -> list[str]:
    bullets = []
    for alpha, reference in additive.items():
        if reference.mean is None:
            continue
        text = (
            f"A linear datamodel fitted on the other sets' retrained values reaches LDS {_interval(reference)} at "
            f"α = {alpha:g}"
        )
        best = _defined(lds_rows, alpha)
        if best and _separated(best[0]["lds"], reference):
            relation = "below" if best[0]["lds"].mean < reference.mean else "above"
            text += f", so the best attribution ({best[0]['estimate'].label}) stays {relation} what an additive credit can rank here"
        elif best:
            text += f"; the best attribution ({best[0]['estimate'].label}) is not separated from it"
        bullets.append(text + ".")
    return bullets


def _ceiling_findings(reliability) -> list[str]:
    retrain = next((row for row in reliability if row["method"] == "retrain"), None)
    if retrain is None:
        return []
    if retrain["ceiling"] is None:
        return [
            f"The retrained values vary no more between the {retrain['coalitions']} datamodel coalitions than between "
            f"seeds (σ_w = {retrain['sigma_within']:.4f}, σ_b² estimated at 0), so the LDS ceiling cannot be estimated "
            "yet and any LDS against this ground truth may be chance."
        ]
    return [
        f"The ground truth is the mean of {retrain['mean_seeds']:.1f} seeds per datamodel coalition on average; "
        f"its reliability is {retrain['reliability']:.2f}, so no attribution can reach an LDS much above "
        f"{retrain['ceiling']:.2f} against it. One seed alone has reliability {retrain['reliability_one']:.2f}, with "
        f"σ_w = {retrain['sigma_within']:.4f} between seeds against σ_b = {retrain['sigma_between']:.4f} between coalitions."
    ]


def _approximation_reliability(reliability, fidelity) -> list[str]:
    """Describe the seed noise of each fine-tuned game on the datamodel coalitions, and check it against its fidelity."""
    retrain = next((row for row in reliability if row["method"] == "retrain"), None)
    bullets = []
    for row in reliability:
        if row["method"] == "retrain" or not row["sigma_between"]:
            continue
        label = method_label(row["method"], row["steps"])
        text = (
            f"{label} on the {row['coalitions']} datamodel coalitions: the seed std σ_w = {row['sigma_within']:.4f} is "
            f"{row['sigma_within'] / row['sigma_between']:.1f} times the std between coalitions σ_b = {row['sigma_between']:.4f}, "
            f"so one fine-tuning seed has reliability {row['reliability_one']:.2f} and the mean of "
            f"{row['mean_seeds']:.1f} seeds {row['reliability']:.2f}."
        )
        match = next((r for r in fidelity if (r["method"], r["steps"]) == (row["method"], row["steps"])), None)
        if retrain and retrain["ceiling"] and match and match.get("same_size_low") is not None:
            bound = (row["reliability"] * retrain["reliability"]) ** 0.5
            if match["same_size_low"] > bound:
                text += (
                    f" Its same-size Pearson with retrained values ({match['same_size_pearson']:.2f}, lower bound "
                    f"{match['same_size_low']:.2f}) exceeds the {bound:.2f} that both reliabilities allow, so the variance "
                    "split rests on too few coalitions to be read closely."
                )
            elif match["same_size_pearson"] > bound:
                text += (
                    f" Its same-size Pearson with retrained values ({match['same_size_pearson']:.2f}) is above the "
                    f"{bound:.2f} that both reliabilities allow, but within its interval, so both estimates are uncertain."
                )
        bullets.append(text)
    return bullets


def _against_retrain(rows, alpha) -> list[str]:
    """Compare the best KernelSHAP of sFT, and of FT, with retrained KernelSHAP; `rows` are sorted by LDS."""
    kernel = [row for row in rows if row["estimate"].estimator == "KernelSHAP"]
    retrain = [row for row in kernel if row["estimate"].method == "retrain"]
    bullets = []
    for method, name in (("sft", "sFT"), ("ft", "FT")):
        approximations = [row for row in kernel if row["estimate"].method == method]
        if not approximations and method == "ft":
            continue
        if not retrain or not approximations:
            missing = "retrained KernelSHAP" if not retrain else f"{name} KernelSHAP"
            bullets.append(f"{name} against retraining at α = {alpha:g}: {missing} is not measured yet.")
            continue
        reference, best = retrain[0], approximations[0]
        label = method_label(method, best["estimate"].steps)
        numbers = f"{best['lds'].mean:.3f} against {reference['lds'].mean:.3f}"
        if _separated(best["lds"], reference["lds"]):
            relation = "falls short of" if best["lds"].mean < reference["lds"].mean else "exceeds"
            bullets.append(f"{name} KernelSHAP ({label}) {relation} retrained KernelSHAP at α = {alpha:g}: {numbers}, with intervals apart.")
        else:
            bullets.append(
                f"{name} KernelSHAP ({label}) and retrained KernelSHAP are not separated at α = {alpha:g}: {numbers}, "
                "overlapping intervals; more datamodel sets or coalitions would be needed to tell them apart."
            )
    return bullets


def _budget_findings(estimates: Sequence[Estimate], truth) -> list[str]:
    alpha = report_alpha(truth)
    points = [
        (point.cost, point.lds.mean, estimate.label, point.num_coalitions)
        for estimate in estimates
        for point in estimate.curve.get(alpha, [])
        if point.lds is not None and point.lds.mean is not None
    ]
    if not points:
        return []
    retrain = [p[0] for p in points if p[2].endswith("retrain")]
    finetuned = [p[0] for p in points if not p[2].endswith("retrain")]
    levels = {}
    if finetuned:
        levels.setdefault(max(finetuned), "the costliest fine-tuned point")
    if retrain:
        levels.setdefault(min(retrain), "the cheapest retrained point that KernelSHAP determines")
    levels.setdefault(max(p[0] for p in points), "the costliest point")
    bullets = []
    for level, source in sorted(levels.items()):
        affordable = [p for p in points if p[0] <= level + 1e-9]
        cost, lds, label, count = max(affordable, key=lambda p: p[1])
        bullets.append(
            f"Within a budget of {level:.1f} units ({source}, α = {alpha:g}), the best measured KernelSHAP point is "
            f"{label} on {count} coalitions (LDS {lds:.3f} at {cost:.1f} units). A single budget point carries "
            "no interval."
        )
    return bullets


def _cost_findings(costs: pd.DataFrame) -> list[str]:
    if costs.empty:
        return []
    bullets = []
    for machine, rows in costs.groupby("machine"):
        fine_tuned = rows[(rows["method"] != "retrain") & rows["speedup"].notna()]
        if fine_tuned.empty:
            continue
        parts = [f"{method_label(r['method'], r['steps'])} {r['speedup']:.1f}×" for _, r in fine_tuned.iterrows()]
        bullets.append(f"Per coalition, against retraining on `{machine}`: " + ", ".join(parts) + " cheaper (median time per coalition).")
    return bullets


def _fidelity_findings(fidelity) -> list[str]:
    bullets = []
    for method in ("sft", "ft"):
        rows = sorted((r for r in fidelity if r["method"] == method and r["pearson"] is not None), key=lambda r: r["steps"])
        if not rows:
            continue
        series = ", ".join(f"{_pearson_text(r)} at {r['steps']} steps ({r['coalitions']} coalitions)" for r in rows)
        name = method_label(method, 0).split()[0]
        if len(rows) == 1:
            bullets.append(f"{name} values correlate with retrained ones at Pearson {series}.")
            continue
        steps = ", ".join(_step_change(a, b) for a, b in zip(rows, rows[1:]))
        bullets.append(f"The Pearson correlation of {name} with retrained values is {series}. Between step counts, {steps}.")
    same_size = [r for r in fidelity if r.get("same_size_pearson") is not None]
    if same_size:
        series = ", ".join(
            f"{method_label(r['method'], r['steps'])} {_interval_text(r['same_size_pearson'], r['same_size_low'], r['same_size_high'])}"
            for r in same_size
        )
        bullets.append(
            f"On the {same_size[0]['same_size_coalitions']} datamodel coalitions alone, which all have the same size, "
            f"the Pearson correlation with retrained values is {series}. Size cannot explain these, so they show "
            "how well each method ranks coalitions by which contributors they hold."
        )
    return bullets


def _step_change(low, high) -> str:
    """Describe how the Pearson correlation changes between two step counts, counting only separated intervals."""
    span = f"from {low['steps']} to {high['steps']} steps"
    change = _fidelity_rises([low, high])
    if change is None:
        return f"{span} the 95% intervals overlap"
    return f"{span} it {'rises' if change else 'falls'} (intervals apart)"


def _pearson_text(row) -> str:
    return _interval_text(row["pearson"], row["pearson_low"], row["pearson_high"])


def _interval_text(value: float, low: float | None, high: float | None) -> str:
    return f"{value:.2f}" if low is None else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _fidelity_rises(rows) -> bool | None:
    """Return whether fidelity rises from each step count to the next; None when some neighbours' intervals overlap."""
    pairs = list(zip(rows, rows[1:]))
    if any(a["pearson_low"] is None or b["pearson_low"] is None for a, b in pairs):
        return None
    if any(a["pearson_high"] >= b["pearson_low"] and b["pearson_high"] >= a["pearson_low"] for a, b in pairs):
        return None
    return all(b["pearson"] > a["pearson"] for a, b in pairs)


def _noise_findings(noise) -> list[str]:
    bullets = []
    for row in noise:
        if not row["spread"]:
            continue
        ratio = row["mean_std"] / row["spread"]
        label = method_label(row["method"], row["steps"])
        measured = f"the seed std ({row['mean_std']:.4f}, {row['coalitions']} coalitions with {seed_range(row)} seeds each)"
        if ratio > NOISE_RATIO_HIGH:
            bullets.append(f"{label}: {measured} is {ratio:.2f} times the spread across coalitions, so a single seed ranks coalitions poorly.")
        else:
            bullets.append(
                f"{label}: {measured} is {ratio:.2f} times the spread across coalitions, so single-seed values can rank "
                "coalitions. The reliability table weighs this with more coalitions."
            )
    return bullets


def _next_steps(lds_rows, fidelity, noise, additive) -> list[str]:
    bullets = []
    gap = _attribution_gap(lds_rows, additive)
    if gap:
        # The sFT noise, not the ground truth's, is then the next target.
        return [gap, *_sft_noise_next(noise)]
    retrain_noise = next((r for r in noise if r["method"] == "retrain" and r["spread"]), None)
    if retrain_noise and retrain_noise["mean_std"] / retrain_noise["spread"] > NOISE_RATIO_HIGH:
        bullets.append(
            "Next: the ground truth is noisy, so more seeds per datamodel coalition (or a longer `training.steps`) "
            "would sharpen the LDS more than more coalitions."
        )
    step_finding = _steps_next(fidelity)
    if step_finding:
        bullets.append(step_finding)
    return bullets


def _steps_next(fidelity) -> str | None:
    """Return the next step that the sFT fidelity across step counts points to, or None with fewer than 2 counts.

    The LDS at one α compares coalitions of one size. So the same-size
    series is read when every step count has it, else the all-coalition one.
    """
    rows = sorted((r for r in fidelity if r["method"] == "sft" and r["pearson"] is not None), key=lambda r: r["steps"])
    if len(rows) < 2:
        return None
    same_size = all(r.get("same_size_pearson") is not None and r.get("same_size_low") is not None for r in rows)
    if same_size:
        value, low, high, series = "same_size_pearson", "same_size_low", "same_size_high", "on same-size coalitions"
    else:
        value, low, high, series = "pearson", "pearson_low", "pearson_high", "on all coalitions"

    best = max(rows, key=lambda r: r[value])
    below = [r["steps"] for r in rows if r is not best and r[low] is not None and best[low] is not None and r[high] < best[low]]
    text = _interval_text(best[value], best[low], best[high])
    steps = " and ".join(", ".join(str(step) for step in below).rsplit(", ", 1))
    if not below:
        return (
            f"Next: the sFT fidelity {series} is not told apart between step counts (best {text} at {best['steps']} "
            "steps), so more coalitions both retrained and fine-tuned would narrow the intervals before a sweep of "
            "`finetune.steps`."
        )
    if best is rows[-1]:
        return (
            f"Next: the sFT fidelity {series} is highest at the most steps measured, {best['steps']} ({text}), "
            f"above {steps} steps, so a sweep of `finetune.steps` beyond that (and of `pruning.ratio`) against LDS "
            "under the compute budget is the next tuning target."
        )
    return (
        f"Next: the sFT fidelity {series} peaks at {best['steps']} steps ({text}), with intervals apart from "
        f"{steps} steps. A sweep should therefore keep `finetune.steps` near {best['steps']} and tune "
        "`pruning.ratio` and the fine-tuning learning rate against LDS under the compute budget."
    )


def _attribution_gap(lds_rows, additive) -> str | None:
    """Return a next step when the best attribution's LDS is below the interval of what an additive credit ranks, else None."""
    for alpha, reference in additive.items():
        best = _defined(lds_rows, alpha)
        if reference.ci_low is None or not best or best[0]["lds"].mean >= reference.ci_low:
            continue
        lds = best[0]["lds"]
        if _separated(lds, reference):
            return (
                f"Next: an additive credit can rank this ground truth (linear datamodel LDS {reference.mean:.2f} at "
                f"α = {alpha:g}, best attribution {lds.mean:.2f}, intervals apart), so the gap lies in the attributions, "
                "not in the noise of the retrained values."
            )
        return (
            f"Next: the best attribution's LDS ({lds.mean:.2f} at α = {alpha:g}) is below the interval of the linear "
            f"datamodel ([{reference.ci_low:.2f}, {reference.ci_high:.2f}]), but its own interval overlaps it; more "
            "datamodel sets would tell whether the attributions fall short or the retrained values are too noisy."
        )
    return None


def _sft_noise_next(noise) -> list[str]:
    rows = [r for r in noise if r["method"] == "sft" and r["spread"] and r["mean_std"] / r["spread"] > NOISE_RATIO_HIGH]
    if not rows:
        return []
    row = rows[-1]
    return [
        f"Next: sFT values at {row['steps']} steps vary between fine-tuning seeds {row['mean_std'] / row['spread']:.2f} "
        "times as much as between coalitions, so a sweep should tune `finetune.steps` together with "
        "`pruning.ratio` (and average fine-tuning seeds), scored by LDS under the compute budget."
    ]
