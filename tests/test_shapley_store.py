"""The store-side solvers on games whose Shapley values are known."""

import itertools
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from diffusion_credit import store
from diffusion_credit.config import load_config
from diffusion_credit.errors import InputError
from diffusion_credit.shapley import solve_from_store

CONTRIBUTORS = ["a", "b", "c", "d"]
WEIGHTS = np.array([1.0, 2.0, -0.5, 0.25])
SYNERGY = 0.6  # earned only when "a" and "b" are both in the coalition


def game(bits: str) -> float:
    mask = np.array([c == "1" for c in bits])
    return 3.0 + float(WEIGHTS[mask].sum()) + (SYNERGY if mask[0] and mask[1] else 0.0)


# Shapley values: each weight, plus half the synergy for "a" and "b" each.
EXPECTED = WEIGHTS + np.array([SYNERGY / 2, SYNERGY / 2, 0.0, 0.0])


@pytest.fixture()
def tracking(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    store.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with store.start_run("toy", "dataset", tags={store.TAG_DIGEST: "d1"}):
        store.log_json(CONTRIBUTORS, "contributors.json")
    yield


def log_coalition(bits: str, method: str, value: float, recipe: str = "r1", property_name: str = "inception_score") -> None:
    tags = {
        store.TAG_COALITION: bits,
        store.TAG_METHOD: method,
        store.TAG_RECIPE: recipe,
        store.TAG_EVAL_KEY: f"{recipe}-{bits}",
        store.TAG_DATA_DIGEST: "d1",
    }
    with store.start_run("toy", "coalition", tags=tags):
        mlflow.log_metric(f"property.{property_name}", value)


def log_game(method: str = "sft", *, scale: float = 1.0, recipe: str = "r1", property_name: str = "inception_score") -> None:
    for bits in map("".join, itertools.product("01", repeat=4)):
        boundary = bits in ("0000", "1111")
        log_coalition(bits, "retrain" if boundary else method, scale * game(bits), recipe, property_name)


def read_scores(run_id: str) -> pd.DataFrame:
    with store.downloaded_artifact(run_id, "attribution.csv") as path:
        return pd.read_csv(path)


def test_exact_from_store_matches_closed_form(tracking):
    log_game()

    run_id = solve_from_store("toy", "sft", "inception_score", "exact")

    frame = read_scores(run_id)
    assert list(frame["contributor"]) == CONTRIBUTORS
    np.testing.assert_allclose(frame["score"], EXPECTED, atol=1e-9)


def test_kernelshap_from_store_with_every_coalition_is_exact(tracking):
    log_game()

    run_id = solve_from_store("toy", "sft", "inception_score", "kernelshap")

    frame = read_scores(run_id)
    np.testing.assert_allclose(frame["score"], EXPECTED, atol=1e-8)
    run = mlflow.get_run(run_id)
    assert abs(run.data.metrics["efficiency.gap"]) < 1e-9
    assert run.data.tags[store.TAG_ESTIMATOR] == "kernelshap"
    assert run.data.tags[store.TAG_KIND] == "attribution"


def test_newest_recipe_wins(tracking, tmp_path):
    log_game()
    # A later recipe (say, more fine-tuning steps) with shifted values: its own game.
    for bits in ("1000", "0100", "0010", "0001", "1100", "0011", "1010", "0101", "1001", "0110", "1110", "1101", "1011", "0111"):
        log_coalition(bits, "sft", game(bits) + 100.0, recipe="r2")

    run_id = solve_from_store("toy", "sft", "inception_score", "exact")

    inputs = json.loads(store.download_artifact(run_id, "coalition_values.json", tmp_path).read_text())
    assert min(inputs["values"]) > 50


def test_missing_boundary_names_the_command(tracking):
    log_coalition("1000", "sft", 1.0)
    log_coalition("0111", "sft", 2.0)
    with pytest.raises(InputError, match="v\\(∅\\).*-P coalition=0000 -P method=retrain"):
        solve_from_store("toy", "sft", "inception_score", "loo")


def test_unknown_estimator_rejected(tracking):
    with pytest.raises(InputError, match="Unknown estimator 'shap'"):
        solve_from_store("toy", "sft", "inception_score", "shap")


def test_no_runs_for_method(tracking):
    log_game("sft")
    with pytest.raises(InputError, match="No finished ft coalition runs.*-e coalition -P method=ft"):
        solve_from_store("toy", "ft", "inception_score", "kernelshap")
    with pytest.raises(InputError, match="Run `mlflow run . -e datamodels` or `mlflow run . -e coalition -P method=retrain`"):
        solve_from_store("toy", "retrain", "inception_score", "kernelshap")


def test_shapley_ignores_newer_dataset(tracking):
    log_game()
    # The same study name later run on other data (`-P data=`), with no coalition runs yet.
    with store.start_run("toy", "dataset", tags={store.TAG_DIGEST: "d2"}):
        store.log_json(["x", "y", "z"], "contributors.json")

    run_id = solve_from_store("toy", "sft", "inception_score", "exact")

    frame = read_scores(run_id)
    assert list(frame["contributor"]) == CONTRIBUTORS
    np.testing.assert_allclose(frame["score"], EXPECTED, atol=1e-9)


def test_exact_with_missing_coalitions_is_an_input_error(tracking):
    log_coalition("0000", "retrain", game("0000"))
    log_coalition("1111", "retrain", game("1111"))
    log_coalition("1000", "sft", game("1000"))
    with pytest.raises(InputError, match="exact failed on 1 coalitions"):
        solve_from_store("toy", "sft", "inception_score", "exact")


def test_property_selects_its_own_game(tracking):
    log_game()
    # The same study later measured another property: a newer recipe whose values are twice the first game's.
    log_game(scale=2.0, recipe="r2", property_name="cluster_entropy")

    first = solve_from_store("toy", "sft", "inception_score", "exact")
    second = solve_from_store("toy", "sft", "cluster_entropy", "exact")

    np.testing.assert_allclose(read_scores(first)["score"], EXPECTED, atol=1e-9)
    np.testing.assert_allclose(read_scores(second)["score"], 2 * EXPECTED, atol=1e-9)
    assert mlflow.get_run(second).data.tags[store.TAG_PROPERTY] == "cluster_entropy"


def test_property_without_runs_is_named(tracking):
    log_game()
    with pytest.raises(InputError, match="No finished sft coalition runs that measured aesthetic_score"):
        solve_from_store("toy", "sft", "aesthetic_score", "kernelshap")


@pytest.mark.parametrize(
    ("method", "property_name", "message"),
    [
        ("bogus", "inception_score", "Unknown method 'bogus'; use one of sft, ft, retrain"),
        ("sft", "inception", "Unknown property 'inception'; use one of inception_score, cluster_entropy, aesthetic_score"),
    ],
)
def test_unknown_names_rejected(tracking, method, property_name, message):
    log_game()
    with pytest.raises(InputError, match=message):
        solve_from_store("toy", method, property_name, "kernelshap")


def test_property_other_than_config_rejected(tracking):
    config = load_config(Path(__file__).parents[1] / "configs" / "smoke.yaml", {"property.name": "cluster_entropy"})
    with pytest.raises(InputError, match="property=inception_score differs from property.name=cluster_entropy"):
        solve_from_store("toy", "sft", "inception_score", "kernelshap", config=config)


def test_missing_std_names_the_fix(tracking, caplog):
    # Six pairs split into 4 batches: no batch alone determines 4 values, so the batch std is left out.
    for bits in ("0000", "1111"):
        log_coalition(bits, "retrain", game(bits))
    for bits in ("1100", "0011", "1010", "0101", "1001", "0110"):
        log_coalition(bits, "sft", game(bits))

    with pytest.warns(RuntimeWarning, match="no std"):
        run_id = solve_from_store("toy", "sft", "inception_score", "kernelshap")

    frame = read_scores(run_id)
    assert frame["std"].isna().all()
    np.testing.assert_allclose(frame["score"].sum(), game("1111") - game("0000"), atol=1e-9)
    assert "Pass -P config=<the study's config> to use its valuation.num_batches" in caplog.text
