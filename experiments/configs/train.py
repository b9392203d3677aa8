"""Training an estimator on collected trajectories.

  mtr-jax train --config=experiments/configs/train.py \
      --config.data.folders='[runs/main/trajectories/train_roulette]' --workdir=runs/est
"""

import ml_collections

from mtr_jax.training.train import default_train_config


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.pool = "paper6"
  c.encoder = "all-MiniLM-L6-v2"
  c.data = ml_collections.ConfigDict({
      "folders": ["runs/main/trajectories/train_roulette"],
      "cache_dir": "runs/embeddings",   # shared across runs; keyed by encoder fingerprint
      "lam": 1.0,                       # cost weight lambda of the targets
      "aec": True,                      # annealed error costs
      "max_weight": 20.0,               # clip of 1/propensity weights (loss.ipw)
  })
  c.train = default_train_config()
  if arg == "quick":
    c.train.optim.epochs = 20
  return c
