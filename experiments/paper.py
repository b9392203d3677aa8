"""Entry point of the paper's comparison table on the testbed (SPEC section 7).

  python experiments/paper.py                                   # ScienceWorld
  python experiments/paper.py --config=experiments/configs/paper.py:quick --workdir=runs/pq
  python experiments/paper.py --config=experiments/configs/paper.py:env=twx --workdir=runs/pt

Writes WORKDIR/table.md, report.json, plots/*.png and an offline W&B run; a rerun
skips finished episodes, cached embeddings, a finished estimator and fitted baselines.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from mtr_jax.paper_table import run  # noqa: E402

_DEFAULT = str(Path(__file__).parent / "configs" / "paper.py")
_CONFIG = config_flags.DEFINE_config_file("config", _DEFAULT, "experiment config")
_WORKDIR = flags.DEFINE_string("workdir", "runs/paper_sw", "where outputs go")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save/restore at INFO
  run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
