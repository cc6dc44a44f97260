"""The `attribute` entry point end to end on the smoke config: run, reuse, kill and resume, bad input."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import mlflow
import pandas as pd
import pytest
import yaml

from diffusion_credit import store

pytestmark = pytest.mark.slow


@pytest.fixture()
def smoke(tmp_path, write_smoke_config):
    return write_smoke_config(tmp_path)


def attribute(repo_root, config, *extra, wait=True):
    command = [sys.executable, str(repo_root / "entrypoints" / "attribute.py"), "--config", str(config), *extra]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["TQDM_DISABLE"] = "1"
    if not wait:
        return subprocess.Popen(command, cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=900)


def runs_of(config, kind, statuses=("FINISHED",)):
    store.configure(f"sqlite:///{config.parent / 'mlflow.db'}")
    return store.search_runs({store.TAG_KIND: kind, store.TAG_STUDY: "smoke"}, statuses=statuses)


def test_attribute_runs_then_reuses(repo_root, smoke, tmp_path):
    first = attribute(repo_root, smoke)
    assert first.returncode == 0, first.stderr[-3000:]

    attributions = runs_of(smoke, "attribution")
    assert len(attributions) == 1
    run = attributions[0]
    assert f"attribution run {run.info.run_id}" in first.stdout
    assert abs(run.data.metrics["efficiency.gap"]) < 1e-6
    frame = pd.read_csv(store.download_artifact(run, "attribution.csv", tmp_path / "first"))
    assert list(frame.columns) == ["contributor", "score", "std"]
    assert list(frame["contributor"]) == ["airplane", "automobile", "cat", "ship"]
    parent = runs_of(smoke, "attribute")[0]
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    coalitions_before = {r.info.run_id for r in runs_of(smoke, "coalition")}

    second = attribute(repo_root, smoke)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {r.info.run_id for r in runs_of(smoke, "coalition")} == coalitions_before
    assert len(runs_of(smoke, "train")) == 1
    assert len(runs_of(smoke, "prune")) == 1
    scores = [pd.read_csv(store.download_artifact(r, "attribution.csv", tmp_path / r.info.run_id))["score"] for r in runs_of(smoke, "attribution")]
    pd.testing.assert_series_equal(scores[0], scores[1])


def test_killed_during_coalitions_resumes_without_duplicates(repo_root, smoke):
    process = attribute(repo_root, smoke, wait=False)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if len(runs_of(smoke, "coalition")) >= 4:
            break
        time.sleep(1)
    assert process.poll() is None, "the flow ended before it could be killed:\n" + process.stdout.read()[-3000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = {r.info.run_id for r in runs_of(smoke, "coalition")}

    rerun = attribute(repo_root, smoke)
    assert rerun.returncode == 0, rerun.stderr[-3000:]

    finished = runs_of(smoke, "coalition")
    assert finished_before <= {r.info.run_id for r in finished}
    keys = Counter(r.data.tags[store.TAG_EVAL_KEY] for r in finished)
    assert max(keys.values()) == 1, "a coalition was evaluated twice"
    attribution = runs_of(smoke, "attribution")[0]
    used = set(mlflow.artifacts.load_dict(f"{attribution.info.artifact_uri}/coalition_values.json")["runs"])
    assert used <= {r.info.run_id for r in finished}


@pytest.mark.parametrize(
    ("extra", "edit", "message"),
    [
        (["--data", "/no/such/folder"], None, "/no/such/folder"),
        (["--num-coalitions", "500"], None, "valuation.num_coalitions=500 exceeds the 14 coalitions"),
        ([], ("valuation", "method", "finetuning"), "valuation.method='finetuning' is not one of"),
        ([], ("training", "stpes", 3), "Did you mean 'training.steps'"),
    ],
)
def test_bad_input_fails_before_training(repo_root, smoke, extra, edit, message):
    if edit is not None:
        config = yaml.safe_load(smoke.read_text())
        section, key, value = edit
        config[section][key] = value
        smoke.write_text(yaml.safe_dump(config))

    result = attribute(repo_root, smoke, *extra)

    assert result.returncode == 2, result.stderr[-3000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (smoke.parent / "mlflow.db").exists() or not runs_of(smoke, "train", statuses=())
