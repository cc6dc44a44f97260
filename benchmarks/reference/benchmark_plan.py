"""The tasks of each phase of the reference benchmark, with their eval keys.

Phases, in the order they run:

| phase | tasks |
|---|---|
| `noise` | 3 coalitions of size n/2 (the first distinct ones of datamodel set 0, α = 0.5), retrained and sFT with 3 seeds each |
| `datamodels` | the LDS ground truth: `lds.num_sets` sets of `lds.coalitions_per_set` coalitions per α, retrained |
| `sft` | the datamodel coalitions at every fine-tuning step count, then the kernel coalitions at every step count |
| `baselines` | the baseline attributions (not a coalition phase; see `baseline_phase`) |
| `ft` | the same as `sft` for plain fine-tuning of `θ*` |
| `retrain-shapley` | paired Shapley-kernel coalitions, retrained (the shortest prefix of the sFT sample that determines KernelSHAP) |
| `loo` | the coalitions `N∖{i}` per semivalue method, fine-tuned ones first |
| `banzhaf` | uniform coalitions per semivalue method, fine-tuned ones first |
| `sft-seeds` | the datamodel coalitions fine-tuned by sFT (`finetune.steps`) with more seeds, for sFT's own signal-to-noise |
| `datamodel-seeds` | the datamodel coalitions retrained with more seeds; the ground truth is their mean |

The cheap phases come first, so a partial run already scores sFT and the
baselines against the single-seed ground truth. Retrained Shapley, LOO and
Banzhaf follow, so that every method of the comparison has a score. Within
LOO and Banzhaf the fine-tuned values come before the retrained ones, so the
sFT scores exist after minutes. The seed replicates come last: at the CPU
scale the seed noise of one retrain is about as large as the spread between
coalitions, and averaging seeds then sharpens every score at once.

Every Shapley game also gets its boundary coalitions: `v(∅)` (retrain of the
empty coalition, the untrained model) and `v(N)` (`θ*`, plus the method's own
full-coalition run for sFT and FT). A task's `eval_key` is what the run store
keys its value by, so a task planned twice (in two phases, or twice in one
sample) is evaluated once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from diffusion_credit import store
from diffusion_credit.coalitions import eval_key, recipe_key
from diffusion_credit.config import config_from_dict
from diffusion_credit.datamodels import plan_datamodels
from diffusion_credit.executors import CoalitionTask
from diffusion_credit.study import Study
from diffusion_credit.valuation import (
    InsufficientCoalitionsError,
    coalition_to_bits,
    kernel_shap,
    leave_one_out_coalitions,
    sample_datamodel_sets,
    sample_shapley_kernel,
    sample_uniform,
)

__all__ = ["PHASES", "COALITION_PHASES", "PlanSettings", "PlannedTask", "StudyVariants", "plan_phases"]

logger = logging.getLogger(__name__)

PHASES = ("noise", "datamodels", "sft", "baselines", "ft", "retrain-shapley", "loo", "banzhaf", "sft-seeds", "datamodel-seeds")
COALITION_PHASES = tuple(phase for phase in PHASES if phase != "baselines")
NOISE_ALPHA = 0.5


@dataclass(frozen=True)
class PlanSettings:
    """Sizes of the benchmark's samples.

    Attributes:
        sft_steps: fine-tuning step counts of the `sft` phase.
        ft_steps: fine-tuning step counts of the `ft` phase.
        kernel_coalitions: Shapley-kernel coalitions per sFT/FT step count (even, paired).
        retrain_coalitions: the prefix of the same sample that is retrained (even), at least; the plan
            extends it until KernelSHAP is determined.
        uniform_coalitions: uniform coalitions of the Banzhaf phase, per method.
        semivalue_methods: methods of the `loo` and `banzhaf` phases.
        noise_coalitions: coalitions of the noise floor.
        noise_seeds: seeds per noise coalition and method.
        datamodel_seeds: seeds per datamodel coalition in the `sft-seeds` and `datamodel-seeds` phases, the
            config's seed included.
    """

    sft_steps: tuple[int, ...]
    ft_steps: tuple[int, ...]
    kernel_coalitions: int = 64
    retrain_coalitions: int = 32
    uniform_coalitions: int = 32
    semivalue_methods: tuple[str, ...] = ("retrain", "sft")
    noise_coalitions: int = 3
    noise_seeds: int = 3
    datamodel_seeds: int = 3

    def __post_init__(self):
        for name in ("kernel_coalitions", "retrain_coalitions"):
            value = getattr(self, name)
            if value < 2 or value % 2:
                raise ValueError(f"{name}={value} must be an even count of at least 2 (paired kernel sampling).")
        for name in ("uniform_coalitions", "noise_coalitions", "noise_seeds", "datamodel_seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")
        for steps in (*self.sft_steps, *self.ft_steps):
            if steps < 1:
                raise ValueError(f"Fine-tuning step counts must be positive, got {steps}.")
        unknown = set(self.semivalue_methods) - {"retrain", "sft", "ft"}
        if unknown:
            raise ValueError(f"semivalue_methods {sorted(unknown)} are not methods; use retrain, sft or ft.")


@dataclass(frozen=True)
class PlannedTask:
    """One coalition value a phase needs.

    Attributes:
        phase: the phase that plans it.
        sample: `noise`, `datamodel`, `kernel`, `uniform`, `loo` or `boundary`.
        position: index in its sample (per datamodel set), the order estimators read.
        coalition: bitstring over the study's contributor order.
        method: `retrain`, `sft` or `ft`.
        finetune_steps: fine-tuning steps of `sft`/`ft`, None for `retrain`.
        seed: the seed override passed to the evaluation, None for the config's seed.
        effective_seed: the training or fine-tuning seed actually used.
        alpha: datamodel α of a datamodel task, else None.
        set_index: datamodel set of a datamodel task, else None.
        eval_key: the run store's key of the value.
        settings: the recipe key (`credit.recipe`).
        game_key: the recipe key without the seed override; equal for seed replicates.
        game_method: the method of the game this task serves; differs from
            `method` only for `v(∅)`, which every game takes from `retrain`.
        game_steps: the fine-tuning steps of that game, None for `retrain`.
        tags: extra tags of the coalition run (datamodel α and set).
    """

    phase: str
    sample: str
    position: int
    coalition: str
    method: str
    finetune_steps: int | None
    seed: int | None
    effective_seed: int
    alpha: float | None
    set_index: int | None
    eval_key: str
    settings: str
    game_key: str
    game_method: str
    game_steps: int | None
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def task(self) -> CoalitionTask:
        """Return the executor's task for this value."""
        return CoalitionTask(self.coalition, self.method, seed=self.seed, tags=dict(self.tags))

    def plan_row(self, study_name: str) -> dict[str, object]:
        """Return the `plan.csv` row of this task."""
        return {
            "study": study_name,
            "phase": self.phase,
            "sample": self.sample,
            "alpha": self.alpha,
            "set": self.set_index,
            "position": self.position,
            "coalition": self.coalition,
            "method": self.method,
            "finetune_steps": self.finetune_steps,
            "seed": self.effective_seed,
            "eval_key": self.eval_key,
            "settings": self.settings,
            "game_key": self.game_key,
            "game_method": self.game_method,
            "game_steps": self.game_steps,
        }


class StudyVariants:
    """The base study and its copies with other `finetune.steps`, sharing data, property and models.

    Only `finetune.steps` differs between variants, which changes neither the
    dataset, the property, `θ*` nor `θ̃*`, so the variants share them instead
    of loading and training them again.
    """

    def __init__(self, base: Study):
        self.base = base
        self._variants: dict[int, Study] = {base.config.finetune.steps: base}

    def study(self, method: str, steps: int | None = None) -> Study:
        """Return the study that evaluates `method` with `steps` fine-tuning steps."""
        if method == "retrain" or steps is None:
            return self.base
        if steps not in self._variants:
            raw = copy.deepcopy(self.base.config.to_dict())
            raw["finetune"]["steps"] = steps
            config = config_from_dict(raw)
            config.source = self.base.config.source
            variant = Study(config, progress=self.base.progress, _cache=self.base._cache)
            variant.__dict__["dataset"] = self.base.dataset
            variant.__dict__["property"] = self.base.property
            self._variants[steps] = variant
        return self._variants[steps]

    def make_task(
        self,
        phase: str,
        sample: str,
        position: int,
        coalition: str,
        method: str,
        steps: int | None = None,
        *,
        seed: int | None = None,
        tags: dict[str, str] | None = None,
        alpha: float | None = None,
        set_index: int | None = None,
    ) -> PlannedTask:
        """Plan one value. An `sft`/`ft` task on the empty coalition becomes the `retrain` of `v(∅)`.

        `tags` go on the coalition run, e.g. the datamodel tags of a retrained
        datamodel coalition. `alpha` and `set_index` only label the plan row,
        and the tags win over them.
        """
        if method == "retrain":
            steps = None
        elif steps is None:
            steps = self.base.config.finetune.steps
        game_method, game_steps = method, steps
        if method != "retrain" and "1" not in coalition:
            method, steps = "retrain", None
        study = self.study(method, steps)
        default_seed = study.config.retraining.seed if method == "retrain" else study.config.finetune.seed
        tags = dict(tags or {})
        return PlannedTask(
            phase=phase,
            sample=sample,
            position=position,
            coalition=coalition,
            method=method,
            finetune_steps=steps,
            seed=seed,
            effective_seed=default_seed if seed is None else seed,
            alpha=float(tags[store.TAG_DATAMODEL_ALPHA]) if store.TAG_DATAMODEL_ALPHA in tags else alpha,
            set_index=int(tags[store.TAG_DATAMODEL_SET]) if store.TAG_DATAMODEL_SET in tags else set_index,
            eval_key=eval_key(study, coalition, method, seed),
            settings=recipe_key(study, method, seed),
            game_key=recipe_key(study, method),
            game_method=game_method,
            game_steps=game_steps,
            tags=tags,
        )


def plan_phases(variants: StudyVariants, settings: PlanSettings) -> dict[str, list[PlannedTask]]:
    """Return the tasks of every coalition phase, in evaluation order."""
    datamodels = _datamodel_tasks(variants)
    return {
        "noise": _noise_tasks(variants, settings, datamodels),
        "datamodels": datamodels,
        "sft": _finetune_tasks(variants, "sft", settings.sft_steps, settings.kernel_coalitions, datamodels),
        "ft": _finetune_tasks(variants, "ft", settings.ft_steps, settings.kernel_coalitions, datamodels),
        "retrain-shapley": _kernel_tasks(
            variants, "retrain-shapley", "retrain", None, _determined_prefix(variants, settings.retrain_coalitions, settings.kernel_coalitions)
        ),
        "loo": _loo_tasks(variants, settings.semivalue_methods),
        "banzhaf": _banzhaf_tasks(variants, settings.semivalue_methods, settings.uniform_coalitions),
        "sft-seeds": _datamodel_seed_tasks(variants, "sft-seeds", "sft", settings.datamodel_seeds, datamodels),
        "datamodel-seeds": _datamodel_seed_tasks(variants, "datamodel-seeds", "retrain", settings.datamodel_seeds, datamodels),
    }


def _datamodel_tasks(variants: StudyVariants) -> list[PlannedTask]:
    """Plan the datamodel coalitions, evaluated round-robin over the sets.

    Taking position 0 of every set, then position 1, and so on lets a
    partial run fill all sets evenly, so the LDS has several sets early.
    """
    tasks, positions = [], {}
    for task in plan_datamodels(variants.base):
        set_key = (task.tags[store.TAG_DATAMODEL_ALPHA], task.tags[store.TAG_DATAMODEL_SET])
        position = positions.get(set_key, 0)
        positions[set_key] = position + 1
        tasks.append(variants.make_task("datamodels", "datamodel", position, task.coalition, "retrain", tags=task.tags))
    return sorted(tasks, key=lambda task: (task.alpha, task.position, task.set_index))


def _noise_tasks(variants: StudyVariants, settings: PlanSettings, datamodels: Sequence[PlannedTask]) -> list[PlannedTask]:
    chosen = _noise_coalitions(variants.base, settings.noise_coalitions)
    first_set = [task for task in datamodels if task.alpha == NOISE_ALPHA and task.set_index == 0]
    tags_of = {task.coalition: task.tags for task in reversed(first_set)}
    config = variants.base.config
    tasks = []
    # sFT first: it takes seconds, retraining minutes.
    for method, base_seed in (("sft", config.finetune.seed), ("retrain", config.retraining.seed)):
        for position, bits in enumerate(chosen):
            for offset in range(settings.noise_seeds):
                # The config's own seed is passed as None, so that replicate is the datamodel value itself.
                seed = None if offset == 0 else base_seed + offset
                tags = tags_of.get(bits) if method == "retrain" and seed is None else None
                tasks.append(variants.make_task("noise", "noise", position, bits, method, seed=seed, tags=tags))
    return tasks


def _datamodel_seed_tasks(
    variants: StudyVariants, phase: str, method: str, num_seeds: int, datamodels: Sequence[PlannedTask]
) -> list[PlannedTask]:
    """Evaluate every datamodel coalition by `method` with seeds `seed + 1, …`, one seed at a time over all coalitions.

    The seeds are those of the noise phase, so its replicates count here too.
    The replicates carry no datamodel tags: the `lds` entry point keeps
    reading one run per coalition, and the report averages the seeds. sFT
    uses `finetune.steps` and its seed, retraining `retraining.seed`.
    sFT plans the config's seed too, because `--sft-steps` may leave
    `finetune.steps` out of the `sft` phase; when it does not, the task
    repeats an `sft` task's eval key and is evaluated once.
    """
    config = variants.base.config
    base_seed = config.finetune.seed if method == "sft" else config.retraining.seed
    first = 0 if method == "sft" else 1
    tasks = []
    for offset in range(first, num_seeds):
        for task in datamodels:
            tasks.append(
                variants.make_task(
                    phase,
                    "datamodel",
                    task.position,
                    task.coalition,
                    method,
                    seed=None if offset == 0 else base_seed + offset,
                    alpha=task.alpha,
                    set_index=task.set_index,
                )
            )
    return tasks


def _noise_coalitions(study: Study, count: int) -> list[str]:
    """Return the first `count` distinct coalitions of the α = 0.5 datamodel sampler's set 0.

    The sampler is prefix-stable, so these start with the coalitions of
    datamodel set 0 (when α = 0.5 is planned) and their seed replicates
    sharpen that ground truth.
    """
    lds = study.config.lds
    seed = lds.seed + (lds.alphas.index(NOISE_ALPHA) if NOISE_ALPHA in lds.alphas else 0)
    num_contributors = len(study.contributors)
    rows = sample_datamodel_sets(num_contributors, NOISE_ALPHA, 1, max(64, 16 * count), seed=seed)[0]
    chosen = list(dict.fromkeys(coalition_to_bits(row) for row in rows))[:count]
    if len(chosen) < count:
        raise ValueError(
            f"Only {len(chosen)} distinct coalitions of size n/2 exist for {num_contributors} contributors, "
            f"fewer than the {count} noise coalitions; lower the noise coalitions."
        )
    return chosen


def _boundary_tasks(variants: StudyVariants, phase: str, method: str, steps: int | None) -> list[PlannedTask]:
    num_contributors = len(variants.base.contributors)
    empty, full = "0" * num_contributors, "1" * num_contributors
    tasks = [
        variants.make_task(phase, "boundary", 0, empty, "retrain"),
        variants.make_task(phase, "boundary", 1, full, "retrain"),
    ]
    if method != "retrain":
        tasks.append(variants.make_task(phase, "boundary", 2, full, method, steps))
    return tasks


def _kernel_tasks(variants: StudyVariants, phase: str, method: str, steps: int | None, count: int) -> list[PlannedTask]:
    valuation = variants.base.config.valuation
    num_contributors = len(variants.base.contributors)
    coalitions = sample_shapley_kernel(num_contributors, count, seed=valuation.seed, paired=True)
    tasks = _boundary_tasks(variants, phase, method, steps)
    for position, row in enumerate(coalitions):
        tasks.append(variants.make_task(phase, "kernel", position, coalition_to_bits(row), method, steps))
    return tasks


def _determined_prefix(variants: StudyVariants, count: int, sample_size: int) -> int:
    """Return the shortest even prefix of the kernel sample, at least `count` long, whose coalitions determine KernelSHAP.

    Paired samples of few contributors repeat coalitions of size 1 and n − 1
    often, so a prefix can leave KernelSHAP short of rank n: with 10
    contributors the default sample needs 40 coalitions, not 32. The prefix
    stops growing at the longer of `count` and `sample_size`.
    """
    valuation = variants.base.config.valuation
    num_contributors = len(variants.base.contributors)
    longest = max(count, sample_size)
    coalitions = np.asarray(sample_shapley_kernel(num_contributors, longest, seed=valuation.seed, paired=True))
    for length in range(count, longest + 1, 2):
        try:
            kernel_shap(coalitions[:length], np.zeros(length), 0.0, 1.0, paired=True, uncertainty="none")
        except InsufficientCoalitionsError:
            continue
        if length > count:
            logger.info("Retrained Shapley: %d kernel coalitions leave KernelSHAP undetermined, so the first %d are retrained.", count, length)
        return length
    logger.warning("Retrained Shapley: even %d kernel coalitions leave KernelSHAP undetermined; raise --kernel-coalitions.", longest)
    return longest


def _finetune_tasks(
    variants: StudyVariants, method: str, step_counts: Sequence[int], count: int, datamodels: Sequence[PlannedTask]
) -> list[PlannedTask]:
    """Plan the datamodel coalitions at every step count, then the kernel coalitions at every step count.

    The datamodel coalitions come first because, once retrained, they give
    the fidelity of every step count to retraining. That shows which step
    counts deserve a full KernelSHAP sample.
    """
    tasks = []
    for steps in step_counts:
        for task in datamodels:
            tasks.append(
                variants.make_task(
                    method, "datamodel", task.position, task.coalition, method, steps, alpha=task.alpha, set_index=task.set_index
                )
            )
    for steps in step_counts:
        tasks += _kernel_tasks(variants, method, method, steps, count)
    return tasks


def _loo_tasks(variants: StudyVariants, methods: Sequence[str]) -> list[PlannedTask]:
    num_contributors = len(variants.base.contributors)
    tasks = []
    for method in _cheap_first(methods):
        tasks += _boundary_tasks(variants, "loo", method, None)
        for position, row in enumerate(leave_one_out_coalitions(num_contributors)):
            tasks.append(variants.make_task("loo", "loo", position, coalition_to_bits(row), method))
    return tasks


def _banzhaf_tasks(variants: StudyVariants, methods: Sequence[str], count: int) -> list[PlannedTask]:
    valuation = variants.base.config.valuation
    num_contributors = len(variants.base.contributors)
    coalitions = sample_uniform(num_contributors, count, seed=valuation.seed)
    tasks = []
    for method in _cheap_first(methods):
        tasks += _boundary_tasks(variants, "banzhaf", method, None)
        for position, row in enumerate(coalitions):
            tasks.append(variants.make_task("banzhaf", "uniform", position, coalition_to_bits(row), method))
    return tasks


def _cheap_first(methods: Sequence[str]) -> list[str]:
    """Return the methods with `retrain` last, keeping the others in order: a retrain takes minutes, a fine-tune seconds."""
    return sorted(methods, key=lambda method: method == "retrain")
