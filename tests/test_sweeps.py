"""Optuna sweeps: definitions, storages, the Pareto front, and the `sweep` entry point on the smoke study."""

import math
import os
import re
import subprocess
import sys
import uuid

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState, create_trial
from optuna.distributions import FloatDistribution

from diffusion_credit import store
from diffusion_credit.evaluation import LDSResult
from diffusion_credit.sweeps import (
    SweepSpecError,
    TAG_SWEEP,
    TAG_TRIAL,
    best_trial,
    lds_objective,
    load_sweep_spec,
    make_storage,
    nondominated,
    pareto_front,
    parse_sweep_spec,
)
from diffusion_credit.sweeps.runner import trial_seed
from diffusion_credit.sweeps.spec import check_space_against_config

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

SPACE = {"pruning.ratio": {"type": "float", "low": 0.1, "high": 0.5}}


# Definitions ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["prune-finetune", "pareto", "smoke"])
def test_shipped_definitions_load(repo_root, name):
    spec = load_sweep_spec(repo_root / "sweeps" / f"{name}.yaml")
    check_space_against_config(spec, repo_root / "configs" / "smoke.yaml")
    assert spec.name == name
    assert {param.key for param in spec.space} >= {"pruning.ratio", "finetune.steps"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"mdoe": "pareto"}, "Did you mean 'mode'"),
        ({"mode": "best"}, "mode='best' is not one of constrained, pareto"),
        ({"budget": None}, "mode: constrained needs a budget"),
        ({"budget": -5}, "budget is the maximum compute seconds per trial and must be positive"),
        ({"space": {}}, "space must be a non-empty mapping"),
        ({"space": {"training.steps": {"type": "int", "low": 1, "high": 5}}}, "may only search keys under"),
        ({"space": {"pruning.ration": {"type": "float", "low": 0.1, "high": 0.5}}}, "Did you mean 'pruning.ratio'"),
        ({"space": {"pruning": {"type": "float", "low": 0.1, "high": 0.5}}}, "names a config section"),
        ({"space": {"pruning.ratio": {"type": "float", "low": 0.5, "high": 0.1}}}, "needs low <= high"),
        ({"space": {"finetune.learning_rate": {"type": "float", "low": 0, "high": 1e-3, "log": True}}}, "log needs low > 0"),
        ({"space": {"finetune.steps": {"type": "int", "low": 2.5, "high": 5}}}, "must be an integer for type int"),
        ({"space": {"pruning.ratio": {"type": "float", "low": 0.1, "hgih": 0.5}}}, "Did you mean 'space.pruning.ratio.high'"),
        ({"space": {"pruning.ratio": {"type": "normal"}}}, "space.pruning.ratio.type='normal' is not one of"),
        ({"space": {"pruning.ratio": {"type": "categorical", "choices": []}}}, "choices must be a non-empty list"),
        ({"space": {"pruning.ratio": {"type": "float", "low": 0.1, "high": 0.5, "log": True, "step": 0.1}}}, "cannot combine log"),
        ({"sampler": {"name": "cmaes"}}, "sampler.name='cmaes' is not one of tpe, nsgaii"),
        ({"sampler": {"seed": "zero"}}, "sampler.seed must be an integer"),
        ({"lds": {"num_sets": 0}}, "lds.num_sets must be positive"),
        ({"lds": {"alphas": [0.5]}, "lds_alpha": 0.25}, "lds_alpha=0.25 is not one of lds.alphas"),
        ({"lds_alpha": "median"}, "lds_alpha must be 'mean' or one of the lds.alphas"),
    ],
)
def test_bad_definition_names_key(edit, message):
    raw = {"name": "bad", "mode": "constrained", "budget": 60, "space": SPACE, **edit}
    raw = {key: value for key, value in raw.items() if value is not None or key != "budget"}
    with pytest.raises(SweepSpecError) as error:
        parse_sweep_spec(raw)
    assert message in str(error.value)


def test_invalid_yaml_definition_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nspace:\n  pruning.ratio: [0.1, 0.7\n")
    with pytest.raises(SweepSpecError, match=re.escape(f"{path} is not valid YAML")) as error:
        load_sweep_spec(path)
    assert "line 3" in str(error.value)
    assert "\n" not in str(error.value)


def test_range_outside_config_rules_fails(repo_root):
    spec = parse_sweep_spec({"name": "r", "budget": 60, "space": {"pruning.ratio": {"type": "float", "low": 0.5, "high": 1.0}}})
    with pytest.raises(SweepSpecError) as error:
        check_space_against_config(spec, repo_root / "configs" / "smoke.yaml")
    assert "space.pruning.ratio" in str(error.value)
    assert "1.0" in str(error.value)


def test_params_sampled_within_bounds():
    spec = parse_sweep_spec(
        {
            "name": "p",
            "mode": "pareto",
            "space": {
                "pruning.ratio": {"type": "float", "low": 0.1, "high": 0.8, "step": 0.1},
                "finetune.steps": {"type": "int", "low": 5, "high": 200, "log": True},
                "finetune.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
                "valuation.estimator": {"type": "categorical", "choices": ["kernelshap", "banzhaf"]},
            },
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = {param.key: param.suggest(trial) for param in spec.space}
        study.tell(trial, 0.0)
        assert 0.1 <= values["pruning.ratio"] <= 0.8
        assert math.isclose(values["pruning.ratio"] * 10, round(values["pruning.ratio"] * 10), abs_tol=1e-9)
        assert isinstance(values["finetune.steps"], int) and 5 <= values["finetune.steps"] <= 200
        assert 1e-5 <= values["finetune.learning_rate"] <= 1e-3
        assert values["valuation.estimator"] in ("kernelshap", "banzhaf")
    assert study.trials[0].distributions["finetune.learning_rate"].log


def test_trial_seeds_distinct_and_stable():
    seeds = [trial_seed(0, number) for number in range(50)]
    assert len(set(seeds)) == 50
    assert seeds == [trial_seed(0, number) for number in range(50)]
    assert trial_seed(1, 0) != trial_seed(0, 0)


# Objective, best trial and Pareto front ----------------------------------------------


def lds_result(mean):
    return LDSResult(mean, None, None, (mean,), 1, 0 if mean is not None else 1, 0.95)


def test_lds_objective_mean_and_undefined():
    assert lds_objective({0.25: lds_result(0.2), 0.5: lds_result(0.6)}, "mean") == (pytest.approx(0.4), None)
    assert lds_objective({0.25: lds_result(0.2), 0.5: lds_result(0.6)}, 0.25) == (0.2, None)

    value, reason = lds_objective({0.25: lds_result(0.2), 0.5: lds_result(None)}, "mean")
    assert value is None
    assert "alpha 0.5 is undefined" in reason
    value, reason = lds_objective({}, "mean")
    assert value is None
    assert "no datamodel sets" in reason


def test_nondominated_closed_form():
    lds = np.array([0.5, 0.7, 0.6, 0.7, 0.2, 0.9])
    cost = np.array([10.0, 20.0, 30.0, 20.0, 5.0, 50.0])
    # 2 is dominated by 1 (lower LDS, higher cost); 1 and 3 are equal and both kept.
    assert nondominated(lds, cost).tolist() == [4, 0, 1, 3, 5]
    with pytest.raises(ValueError, match="equal length"):
        nondominated(lds, cost[:3])


def scored_trial(number, lds, cost, feasible, state=TrialState.COMPLETE):
    trial = create_trial(
        state=state,
        value=lds if state == TrialState.COMPLETE else None,
        params={"pruning.ratio": 0.3},
        distributions={"pruning.ratio": FloatDistribution(0.1, 0.5)},
        user_attrs={"lds": lds, "cost_seconds": cost, "feasible": feasible},
    )
    trial.number = number
    return trial


def test_best_skips_infeasible_and_pruned():
    trials = [
        scored_trial(0, 0.5, 10.0, True),
        scored_trial(1, 0.9, 999.0, False),
        scored_trial(2, 0.95, 5.0, True, state=TrialState.PRUNED),
        scored_trial(3, 0.5, 8.0, True),
    ]
    best = best_trial(trials)
    assert best.number == 3  # equal LDS, lower cost
    assert best_trial([trials[1]]) is None


def test_pareto_front_feasible_only():
    trials = [
        scored_trial(0, 0.5, 10.0, True),
        scored_trial(1, 0.9, 5.0, False),
        scored_trial(2, 0.6, 30.0, True),
        scored_trial(3, 0.4, 20.0, True),
    ]
    assert [t.number for t in pareto_front(trials)] == [0, 2]


# Storages ------------------------------------------------------------------------


def test_journal_storage_shared_by_two_handles(tmp_path):
    path = tmp_path / "optuna.log"
    first = optuna.create_study(storage=make_storage(f"journal:{path}"), study_name="j", load_if_exists=True)
    second = optuna.create_study(storage=make_storage(f"journal:{path}"), study_name="j", load_if_exists=True)
    first.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    second.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    numbers = [trial.number for trial in first.get_trials()]
    assert sorted(numbers) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("storage", "message"),
    [("redis://localhost", "neither an RDB URL"), ("journal:", "journal: needs a file path"), ("optuna.db", "neither an RDB URL")],
)
def test_bad_storage_rejected(storage, message):
    from diffusion_credit.errors import InputError

    with pytest.raises(InputError, match=message):
        make_storage(storage)


def test_storage_password_redacted():
    from diffusion_credit.sweeps.storage import redact

    assert redact("postgresql://user:secret@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert redact("postgresql://postgres@127.0.0.1:5432/test") == "postgresql://postgres@127.0.0.1:5432/test"


# The entry point on the smoke study ---------------------------------------------------


def write_sweep(folder, name, **fields):
    """Write a constrained sweep over one fixed setting, so every trial reuses the same coalitions."""
    definition = {
        "name": name,
        "study_name": f"{name}-{uuid.uuid4().hex[:8]}",
        "mode": "constrained",
        "budget": 1.0e6,
        "lds_alpha": "mean",
        "sampler": {"name": "tpe", "seed": 0, "n_startup_trials": 2},
        "lds": {"alphas": [0.5], "num_sets": 2, "coalitions_per_set": 3, "seed": 3},
        "space": {
            "pruning.ratio": {"type": "categorical", "choices": [0.3]},
            "finetune.steps": {"type": "int", "low": 3, "high": 3},
        },
        **fields,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(definition))
    return path, definition["study_name"]


def sweep(repo_root, config, definition, *extra, wait=True):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["TQDM_DISABLE"] = "1"
    command = [sys.executable, str(repo_root / "entrypoints" / "sweep.py"), "--config", str(config), "--sweep", str(definition), *extra]
    if not wait:
        return subprocess.Popen(command, cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=900)


def sweep_runs(config, study_name):
    store.configure(f"sqlite:///{config.parent / 'mlflow.db'}")
    runs = store.search_runs({store.TAG_KIND: "sweep", TAG_SWEEP: study_name}, statuses=())
    processes = [run for run in runs if TAG_TRIAL not in run.data.tags]
    trials = sorted((run for run in runs if TAG_TRIAL in run.data.tags), key=lambda run: int(run.data.tags[TAG_TRIAL]))
    return processes, trials


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, repo_root):
    """The smoke config with smaller training, its cache and run store in one temporary folder."""
    folder = tmp_path_factory.mktemp("sweeps")
    config = yaml.safe_load((repo_root / "configs" / "smoke.yaml").read_text())
    config["data"]["path"] = str(repo_root / "examples" / "smoke" / "manifest.csv")
    config["data"]["cache_dir"] = str(folder / "cache")
    config["tracking"] = {"uri": f"sqlite:///{folder / 'mlflow.db'}"}
    config["training"].update(steps=20, checkpoint_every=10)
    config["retrain"] = {"steps": 8, "batch_size": 16, "checkpoint_every": 8}
    config["pruning"]["finetune"]["steps"] = 4
    config["sampling"].update(num_images=16, batch_size=16)
    config["property"]["classifier_steps"] = 30
    config["valuation"]["num_coalitions"] = 6
    path = folder / "smoke.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def swept(repo_root, smoke):
    """A two-trial sweep on the smoke study, run once for the tests below."""
    definition, study_name = write_sweep(smoke.parent, "fixture")
    storage = f"sqlite:///{smoke.parent / 'optuna.db'}"
    result = sweep(repo_root, smoke, definition, "--trials", "2", "--storage", storage)
    assert result.returncode == 0, result.stderr[-4000:]
    return {"definition": definition, "study_name": study_name, "storage": storage}


@pytest.mark.slow
def test_sweep_logs_nested_trials(smoke, swept, tmp_path):
    processes, trials = sweep_runs(smoke, swept["study_name"])
    assert len(processes) == 1
    assert len(trials) == 2
    process = processes[0]
    for run in trials:
        assert run.data.tags["mlflow.parentRunId"] == process.info.run_id
        assert run.info.status == "FINISHED"
        assert -1.0 <= run.data.metrics["lds"] <= 1.0
        assert run.data.metrics["cost"] > 0
        assert run.data.metrics["feasible"] == 1.0
        assert run.data.params["pruning.ratio"] == "0.3"
        attribution = mlflow.get_run(run.data.tags["credit.attribution_run"])
        assert attribution.data.tags[store.TAG_KIND] == "attribution"

    table = pd.read_csv(store.download_artifact(process, "trials.csv", tmp_path))
    assert table["number"].tolist() == [0, 1]
    assert (table["state"] == "COMPLETE").all()
    best = pd.read_csv(store.download_artifact(process, "best.csv", tmp_path))
    assert best["number"].tolist() == [0]
    assert store.download_artifact(process, "sweep.png", tmp_path).stat().st_size > 0
    assert process.data.metrics["trials.feasible"] == 2


@pytest.mark.slow
def test_same_params_reuse_coalitions(smoke, swept):
    _, (first, second) = sweep_runs(smoke, swept["study_name"])
    assert first.data.metrics["cost.computed_coalitions"] > 0
    assert second.data.metrics["cost.computed_coalitions"] == 0
    assert second.data.metrics["cost"] == pytest.approx(first.data.metrics["cost"])
    assert second.data.metrics["lds"] == pytest.approx(first.data.metrics["lds"])
    # A coalition drawn into two datamodel sets has one run per set, so the set is part of the key.
    runs = store.search_runs({store.TAG_KIND: "coalition", store.TAG_STUDY: "smoke"})
    keys = [tuple(run.data.tags.get(tag) for tag in (store.TAG_EVAL_KEY, store.TAG_DATAMODEL_ALPHA, store.TAG_DATAMODEL_SET)) for run in runs]
    assert len(keys) == len(set(keys)), "a coalition was evaluated twice"


@pytest.mark.slow
def test_second_process_joins_sqlite_study(repo_root, smoke, swept):
    result = sweep(repo_root, smoke, swept["definition"], "--trials", "1", "--storage", swept["storage"])
    assert result.returncode == 0, result.stderr[-4000:]

    study = optuna.load_study(study_name=swept["study_name"], storage=swept["storage"])
    assert sorted(trial.number for trial in study.trials) == [0, 1, 2]
    assert all(trial.state == TrialState.COMPLETE for trial in study.trials)
    processes, trials = sweep_runs(smoke, swept["study_name"])
    assert len(processes) == 2
    assert [run.data.tags[TAG_TRIAL] for run in trials] == ["0", "1", "2"]


@pytest.mark.slow
def test_over_budget_trial_infeasible(repo_root, smoke, swept, tmp_path):
    definition, study_name = write_sweep(smoke.parent, "tight", budget=0.001)
    result = sweep(repo_root, smoke, definition, "--trials", "1", "--storage", swept["storage"])
    assert result.returncode == 0, result.stderr[-4000:]

    (trial,) = optuna.load_study(study_name=study_name, storage=swept["storage"]).trials
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["feasible"] is False
    assert trial.constraints["cost_over_budget_s"] > 0
    (process,), (run,) = sweep_runs(smoke, study_name)
    assert run.data.metrics["feasible"] == 0.0
    assert process.data.metrics["trials.feasible"] == 0
    assert "best.lds" not in process.data.metrics
    assert pd.read_csv(store.download_artifact(process, "best.csv", tmp_path)).empty
    with pytest.raises(ValueError):
        optuna.load_study(study_name=study_name, storage=swept["storage"]).best_trial


@pytest.mark.slow
def test_undefined_lds_prunes_trial(smoke, swept, monkeypatch):
    from diffusion_credit.sweeps import load_sweep_spec, run_sweep, runner
    from diffusion_credit.sweeps.trials import TrialResult

    def undefined(study, planned_sets, *, lds_alpha, budget):
        return TrialResult(None, {0.5: None}, "LDS at alpha 0.5 is undefined", 1.0, 1.0, 0.0, 0, 0.0, True, "none")

    monkeypatch.setattr(runner, "evaluate_trial", undefined)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    definition, study_name = write_sweep(smoke.parent, "undefined")
    outcome = run_sweep(smoke, load_sweep_spec(definition), trials=1, storage=swept["storage"], progress=False)

    (trial,) = optuna.load_study(study_name=study_name, storage=swept["storage"]).trials
    assert trial.state == TrialState.PRUNED
    assert "undefined" in trial.user_attrs["undefined_reason"]
    assert outcome.best_number is None
    _, (run,) = sweep_runs(smoke, study_name)
    assert run.data.tags["credit.trial_state"] == "PRUNED"
    assert "lds" not in run.data.metrics


@pytest.mark.slow
def test_joining_with_other_definition_fails(repo_root, smoke, swept):
    other = yaml.safe_load(swept["definition"].read_text())
    other["budget"] = 5.0
    path = smoke.parent / "other.yaml"
    path.write_text(yaml.safe_dump(other))

    result = sweep(repo_root, smoke, path, "--trials", "1", "--storage", swept["storage"])

    assert result.returncode == 2, result.stderr[-3000:]
    assert "was created from another sweep definition" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "two"], "--trials must be an integer"),
        (["--budget", "-1"], "budget is the maximum compute seconds per trial and must be positive"),
        (["--storage", "redis://localhost"], "neither an RDB URL"),
    ],
)
def test_entry_point_bad_input(repo_root, tmp_path, extra, message):
    config = tmp_path / "smoke.yaml"
    config.write_text((repo_root / "configs" / "smoke.yaml").read_text())
    definition, _ = write_sweep(tmp_path, "bad")

    result = sweep(repo_root, config, definition, *extra)

    assert result.returncode == 2, result.stderr[-3000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_entry_point_bad_definition(repo_root, tmp_path):
    definition = tmp_path / "bad.yaml"
    definition.write_text(yaml.safe_dump({"name": "bad", "mode": "constrained", "space": SPACE}))

    result = sweep(repo_root, repo_root / "configs" / "smoke.yaml", definition)

    assert result.returncode == 2
    assert "mode: constrained needs a budget" in result.stderr
    assert "Traceback" not in result.stderr


# PostgreSQL --------------------------------------------------------------------------


def postgres_reachable() -> bool:
    try:
        import psycopg2

        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.postgres
def test_parallel_processes_share_postgres_study(repo_root, smoke, swept):
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    definition, study_name = write_sweep(smoke.parent, "postgres")

    processes = [sweep(repo_root, smoke, definition, "--trials", "1", "--storage", POSTGRES_URL, wait=False) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-4000:]

    storage = make_storage(POSTGRES_URL)
    study = optuna.load_study(study_name=study_name, storage=storage)
    assert sorted(trial.number for trial in study.trials) == [0, 1]
    assert all(trial.state == TrialState.COMPLETE for trial in study.trials)
    processes, trials = sweep_runs(smoke, study_name)
    assert len(processes) == 2
    assert sorted(run.data.tags[TAG_TRIAL] for run in trials) == ["0", "1"]
    optuna.delete_study(study_name=study_name, storage=storage)
