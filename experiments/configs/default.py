"""The main job on the testbed: collect, train an estimator, route held-out episodes.

  python experiments/main.py                                  # TextWorld-Express
  python experiments/main.py --config=experiments/configs/default.py:quick
  python experiments/main.py --config=experiments/configs/default.py:env=scienceworld
  python experiments/main.py --config.collect.workers=1 --config.train.optim.lr=3e-4

Arguments after the colon are comma-separated: `quick` shrinks everything for a
laptop run, `env=NAME` picks the environment (twx | scienceworld).
"""

import ml_collections
from ml_collections import config_dict

from mtr_jax.training.train import default_train_config


def _parse(arg):
  out = {}
  for part in filter(None, (arg or "").split(",")):
    key, _, value = part.partition("=")
    out[key] = value or True
  return out


def get_config(arg=None):
  args = _parse(arg)
  unknown = set(args) - {"quick", "env", "retrain"}
  if unknown:
    raise ValueError(f"default.py: unknown config arguments {sorted(unknown)} "
                     "(known: quick, env=twx|scienceworld, retrain)")
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
  # Held-out routing (ROUTING_KEYS: a sweep over these reuses one estimator).
  # lam: None = data.lam; another value needs train.model.heads = 2 (the estimator
  # then predicts outcome and remaining cost, combined with lam at routing time).
  # pool: None = c.pool, or a sub-pool such as "paper6:drop=gpt-5".
  # cost_limit: None = collect.cost_limit (USD per episode).
  c.route = ml_collections.ConfigDict({
      "lam": config_dict.placeholder(float), "pool": config_dict.placeholder(str),
      "cost_limit": config_dict.placeholder(float)})
  return c


ROUTING_KEYS = ("route",)


def sweep(add, arg=None):
  """MTRouter's cost-score curve and its sub-pool and budget variants. Every job
  shares one two-head estimator (share="estimator": the jobs differ only in the
  `route` section), so lambda, budget and pool are routing-time choices here:

    python -m launch.local --config=experiments/configs/default.py:quick --workdir=runs/sweep1

  With `retrain` in the argument (default.py:quick,retrain), lambda is instead the
  training-time weight of a one-head estimator, one training per job, as in the paper.
  """
  args = _parse(arg)
  quick = bool(args.get("quick"))
  lams = (0.0, 0.3, 1.0) if quick else (0.0, 0.1, 0.3, 1.0, 3.0)
  if args.get("retrain"):
    for lam in lams:
      add(**{"data.lam": lam})
    return
  two_heads = {"train.model.heads": 2}
  for lam in lams:
    add(**two_heads, **{"route.lam": lam}, share="estimator", name=f"lam={lam:g}")
  add(**two_heads, **{"route.pool": "paper6:drop=gpt-5"}, share="estimator",
      name="without GPT-5")
  add(**two_heads, **{"route.cost_limit": 0.05}, share="estimator", name="budget $0.05")
