"""The main job on the testbed: collect, train an estimator, route held-out episodes.

  python experiments/main.py                                  # TextWorld-Express
  python experiments/main.py --config=experiments/configs/default.py:quick
  python experiments/main.py --config=experiments/configs/default.py:env=scienceworld
  python experiments/main.py --config.collect.workers=1 --config.train.optim.lr=3e-4

Arguments after the colon are comma-separated: `quick` shrinks everything for a
laptop run, `env=NAME` picks the environment (twx | scienceworld).
"""

import ml_collections

from mtr_jax.training.train import default_train_config


def _parse(arg):
  out = {}
  for part in filter(None, (arg or "").split(",")):
    key, _, value = part.partition("=")
    out[key] = value or True
  return out


def get_config(arg=None):
  args = _parse(arg)
  unknown = set(args) - {"quick", "env"}
  if unknown:
    raise ValueError(f"default.py: unknown config arguments {sorted(unknown)} "
                     "(known: quick, env=twx|scienceworld)")
  quick = bool(args.get("quick"))
  env = args.get("env", "twx")
  c = ml_collections.ConfigDict()
  c.env = env
  c.pool = "paper6"
  c.seed = 0
  c.encoder = "all-MiniLM-L6-v2"

  c.collect = ml_collections.ConfigDict()
  c.collect.workers = 2
  # Training data (train split): roulette, i.e. a uniformly random model each turn
  # (propensity 1/K), plus single-model episodes, as in the paper.
  c.collect.train_roulette_runs = 1 if quick else 3
  c.collect.train_baseline_runs = 1
  # Held-out evaluation: single models, the random router and the learned router.
  c.collect.eval_split = "test_id"
  c.collect.eval_runs = 1 if quick else 2
  # At most this many variations per task (0: all of the split).
  c.collect.max_variations = 2 if quick else (4 if env == "twx" else 0)
  c.collect.step_limit = 30 if env == "twx" else 50
  c.collect.cost_limit = 1.0 if env == "twx" else 2.0

  # Targets and estimator training (SPEC section 3).
  c.data = ml_collections.ConfigDict({"lam": 1.0, "aec": True, "max_weight": 20.0})
  c.train = default_train_config()
  c.train.seed = 0
  if quick:
    c.train.optim.epochs = 30
  # Stage B: collect with the beta-mixed policy of the estimator, retrain
  # warm-started on the union; `rounds` times (0: off).
  c.stage_b = ml_collections.ConfigDict({"rounds": 0 if quick else 1, "beta": 0.5,
                                         "runs": 1})
  return c


def sweep(add, arg=None):
  """MTRouter's cost-score curve: one job per lambda, the cost weight of the
  training targets, so each job trains its own estimator (launch/sweep.py).

    python -m launch.local --config=experiments/configs/default.py:quick --workdir=runs/sweep1
  """
  quick = bool(_parse(arg).get("quick"))
  for lam in ((0.5, 1.0, 2.0) if quick else (0.25, 0.5, 1.0, 2.0, 4.0)):
    add(**{"data.lam": lam})
