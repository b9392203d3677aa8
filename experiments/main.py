"""Entry point: parse the config, run the pipeline in a working directory.

  python experiments/main.py                                  # defaults
  python experiments/main.py --config=experiments/configs/default.py:quick
  python experiments/main.py --config.collect.workers=1 --workdir=runs/mine
"""

from pathlib import Path

from _entrypoint import run

from mtr_jax.experiment import train_and_evaluate

if __name__ == "__main__":
  run(train_and_evaluate, str(Path(__file__).parent / "configs" / "default.py"), "runs/main")
