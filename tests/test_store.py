import os
import subprocess
import sys
import tempfile

import mlflow
import pytest

from diffusion_credit import store
from diffusion_credit.errors import InputError


@pytest.fixture()
def tracking(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    uri = store.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def test_start_run_tags_kind_and_study(tracking):
    with store.start_run("toy", "train", tags={store.TAG_DIGEST: "abc"}) as run:
        run_id = run.info.run_id

    found = store.find_finished({store.TAG_KIND: "train", store.TAG_STUDY: "toy", store.TAG_DIGEST: "abc"})
    assert found is not None
    assert found.info.run_id == run_id
    assert mlflow.get_experiment(found.info.experiment_id).name == "toy"


def test_search_pages_through_all_runs(tracking, monkeypatch):
    monkeypatch.setattr(store, "_PAGE_SIZE", 3)
    for index in range(8):
        with store.start_run("toy", "coalition", tags={store.TAG_COALITION: f"{index:03b}"}):
            pass

    runs = store.search_runs({store.TAG_KIND: "coalition", store.TAG_STUDY: "toy"})
    assert len(runs) == 8


def test_search_spans_experiments(tracking):
    mlflow.set_experiment("elsewhere")
    with mlflow.start_run(tags={store.TAG_KIND: "train", store.TAG_STUDY: "toy"}):
        pass
    with store.start_run("toy", "train"):
        pass

    runs = store.search_runs({store.TAG_KIND: "train", store.TAG_STUDY: "toy"})
    assert len({run.info.experiment_id for run in runs}) == 2


def test_failed_and_running_runs_are_not_reused(tracking):
    with pytest.raises(RuntimeError):
        with store.start_run("toy", "coalition", tags={store.TAG_EVAL_KEY: "k"}):
            raise RuntimeError("boom")
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name("toy").experiment_id
    client.create_run(experiment_id, tags={store.TAG_KIND: "coalition", store.TAG_STUDY: "toy", store.TAG_EVAL_KEY: "k"})

    assert store.find_finished({store.TAG_EVAL_KEY: "k"}) is None
    assert len(store.search_runs({store.TAG_EVAL_KEY: "k"}, statuses=())) == 2


def test_nested_run_shares_parent_experiment(tracking):
    mlflow.set_experiment("parent-experiment")
    with mlflow.start_run() as parent:
        with store.start_run("toy", "coalition", nested=True) as child:
            child_id = child.info.run_id
    child_run = mlflow.get_run(child_id)
    assert child_run.info.experiment_id == parent.info.experiment_id
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id


@pytest.mark.parametrize(("experiment", "warned"), [("Default", True), ("toy", False)])
def test_launched_run_in_default_warns(tracking, monkeypatch, caplog, experiment, warned):
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    launched = mlflow.MlflowClient().create_run(experiment_id)
    monkeypatch.setenv("MLFLOW_RUN_ID", launched.info.run_id)

    with caplog.at_level("WARNING", logger="diffusion_credit.store"):
        with store.start_run("toy", "attribute") as run:
            run_id = run.info.run_id

    assert run_id == launched.info.run_id
    assert ("Pass `--experiment-name toy` to mlflow run" in caplog.text) is warned


def test_unknown_kind_is_rejected(tracking):
    with pytest.raises(ValueError, match="Unknown run kind 'trian'"):
        with store.start_run("toy", "trian"):
            pass


def test_configure_twice_switches_store(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_user_tracking_uri", None)
    first = store.configure(f"sqlite:///{tmp_path / 'a.db'}")
    second = store.configure(f"sqlite:///{tmp_path / 'b.db'}")
    assert first.endswith("a.db")
    assert second.endswith("b.db")
    assert mlflow.get_tracking_uri() == second


def test_user_tracking_uri_wins(tmp_path, monkeypatch):
    user_uri = f"sqlite:///{tmp_path / 'user.db'}"
    monkeypatch.setattr(store, "_user_tracking_uri", store._UNSET)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", user_uri)
    assert store.configure(f"sqlite:///{tmp_path / 'config.db'}") == user_uri
    assert store.configure(f"sqlite:///{tmp_path / 'other.db'}") == user_uri


def dead_pid():
    """Return the pid of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def running_run(study, process):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.get_experiment_by_name(study).experiment_id
    tags = {store.TAG_KIND: "coalition", store.TAG_STUDY: study}
    if process is not None:
        tags[store.TAG_PROCESS] = process
    return client.create_run(experiment_id, tags=tags).info.run_id


def test_runs_of_exited_processes_are_killed(tracking):
    with store.start_run("toy", "train"):
        pass
    dead = running_run("toy", store.process_label(dead_pid()))
    alive = running_run("toy", store.process_label())
    other_host = running_run("toy", f"elsewhere - {dead_pid()}")
    untagged = running_run("toy", None)
    host, boot_id, pid = store.process_label().split(" ")
    rebooted = running_run("toy", f"{host} {boot_id}-before {pid}")

    assert store.close_abandoned_runs("toy") == 2

    client = mlflow.MlflowClient()
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(rebooted).info.status == "KILLED"
    assert client.get_run(alive).info.status == "RUNNING"
    assert client.get_run(other_host).info.status == "RUNNING"
    assert client.get_run(untagged).info.status == "RUNNING"


def test_run_tags_its_process(tracking):
    with store.start_run("toy", "train") as run:
        run_id = run.info.run_id

    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    assert tags[store.TAG_PROCESS] == store.process_label()


def test_processes_create_new_store_together(tmp_path):
    """Two processes configuring one new sqlite store at once both succeed."""
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    script = f"from diffusion_credit import store; store.configure({uri!r}); store.close_abandoned_runs('toy')"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    processes = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [process.communicate(timeout=120)[1] for process in processes]

    for process, error in zip(processes, errors):
        assert process.returncode == 0, error[-2000:]
    assert mlflow.MlflowClient(uri).search_experiments()


POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@pytest.fixture()
def new_postgres_databases():
    """Two new, empty PostgreSQL databases on the local server, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    names = [f"credit_{purpose}_{os.getpid()}" for purpose in ("mlflow", "optuna")]
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3)
    except psycopg2.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432: {error}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.execute(f"CREATE DATABASE {name}")
    yield [f"{POSTGRES_SERVER}/{name}" for name in names]
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        ({"psycopg", "psycopg2"}, "postgresql://me@db:5432/runs"),
        ({"psycopg2"}, "postgresql+psycopg2://me@db:5432/runs"),
    ],
)
def test_postgres_url_gets_installed_driver(monkeypatch, installed, expected):
    monkeypatch.setattr(store.importlib.util, "find_spec", lambda name: object() if name in installed else None)
    assert store.with_postgres_driver("postgresql://me@db:5432/runs") == expected
    assert store.with_postgres_driver("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_postgres_url_without_driver_names_extra(monkeypatch):
    monkeypatch.setattr(store.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r"postgresql://me:\*\*\*@db/runs is a PostgreSQL URL.*pip install -e '\.\[postgres\]'"):
        store.with_postgres_driver("postgresql://me:secret@db/runs")


@pytest.mark.postgres
def test_plain_postgres_url_opens_mlflow_store(new_postgres_databases, monkeypatch):
    plain = new_postgres_databases[0].replace("postgresql+psycopg2://", "postgresql://")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", plain)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setattr(store, "_user_tracking_uri", store._UNSET)

    store.configure("sqlite:///never-used.db")
    with store.start_run("toy", "dataset") as run:
        mlflow.log_metric("dataset.images", 32)

    assert store.find_finished({store.TAG_KIND: "dataset"}).info.run_id == run.info.run_id


@pytest.mark.postgres
def test_new_postgres_schemas_open_together(new_postgres_databases):
    """Processes opening a new MLflow store and a new Optuna storage on PostgreSQL at once all succeed."""
    mlflow_uri, optuna_uri = new_postgres_databases
    mlflow_script = f"from diffusion_credit import store; store.configure({mlflow_uri!r}); store.close_abandoned_runs('toy')"
    optuna_script = (
        "import optuna; from diffusion_credit.sweeps.storage import make_storage; "
        f"optuna.create_study(study_name='toy', storage=make_storage({optuna_uri!r}), load_if_exists=True)"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    scripts = [mlflow_script] * 3 + [optuna_script] * 3
    processes = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True) for script in scripts]
    errors = [process.communicate(timeout=180)[1] for process in processes]

    for process, error in zip(processes, errors):
        assert process.returncode == 0, error[-2000:]
    assert mlflow.MlflowClient(mlflow_uri).search_experiments()


def test_model_load_leaves_no_download(tracking, tmp_path, monkeypatch):
    from diffusion_credit import stages
    from diffusion_credit.config import ModelConfig
    from diffusion_credit.models import create_model

    model = create_model(ModelConfig(block_out_channels=[16, 32], attention_levels=[False, True], norm_num_groups=4), (3, 8, 8), seed=0)
    model.save(tmp_path / "model")
    with store.start_run("toy", "train") as run:
        mlflow.log_artifacts(str(tmp_path / "model"), "model")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    loaded = stages.load_model_from_run(mlflow.get_run(run.info.run_id))

    assert sum(parameter.numel() for parameter in loaded.unet.parameters()) == sum(p.numel() for p in model.unet.parameters())
    assert list(scratch.iterdir()) == []
