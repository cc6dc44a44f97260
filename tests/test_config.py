import re

import pytest

from diffusion_credit.config import ConfigError, StudyConfig, config_from_dict, digest, load_config


@pytest.fixture()
def write_yaml(tmp_path):
    def write(text: str):
        path = tmp_path / "study.yaml"
        path.write_text(text)
        return path

    return write


def test_shipped_configs_load(repo_root):
    for name in ("cifar10-mini", "smoke", "cifar20"):
        config = load_config(repo_root / "configs" / f"{name}.yaml")
        assert config.name == name


def test_misspelt_key_names_closest(write_yaml):
    path = write_yaml("name: s\ntraining:\n  stpes: 10\n")
    with pytest.raises(ConfigError, match=r"Unknown config key 'training.stpes'.*Did you mean 'training.steps'"):
        load_config(path)


def test_misspelt_section_names_closest(write_yaml):
    with pytest.raises(ConfigError, match="Did you mean 'sampling'"):
        load_config(write_yaml("name: s\nsampeling: {}\n"))


def test_missing_file_names_path(tmp_path):
    with pytest.raises(ConfigError, match="Config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_path(write_yaml):
    path = write_yaml("name: s\nvaluation: [1, 2\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path} is not valid YAML")) as raised:
        load_config(path)
    assert "line 2, column 12" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_duplicate_key_rejected(write_yaml):
    path = write_yaml("name: s\ntraining:\n  steps: 40\n  steps: 400\n")
    with pytest.raises(ConfigError, match=re.escape("duplicate key 'steps', first set on line 3 (line 4, column 3)")):
        load_config(path)


def test_empty_config_rejected(write_yaml):
    with pytest.raises(ConfigError, match="is empty; start from configs/smoke.yaml"):
        load_config(write_yaml(""))


def test_non_utf8_config_names_encoding(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=re.escape(f"{path} is not UTF-8 text (byte 9")) as raised:
        load_config(path)
    assert "save it with UTF-8 encoding" in str(raised.value)


def test_invalid_choice_suggests(write_yaml):
    with pytest.raises(ConfigError, match="valuation.method='sfft'.*Did you mean 'sft'"):
        load_config(write_yaml("name: s\nvaluation:\n  method: sfft\n"))


def test_wrong_type_names_key(write_yaml):
    with pytest.raises(ConfigError, match="training.steps must be of type int, got 'many'"):
        load_config(write_yaml("name: s\ntraining:\n  steps: many\n"))


def test_warmup_must_fit_inside_steps(write_yaml):
    with pytest.raises(ConfigError, match="finetune.warmup_steps=500"):
        load_config(write_yaml("name: s\nfinetune:\n  steps: 200\n  warmup_steps: 500\n"))


def test_pruning_ratio_range(write_yaml):
    with pytest.raises(ConfigError, match="fraction of channels removed"):
        load_config(write_yaml("name: s\npruning:\n  ratio: 1.5\n"))


def test_attention_levels_match_channels(write_yaml):
    with pytest.raises(ConfigError, match="attention_levels has 1 entries"):
        load_config(write_yaml("name: s\nmodel:\n  block_out_channels: [16, 32]\n  attention_levels: [true]\n"))


def test_overrides_from_strings(write_yaml):
    # MLflow passes parameters as strings.
    config = load_config(write_yaml("name: s\n"), {"finetune.steps": "7", "valuation.paired": "false"})
    assert config.finetune.steps == 7
    assert config.valuation.paired is False


def test_round_trip_and_digest_are_stable():
    config = StudyConfig().validate()
    again = config_from_dict(config.to_dict())
    assert again == config
    assert digest(config.model, config.training) == digest(again.model, again.training)


def test_digest_changes_with_any_field():
    config = StudyConfig().validate()
    before = digest(config.training)
    config.training.learning_rate = 1e-3
    assert digest(config.training) != before


def test_retrain_defaults_to_training():
    config = StudyConfig().validate()
    assert config.retraining is config.training


def test_partial_retrain_inherits_training(write_yaml):
    path = write_yaml("name: s\ntraining:\n  steps: 40\n  batch_size: 16\nretrain:\n  seed: 3\n")
    for config in (load_config(path), load_config(write_yaml("name: s\ntraining:\n  steps: 40\n  batch_size: 16\n"), {"retrain.seed": 3})):
        assert config.retraining.steps == 40
        assert config.retraining.batch_size == 16
        assert config.retraining.seed == 3
        assert config.training.seed != 3
    assert config_from_dict(load_config(path).to_dict()).retraining == load_config(path).retraining


def test_digest_accepts_nested_dataclasses():
    config = StudyConfig().validate()
    assert digest(("sft", config.finetune), "0101") != digest(("ft", config.finetune), "0101")


def test_baselines_timesteps_accept_count_or_list(write_yaml):
    assert load_config(write_yaml("name: s\nbaselines:\n  timesteps: 5\n")).baselines.timesteps == 5
    assert load_config(write_yaml("name: s\nbaselines:\n  timesteps: [10, 500]\n")).baselines.timesteps == [10, 500]


def test_baselines_unknown_method_rejected(write_yaml):
    with pytest.raises(ConfigError, match="baselines.methods contains 'trak2'"):
        load_config(write_yaml("name: s\nbaselines:\n  methods: [trak2]\n"))
