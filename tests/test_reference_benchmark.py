"""The reference benchmark: kill and resume, a new session with an empty store, stable eval keys, the report."""

import csv
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from diffusion_credit import store
from diffusion_credit.coalitions import eval_key
from diffusion_credit.config import load_config
from diffusion_credit.evaluation.budget import BudgetPoint
from diffusion_credit.evaluation.lds import LDSResult
from diffusion_credit.study import Study
from diffusion_credit.valuation import (
    InsufficientCoalitionsError,
    coalition_to_bits,
    kernel_shap,
    sample_datamodel_sets,
    sample_shapley_kernel,
)

pytestmark = pytest.mark.slow

PHASES = "noise,datamodels,sft"


@pytest.fixture()
def smoke(tmp_path, repo_root):
    """configs/smoke.yaml with absolute data, cache and store paths, and 2 datamodel sets of 4."""
    config = yaml.safe_load((repo_root / "configs" / "smoke.yaml").read_text())
    config["data"]["path"] = str(repo_root / "examples" / "smoke" / "manifest.csv")
    config["data"]["cache_dir"] = str(tmp_path / "cache")
    config["tracking"] = {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    config["lds"] = {"alphas": [0.5], "num_sets": 2, "coalitions_per_set": 4}
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def load_module(repo_root, name):
    """Import a script module of benchmarks/reference by its bare name, as run.py and its siblings import each other."""
    folder = str(repo_root / "benchmarks" / "reference")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def benchmark(repo_root, config, *extra, wait=True, database="mlflow.db"):
    command = [
        sys.executable,
        str(repo_root / "benchmarks" / "reference" / "run.py"),
        "--config",
        str(config),
        "--results",
        str(config.parent / "results"),
        "--tracking-uri",
        f"sqlite:///{config.parent / database}",
        "--phases",
        PHASES,
        "--sft-steps",
        "2,5",
        "--kernel-coalitions",
        "8",
        "--no-progress",
        "--threads",
        "1",
        *extra,
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["TQDM_DISABLE"] = "1"
    if not wait:
        return subprocess.Popen(command, cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=300)


def csv_rows(path):
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def wait_for_rows(process, path, count, timeout=240):
    """Wait until `path` has `count` rows, the process has ended, or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None and len(csv_rows(path)) < count:
        time.sleep(0.2)


def runs_of(config, kind, database="mlflow.db"):
    # An explicit client: mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which store.configure then prefers.
    client = MlflowClient(tracking_uri=f"sqlite:///{config.parent / database}")
    return store.search_runs({store.TAG_KIND: kind, store.TAG_STUDY: "smoke"}, client=client)


def test_kill_resume_and_new_session(repo_root, smoke):
    results = smoke.parent / "results"

    # 1. Kill the first run with SIGKILL once a few values are in the CSV.
    process = benchmark(repo_root, smoke, wait=False)
    wait_for_rows(process, results / "coalitions.csv", 5)
    assert process.poll() is None, "the benchmark ended before it could be killed:\n" + process.stdout.read()[-3000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    before_kill = csv_rows(results / "coalitions.csv")
    assert len(before_kill) >= 5

    # 2. Resume: the earlier rows stay, nothing is computed twice, one row per eval key.
    resumed = benchmark(repo_root, smoke)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Progress counts every value in the CSV, the killed run's too, and follows computed values only.
    progress = [line for line in resumed.stderr.splitlines() if "Phase noise: " in line]
    assert any("Phase noise: 17 of 18 values in the CSV, 1 left" in line for line in progress), progress
    assert len(progress) <= 2 + 18 - len(before_kill), progress
    rows = csv_rows(results / "coalitions.csv")
    assert rows[: len(before_kill)] == before_kill
    keys = Counter(row["eval_key"] for row in rows)
    assert max(keys.values()) == 1
    plan = csv_rows(results / "plan.csv")
    planned = {row["eval_key"] for row in plan if row["phase"] in PHASES.split(",")}
    assert planned == set(keys)
    computed = Counter(run.data.tags[store.TAG_EVAL_KEY] for run in runs_of(smoke, "coalition"))
    assert max(computed.values()) == 1
    assert set(computed) == set(keys)

    # 3. A new session: delete the run store; the CSV rows are imported and nothing is recomputed.
    # The new store gets a new file name because this process keeps the old one's engine open.
    (smoke.parent / "mlflow.db").unlink()
    shutil.rmtree(smoke.parent / "mlruns", ignore_errors=True)
    new_session = benchmark(repo_root, smoke, database="new-session.db")
    assert new_session.returncode == 0, new_session.stderr[-3000:]
    assert csv_rows(results / "coalitions.csv") == rows
    imported = runs_of(smoke, "coalition", "new-session.db")
    assert len(imported) == len(rows)
    assert all(run.data.tags.get("credit.imported_from") == "coalitions.csv" for run in imported)
    # θ* and θ̃* come from the pinned models folder, not from training.
    for kind in ("train", "prune"):
        [model_run] = runs_of(smoke, kind, "new-session.db")
        assert model_run.data.tags["credit.imported_from"].startswith(f"models/{kind}-")
    by_key = {run.data.tags[store.TAG_EVAL_KEY]: run for run in imported}
    for row in rows:
        run = by_key[row["eval_key"]]
        assert run.data.metrics["property.inception_score"] == float(row["value"])
        assert run.data.tags[store.TAG_RECIPE] == row["settings"]
        if row["datamodel_set"]:
            assert run.data.tags[store.TAG_DATAMODEL_SET] == row["datamodel_set"]

    # 4. The report from the CSV files alone.
    report = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "reference" / "report.py"), "--results", str(results), "--output", str(smoke.parent / "report")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    readme = (smoke.parent / "report" / "README.md").read_text()
    assert "| α | attribution | LDS |" in readme
    assert "KernelSHAP, sFT 5 steps" in readme
    assert "Baselines: not measured yet." in readme
    assert "unknown (a method in it was never measured)" in readme  # ft was never run
    assert "| retrain | 3 | 3 |" in readme
    assert (smoke.parent / "report" / "sft_fidelity.png").exists()


def test_pinned_models_reused_in_new_session(repo_root, smoke):
    """A session with an empty store and cache imports θ*, θ̃* and the classifier, recomputes nothing else, and gets the same value."""
    results = smoke.parent / "results"
    first = benchmark(repo_root, smoke, "--phases", "sft", "--sft-steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = json.loads((results / "models" / "pinned.json").read_text())
    assert {name.split("-")[0] for name in manifest} == {"train", "prune", "classifier"}
    [classifier] = [name for name in manifest if name.startswith("classifier-")]
    pinned_classifier = (results / "models" / classifier / "model.safetensors").read_bytes()

    # A new session: new store and cache; the last sFT value is dropped and computed again.
    rows = csv_rows(results / "coalitions.csv")
    dropped = rows[-1]
    write_csv(results / "coalitions.csv", list(rows[0]), rows[:-1])
    shutil.rmtree(smoke.parent / "cache")
    second = benchmark(repo_root, smoke, "--phases", "sft", "--sft-steps", "2", database="second.db")
    assert second.returncode == 0, second.stderr[-3000:]
    recomputed = csv_rows(results / "coalitions.csv")[-1]
    assert recomputed["eval_key"] == dropped["eval_key"]
    assert float(recomputed["value"]) == float(dropped["value"])
    for kind in ("train", "prune", "classifier"):
        [run] = runs_of(smoke, kind, "second.db")
        assert run.data.tags["credit.imported_from"] == f"models/{kind}-{run.data.tags[store.TAG_DIGEST]}"
    assert (smoke.parent / "cache" / "classifiers" / classifier.removeprefix("classifier-") / "model.safetensors").read_bytes() == pinned_classifier

    # Weights that no longer match pinned.json stop the next new session before any work.
    manifest[classifier]["sha256"] = "0" * 64
    (results / "models" / "pinned.json").write_text(json.dumps(manifest))
    shutil.rmtree(smoke.parent / "cache")
    tampered = benchmark(repo_root, smoke, "--phases", "sft", "--sft-steps", "2", database="third.db")
    assert tampered.returncode == 2
    assert f"The weights in {results / 'models' / classifier} do not match their SHA-256 in pinned.json" in tampered.stderr


def recheck(repo_root, config, *extra):
    command = [sys.executable, str(repo_root / "benchmarks" / "reference" / "recheck.py"), "--config", str(config)]
    command += ["--results", str(config.parent / "results"), "--no-progress", "--threads", "1", *extra]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=300)


def test_recheck_reproduces_values_on_same_machine(repo_root, smoke):
    """With the pinned models, a value computed again on the same machine equals the stored one exactly."""
    results = smoke.parent / "results"
    first = benchmark(repo_root, smoke, "--phases", "sft", "--sft-steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]

    artifacts_before = sorted((smoke.parent / "mlruns").rglob("*"))
    same = recheck(repo_root, smoke, "--method", "sft", "--steps", "2", "--count", "2", "--same-machine")
    assert same.returncode == 0, same.stderr[-3000:]
    assert sorted((smoke.parent / "mlruns").rglob("*")) == artifacts_before  # the scratch store keeps its artifacts
    rows = csv_rows(results / "rechecks.csv")
    assert len(rows) == 2
    for row in rows:
        assert float(row["value"]) == float(row["stored_value"])
        assert row["models"].startswith("train:")
        assert " prune:" in row["models"]

    # Values from other machines: this fresh benchmark has none.
    other = recheck(repo_root, smoke, "--method", "sft", "--steps", "2")
    assert other.returncode == 2
    assert "No sft values with 2 fine-tuning steps from other machines" in other.stderr

    # --replace computes again what other models computed before the pinning, and only that.
    rows = csv_rows(results / "coalitions.csv")
    sft = [index for index, row in enumerate(rows) if row["method"] == "sft" and "0" in row["coalition"] and "1" in row["coalition"]]
    old, other = sft[0], sft[1]
    original = dict(rows[old])
    rows[old].update(value=str(float(original["value"]) + 1.0), machine="an older machine", finished_at="2000-01-01T00:00:00+00:00")
    rows[other].update(machine="an older machine")  # finished after the pinning, so already computed with the pinned models
    write_csv(results / "coalitions.csv", list(rows[0]), rows)
    replaced = recheck(repo_root, smoke, "--method", "sft", "--steps", "2", "--replace")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    after = csv_rows(results / "coalitions.csv")
    assert len(after) == len(rows)
    assert after[old]["eval_key"] == original["eval_key"]
    assert float(after[old]["value"]) == float(original["value"])
    assert after[old]["machine"] == original["machine"]
    assert after[other] == rows[other]
    last = csv_rows(results / "rechecks.csv")[-1]
    assert last["eval_key"] == original["eval_key"]
    assert float(last["stored_value"]) == float(original["value"]) + 1.0
    assert last["stored_machine"] == "an older machine"

    # --coalitions rechecks exactly the listed values, a boundary coalition included.
    full = "1" * len(original["coalition"])
    listed = recheck(repo_root, smoke, "--method", "sft", "--steps", "2", "--coalitions", full)
    assert listed.returncode == 0, listed.stderr[-3000:]
    last = csv_rows(results / "rechecks.csv")[-1]
    assert last["coalition"] == full
    assert float(last["value"]) == float(last["stored_value"])
    wrong = recheck(repo_root, smoke, "--method", "sft", "--steps", "2", "--coalitions", "101")
    assert wrong.returncode == 2
    assert "--coalitions: Coalition '101' has length 3" in wrong.stderr

    # Without pinned models the recheck would train new ones, so it stops instead.
    (results / "models" / "pinned.json").unlink()
    unpinned = recheck(repo_root, smoke, "--method", "sft", "--steps", "2", "--same-machine")
    assert unpinned.returncode == 2
    assert "not pinned in" in unpinned.stderr


def test_model_folders_of_retrained_full_coalition(repo_root, smoke):
    pinned = load_module(repo_root, "pinned_models")
    study = Study(load_config(smoke), progress=False)

    assert set(pinned.model_folders(study, "retrain", "101")) == {"classifier"}
    assert set(pinned.model_folders(study, "retrain", "111")) == {"train", "classifier"}
    assert set(pinned.model_folders(study, "sft", "101")) == {"train", "prune", "classifier"}


def test_recheck_rows_measure_changes(repo_root):
    """The change table: mean and sd of Δ, the largest |Δ|, and the ratio to the spread between coalitions."""
    report_recheck = load_module(repo_root, "report_recheck")
    coalitions = pd.DataFrame(
        {
            "method": ["ft"] * 4,
            "finetune_steps": [60] * 4,
            "coalition": ["1100", "0011", "1010", "1111"],
            "settings": ["k"] * 4,
            "game_key": ["k"] * 4,
            "value": [1.0, 2.0, 3.0, 9.0],
        }
    )
    rechecks = pd.DataFrame(
        {
            "method": ["ft"] * 3,
            "finetune_steps": [60] * 3,
            "stored_machine": ["a"] * 3,
            "machine": ["b"] * 3,
            "stored_value": [1.0, 2.0, 3.0],
            "value": [1.3, 1.6, 3.0],
        }
    )
    [row] = report_recheck.recheck_rows(rechecks, coalitions)
    assert row["values"] == 3
    assert row["mean_change"] == pytest.approx(-0.1 / 3)
    assert row["sd_change"] == pytest.approx(np.std([0.3, -0.4, 0.0], ddof=1))
    assert row["max_change"] == pytest.approx(0.4)
    assert row["sd_between"] == pytest.approx(1.0)  # the full coalition is left out
    assert row["ratio"] == pytest.approx(row["sd_change"])


def test_two_runners_split_the_work(repo_root, smoke):
    """Two processes on one results folder and store compute every value once between them."""
    results = smoke.parent / "results"
    phases = ("--phases", "noise,datamodels")
    workers = [benchmark(repo_root, smoke, *phases, wait=False) for _ in range(2)]
    logs = [worker.communicate(timeout=600)[0] for worker in workers]
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log[-3000:]

    rows = csv_rows(results / "coalitions.csv")
    keys = Counter(row["eval_key"] for row in rows)
    assert max(keys.values()) == 1
    planned = {row["eval_key"] for row in csv_rows(results / "plan.csv") if row["phase"] in ("noise", "datamodels")}
    assert set(keys) == planned
    computed = Counter(run.data.tags[store.TAG_EVAL_KEY] for run in runs_of(smoke, "coalition"))
    assert max(computed.values()) == 1
    assert len(runs_of(smoke, "train")) <= 1


def test_runner_skips_tasks_while_model_trains(repo_root, smoke):
    """While another process holds the model lock, sFT tasks are left to it and retrains go on."""
    locks = load_module(repo_root, "worker_locks").lock_folder_of(smoke.parent / "results")
    with locks.hold("models"):
        result = benchmark(repo_root, smoke, "--phases", "noise")
    assert result.returncode == 0, result.stderr[-3000:]

    rows = csv_rows(smoke.parent / "results" / "coalitions.csv")
    assert {row["method"] for row in rows} == {"retrain"}
    assert len(rows) == 9
    assert "9 left to other runners" in result.stderr


def test_max_minutes_stops_between_coalitions(repo_root, smoke):
    stopped = benchmark(repo_root, smoke, "--max-minutes", "0")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "Stopped cleanly" in stopped.stderr
    assert csv_rows(smoke.parent / "results" / "coalitions.csv") == []
    assert len(csv_rows(smoke.parent / "results" / "plan.csv")) > 0


def test_ctrl_c_stops_between_coalitions(repo_root, smoke):
    """The first SIGINT lets the coalition in flight finish, stops cleanly, and a rerun resumes."""
    results = smoke.parent / "results"
    process = benchmark(repo_root, smoke, wait=False)
    wait_for_rows(process, results / "coalitions.csv", 2)
    process.send_signal(signal.SIGINT)
    log = process.communicate(timeout=300)[0]

    assert process.returncode == 0, log[-3000:]
    assert "Ctrl-C before" in log
    assert "Stopped cleanly" in log
    assert "evaluations failed" not in log
    stopped = csv_rows(results / "coalitions.csv")
    assert 2 <= len(stopped) < 18

    resumed = benchmark(repo_root, smoke, "--phases", "noise")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(csv_rows(results / "coalitions.csv")) == 18


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sft-steps", "abc"], "--sft-steps: 'abc' is not a list of positive step counts"),
        (["--sft-steps", "30,0"], "--sft-steps: '30,0' is not a list of positive step counts"),
        (["--kernel-coalitions", "7"], "--kernel-coalitions: '7' is odd"),
        (["--datamodel-seeds", "0"], "--datamodel-seeds: '0' is not a positive integer"),
        (["--max-minutes", "-1"], "--max-minutes: '-1' is not a number of minutes"),
    ],
)
def test_bad_arguments_name_the_flag(repo_root, capsys, arguments, message):
    run = load_module(repo_root, "run")

    with pytest.raises(SystemExit):
        run.parse_args(arguments)

    assert message in capsys.readouterr().err


def test_results_file_is_rejected(repo_root, smoke):
    (smoke.parent / "results").write_text("not a folder")

    result = benchmark(repo_root, smoke)

    assert result.returncode != 0
    assert "is a file; pass a folder" in result.stderr


def test_bad_phase_is_rejected(repo_root, smoke):
    result = benchmark(repo_root, smoke, "--phases", "noise,bogus")
    assert result.returncode == 2
    assert "argument --phases: unknown phase(s) ['bogus']" in result.stderr


def test_eval_key_stable_in_fresh_studies(smoke, tmp_path):
    keys = []
    for cache in ("first", "second"):
        config = load_config(smoke, {"data.cache_dir": str(tmp_path / cache)})
        study = Study(config, progress=False)
        keys.append([eval_key(study, "1100", method, seed) for method in ("sft", "ft", "retrain") for seed in (None, 1)])
    assert keys[0] == keys[1]
    assert len(set(keys[0])) == 6


def test_retrain_prefix_is_shortest_determined(repo_root, smoke):
    """The retrained prefix of the kernel sample is the shortest even one, at least as long as asked, that determines KernelSHAP."""
    benchmark_plan = load_module(repo_root, "benchmark_plan")
    study = Study(load_config(smoke), progress=False)
    variants = benchmark_plan.StudyVariants(study)
    sample = np.asarray(sample_shapley_kernel(4, 32, seed=study.config.valuation.seed, paired=True))

    length = benchmark_plan._determined_prefix(variants, 2, 32)
    kernel_shap(sample[:length], np.zeros(length), 0.0, 1.0, paired=True, uncertainty="none")
    assert length > 2
    with pytest.raises(InsufficientCoalitionsError):
        kernel_shap(sample[: length - 2], np.zeros(length - 2), 0.0, 1.0, paired=True, uncertainty="none")
    assert benchmark_plan._determined_prefix(variants, length + 4, 32) == length + 4


def test_seed_phases_replicate_datamodel_coalitions(repo_root, smoke):
    """sft-seeds and datamodel-seeds evaluate each datamodel coalition with the seeds after the config's, by their method."""
    benchmark_plan = load_module(repo_root, "benchmark_plan")
    study = Study(load_config(smoke), progress=False)
    config = study.config
    # The sft phase runs other step counts than finetune.steps, so sft-seeds also plans the config's own seed.
    settings = benchmark_plan.PlanSettings(
        sft_steps=(config.finetune.steps + 1,), ft_steps=(5,), kernel_coalitions=8, retrain_coalitions=2, datamodel_seeds=3
    )

    plan = benchmark_plan.plan_phases(benchmark_plan.StudyVariants(study), settings)

    datamodel_coalitions = [task.coalition for task in plan["datamodels"]]
    count = len(datamodel_coalitions)
    for phase, method, steps, seeds in (
        ("sft-seeds", "sft", config.finetune.steps, [None, config.finetune.seed + 1, config.finetune.seed + 2]),
        ("datamodel-seeds", "retrain", None, [config.retraining.seed + 1, config.retraining.seed + 2]),
    ):
        tasks = plan[phase]
        assert [task.coalition for task in tasks] == datamodel_coalitions * len(seeds)
        assert {task.method for task in tasks} == {method}
        assert {task.finetune_steps for task in tasks} == {steps}
        assert [task.seed for task in tasks] == [seed for seed in seeds for _ in range(count)]
        # A replicate belongs to the game of the config's seed, under its own eval key.
        replicates = [task for task in tasks if task.seed is not None]
        assert all(task.game_key != task.settings for task in replicates)
        assert not {task.eval_key for task in replicates} & {task.eval_key for task in plan["sft"] + plan["datamodels"]}
    assert list(plan) == [phase for phase in benchmark_plan.PHASES if phase != "baselines"]


def test_sft_seeds_reuse_sft_phase_values(repo_root, smoke):
    """With finetune.steps among the sft step counts, the config's seed of sft-seeds is the sft phase's own task."""
    benchmark_plan = load_module(repo_root, "benchmark_plan")
    study = Study(load_config(smoke), progress=False)
    steps = study.config.finetune.steps
    settings = benchmark_plan.PlanSettings(sft_steps=(steps,), ft_steps=(steps,), kernel_coalitions=8, retrain_coalitions=2)

    plan = benchmark_plan.plan_phases(benchmark_plan.StudyVariants(study), settings)

    own_seed = {task.eval_key for task in plan["sft-seeds"] if task.seed is None}
    assert own_seed
    assert own_seed <= {task.eval_key for task in plan["sft"]}


def write_csv(path, columns, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in columns})


def test_report_on_additive_game(repo_root, tmp_path):
    """An additive game: every estimator recovers the weights, so each LDS is exactly 1."""
    coalition_log = load_module(repo_root, "coalition_log")
    report = load_module(repo_root, "report")
    weights = np.array([0.4, 0.1, -0.2, 0.3])
    n = len(weights)
    machine = "test machine"

    plan, rows = [], []

    def add(phase, sample, position, bits, method, steps, value, *, seed=0, alpha=None, set_index=None, seconds=None):
        key = f"{method}-{steps}-{bits}-{seed}"
        game_method, game_steps = method, steps
        plan.append(
            dict(study="toy", phase=phase, sample=sample, alpha=alpha, set=set_index, position=position, coalition=bits,
                 method=method, finetune_steps=steps, seed=seed, eval_key=key, settings=f"{method}{steps}{seed}",
                 game_key=f"{method}{steps}", game_method=game_method, game_steps=game_steps)
        )
        if seconds is None:
            seconds = 10.0 if method == "retrain" else 1.0
        rows.append(
            dict(study="toy", coalition=bits, method=method, finetune_steps=steps, settings=f"{method}{steps}{seed}",
                 game_key=f"{method}{steps}", seed=seed, property="p", value=value, train_s=seconds - 0.5, sample_s=0.25,
                 property_s=0.25, machine=machine, eval_key=key, run_id="r", source="computed", finished_at="2026-01-01T00:00:00")
        )

    def additive(bits, scale=1.0):
        return float(scale * weights[np.array([b == "1" for b in bits])].sum())

    empty, full = "0" * n, "1" * n
    add("retrain-shapley", "boundary", 0, empty, "retrain", None, additive(empty), seconds=1.0)
    add("retrain-shapley", "boundary", 1, full, "retrain", None, additive(full), seconds=1.0)
    add("sft", "boundary", 2, full, "sft", 5, additive(full, 0.5))
    for set_index, members in enumerate(sample_datamodel_sets(n, 0.5, 2, 4, seed=100)):
        for position, row in enumerate(members):
            bits = coalition_to_bits(row)
            add("datamodels", "datamodel", position, bits, "retrain", None, additive(bits), alpha=0.5, set_index=set_index)
            add("sft", "datamodel", position, bits, "sft", 5, additive(bits, 0.5), alpha=0.5, set_index=set_index)
    for position, row in enumerate(sample_shapley_kernel(n, 8, seed=0, paired=True)):
        bits = coalition_to_bits(row)
        add("retrain-shapley", "kernel", position, bits, "retrain", None, additive(bits))
        add("sft", "kernel", position, bits, "sft", 5, additive(bits, 0.5))
    # Seed replicates of one coalition: +-0.1 around the additive value, std 0.1.
    for seed, offset in ((1, -0.1), (2, 0.1)):
        add("noise", "noise", 0, "1100", "retrain", None, additive("1100") + offset, seed=seed)
    add("noise", "noise", 0, "1100", "retrain", None, additive("1100"), seed=0)

    results = tmp_path / "results"
    results.mkdir()
    write_csv(results / "coalitions.csv", coalition_log.COALITION_COLUMNS, list({r["eval_key"]: r for r in rows}.values()))
    write_csv(results / "plan.csv", coalition_log.PLAN_COLUMNS, plan)
    assert report.main(["--results", str(results), "--output", str(tmp_path / "out")]) == 0
    readme = (tmp_path / "out" / "README.md").read_text()

    assert "| 0.5 | KernelSHAP, retrain | 1.000 |" in readme
    # The cross-fitted linear datamodel ranks an additive truth almost perfectly.
    additive_lds = re.search(r"\| 0\.5 \| ([0-9.]+) \| \[[0-9., -]+\] \| 2 \|", readme)
    assert additive_lds is not None
    assert float(additive_lds.group(1)) > 0.9
    assert "| 0.5 | KernelSHAP, sFT 5 steps | 1.000 |" in readme
    assert "| sFT 5 steps | " in readme
    assert "| 1.000 | [1.00, 1.00] | 1.000 |" in readme
    # The same-size columns: the sFT values of the datamodel coalitions, all of size 2, are half the additive truth.
    same_size = re.search(r"\| sFT 5 steps \| \d+ \| [^|]+ \| [^|]+ \| [^|]+ \| (\d+) \| ([^|]+) \|", readme)
    assert same_size is not None
    assert int(same_size.group(1)) >= 3
    assert same_size.group(2).strip().startswith("1.000")
    assert "On the " + same_size.group(1) + " datamodel coalitions alone" in readme
    assert "| retrain | `1100` | 0.5000 | 0.1000 | 3 |" in readme
    assert "10.0×" in readme
    assert "Baselines: not measured yet." in readme
    assert "Banzhaf, LOO: not measured yet." in readme
    assert "sFT KernelSHAP (sFT 5 steps) and retrained KernelSHAP are not separated at α = 0.5: 1.000 against 1.000" in readme
    assert "FT KernelSHAP" not in readme.replace("sFT KernelSHAP", "")
    # The conclusions come first, grouped under the questions they answer.
    headings = ["## Conclusions so far", "### Which method wins, and at which budget", "### sFT and FT against retraining", "## LDS"]
    positions = [readme.find(heading) for heading in headings]
    assert -1 not in positions, positions
    assert positions == sorted(positions)
    conclusions = readme[positions[0] : positions[-1]]
    assert "sFT KernelSHAP (sFT 5 steps) and retrained KernelSHAP" in conclusions[conclusions.index("### sFT and FT") :]
    # Without a pruning time in stages.csv the sFT budget is unknown; retraining's is θ* plus 8 retrains.
    assert "| 0.5 | KernelSHAP, retrain | 8 | 9.00 | 1.000 |" in readme
    assert "| 0.5 | KernelSHAP, sFT 5 steps | 1.000 | [1.000, 1.000] | 2 | 8 | 10 | not measured yet |" in readme
    assert (tmp_path / "out" / "lds_budget.png").exists()


def test_csv_log_drops_partial_last_line(repo_root, tmp_path):
    coalition_log = load_module(repo_root, "coalition_log")
    path = tmp_path / "log.csv"
    path.write_text("a,b\n1,2\n3,")
    log = coalition_log.CsvLog(path, ("a", "b"), key="a")
    assert log.rows == [{"a": "1", "b": "2"}]
    log.append({"a": 5, "b": 0.25})
    assert path.read_text() == "a,b\n1,2\n5,0.25\n"
    assert "5" in log
    assert "3" not in log
    with pytest.raises(ValueError, match="does not have"):
        log.append({"c": 1})


def test_lock_folder_claims_exclusively(repo_root, tmp_path):
    locks = load_module(repo_root, "worker_locks").LockFolder(tmp_path / "locks")
    with locks.hold("task-a/b", wait=False) as first:
        with locks.hold("task-a/b", wait=False) as second:
            assert first
            assert not second
        with locks.hold("task-c", wait=False) as other:
            assert other
    with locks.hold("task-a/b", wait=False) as again:
        assert again


def test_csv_log_skips_keys_another_writer_added(repo_root, tmp_path):
    coalition_log = load_module(repo_root, "coalition_log")
    path = tmp_path / "values.csv"
    first = coalition_log.CsvLog(path, ("key", "value"), key="key")
    second = coalition_log.CsvLog(path, ("key", "value"), key="key")
    assert first.append({"key": "a", "value": 1.0}, skip_known=True)
    assert not second.append({"key": "a", "value": 2.0}, skip_known=True)
    assert second.append({"key": "b", "value": 3.0}, skip_known=True)
    first.refresh()
    assert "b" in first
    assert [row["value"] for row in coalition_log.read_rows(path)] == ["1.0", "3.0"]


def test_reliability_recovers_known_variances(repo_root):
    analysis = load_module(repo_root, "report_analysis")
    reliability = load_module(repo_root, "report_reliability")
    rng = np.random.default_rng(0)
    true_values = rng.normal(1.5, 0.03, size=3000)
    seeds = {f"c{index}": list(value + rng.normal(0.0, 0.05, size=3)) for index, value in enumerate(true_values)}
    game = analysis.Game("retrain", None, {bits: float(np.mean(v)) for bits, v in seeds.items()}, seeds)

    (row,) = reliability.reliability_rows({("retrain", None): game}, list(seeds))

    assert row["sigma_within"] == pytest.approx(0.05, rel=0.03)
    assert row["sigma_between"] == pytest.approx(0.03, rel=0.08)
    assert row["reliability_one"] == pytest.approx(0.03**2 / (0.03**2 + 0.05**2), abs=0.03)
    assert row["reliability"] == pytest.approx(0.03**2 / (0.03**2 + 0.05**2 / 3), abs=0.03)
    assert row["ceiling"] == pytest.approx(row["reliability"] ** 0.5)
    assert row["replicated"] == 3000


def test_reliability_needs_replicates(repo_root):
    analysis = load_module(repo_root, "report_analysis")
    reliability = load_module(repo_root, "report_reliability")
    seeds = {"a": [1.0], "b": [2.0], "c": [3.0]}
    game = analysis.Game("retrain", None, {bits: v[0] for bits, v in seeds.items()}, seeds)

    assert reliability.reliability_rows({("retrain", None): game}, list(seeds)) == []


def test_merge_appends_only_new_keys(repo_root, tmp_path):
    coalition_log = load_module(repo_root, "coalition_log")
    merge_results = load_module(repo_root, "merge_results")
    local, remote = tmp_path / "here", tmp_path / "there"
    for folder, keys in ((local, ("a", "b")), (remote, ("b", "c"))):
        log = coalition_log.CsvLog(folder / "coalitions.csv", coalition_log.COALITION_COLUMNS, key="eval_key")
        log.extend([{"eval_key": key, "value": f"{folder.name}-{key}"} for key in keys])
    scores = coalition_log.CsvLog(remote / "baselines.csv", coalition_log.BASELINE_COLUMNS, key="digest")
    scores.extend([{"digest": "trak", "contributor_index": index} for index in range(3)])

    added = merge_results.merge(remote, local)

    assert added == {"coalitions.csv": 1, "stages.csv": 0, "baselines.csv": 3}
    values = [row["value"] for row in coalition_log.read_rows(local / "coalitions.csv")]
    assert values == ["here-a", "here-b", "there-c"]
    assert merge_results.merge(remote, local) == {"coalitions.csv": 0, "stages.csv": 0, "baselines.csv": 0}


def test_merge_rejects_folder_without_values(repo_root, tmp_path):
    merge_results = load_module(repo_root, "merge_results")

    with pytest.raises(SystemExit, match="has no coalitions.csv"):
        merge_results.merge(tmp_path / "missing", tmp_path / "here")


def test_pearson_interval_fisher_z(repo_root):
    analysis = load_module(repo_root, "report_analysis")

    low, high = analysis.pearson_interval(0.5, 28)

    assert low == pytest.approx(np.tanh(np.arctanh(0.5) - 1.959964 / 5), abs=1e-6)
    assert high == pytest.approx(np.tanh(np.arctanh(0.5) + 1.959964 / 5), abs=1e-6)
    assert analysis.pearson_interval(0.5, 3) == (None, None)


def test_fidelity_trend_needs_separated_intervals(repo_root):
    report_text = load_module(repo_root, "report_text")
    wide = [{"pearson": 0.1, "pearson_low": -0.6, "pearson_high": 0.7}, {"pearson": 0.5, "pearson_low": -0.2, "pearson_high": 0.9}]
    apart = [{"pearson": 0.1, "pearson_low": 0.0, "pearson_high": 0.2}, {"pearson": 0.8, "pearson_low": 0.7, "pearson_high": 0.9}]

    assert report_text._fidelity_rises(wide) is None
    assert report_text._fidelity_rises(apart) is True
    assert report_text._fidelity_rises(apart[::-1]) is False


def test_fidelity_step_change_wording(repo_root):
    report_text = load_module(repo_root, "report_text")
    low = {"steps": 30, "pearson": -0.1, "pearson_low": -0.4, "pearson_high": 0.2}
    high = {"steps": 60, "pearson": 0.5, "pearson_low": 0.25, "pearson_high": 0.7}
    close = {"steps": 120, "pearson": 0.4, "pearson_low": 0.1, "pearson_high": 0.6}

    assert report_text._step_change(low, high) == "from 30 to 60 steps it rises (intervals apart)"
    assert report_text._step_change(high, close) == "from 60 to 120 steps the 95% intervals overlap"


def test_time_left_uses_latest_machine(repo_root):
    """Costs compare on the machine with the most values, and the time left on the one that ran last."""
    analysis = load_module(repo_root, "report_analysis")
    coalitions = pd.DataFrame(
        {
            "machine": ["slow", "slow", "slow", "fast"],
            "total_s": [1000.0, 1000.0, None, 250.0],
            "finished_at": ["2026-01-01T00:00:00", "2026-01-01T01:00:00", "2026-01-03T00:00:00", "2026-01-02T00:00:00"],
        }
    )
    data = analysis.BenchmarkData("toy", 4, coalitions, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())

    assert data.primary_machine == "slow"
    assert data.latest_machine == "fast"


def test_reliability_without_spread_has_no_ceiling(repo_root):
    analysis = load_module(repo_root, "report_analysis")
    reliability = load_module(repo_root, "report_reliability")
    # Every coalition has the same seed values, so the seed means do not vary at all.
    seeds = {f"c{index}": [1.45, 1.5, 1.55][index % 3 :] + [1.45, 1.5, 1.55][: index % 3] for index in range(6)}
    game = analysis.Game("retrain", None, {bits: float(np.mean(v)) for bits, v in seeds.items()}, seeds)

    (row,) = reliability.reliability_rows({("retrain", None): game}, list(seeds))

    assert row["sigma_between"] == 0.0
    assert row["ceiling"] is None


def test_datamodel_counts_are_distinct_coalitions(repo_root):
    """A coalition drawn into two sets is one retrain in the status counts, but a member of both sets."""
    analysis = load_module(repo_root, "report_analysis")
    plan = pd.DataFrame(
        {
            "phase": "datamodels",
            "sample": "datamodel",
            "method": "retrain",
            "alpha": 0.5,
            "set": [0, 0, 1, 1],
            "position": [0, 1, 0, 1],
            "coalition": ["1100", "0011", "1100", "1010"],
        }
    )
    retrain = analysis.Game("retrain", None, {"1100": 1.0, "0011": 2.0, "1010": 3.0}, {"1100": [1.0], "0011": [2.0], "1010": [3.0]})
    data = analysis.BenchmarkData("toy", 4, pd.DataFrame(), plan, pd.DataFrame(), pd.DataFrame())

    info = analysis.datamodel_sets(data, retrain)[0.5]

    assert info["planned"] == 3
    assert info["evaluated"] == 3
    assert info["seeds"] == {1: 3}
    assert len(info["sets"]) == 2


def test_report_rejects_missing_results_folder(repo_root, tmp_path):
    report = load_module(repo_root, "report")

    with pytest.raises(SystemExit, match="is not a folder"):
        report.main(["--results", str(tmp_path / "resluts"), "--output", str(tmp_path / "out")])

    assert not (tmp_path / "out" / "README.md").exists()


def test_report_rejects_unknown_study(repo_root, tmp_path):
    report = load_module(repo_root, "report")
    coalition_log = load_module(repo_root, "coalition_log")
    row = dict(study="toy", coalition="1100", method="retrain", value=1.0, eval_key="k1", source="computed")
    coalition_log.write_rows(tmp_path / "coalitions.csv", coalition_log.COALITION_COLUMNS, [row])

    with pytest.raises(SystemExit, match="Study 'nope' has no rows"):
        report.main(["--results", str(tmp_path), "--output", str(tmp_path / "out"), "--study", "nope"])

    assert not (tmp_path / "out").exists()


def test_run_command_names_study_config(repo_root):
    report = load_module(repo_root, "report")

    assert "--config configs/cifar20.yaml " in report.run_command("cifar20")
    assert "--config <config of study toy> " in report.run_command("toy")


def test_report_leaves_out_partial_last_line(repo_root, tmp_path):
    analysis = load_module(repo_root, "report_analysis")
    coalition_log = load_module(repo_root, "coalition_log")
    row = dict(study="toy", coalition="1100", method="retrain", value=1.0, eval_key="k1", source="computed")
    coalition_log.write_rows(tmp_path / "coalitions.csv", coalition_log.COALITION_COLUMNS, [row, {**row, "eval_key": "k2"}])
    text = (tmp_path / "coalitions.csv").read_text()
    (tmp_path / "coalitions.csv").write_text(text[: len(text) - 20])

    data = analysis.load_results(tmp_path)

    assert list(data.coalitions["eval_key"]) == ["k1"]


@pytest.mark.parametrize(
    ("ci_high", "wording"),
    [(0.6, "gap lies in the attributions"), (0.75, "but its own interval overlaps it")],
)
def test_next_step_names_attribution_gap(repo_root, ci_high, wording):
    """When an additive credit ranks the truth better than every attribution, the next step names that gap, hedged while the intervals overlap."""
    analysis = load_module(repo_root, "report_analysis")
    report_text = load_module(repo_root, "report_text")
    from diffusion_credit.evaluation import LDSResult

    reference = LDSResult(0.8, 0.7, 0.9, (0.75, 0.8, 0.85), 3, 0, 0.95)
    sft = analysis.Estimate("KernelSHAP", "sft", 60, 64, np.zeros(4), 2.0)
    lds_rows = [{"alpha": 0.5, "estimate": sft, "lds": LDSResult(0.05, -0.6, ci_high, (0.0, 0.05, 0.1), 3, 0, 0.95)}]
    noise = [{"method": "sft", "steps": 60, "mean_std": 0.017, "spread": 0.02}]

    bullets = report_text._next_steps(lds_rows, [], noise, {0.5: reference})

    assert len(bullets) == 2
    assert wording in bullets[0]
    assert "tune `finetune.steps` together with `pruning.ratio`" in bullets[1]


def test_cost_machine_needs_retrain_there(repo_root):
    """A method is priced on the preferred machine when it measured a retrain too, else where it has most coalitions."""
    analysis = load_module(repo_root, "report_analysis")
    costs = pd.DataFrame(
        {
            "machine": ["a", "a", "b", "b", "c"],
            "method": ["retrain", "sft", "retrain", "ft", "ft"],
            "steps": [None, 60, None, 60, 60],
            "coalitions": [5, 40, 3, 10, 90],
            "total_s": [300.0, 12.0, 400.0, 30.0, 20.0],
        }
    )
    assert analysis.cost_machine(costs, "sft", 60, "a") == "a"
    assert analysis.cost_machine(costs, "ft", 60, "a") == "b"  # c has more FT coalitions but no retrain
    assert analysis.cost_machine(costs, "sft", 120, "a") is None

    # Time left on b, which never ran sFT: a's sFT-to-retrain ratio times b's retrain.
    assert analysis._seconds_on(costs, "b", "sft", 60) == pytest.approx(12.0 / 300.0 * 400.0)
    assert analysis._seconds_on(costs, "c", "sft", 60) is None  # c has no retrain to scale by


def test_budget_findings_compare_three_budgets(repo_root):
    analysis = load_module(repo_root, "report_analysis")
    report_text = load_module(repo_root, "report_text")

    def estimate(method, steps, points):
        curve = [BudgetPoint(count, cost, LDSResult(lds, None, None, (lds,), 1, 0, 0.95)) for count, cost, lds in points]
        return analysis.Estimate("KernelSHAP", method, steps, 0, np.zeros(3), None, {0.5: curve})

    estimates = [
        estimate("retrain", None, [(8, 9.0, 0.4), (16, 15.0, 0.6)]),
        estimate("ft", 60, [(8, 2.0, 0.1), (16, 3.0, 0.3)]),
        estimate("sft", 60, [(8, 1.5, 0.2), (16, 4.0, 0.05)]),
    ]

    bullets = report_text._budget_findings(estimates, {0.5: {}})

    assert [bullet.split(", α")[0] for bullet in bullets] == [
        "Within a budget of 4.0 units (the costliest fine-tuned point",
        "Within a budget of 9.0 units (the cheapest retrained point that KernelSHAP determines",
        "Within a budget of 15.0 units (the costliest point",
    ]
    assert "KernelSHAP, FT 60 steps on 16 coalitions (LDS 0.300 at 3.0" in bullets[0]
    assert "KernelSHAP, retrain on 8 coalitions (LDS 0.400 at 9.0" in bullets[1]
    assert "KernelSHAP, retrain on 16 coalitions (LDS 0.600 at 15.0" in bullets[2]


def fidelity_row(steps, pearson, low, high):
    """A fidelity row whose all-coalition and same-size correlations are equal."""
    return {
        "method": "sft", "steps": steps, "coalitions": 40, "pearson": pearson, "pearson_low": low, "pearson_high": high,
        "spearman": pearson, "same_size_coalitions": 20, "same_size_pearson": pearson, "same_size_low": low, "same_size_high": high,
    }


@pytest.mark.parametrize(
    ("rows", "wording"),
    [
        ([(30, 0.0, -0.3, 0.3), (60, 0.6, 0.4, 0.8), (240, 0.1, -0.2, 0.35)], "peaks at 60 steps (0.60 [0.40, 0.80]), with intervals apart from 30 and 240 steps"),
        ([(30, 0.0, -0.3, 0.3), (60, 0.6, 0.4, 0.8)], "highest at the most steps measured, 60"),
        ([(30, 0.5, 0.2, 0.7), (60, 0.6, 0.4, 0.8)], "is not told apart between step counts (best 0.60 [0.40, 0.80] at 60 steps)"),
    ],
)
def test_steps_next_reads_fidelity_peak(repo_root, rows, wording):
    report_text = load_module(repo_root, "report_text")
    step = report_text._steps_next([fidelity_row(*row) for row in rows])
    assert wording in step
    assert "on same-size coalitions" in step


def test_baseline_finding_names_best_of_each(repo_root):
    analysis = load_module(repo_root, "report_analysis")
    report_text = load_module(repo_root, "report_text")
    from diffusion_credit.evaluation import LDSResult

    def row(estimator, method, mean, low, high):
        estimate = analysis.Estimate(estimator, method, 60 if method == "sft" else None, 8, np.zeros(4), 1.0)
        return {"alpha": 0.5, "estimate": estimate, "lds": LDSResult(mean, low, high, (mean,) * 3, 3, 0, 0.95)}

    rows = [
        row("trak", "baseline", 0.2, 0.1, 0.3),
        row("property_mean", "baseline", 0.5, 0.4, 0.6),
        row("LOO", "sft", 0.9, 0.8, 1.0),
        row("KernelSHAP", "sft", 0.3, 0.2, 0.4),
    ]

    [bullet] = report_text._baseline_findings(rows)

    assert bullet.startswith("The best baseline at α = 0.5, property_mean (baseline), reaches 0.500 [0.400, 0.600]")
    assert "against 0.900 [0.800, 1.000] for the best coalition-based attribution, LOO, sFT 60 steps" in bullet
    assert bullet.endswith("intervals apart from each other.")


@pytest.mark.parametrize(("low", "wording"), [(0.4, "exceeds the 0.30"), (0.1, "but within its interval")])
def test_approximation_reliability_checks_fidelity(repo_root, low, wording):
    report_text = load_module(repo_root, "report_text")
    reliability = [
        {"method": "retrain", "steps": None, "coalitions": 39, "reliability": 0.5, "ceiling": 0.5**0.5, "sigma_between": 0.05},
        {"method": "sft", "steps": 60, "coalitions": 39, "mean_seeds": 3.0, "sigma_within": 0.02, "sigma_between": 0.005,
         "reliability_one": 0.06, "reliability": 0.18, "ceiling": 0.18**0.5},
    ]
    fidelity = [fidelity_row(60, 0.6, low, 0.8)]

    [bullet] = report_text._approximation_reliability(reliability, fidelity)

    assert bullet.startswith("sFT 60 steps on the 39 datamodel coalitions: the seed std σ_w = 0.0200 is 4.0 times")
    assert "one fine-tuning seed has reliability 0.06 and the mean of 3.0 seeds 0.18." in bullet
    assert wording in bullet


def test_reliability_removes_seed_offsets(repo_root):
    """Seed offsets shared by all coalitions do not count as noise; the one-way split would count them."""
    analysis = load_module(repo_root, "report_analysis")
    reliability = load_module(repo_root, "report_reliability")
    rng = np.random.default_rng(1)
    true_values = rng.normal(1.5, 0.03, size=2000)
    offsets = {0: 0.0, 1: 0.08, 2: -0.08}
    seed_values = {
        f"c{index}": {seed: value + offset + rng.normal(0.0, 0.02) for seed, offset in offsets.items()}
        for index, value in enumerate(true_values)
    }
    seeds = {bits: list(by_seed.values()) for bits, by_seed in seed_values.items()}
    values = {bits: float(np.mean(v)) for bits, v in seeds.items()}
    adjusted = analysis.Game("sft", 60, values, seeds, seed_values=seed_values)
    pooled = analysis.Game("sft", 60, values, seeds)

    (row,) = reliability.reliability_rows({("sft", 60): adjusted}, list(seed_values))
    (one_way,) = reliability.reliability_rows({("sft", 60): pooled}, list(seed_values))

    assert row["sigma_within"] == pytest.approx(0.02, rel=0.04)
    assert row["sigma_between"] == pytest.approx(0.03, rel=0.06)
    assert one_way["sigma_within"] > 0.06


def test_seed_adjusted_values_remove_offsets(repo_root):
    analysis = load_module(repo_root, "report_analysis")
    # Seed 1 scores every coalition 0.1 higher; "a" has both seeds, "b" seed 0 alone, "c" seed 1 alone.
    seed_values = {"a": {0: 1.0, 1: 1.1}, "b": {0: 2.0}, "c": {1: 3.1}, "d": {0: 0.5, 1: 0.6}}

    variance, effects = analysis.seed_adjusted(seed_values)

    assert effects == pytest.approx({"a": 1.0, "b": 2.0, "c": 3.0, "d": 0.5})
    assert variance == pytest.approx(0.0, abs=1e-20)
    # Seed 2 appears alone in a coalition no other seed shares, so its offset cannot be estimated.
    variance, effects = analysis.seed_adjusted({"a": {0: 1.0, 1: 1.1}, "e": {2: 5.0}})
    assert effects == pytest.approx({"a": 1.05, "e": 5.0})
    assert variance == pytest.approx(0.005)
