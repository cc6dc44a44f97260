"""The `baselines` entry point on the smoke study: each method becomes a reusable attribution run."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from diffusion_credit import store

pytestmark = pytest.mark.slow

METHODS = "pixel_similarity,embedding_similarity_max,trak,d_trak,journey_trak,property_mean,loo"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, write_smoke_config):
    baselines = {"timesteps": 2, "projection_dim": 16, "journey_steps": 2, "num_generated": 8, "loo_method": "sft"}
    return write_smoke_config(tmp_path_factory.mktemp("baselines"), baselines=baselines)


def baselines(repo_root, smoke, methods):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["TQDM_DISABLE"] = "1"
    command = [sys.executable, str(repo_root / "entrypoints" / "baselines.py"), "--config", str(smoke), "--methods", methods]
    return subprocess.run(command, cwd=smoke.parent, env=env, capture_output=True, text=True, timeout=900)


def attribution_runs(smoke):
    store.configure(f"sqlite:///{smoke.parent / 'mlflow.db'}")
    return store.search_runs({store.TAG_KIND: "attribution", store.TAG_STUDY: "smoke"})


def test_baselines_log_one_run_each_then_reuse(repo_root, smoke, tmp_path):
    first = baselines(repo_root, smoke, METHODS)
    assert first.returncode == 0, first.stderr[-4000:]

    runs = {run.data.tags[store.TAG_ESTIMATOR]: run for run in attribution_runs(smoke)}
    assert set(runs) == set(METHODS.split(","))
    for name, run in runs.items():
        frame = pd.read_csv(store.download_artifact(run, "attribution.csv", tmp_path / name))
        assert list(frame["contributor"]) == ["airplane", "automobile", "cat", "ship"], name
        assert np.isfinite(frame["score"]).all(), name
    assert runs["loo"].data.tags[store.TAG_METHOD] == "sft"
    assert runs["trak"].data.tags[store.TAG_METHOD] == "full"

    second = baselines(repo_root, smoke, METHODS)
    assert second.returncode == 0, second.stderr[-4000:]
    assert len(attribution_runs(smoke)) == len(runs)


def test_unknown_baseline_rejected(repo_root, smoke):
    result = baselines(repo_root, smoke, "trak,influence")
    assert result.returncode == 2
    assert "Unknown baseline(s) influence" in result.stderr
