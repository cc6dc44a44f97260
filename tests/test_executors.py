"""Executors: every task gets an outcome in task order, and one failure loses nothing else."""

import mlflow
import pytest

from diffusion_credit import store
from diffusion_credit.config import load_config
from diffusion_credit.executors import CoalitionTask, InProcessExecutor, LocalProcessExecutor
from diffusion_credit.study import Study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory, write_smoke_config):
    path = write_smoke_config(tmp_path_factory.mktemp("executors"))
    study = Study(load_config(path), progress=False)
    study.tracking()
    return study


TASKS = [
    CoalitionTask("0000", "retrain"),
    CoalitionTask("00", "retrain"),  # wrong length
    CoalitionTask("0000", "bogus"),  # unknown method
    CoalitionTask("1000", "retrain", seed=7),
]


def check_outcomes(outcomes):
    assert [outcome.task for outcome in outcomes] == TASKS
    assert outcomes[0].ok
    assert "length" in outcomes[1].error
    assert "'00'" in outcomes[1].error
    assert "Unknown method 'bogus'" in outcomes[2].error
    assert outcomes[3].ok


def test_in_process_keeps_going_after_failures(study):
    seen = []
    with store.start_run(study.name, "attribute") as parent:
        outcomes = InProcessExecutor(study).run(TASKS, parent_run_id=parent.info.run_id, on_result=seen.append)

    check_outcomes(outcomes)
    assert len(seen) == len(TASKS)
    child = mlflow.get_run(outcomes[3].value.run_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.params["coalition.seed"] == "7"


def test_local_workers_match_in_process_values(study):
    reference = InProcessExecutor(study).run([TASKS[0]])[0].value.value
    with store.start_run(study.name, "attribute") as parent:
        parent_id = parent.info.run_id
    tasks = TASKS + [CoalitionTask("0100", "retrain", seed=7)]

    outcomes = LocalProcessExecutor(study, workers=2).run(tasks, parent_run_id=parent_id)

    check_outcomes(outcomes[:4])
    assert outcomes[0].value.reused
    assert outcomes[0].value.value == reference
    computed = mlflow.get_run(outcomes[4].value.run_id)
    assert computed.info.status == "FINISHED"
    assert computed.data.tags["mlflow.parentRunId"] == parent_id


def test_local_executor_rejects_zero_workers(study):
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        LocalProcessExecutor(study, workers=0)
