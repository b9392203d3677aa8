"""What the entry points (main.py, paper.py) share: --config (an ml_collections
config file, `path.py:arg` and `--config.a.b=value` overrides) and --workdir flags,
W&B offline unless WANDB_MODE says otherwise, Orbax's INFO logs silenced, and the
repository root on sys.path so `mtr_jax` and `experiments.configs` import from a
checkout."""

import os
import sys
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402


def run(fn, default_config: str, default_workdir: str) -> None:
  """Parses the flags and calls fn(config, workdir)."""
  config = config_flags.DEFINE_config_file("config", default_config, "experiment config")
  workdir = flags.DEFINE_string("workdir", default_workdir, "where outputs go")

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save/restore at INFO
    fn(config.value, workdir.value)

  app.run(main)
