"""Rebuild the reference benchmark's README.md and plots from its CSV files alone.

    python benchmarks/reference/report.py [--results DIR] [--output DIR] [--study NAME]

Reads `coalitions.csv`, `plan.csv`, `stages.csv` and `baselines.csv`; needs
no run store and no model. Parts without data show "not measured yet".
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

REFERENCE_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(REFERENCE_DIR))

import report_analysis as analysis  # noqa: E402
from coalition_log import format_duration  # noqa: E402
from report_recheck import recheck_rows  # noqa: E402
from report_reliability import reliability_rows  # noqa: E402
from report_text import conclusions  # noqa: E402

logger = logging.getLogger("reference.report")

NOT_MEASURED = "not measured yet"
NOISE_ROWS_SHOWN = 10

DEVICE_COMMAND = (
    "cp -r benchmarks/reference/results $OUT/ && python benchmarks/reference/run.py --device cuda "
    "--results $OUT/results --max-minutes 8 --no-progress"
)

RUN_COMMAND = (
    "for worker in 1 2; do nohup nice -n 19 python benchmarks/reference/run.py --config {config} "
    "--threads 1 --no-progress > reference-$worker.log 2>&1 & done"
)
DEFAULT_STUDY = "cifar10-mini"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(REFERENCE_DIR / "results"), help="Folder of the CSV files.")
    parser.add_argument("--output", default=str(REFERENCE_DIR), help="Folder for README.md and the PNG plots; default %(default)s, the committed report.")
    parser.add_argument("--study", default=None, help="Study to report (default: the one with the most coalition rows).")
    args = parser.parse_args(argv)

    results = Path(args.results)
    if not results.is_dir():
        raise SystemExit(f"--results {results} is not a folder; pass the folder of coalitions.csv (default {REFERENCE_DIR / 'results'}).")
    output = Path(args.output)
    coalitions = results / "coalitions.csv"
    if not coalitions.exists() or len(coalitions.read_text().splitlines()) < 2:
        logger.info("%s has no values yet; writing the empty report.", coalitions)
        output.mkdir(parents=True, exist_ok=True)
        text = empty_report()
    else:
        try:
            data = analysis.load_results(results, args.study)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        output.mkdir(parents=True, exist_ok=True)
        text = build_report(data, output)
    (output / "README.md").write_text(text)
    logger.info("Wrote %s", output / "README.md")
    return 0


def build_report(data: analysis.BenchmarkData, output: Path) -> str:
    """Compute every table and plot and return the README text."""
    games = analysis.games(data)
    truth = analysis.datamodel_sets(data, games.get(("retrain", None)))
    costs = analysis.cost_table(data)
    estimates = analysis.estimates(data, games, truth, costs)
    lds = analysis.lds_rows(estimates, truth)
    additive = analysis.additive_references(truth)
    alpha = analysis.report_alpha(truth)
    fidelity = analysis.fidelity_rows(games, data.num_contributors, _datamodel_coalitions(data, alpha))
    noise = analysis.noise_rows(games)
    reliability = reliability_rows(games, _datamodel_coalitions(data, alpha))
    status = analysis.status_rows(data, costs)

    plots = {
        "budget": _plot_budget(estimates, truth, output / "lds_budget.png"),
        "fidelity": _plot_fidelity(fidelity, output / "sft_fidelity.png"),
    }
    sections = [
        _header(data),
        _status_section(data, truth, status),
        "## Conclusions so far\n\n" + conclusions(lds, fidelity, noise, reliability, costs, estimates, truth, additive),
        _lds_section(lds, truth, additive),
        _cost_section(costs),
        _budget_section(estimates, plots["budget"]),
        _fidelity_section(fidelity, plots["fidelity"], alpha),
        _noise_section(noise, reliability, alpha),
        _machines_section(data, recheck_rows(data.rechecks, data.coalitions)),
    ]
    return "\n\n".join(sections).rstrip() + "\n"


def empty_report() -> str:
    """Return the README of a benchmark that has no coalition value yet."""
    sections = [
        "# Reference benchmark: sFT Shapley credit against retraining",
        "Does Shapley credit from sparsified fine-tuning (sFT) rank coalitions as well as Shapley credit from "
        "retraining, and at what cost? Every attribution is scored by LDS against coalitions retrained from scratch.",
        f"Run or resume (hours on 2 CPU cores): `{run_command(DEFAULT_STUDY)}`\n\n"
        "Rebuild this page from the CSV files in `results/`: `python benchmarks/reference/report.py`",
        f"## Status\n\nNo coalition value yet: the ground truth, every LDS, the costs, the sFT fidelity and the seed-noise floor are {NOT_MEASURED}.",
    ]
    return "\n\n".join(sections) + "\n"


def run_command(study: str) -> str:
    """Return the command that runs or resumes the benchmark of `study`, naming its config when `configs/` has one."""
    config = Path("configs") / f"{study}.yaml"
    if not (REFERENCE_DIR.parents[1] / config).is_file():
        config = f"<config of study {study}>"
    return RUN_COMMAND.format(config=config)


def _header(data: analysis.BenchmarkData) -> str:
    machines = sorted(set(data.coalitions["machine"].dropna()))
    lines = [
        "# Reference benchmark: sFT Shapley credit against retraining",
        "",
        "Does Shapley credit from sparsified fine-tuning (sFT) rank coalitions as well as Shapley credit from "
        "retraining, and at what cost? Every attribution is scored by LDS against coalitions retrained from "
        f"scratch. Study `{data.study}`, {data.num_contributors} contributors.",
        "",
        f"Run or resume (hours on 2 CPU cores; one process per core, they split the coalitions): `{run_command(data.study)}`",
        "",
        "Rebuild this page from the CSV files in `results/`: `python benchmarks/reference/report.py`",
        "",
        f"On a GPU machine with the package installed, where `$OUT` is a folder that you copy back: `{DEVICE_COMMAND}`; back here, "
        "`python benchmarks/reference/merge_results.py <that results folder>` appends the values that are new.",
        "",
        "Machines: " + ("; ".join(f"`{machine}`" for machine in machines) or NOT_MEASURED) + ".",
        "",
        "How values are combined: a coalition evaluated with several seeds (the noise, sft-seeds and datamodel-seeds "
        "phases) counts with the mean over its seeds, both as ground truth and as estimator input. A seed shifts "
        "every coalition alike, so each seed's offset against the config's seed is fitted over the game and removed "
        "before averaging. `v(∅)` is the untrained model; `v(N)` is `θ*` for retraining and the method's own "
        "full-coalition run for sFT and FT.",
    ]
    if data.other_studies:
        lines += ["", f"The CSV files also hold studies {', '.join(data.other_studies)}; run with `--study` to report them."]
    return "\n".join(lines)


def _status_section(data, truth, status) -> str:
    lines = ["## Status", ""]
    if not truth:
        lines.append(f"Ground truth (retrained datamodel coalitions): {NOT_MEASURED}.")
    for alpha, info in sorted(truth.items()):
        seeds = ", ".join(f"{count} with {num_seeds} seed{'s' if num_seeds > 1 else ''}" for num_seeds, count in info["seeds"].items())
        lines.append(
            f"- Ground truth α = {alpha:g}: {info['evaluated']} of {info['planned']} distinct datamodel coalitions retrained "
            f"({seeds or 'none yet'}); {len(info['sets'])} sets have the {analysis.MIN_SET_COALITIONS} coalitions "
            "(or all, for a smaller set) a set needs to enter the LDS."
        )
    if not status:
        lines += ["", f"Plan: {NOT_MEASURED} (no plan.csv)."]
        return "\n".join(lines)
    lines += ["", "| phase | values planned | done | left | estimated time left |", "|---|---|---|---|---|"]
    total, known, measured = 0.0, True, False
    for row in status:
        if row["seconds_left"] is None:
            estimate, known = "unknown (a method in it was never measured)", False
        else:
            estimate = format_duration(row["seconds_left"])
            total += row["seconds_left"]
            measured = True
        lines.append(f"| {row['phase']} | {row['planned']} | {row['done']} | {row['left']} | {estimate} |")
    machine = data.latest_machine or NOT_MEASURED
    if not measured:
        lines += ["", "Estimated time for the rest: unknown until each phase's methods have been measured once."]
        return "\n".join(lines)
    lines += [
        "",
        f"Estimated time for the rest on one runner: {format_duration(total)}{'' if known else ' plus the unmeasured parts'}, "
        f"from the median measured seconds per coalition on `{machine}` (an estimate; values shared between phases "
        "are counted in each, and two runners on two cores take about half as long).",
    ]
    return "\n".join(lines)


def _lds_section(lds_rows, truth, additive) -> str:
    lines = ["## LDS", ""]
    if not truth or not any(info["sets"] for info in truth.values()):
        return "\n".join(lines + [f"LDS of every method: {NOT_MEASURED} (no retrained datamodel set yet)."])
    if not lds_rows:
        return "\n".join(lines + [f"Attributions: {NOT_MEASURED} (no estimator has enough coalition values yet)."])
    lines += [
        "Mean over datamodel sets with a 95% t-interval. *Datamodel coalitions* counts the coalitions of all sets, "
        "a coalition in two sets counted twice; *coalitions* is how many coalition values the estimator read "
        "(boundary values included); *cost* is in units of one retrain plus its inference, and counts each "
        "distinct coalition once.",
        "",
        "| α | attribution | LDS | 95% CI | sets | datamodel coalitions | coalitions | cost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(lds_rows, key=lambda r: (r["alpha"], -(r["lds"].mean if r["lds"] and r["lds"].mean is not None else -9))):
        estimate, result = row["estimate"], row["lds"]
        mean = NOT_MEASURED if result is None or result.mean is None else f"{result.mean:.3f}"
        interval = "" if result is None or result.ci_low is None else f"[{result.ci_low:.3f}, {result.ci_high:.3f}]"
        sets = "" if result is None else f"{result.num_defined}"
        coalitions = estimate.num_coalitions or "—"
        cost = NOT_MEASURED if estimate.cost is None else f"{estimate.cost:.2f}"
        lines.append(
            f"| {row['alpha']:g} | {estimate.label} | {mean} | {interval} | {sets} | {row['datamodel_coalitions']} | {coalitions} | {cost} |"
        )
    measured = {row["estimate"].estimator for row in lds_rows}
    missing = [name for name in ("KernelSHAP", "Banzhaf", "LOO") if name not in measured]
    if missing:
        lines += ["", f"{', '.join(missing)}: {NOT_MEASURED}."]
    if not any(row["estimate"].method == "baseline" for row in lds_rows):
        lines += ["", f"Baselines: {NOT_MEASURED}."]
    lines += _additive_lines(additive)
    return "\n".join(lines)


def _additive_lines(additive) -> list[str]:
    if not additive:
        return []
    lines = [
        "",
        "How additive the ground truth is: a linear datamodel fitted by least squares on the retrained values of the "
        "other sets, scored on each held-out set. It is a reference, not an attribution, because it reads the ground "
        "truth, and it shows what an additive credit learned from that many retrained coalitions ranks.",
        "",
        "| α | linear datamodel LDS | 95% CI | sets |",
        "|---|---|---|---|",
    ]
    for alpha, result in additive.items():
        mean = NOT_MEASURED if result.mean is None else f"{result.mean:.3f}"
        interval = "" if result.ci_low is None else f"[{result.ci_low:.3f}, {result.ci_high:.3f}]"
        lines.append(f"| {alpha:g} | {mean} | {interval} | {len(result.per_set) - result.num_undefined} |")
    return lines


def _cost_section(costs) -> str:
    lines = ["## Cost per coalition", ""]
    if costs.empty:
        return "\n".join(lines + [f"{NOT_MEASURED}."])
    lines += [
        "Seconds per coalition spent training, sampling and computing the property (median over the coalitions "
        "measured, since a coalition that ran beside other work takes longer; retrain rows of the empty and full "
        "coalitions left out, since they load a model). Loading the model and data and logging the run come on top "
        "and are left out here (about a second per coalition on the smoke study). *Speed-up* is retraining's median over the method's, "
        "on the same machine.",
        "",
        "| machine | method | coalitions | train s | sample s | property s | total s | slowest s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in costs.iterrows():
        speedup = "retrain not measured" if row["speedup"] is None or row["speedup"] != row["speedup"] else f"{row['speedup']:.1f}×"
        lines.append(
            f"| {row['machine']} | {analysis.method_label(row['method'], row['steps'])} | {row['coalitions']} | "
            f"{row['train_s']:.1f} | {row['sample_s']:.1f} | {row['property_s']:.1f} | {row['total_s']:.1f} | {row['slowest_s']:.1f} | {speedup} |"
        )
    return "\n".join(lines)


def _budget_section(estimates, plot: Path | None) -> str:
    lines = ["## LDS against compute", ""]
    points = [(e, alpha, p) for e in estimates for alpha, curve in e.curve.items() for p in curve]
    if not points:
        return "\n".join(lines + [f"{NOT_MEASURED} (needs retrained datamodel sets, kernel coalition values and measured costs)."])
    lines += [
        "Cost = `θ*` (one unit) + the pruned fine-tune for sFT + each distinct coalition, in units of one retrain "
        "plus its inference; KernelSHAP on growing prefixes of the paired kernel sample.",
        "",
        "| α | method | coalitions | cost | LDS | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    undetermined = False
    for estimate, alpha, point in points:
        if point.lds is None or point.lds.mean is None:
            lds, interval = f"undetermined ({_short_error(point.error)})" if point.error else "undefined", ""
            undetermined = undetermined or bool(point.error)
        else:
            lds = f"{point.lds.mean:.3f}"
            interval = "" if point.lds.ci_low is None else f"[{point.lds.ci_low:.3f}, {point.lds.ci_high:.3f}]"
        lines.append(f"| {alpha:g} | {estimate.label} | {point.num_coalitions} | {point.cost:.2f} | {lds} | {interval} |")
    if undetermined:
        lines += [
            "",
            "*Undetermined*: the prefix has too few distinct coalitions for KernelSHAP to determine every "
            "contributor's value (the rank of its equations is below the number of contributors).",
        ]
    if plot is not None:
        lines += ["", f"![LDS against compute]({plot.name})"]
    return "\n".join(lines)


def _short_error(error: str) -> str:
    """Shorten an estimator error for a table cell: the rank of a KernelSHAP system, else the first sentence."""
    rank = re.search(r"rank \d+ of \d+", error)
    return rank.group(0) if rank else error.split(". ")[0]


def _fidelity_section(fidelity, plot: Path | None, alpha: float | None) -> str:
    lines = ["## Fidelity of fine-tuned values to retrained ones", ""]
    if not fidelity:
        return "\n".join(lines + [f"{NOT_MEASURED}."])
    lines += [
        "Correlation of each fine-tuning method's coalition values with the retrained values of the same "
        "coalitions (datamodel and kernel coalitions both have; boundary coalitions left out). Coalitions of "
        "different sizes differ in value partly because of their size, so the last two columns repeat the "
        f"Pearson correlation on the datamodel coalitions of α = {alpha if alpha is not None else '—'} alone, "
        "which all have the same size.",
        "",
        "| method | coalitions | Pearson | 95% CI | Spearman | same-size coalitions | same-size Pearson (95% CI) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in fidelity:
        pearson = NOT_MEASURED if row["pearson"] is None else f"{row['pearson']:.3f}"
        interval = "" if row["pearson_low"] is None else f"[{row['pearson_low']:.2f}, {row['pearson_high']:.2f}]"
        spearman = NOT_MEASURED if row["spearman"] is None else f"{row['spearman']:.3f}"
        same_size = _pearson_cell(row["same_size_pearson"], row["same_size_low"], row["same_size_high"])
        lines.append(
            f"| {analysis.method_label(row['method'], row['steps'])} | {row['coalitions']} | {pearson} | {interval} | "
            f"{spearman} | {row['same_size_coalitions']} | {same_size} |"
        )
    if plot is not None:
        lines += ["", f"![Pearson against fine-tuning steps]({plot.name})"]
    return "\n".join(lines)


def _pearson_cell(pearson: float | None, low: float | None, high: float | None) -> str:
    if pearson is None:
        return NOT_MEASURED
    return f"{pearson:.3f}" if low is None else f"{pearson:.3f} [{low:.2f}, {high:.2f}]"


def _machines_section(data: analysis.BenchmarkData, rechecks: list[dict]) -> str:
    lines = ["## Values from different machines", ""]
    if data.pinned:
        first = min(entry["exported_at"] for entry in data.pinned.values())
        machines = sorted({entry["machine"] for entry in data.pinned.values()})
        lines.append(
            f"Since {first}, every session evaluates with the models pinned in `results/models/` "
            f"({', '.join(sorted(data.pinned))}, trained on `{'`, `'.join(machines)}`). "
            "Values finished before that came from the models each session trained for itself, and CPU training "
            "gives other weights on another instruction set."
        )
    else:
        lines.append("No models pinned yet: each session trains its own `θ*`, `θ̃*` and classifier.")
    lines += ["", "Values computed again by `recheck.py` with the pinned models, against the stored ones:", ""]
    if not rechecks:
        return "\n".join(lines + [f"{NOT_MEASURED}."])
    lines += [
        "| method | stored on | rechecked on | values | mean Δ | sd Δ | max \\|Δ\\| | Pearson | sd between coalitions | sd Δ / sd between |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rechecks:
        cells = [
            analysis.method_label(row["method"], row["steps"]),
            row["stored_machine"],
            row["machine"],
            str(row["values"]),
            f"{row['mean_change']:+.4f}",
            _optional(row["sd_change"], ".4f"),
            f"{row['max_change']:.4f}",
            _optional(row["pearson"], ".2f"),
            _optional(row["sd_between"], ".4f"),
            _optional(row["ratio"], ".2f"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "The mean Δ is an offset shared by the values of one machine, so it cancels in a game computed on one "
        "machine and shifts one machine's values against another's in a mixed game. The sd Δ is noise that stays "
        "either way: a ratio near 0 means the values from both machines can share a game, a ratio near 1 means "
        "they measure different games and the older values should be computed again.",
    ]
    return "\n".join(lines)


def _optional(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _noise_section(noise, reliability, alpha) -> str:
    lines = ["## Seed-noise floor", ""]
    if not noise:
        return "\n".join(lines + [f"{NOT_MEASURED}."])
    lines += [
        "Std over seeds of each replicated coalition, against the spread (std) of the method's values across "
        "coalitions. A ratio near 1 means one seed cannot tell coalitions apart.",
        "",
        "| method | coalitions | seeds per coalition | mean std over seeds | spread across coalitions | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for row in noise:
        spread = NOT_MEASURED if row["spread"] is None else f"{row['spread']:.4f} ({row['spread_coalitions']} coalitions)"
        ratio = "" if not row["spread"] else f"{row['mean_std'] / row['spread']:.2f}"
        lines.append(
            f"| {analysis.method_label(row['method'], row['steps'])} | {row['coalitions']} | {analysis.seed_range(row)} | "
            f"{row['mean_std']:.4f} | {spread} | {ratio} |"
        )
    lines += _reliability_table(reliability, alpha)
    lines += ["", "| method | coalition | mean | std | seeds |", "|---|---|---|---|---|"]
    for row in noise:
        listed = list(row["per_coalition"].items())[:NOISE_ROWS_SHOWN]
        for bits, (mean, std, count) in listed:
            lines.append(f"| {analysis.method_label(row['method'], row['steps'])} | `{bits}` | {mean:.4f} | {std:.4f} | {count} |")
    if any(len(row["per_coalition"]) > NOISE_ROWS_SHOWN for row in noise):
        lines += ["", f"(At most {NOISE_ROWS_SHOWN} coalitions per method are listed; `results/coalitions.csv` has every seed.)"]
    return "\n".join(lines)


def _reliability_table(reliability, alpha) -> list[str]:
    if not reliability:
        return []
    lines = [
        "",
        f"Signal and noise over the datamodel coalitions of α = {alpha:g}. A seed gives every coalition the same "
        "offset, which cannot change their ranking, so each value is fitted as coalition effect plus seed offset. "
        "σ_w is the std of what is left, the seed noise. σ_b is the std of the true values between coalitions: "
        "the spread of the coalition effects less their noise. The reliability of a k-seed value is "
        "R = σ_b² / (σ_b² + σ_w²/k), and √R is the highest correlation even exact values can reach with these "
        "values. For the retrained values, √R caps every LDS above. The seed-noise table above keeps the offsets "
        "in its std.",
        "",
        "| method | coalitions | mean seeds k | σ_w | σ_w from (coalitions with 2+ seeds) | σ_b | R, 1 seed | R, as measured | ceiling √R |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in reliability:
        ceiling = "not estimable (σ_b² ≤ 0)" if row["ceiling"] is None else f"{row['ceiling']:.2f}"
        lines.append(
            f"| {analysis.method_label(row['method'], row['steps'])} | {row['coalitions']} | {row['mean_seeds']:.2f} | "
            f"{row['sigma_within']:.4f} | {row['replicated']} | {row['sigma_between']:.4f} | {row['reliability_one']:.2f} | "
            f"{row['reliability']:.2f} | {ceiling} |"
        )
    return lines


def _datamodel_coalitions(data: analysis.BenchmarkData, alpha: float | None) -> list[str]:
    plan = data.plan
    if alpha is None or plan.empty:
        return []
    rows = plan[(plan["phase"] == "datamodels") & (plan["alpha"] == alpha)]
    return list(rows["coalition"])


def _plot_budget(estimates, truth, path: Path) -> Path | None:
    alpha = analysis.report_alpha(truth)
    curves = [(e, e.curve[alpha]) for e in estimates if alpha in e.curve]
    singles = [e for e in estimates if not e.curve and e.cost is not None]
    if not curves:
        path.unlink(missing_ok=True)
        return None
    from diffusion_credit.evaluation import lds_over_sets

    # tab20 gives every attribution its own color, and the marker shows the estimator.
    colors = iter(plt.get_cmap("tab20").colors * 2)
    markers = {"KernelSHAP": "o", "LOO": "^", "Banzhaf": "s"}
    figure, axes = plt.subplots(figsize=(8.5, 4.5))
    for estimate, curve in curves:
        defined = [p for p in curve if p.lds is not None and p.lds.mean is not None]
        axes.plot([p.cost for p in defined], [p.lds.mean for p in defined], marker="o", color=next(colors), label=estimate.label)
    for estimate in singles:
        result = lds_over_sets(estimate.scores, truth[alpha]["sets"]) if truth[alpha]["sets"] else None
        if result is not None and result.mean is not None:
            marker = markers.get(estimate.estimator, "x")
            axes.scatter([estimate.cost], [result.mean], marker=marker, s=45, color=next(colors), label=estimate.label)
    axes.set_xscale("log")
    axes.set_xlabel("compute (units of one retrain + inference)")
    axes.set_ylabel(f"LDS, α = {alpha:g}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def _plot_fidelity(fidelity, path: Path) -> Path | None:
    rows = [row for row in fidelity if row["pearson"] is not None]
    if not rows:
        path.unlink(missing_ok=True)
        return None
    figure, axes = plt.subplots(figsize=(6, 4))
    for color, method in enumerate(sorted({row["method"] for row in rows})):
        name = analysis.method_label(method, None).split()[0]
        method_rows = sorted((row for row in rows if row["method"] == method), key=lambda row: row["steps"])
        # The same-size series sits slightly right of its step count, so the two intervals stay apart.
        series = (
            ("pearson", "pearson_low", "pearson_high", "-", 1.0, f"{name}, all coalitions"),
            ("same_size_pearson", "same_size_low", "same_size_high", "--", 1.05, f"{name}, same-size coalitions"),
        )
        for value, low, high, style, dodge, label in series:
            points = [row for row in method_rows if row.get(value) is not None]
            if not points:
                continue
            centers = np.array([row[value] for row in points])
            lows = np.array([row[low] if row[low] is not None else row[value] for row in points])
            highs = np.array([row[high] if row[high] is not None else row[value] for row in points])
            axes.errorbar(
                # The Fisher-z interval clips r at ±0.999999, so a correlation of exactly 1 lies just outside it.
                [row["steps"] * dodge for row in points], centers, yerr=np.clip([centers - lows, highs - centers], 0.0, None),
                color=f"C{color}", linestyle=style, marker="o", capsize=3, label=label,
            )
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xscale("log")
    steps = sorted({row["steps"] for row in rows})
    axes.set_xticks(steps, [str(step) for step in steps])
    axes.minorticks_off()
    axes.set_xlabel("fine-tuning steps")
    axes.set_ylabel("Pearson with retrained values (95% CI)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # The budget table marks each point KernelSHAP cannot determine, so the per-point warnings would only repeat it.
    logging.getLogger("diffusion_credit.evaluation.budget").setLevel(logging.ERROR)
    sys.exit(main())
