"""Entry point: parse the config, run the pipeline in a working directory.

  python experiments/main.py                                  # defaults
  python experiments/main.py --config=experiments/configs/default.py:quick
  python experiments/main.py --config.collect.workers=1 --workdir=runs/mine
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from mtr_jax.experiment import train_and_evaluate  # noqa: E402

_DEFAULT = str(Path(__file__).parent / "configs" / "default.py")
_CONFIG = config_flags.DEFINE_config_file("config", _DEFAULT, "experiment config")
_WORKDIR = flags.DEFINE_string("workdir", "runs/main", "where outputs go")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save/restore at INFO
  train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
