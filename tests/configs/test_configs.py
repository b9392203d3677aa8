"""Config files and command-line overrides."""

import pytest

from mtr_jax.configs import load_config

TRAIN = "experiments/configs/train.py"


def test_overrides_parse_values_like_the_readme():
  c = load_config(TRAIN, ["--config.train.optim.lr=3e-4", "--config.data.folders=[a,b]",
                          "--config.train.optim.epochs=7", "--config.data.aec=false",
                          "--config.encoder=other"])
  assert c.train.optim.lr == pytest.approx(3e-4)
  assert list(c.data.folders) == ["a", "b"]
  assert c.train.optim.epochs == 7 and c.data.aec is False and c.encoder == "other"
  assert load_config(TRAIN + ":quick").train.optim.epochs == 20


def test_unknown_fields_and_files():
  with pytest.raises(KeyError, match="no field 'nope'"):
    load_config(TRAIN, ["--config.nope=1"])
  with pytest.raises(KeyError, match="no field 'nope'"):
    load_config(TRAIN, ["--config.train.nope.lr=1"])
  with pytest.raises(ValueError, match="expected key=value"):
    load_config(TRAIN, ["--config.train"])
  with pytest.raises(FileNotFoundError):
    load_config("experiments/configs/missing.py")
