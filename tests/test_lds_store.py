"""The `lds` entry point's store side: datamodel runs in, LDS out, one property at a time."""

import itertools

import mlflow
import numpy as np
import pandas as pd
import pytest

from diffusion_credit import store
from diffusion_credit.errors import InputError
from diffusion_credit.lds_runs import datamodel_sets, log_lds

WEIGHTS = np.array([1.0, 2.0, -0.5, 0.25])
CONTRIBUTORS = ["a", "b", "c", "d"]
# Two datamodel sets of six coalitions each, none empty or full.
SETS = [
    ["1000", "0100", "1100", "0011", "1010", "0111"],
    ["0010", "0001", "1001", "0110", "1110", "1011"],
]


@pytest.fixture()
def tracking(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    store.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield


def additive(bits: str) -> float:
    return float(WEIGHTS[[c == "1" for c in bits]].sum())


def log_datamodels(property_name: str, sign: float) -> None:
    for set_index, members in enumerate(SETS):
        for bits in members:
            tags = {
                store.TAG_COALITION: bits,
                store.TAG_METHOD: "retrain",
                store.TAG_DATAMODEL_ALPHA: "0.5",
                store.TAG_DATAMODEL_SET: str(set_index),
            }
            with store.start_run("toy", "coalition", tags=tags):
                mlflow.log_metric(f"property.{property_name}", sign * additive(bits))


def log_attribution(property_name: str, tmp_path) -> str:
    frame = pd.DataFrame({"contributor": CONTRIBUTORS, "score": WEIGHTS, "std": np.nan})
    with store.start_run("toy", "attribution", tags={store.TAG_PROPERTY: property_name}) as run:
        path = tmp_path / "attribution.csv"
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path))
        store.log_json(CONTRIBUTORS, "contributors.json")
    return run.info.run_id


def test_datamodel_sets_keep_one_property(tracking):
    log_datamodels("inception_score", 1.0)
    log_datamodels("cluster_entropy", -1.0)

    [(coalitions, values), _] = datamodel_sets("toy", "inception_score")[0.5]

    assert coalitions.shape == (6, 4)
    expected = [additive("".join("1" if bit else "0" for bit in row)) for row in coalitions]
    np.testing.assert_allclose(values, expected)


def test_lds_reads_the_attribution_property(tracking, tmp_path):
    log_datamodels("inception_score", 1.0)
    # A newer property whose values rank the coalitions the other way round.
    log_datamodels("cluster_entropy", -1.0)

    quality = log_lds(log_attribution("inception_score", tmp_path))[0.5]
    diversity = log_lds(log_attribution("cluster_entropy", tmp_path))[0.5]

    assert quality.mean == pytest.approx(1.0)
    assert diversity.mean == pytest.approx(-1.0)


def test_lds_without_datamodels_of_property(tracking, tmp_path):
    log_datamodels("inception_score", 1.0)
    with pytest.raises(InputError, match="no datamodel runs that measured aesthetic_score"):
        log_lds(log_attribution("aesthetic_score", tmp_path))


def test_every_planned_coalition_is_read(tracking):
    log_datamodels("inception_score", 1.0)
    sets = datamodel_sets("toy", "inception_score")[0.5]
    read = {"".join("1" if bit else "0" for bit in row) for coalitions, _ in sets for row in coalitions}
    assert read == set(itertools.chain.from_iterable(SETS))
