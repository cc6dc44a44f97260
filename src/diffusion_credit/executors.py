"""Executors run coalition evaluations: in this process or in local worker processes.

Both implement `Executor.run(tasks)`, which evaluates every task, never lets
one failing coalition lose the others, and returns one `TaskOutcome` per task
in task order. A distributed engine (Ray tasks, one GPU each) implements the
same method; it is safe because a coalition evaluation is a pure, idempotent
function of its `eval_key`.
"""

from __future__ import annotations

import abc
import logging
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from . import store
from .coalitions import CoalitionValue, evaluate_coalition
from .config import config_from_dict
from .study import Study

__all__ = ["CoalitionTask", "TaskOutcome", "Executor", "InProcessExecutor", "LocalProcessExecutor", "make_executor"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoalitionTask:
    """One coalition value to evaluate."""

    coalition: str
    method: str
    seed: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskOutcome:
    """The value of a task, or the error that stopped it."""

    task: CoalitionTask
    value: CoalitionValue | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Callback = Callable[[TaskOutcome], None]


class Executor(abc.ABC):
    """Runs coalition tasks for one study."""

    @abc.abstractmethod
    def run(self, tasks: Sequence[CoalitionTask], *, parent_run_id: str | None = None, on_result: Callback | None = None) -> list[TaskOutcome]:
        """Evaluate every task and return the outcomes in task order.

        Args:
            tasks: the coalitions to evaluate.
            parent_run_id: nest each coalition run under this run.
            on_result: called once per task as soon as it ends (for progress).
        """


class InProcessExecutor(Executor):
    """Evaluates tasks one after another in this process (the default)."""

    def __init__(self, study: Study):
        self.study = study

    def run(self, tasks, *, parent_run_id=None, on_result=None):
        outcomes = []
        for task in tasks:
            outcome = _evaluate(self.study, task, parent_run_id)
            if on_result is not None:
                on_result(outcome)
            outcomes.append(outcome)
        return outcomes


class LocalProcessExecutor(Executor):
    """Evaluates tasks in `workers` spawned processes, each pinned to one device.

    Devices are handed out round-robin from `devices` (e.g. `["cuda:0",
    "cuda:1"]`); with none given every worker uses the study's device. Each
    worker limits torch to its share of the CPU cores.
    """

    def __init__(self, study: Study, workers: int, devices: Sequence[str] = ()):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}.")
        self.study = study
        self.workers = workers
        self.devices = list(devices) or [study.device]

    def run(self, tasks, *, parent_run_id=None, on_result=None):
        context = multiprocessing.get_context("spawn")
        device_queue = context.Queue()
        for index in range(self.workers):
            device_queue.put(self.devices[index % len(self.devices)])
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        tracking_uri = store.configure(self.study.config.tracking.uri)
        init_args = (self.study.config.to_dict(), tracking_uri, device_queue, threads)

        outcomes: dict[int, TaskOutcome] = {}
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker, initargs=init_args) as pool:
            futures = {pool.submit(_worker_evaluate, task, parent_run_id): index for index, task in enumerate(tasks)}
            for future in as_completed(futures):
                index = futures[future]
                try:
                    outcome = future.result()
                except Exception as error:  # a worker that died (e.g. out of memory)
                    outcome = TaskOutcome(tasks[index], None, f"worker failed: {error!r}")
                    logger.error("Coalition %s failed in a worker: %r", tasks[index].coalition, error)
                outcomes[index] = outcome
                if on_result is not None:
                    on_result(outcome)
        return [outcomes[index] for index in range(len(tasks))]


def make_executor(study: Study) -> Executor:
    """Return the executor that the study's `executor` section names."""
    config = study.config.executor
    if config.kind == "local":
        return LocalProcessExecutor(study, config.workers, config.devices)
    return InProcessExecutor(study)


def _evaluate(study: Study, task: CoalitionTask, parent_run_id: str | None) -> TaskOutcome:
    try:
        value = evaluate_coalition(
            study, task.coalition, task.method, seed=task.seed, tags=task.tags, nested=True, parent_run_id=parent_run_id
        )
        return TaskOutcome(task, value)
    except Exception as error:
        logger.error("Coalition %s (%s) failed: %s\n%s", task.coalition, task.method, error, traceback.format_exc())
        return TaskOutcome(task, None, f"{type(error).__name__}: {error}")


_worker_study: Study | None = None


def _init_worker(config: dict, tracking_uri: str, device_queue, threads: int) -> None:
    global _worker_study
    import torch

    from . import store

    torch.set_num_threads(threads)
    os.environ.pop("MLFLOW_RUN_ID", None)
    store.configure(tracking_uri)
    study_config = config_from_dict(config)
    study_config.device = device_queue.get()
    _worker_study = Study(study_config, progress=False)


def _worker_evaluate(task: CoalitionTask, parent_run_id: str | None) -> TaskOutcome:
    started = time.perf_counter()
    outcome = _evaluate(_worker_study, task, parent_run_id)
    logger.debug("Worker %d evaluated %s in %.1f s", os.getpid(), task.coalition, time.perf_counter() - started)
    return outcome
