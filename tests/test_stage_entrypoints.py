"""The single-stage entry points on the smoke config: coalition, datamodels, shapley, lds, dataset."""

import os
import subprocess
import sys

import mlflow
import pytest

from diffusion_credit import store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, write_smoke_config):
    lds = {"alphas": [0.5], "num_sets": 2, "coalitions_per_set": 3, "seed": 3}
    return write_smoke_config(tmp_path_factory.mktemp("stages"), lds=lds)


def entrypoint(repo_root, smoke, name, *args):
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env.update(TQDM_DISABLE="1", MLFLOW_TRACKING_URI=f"sqlite:///{smoke.parent / 'mlflow.db'}")
    command = [sys.executable, str(repo_root / "entrypoints" / f"{name}.py"), *args]
    return subprocess.run(command, cwd=smoke.parent, env=env, capture_output=True, text=True, timeout=900)


def runs(smoke, **tags):
    store.configure(f"sqlite:///{smoke.parent / 'mlflow.db'}")
    return store.search_runs({f"credit.{key}": value for key, value in tags.items()})


def test_dataset_logs_contributors(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "dataset", "--config", str(smoke))
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = runs(smoke, kind="dataset")
    contributors = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/contributors.json")
    assert contributors == ["airplane", "automobile", "cat", "ship"]
    assert run.data.metrics["dataset.images"] == 32


def test_coalition_rejects_wrong_length(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "coalition", "--config", str(smoke), "--coalition", "101", "--method", "retrain")
    assert result.returncode == 2
    assert "'101'" in result.stderr
    assert "n=4" in result.stderr


def test_coalition_rejects_unknown_method(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "coalition", "--config", str(smoke), "--coalition", "1010", "--method", "sfft")
    assert result.returncode == 2
    assert "Unknown method 'sfft'" in result.stderr


def test_coalition_rejects_empty_fine_tune(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "coalition", "--config", str(smoke), "--coalition", "0000", "--method", "sft")
    assert result.returncode == 2
    assert "cannot fine-tune on the empty coalition 0000; use method 'retrain'" in result.stderr
    store.configure(f"sqlite:///{smoke.parent / 'mlflow.db'}")
    assert store.search_runs({store.TAG_KIND: "coalition", store.TAG_COALITION: "0000"}, statuses=()) == []


def test_coalition_rejects_bad_characters(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "coalition", "--config", str(smoke), "--coalition", "00a0", "--method", "sft")
    assert result.returncode == 2
    assert "'00a0'" in result.stderr
    assert "empty coalition" not in result.stderr


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("coalition", ["--coalition", "0110", "--seed", "abc"], "--seed must be an integer, got 'abc'"),
        ("datamodels", ["--alphas", "0.5,half"], "--alphas must be a number, got 'half'"),
    ],
)
def test_non_numeric_option_rejected(repo_root, smoke, name, args, message):
    result = entrypoint(repo_root, smoke, name, "--config", str(smoke), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_coalition_runs_once_then_reuses(repo_root, smoke):
    first = entrypoint(repo_root, smoke, "coalition", "--config", str(smoke), "--coalition", "0110", "--method", "ft")
    assert first.returncode == 0, first.stderr[-3000:]
    second = entrypoint(repo_root, smoke, "coalition", "--config", str(smoke), "--coalition", "0110", "--method", "ft")
    assert second.returncode == 0, second.stderr[-3000:]

    (run,) = runs(smoke, kind="coalition", coalition="0110", method="ft")
    assert "reused run" in second.stdout
    for phase in ("train", "sample", "property"):
        assert run.data.metrics[f"time.{phase}_s"] >= 0
    assert "property.inception_score" in run.data.metrics
    assert run.data.metrics["diagnostic.fid_train"] >= 0


def test_coalition_logs_dataset_run(repo_root, tmp_path, write_smoke_config):
    # A store of its own, so no other test's dataset run is there.
    config = write_smoke_config(tmp_path)
    result = entrypoint(repo_root, config, "coalition", "--config", str(config), "--coalition", "1000", "--method", "retrain")
    assert result.returncode == 0, result.stderr[-3000:]

    (dataset,) = runs(config, kind="dataset")
    assert dataset.info.status == "FINISHED"
    assert mlflow.artifacts.load_dict(f"runs:/{dataset.info.run_id}/contributors.json")


def test_datamodels_then_lds(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "datamodels", "--config", str(smoke))
    assert result.returncode == 0, result.stderr[-3000:]
    datamodels = [run for run in runs(smoke, kind="coalition", method="retrain") if "credit.datamodel_alpha" in run.data.tags]
    assert {run.data.tags["credit.datamodel_set"] for run in datamodels} == {"0", "1"}
    assert all(run.data.tags["credit.coalition"].count("1") == 2 for run in datamodels)

    attribute = entrypoint(repo_root, smoke, "attribute", "--config", str(smoke))
    assert attribute.returncode == 0, attribute.stderr[-3000:]
    (attribution,) = runs(smoke, kind="attribution")
    assert "lds.alpha_0.5.num_sets" in attribution.data.metrics

    lds = entrypoint(repo_root, smoke, "lds", "--attribution-run", attribution.info.run_id)
    assert lds.returncode == 0, lds.stderr[-3000:]
    (lds_run,) = runs(smoke, kind="lds", attribution_run=attribution.info.run_id)[:1]
    assert lds_run.data.metrics["lds.alpha_0.5.num_sets"] == 2


def test_shapley_from_store_after_attribute(repo_root, smoke):
    result = entrypoint(
        repo_root, smoke, "shapley", "--study", "smoke", "--method", "sft", "--estimator", "kernelshap", "--config", str(smoke)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = [run for run in runs(smoke, kind="attribution") if run.info.run_id in result.stdout]
    assert abs(run.data.metrics["efficiency.gap"]) < 1e-6


def test_lds_rejects_unknown_run(repo_root, smoke):
    result = entrypoint(repo_root, smoke, "lds", "--attribution-run", "0123456789abcdef")
    assert result.returncode == 2
    assert "0123456789abcdef" in result.stderr


def test_train_and_prune_log_models_then_reuse(repo_root, smoke):
    for name in ("train", "prune"):
        result = entrypoint(repo_root, smoke, name, "--config", str(smoke))
        assert result.returncode == 0, result.stderr[-3000:]
        again = entrypoint(repo_root, smoke, name, "--config", str(smoke))
        assert again.returncode == 0, again.stderr[-3000:]

        (run,) = runs(smoke, kind=name)
        artifacts = {item.path for item in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
        assert {"model", "samples.png", "config.json"} <= artifacts, artifacts
        assert run.data.metrics["model.parameters"] > 0

    (train,) = runs(smoke, kind="train")
    (prune,) = runs(smoke, kind="prune")
    assert prune.data.metrics["model.parameters"] < train.data.metrics["model.parameters"]
    assert prune.data.metrics["model.macs"] < prune.data.metrics["model.macs_before"]
